package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/events"
)

// Summary keeps running counts over the events seen. Tailing from the end,
// it only knows the connections and sessions that began while it ran; from
// the beginning of the topic it knows every one still retained.
type Summary struct {
	// open maps each connection announced connected and not yet
	// disconnected to its ClientID. Pairing by conn_id keeps the count right
	// across takeovers, where the new connection's connected event may
	// precede the old one's disconnected event in other systems.
	open map[string]string
	// sessions holds the ClientIDs with a live session.
	sessions map[string]bool
	// reasons counts disconnect reasons since the start.
	reasons map[string]int
	// connects counts connected events since the last Line.
	connects int
	// rejected and dropped count since the start.
	rejected int
	dropped  int64
}

// NewSummary returns an empty Summary.
func NewSummary() *Summary {
	return &Summary{open: map[string]string{}, sessions: map[string]bool{}, reasons: map[string]int{}}
}

// Apply counts one event.
func (s *Summary) Apply(e *events.Envelope) {
	switch d := e.Data.(type) {
	case *events.Connected:
		s.open[d.ConnID] = d.ClientID
		s.connects++
	case *events.Disconnected:
		delete(s.open, d.ConnID)
		s.reasons[string(d.Reason)]++
	case *events.ConnectRejected:
		s.rejected++
	case *events.Created:
		s.sessions[d.ClientID] = true
	case *events.Resumed:
		s.sessions[d.ClientID] = true
	case *events.Terminated:
		delete(s.sessions, d.ClientID)
	case *events.MessageDropped:
		s.dropped += d.Count
	}
}

// Online returns the number of distinct ClientIDs with an open connection.
func (s *Summary) Online() int {
	clients := map[string]bool{}
	for _, c := range s.open {
		clients[c] = true
	}
	return len(clients)
}

// Sessions returns the number of live sessions.
func (s *Summary) Sessions() int { return len(s.sessions) }

// Line renders the summary and starts a new rate period; elapsed is the
// time since the previous Line.
func (s *Summary) Line(now time.Time, elapsed time.Duration) string {
	rate := 0.0
	if elapsed > 0 {
		rate = float64(s.connects) / elapsed.Seconds()
	}
	s.connects = 0
	var b strings.Builder
	fmt.Fprintf(&b, "%s online=%d sessions=%d connects/s=%.1f rejected=%d dropped=%d disconnects:",
		now.UTC().Format(events.TimeLayout), s.Online(), s.Sessions(), rate, s.rejected, s.dropped)
	if len(s.reasons) == 0 {
		b.WriteString(" none")
	}
	for _, r := range slices.Sorted(maps.Keys(s.reasons)) {
		fmt.Fprintf(&b, " %s=%d", r, s.reasons[r])
	}
	return b.String()
}
