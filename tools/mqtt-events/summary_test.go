package main

import (
	"strings"
	"testing"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/events"
)

// ev builds an envelope for the summary tests.
func ev(kind events.Type, data any) *events.Envelope {
	e := events.New(kind, "fe-1", "", data, time.Unix(0, 0))
	return &e
}

func conn(client, id string) events.Connection {
	return events.Connection{ClientID: client, ConnID: id, Node: "fe-1", Epoch: 1, Proto: 5}
}

func sess(client string) events.Session {
	return events.Session{ClientID: client, Node: "fe-1", Epoch: 1, Proto: 5}
}

func TestSummary(t *testing.T) {
	tests := []struct {
		name         string
		events       []*events.Envelope
		online, sess int
		line         string
	}{
		{
			name:   "nothing",
			online: 0, sess: 0,
			line: "online=0 sessions=0 connects/s=0.0 rejected=0 dropped=0 disconnects: none",
		},
		{
			name: "clean session connect and disconnect",
			events: []*events.Envelope{
				ev(events.SessionCreated, &events.Created{Session: sess("a"), CleanStart: true}),
				ev(events.ClientConnected, &events.Connected{Connection: conn("a", "c1")}),
				ev(events.ClientDisconnected, &events.Disconnected{Connection: conn("a", "c1"), Reason: events.DisconnectNormal}),
				ev(events.SessionTerminated, &events.Terminated{Session: sess("a"), Reason: events.TerminateNormal}),
			},
			online: 0, sess: 0,
			line: "online=0 sessions=0 connects/s=0.5 rejected=0 dropped=0 disconnects: normal=1",
		},
		{
			name: "takeover keeps one client online and one session",
			events: []*events.Envelope{
				ev(events.SessionCreated, &events.Created{Session: sess("a")}),
				ev(events.ClientConnected, &events.Connected{Connection: conn("a", "c1")}),
				ev(events.ClientDisconnected, &events.Disconnected{Connection: conn("a", "c1"), Reason: events.DisconnectTakenOver}),
				ev(events.SessionResumed, &events.Resumed{Session: sess("a")}),
				ev(events.ClientConnected, &events.Connected{Connection: conn("a", "c2")}),
				ev(events.SessionCreated, &events.Created{Session: sess("b")}),
				ev(events.ClientConnected, &events.Connected{Connection: conn("b", "c3")}),
				ev(events.ClientConnectRejected, &events.ConnectRejected{ClientID: "x", ConnAck: 5}),
				ev(events.SessionMessageDropped, &events.MessageDropped{Session: sess("a"), Reason: events.DropQueueFull, Count: 3}),
			},
			online: 2, sess: 2,
			line: "online=2 sessions=2 connects/s=1.5 rejected=1 dropped=3 disconnects: takenover=1",
		},
		{
			name: "connected seen after the disconnect of the same client's older connection",
			events: []*events.Envelope{
				ev(events.ClientConnected, &events.Connected{Connection: conn("a", "c2")}),
				ev(events.ClientConnected, &events.Connected{Connection: conn("a", "c1")}),
				ev(events.ClientDisconnected, &events.Disconnected{Connection: conn("a", "c1"), Reason: events.DisconnectTakenOver}),
				ev(events.ClientDisconnected, &events.Disconnected{Connection: conn("b", "c9"), Reason: events.DisconnectClosed}),
			},
			online: 1, sess: 0,
			line: "online=1 sessions=0 connects/s=1.0 rejected=0 dropped=0 disconnects: closed=1 takenover=1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSummary()
			for _, e := range tt.events {
				s.Apply(e)
			}
			if s.Online() != tt.online || s.Sessions() != tt.sess {
				t.Fatalf("online %d sessions %d, want %d %d", s.Online(), s.Sessions(), tt.online, tt.sess)
			}
			now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			line := s.Line(now, 2*time.Second)
			if want := "2026-01-02T03:04:05.000Z " + tt.line; line != want {
				t.Fatalf("line\n got %q\nwant %q", line, want)
			}
			if again := s.Line(now, 2*time.Second); !strings.Contains(again, "connects/s=0.0") {
				t.Fatalf("rate not reset after Line: %q", again)
			}
		})
	}
}
