package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tidemarkmq/tidemark/pkg/adminapi"
	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/session"
)

// opWriter logs session ops straight to the sessions topic, as frontends
// do: creating 10,000 sessions through MQTT connections would take the
// machine's whole time, and the session service applies these exactly as
// it applies a frontend's.
type opWriter struct {
	t    *testing.T
	c    *cluster
	app  *kafkalog.Appender
	last map[int]int64 // highest offset written per sessions partition
}

func newOpWriter(t *testing.T, c *cluster) *opWriter {
	app := kafkalog.NewAppender(c.kafka, kafkalog.AppenderOptions{})
	t.Cleanup(func() { app.Close() })
	return &opWriter{t: t, c: c, app: app, last: map[int]int64{}}
}

// write appends ops in batches and returns their records (offsets set).
func (w *opWriter) write(ops []*session.Op) []*kafkalog.Record {
	w.t.Helper()
	recs := make([]*kafkalog.Record, len(ops))
	for i, op := range ops {
		op.TS = time.Now().UnixMilli()
		recs[i] = op.Record(w.c.topics.Sessions)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitFor)
	defer cancel()
	for i := 0; i < len(recs); i += 500 {
		if err := w.app.Append(ctx, recs[i:min(i+500, len(recs))]...); err != nil {
			w.t.Fatalf("append ops: %v", err)
		}
	}
	for _, r := range recs {
		w.last[r.Partition] = max(w.last[r.Partition], r.Offset)
	}
	return recs
}

// connects returns connect ops for cids (clean: the session ends with
// its connection).
func connects(cids []string, clean bool) []*session.Op {
	ops := make([]*session.Op, len(cids))
	for i, cid := range cids {
		ops[i] = &session.Op{Kind: session.OpConnect, ClientID: cid, Conn: uuid.NewString(), Node: "fe-page", Proto: 4,
			Clean: clean, Keepalive: 30, Peer: "127.0.0.1:1", Username: "pager"}
	}
	return ops
}

// disconnects returns the disconnect ops of the connections recs logged.
func disconnects(recs []*kafkalog.Record) []*session.Op {
	ops := make([]*session.Op, len(recs))
	for i, r := range recs {
		op, _ := session.DecodeOp(r)
		ops[i] = &session.Op{Kind: session.OpDisconnect, ClientID: op.ClientID, Conn: op.Conn, Epoch: r.Offset, Node: op.Node, Reason: "normal"}
	}
	return ops
}

// waitApplied waits until the session service applied every op written.
func (w *opWriter) waitApplied() {
	w.t.Helper()
	r := session.NewReaderOptions(w.c.rdb, session.Options{Prefix: w.c.prefix})
	deadline := time.Now().Add(4 * waitFor)
	for p, off := range w.last {
		for {
			got, ok, err := r.Applied(context.Background(), p)
			if err == nil && ok && got >= off {
				break
			}
			if time.Now().After(deadline) {
				w.t.Fatalf("partition %d applied up to %d, want %d (%v)", p, got, off, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func names(format string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf(format, i)
	}
	return out
}

// TestAdminPagingWhileSessionsComeAndGo pages through 10,000 sessions
// while others are created and ended between the pages: each session
// that exists throughout is listed exactly once, and nothing twice. The
// filters (state, node, prefix) and the command line are checked on the
// same sessions.
func TestAdminPagingWhileSessionsComeAndGo(t *testing.T) {
	c := newCluster(t, options{frontends: 1})
	api := c.startAdmin(adminOptions{})
	ctx := adminCtx(t)
	w := newOpWriter(t, c)

	stable := names("stable-%05d", 10_000)
	stableRecs := w.write(connects(stable, false))
	// The first 100 go offline and stay: persistent sessions.
	w.write(disconnects(stableRecs[:100]))
	churn := w.write(connects(names("churn-%04d", 2_000), true))
	w.waitApplied()

	seen := map[string]int{}
	q := adminapi.SessionQuery{Limit: 250}
	pages := 0
	for ; pages < 500; pages++ {
		l, err := api.read.Sessions(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range l.Sessions {
			seen[s.ClientID]++
		}
		if q.Cursor = l.NextCursor; q.Cursor == "" {
			break
		}
		// Between pages: end 100 churn sessions, start 100 new ones.
		if len(churn) > 0 {
			n := min(100, len(churn))
			w.write(disconnects(churn[:n]))
			churn = churn[n:]
		}
		w.write(connects(names(fmt.Sprintf("new-%03d-%%03d", pages), 100), true))
	}
	if q.Cursor != "" {
		t.Fatalf("still paging after %d pages", pages)
	}
	if pages < 40 {
		t.Fatalf("only %d pages: the churn did not run while paging", pages)
	}
	for _, id := range stable {
		if seen[id] != 1 {
			t.Errorf("%s listed %d times, want once", id, seen[id])
		}
	}
	for id, n := range seen {
		if n > 1 {
			t.Errorf("%s listed %d times", id, n)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// Filters, with the churn settled.
	w.waitApplied()
	all := func(q adminapi.SessionQuery) []adminapi.SessionSummary {
		t.Helper()
		var out []adminapi.SessionSummary
		for range 1000 {
			l, err := api.read.Sessions(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, l.Sessions...)
			if q.Cursor = l.NextCursor; q.Cursor == "" {
				return out
			}
		}
		t.Fatal("listing did not end")
		return nil
	}
	offline := all(adminapi.SessionQuery{State: adminapi.StateOffline, Limit: 30})
	if len(offline) != 100 {
		t.Fatalf("%d offline sessions, want 100", len(offline))
	}
	for _, s := range offline {
		if !strings.HasPrefix(s.ClientID, "stable-000") || s.State != adminapi.StateOffline || s.ExpiresAt == nil || s.Username != "pager" {
			t.Fatalf("offline listing holds %+v", s)
		}
	}
	if n := len(all(adminapi.SessionQuery{State: adminapi.StateOnline, Node: "fe-page", Prefix: "stable-"})); n != 9_900 {
		t.Fatalf("%d online stable sessions on fe-page, want 9900", n)
	}
	if n := len(all(adminapi.SessionQuery{Node: "fe-elsewhere"})); n != 0 {
		t.Fatalf("%d sessions on a node that has none", n)
	}
	byPrefix := all(adminapi.SessionQuery{Prefix: "stable-0123"})
	if len(byPrefix) != 10 {
		t.Fatalf("prefix stable-0123: %d sessions, want 10", len(byPrefix))
	}
	if n := len(all(adminapi.SessionQuery{Prefix: "churn-"})); n != 0 {
		t.Fatalf("%d churn sessions left, want none", n)
	}

	var l adminapi.SessionList
	if err := json.Unmarshal([]byte(api.mqttAdmin(t, readSecret, 0, "--json", "sessions", "--prefix", "stable-0000", "--limit", "3")), &l); err != nil || len(l.Sessions) != 10 {
		t.Fatalf("mqtt-admin --json sessions: %d sessions, %v", len(l.Sessions), err)
	}
	if out := api.mqttAdmin(t, readSecret, 0, "sessions", "--state", "offline"); !strings.Contains(out, "100 session(s)") || !strings.Contains(out, "stable-00042") {
		t.Fatalf("mqtt-admin sessions --state offline:\n%s", out)
	}
}
