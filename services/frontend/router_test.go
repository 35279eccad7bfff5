package frontend

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/mqtt"
	"github.com/tidemarkmq/tidemark/pkg/session"
)

// dispatch gives each matching session one delivery that aggregates all of
// its matching subscriptions, for few sessions (found by a scan) and for
// many (found through the index), and its scratch state leaks nothing from
// one record into the next.
func TestDispatchAggregatesPerSession(t *testing.T) {
	for _, n := range []int{1, linearFound, linearFound + 1, 50} {
		t.Run(fmt.Sprintf("sessions=%d", n), func(t *testing.T) {
			s := &Server{cfg: Config{Auth: AllowAll{}}}
			r := newRouter()
			conns := make([]*conn, n)
			for i := range conns {
				conns[i] = benchConn(s, fmt.Sprintf("c%d", i))
				r.attach(conns[i], []session.Subscription{
					{Filter: "a/+", QoS: 0, SubID: 1},
					{Filter: "a/#", QoS: 1, SubID: 2},
					{Filter: "b/#", QoS: 2, SubID: 3},
				})
			}
			bystander := benchConn(s, "bystander")
			r.attach(bystander, []session.Subscription{{Filter: "b/x", QoS: 1}})
			for off := range int64(2) {
				rec := publishRecord("mqtt.messages", "pub", &mqtt.Publish{Topic: "a/x", QoS: 2, Payload: []byte("p")}, time.Now())
				rec.Offset = off
				r.dispatch(rec)
				for i, c := range conns {
					live := c.offered()
					if len(live) != 1 {
						t.Fatalf("record %d, session %d: %d deliveries, want 1", off, i, len(live))
					}
					d := live[0]
					ids := slices.Sorted(slices.Values(d.subIDs))
					if d.qos != 1 || !slices.Equal(ids, []uint32{1, 2}) || d.msg.offset != off {
						t.Errorf("record %d, session %d: qos %d subIDs %v offset %d, want qos 1 subIDs [1 2] offset %d",
							off, i, d.qos, ids, d.msg.offset, off)
					}
				}
				if live := bystander.offered(); len(live) != 0 {
					t.Fatalf("the session subscribed to b/x got %d deliveries", len(live))
				}
			}
			for _, f := range r.found[:cap(r.found)] {
				if f.c != nil {
					t.Fatal("dispatch scratch still holds a session")
				}
			}
			if len(r.foundAt) != 0 {
				t.Fatalf("dispatch index holds %d sessions", len(r.foundAt))
			}
		})
	}
}
