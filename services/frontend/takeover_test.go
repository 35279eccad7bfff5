package frontend

import (
	"io"
	"log/slog"
	"testing"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/session"
	"github.com/tidemarkmq/tidemark/pkg/session/liveness"
)

// TestRegisterAfterNewerConnect covers the window between sending a connect
// op and learning its offset: the takeover watch may read a newer CONNECT
// for the same ClientID (logged by another frontend) in that window, when
// there is no epoch to compare it with yet. The connection must then lose,
// whatever order the two frontends see things in.
func TestRegisterAfterNewerConnect(t *testing.T) {
	connectOp := func(cid string, off int64) *kafkalog.Record {
		return &kafkalog.Record{Key: []byte(cid), Offset: off,
			Headers: []kafkalog.Header{{Key: session.HeaderOp, Value: []byte(session.OpConnect)}}}
	}
	cases := []struct {
		name    string
		seen    []int64 // connect ops the watch reads before the append returns
		epoch   int64   // the offset the append returns
		wantWin bool
	}{
		{"nothing seen", nil, 10, true},
		{"own op seen", []int64{10}, 10, true},
		{"older op seen", []int64{7}, 10, true},
		{"newer op seen", []int64{10, 11}, 10, false},
		{"newer op seen before own", []int64{11}, 10, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := &Server{log: slog.New(slog.NewTextHandler(io.Discard, nil)), opsSeen: newOpWatermark(),
				clients: map[string]*conn{}, logging: map[string][]*conn{}, heart: liveness.NewHeart(nil, liveness.HeartConfig{})}
			c := &conn{s: s, clientID: "dev"}
			c.epoch.Store(-1)
			s.expect(c)
			for _, off := range tc.seen {
				s.onSessionOp(connectOp("dev", off))
			}
			c.epoch.Store(tc.epoch)
			if got := s.register(c); got != tc.wantWin {
				t.Fatalf("register = %v, want %v", got, tc.wantWin)
			}
			if got := s.clients["dev"] == c; got != tc.wantWin {
				t.Fatalf("registered as the ClientID's connection = %v, want %v", got, tc.wantWin)
			}
			if len(s.logging) != 0 {
				t.Fatalf("connection still listed as logging: %v", s.logging)
			}
		})
	}
}
