package sessiond

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/events"
	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/mqtt"
	"github.com/tidemarkmq/tidemark/pkg/session"
)

// TestWillExactlyOnceAcrossCrash: a run that publishes a will fails (as a
// crash would) after marking it, or after appending it but before its
// Redis transaction; applied again, it publishes the will exactly once,
// with the record format of a PUBLISH and the will's properties.
func TestWillExactlyOnceAcrossCrash(t *testing.T) {
	h := newHarness(t)
	h.start(nil)
	crash := errors.New("crash")
	cases := []struct {
		name string
		hook *func() error
	}{
		{"after marking", &hookWillsMarked},
		{"after appending", &hookAppended},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cid := []string{"once-marked", "once-appended"}[i]
			props := mqtt.AppendProperties(nil, &mqtt.Properties{ContentType: mqtt.Ptr("text/plain"), WillDelay: mqtt.Ptr(uint32(0))})
			c := h.connectOp(&session.Op{ClientID: cid, Conn: connID(cid, "A"), Proto: 5, Clean: true,
				Will: &session.Will{Topic: "will/" + cid, Payload: []byte("bye"), QoS: 2, Props: props}})
			// The next run is the disconnect's, which publishes the will.
			var fired atomic.Int32
			*tc.hook = func() error {
				if fired.Add(1) == 1 {
					return crash
				}
				return nil
			}
			defer func() { *tc.hook = nil }()
			c.disconnect(events.DisconnectClosed, 0)
			h.waitFor(cid, hasEvent(events.SessionTerminated, "normal"))
			h.marker(cid)
			if fired.Load() < 2 {
				t.Fatalf("the run was not applied again (hook ran %d times)", fired.Load())
			}
			recs := h.willsLogged()["will/"+cid]
			if len(recs) != 1 {
				t.Fatalf("%d will records, want 1", len(recs))
			}
			r := recs[0]
			for k, want := range map[string]string{kafkalog.HeaderQoS: "2", kafkalog.HeaderClient: cid} {
				if v, _ := r.Header(k); string(v) != want {
					t.Errorf("header %s = %q, want %q", k, v, want)
				}
			}
			p, _ := r.Header(kafkalog.HeaderProps)
			got, err := mqtt.DecodeProperties(p)
			if err != nil || got.ContentType == nil || *got.ContentType != "text/plain" || got.WillDelay != nil {
				t.Errorf("properties %+v (%v): want the content type and no will delay", got, err)
			}
			if string(r.Value) != "bye" {
				t.Errorf("payload %q", r.Value)
			}
			var ids []string
			for _, e := range h.sequence(cid) {
				if e.Type == events.SessionWillPublished {
					ids = append(ids, e.ID)
				}
			}
			if id, _ := r.Header(kafkalog.HeaderWill); len(ids) == 0 || string(id) != ids[0] {
				t.Errorf("will record id %q, events %v", id, ids)
			}
		})
	}
	// A run applied again may announce its events again, with the same ids.
	h.checkValid()
}

// TestDelayedWillAcrossRestart: a delayed will pending while no session
// service runs is published once, by the next one, after its delay.
func TestDelayedWillAcrossRestart(t *testing.T) {
	h := newHarness(t)
	in := h.start(nil)
	const cid = "delayed-restart"
	c := h.connectOp(&session.Op{ClientID: cid, Conn: connID(cid, "A"), Proto: 5, Expiry: 600,
		Will: &session.Will{Topic: "will/" + cid, Payload: []byte("late"), QoS: 1, Delay: 2}})
	c.disconnect(events.DisconnectKeepAliveTimeout, 0x8D)
	h.marker(cid)
	in.stop()
	if st := h.load(cid); st.Meta.Will == nil || st.Meta.WillDue == 0 {
		t.Fatalf("no pending will before the restart: %+v", st.Meta)
	}
	due := time.UnixMilli(h.load(cid).Meta.WillDue)
	h.start(nil)
	evs := h.waitFor(cid, hasEvent(events.SessionWillPublished, string(events.WillDelayElapsed)))
	if at := evs[len(evs)-1].Time; at.Before(due) {
		t.Fatalf("published at %v, before it was due at %v", at, due)
	}
	h.marker(cid)
	if n := len(h.willsLogged()["will/"+cid]); n != 1 {
		t.Fatalf("%d will records, want 1", n)
	}
	h.checkEvents()
}

// TestSupersededWillDeadline: a connection taken over while online whose
// end no frontend ever reports (its disconnect op was lost) has its will
// published at the deadline, once, by the session service, while the new
// connection is online.
func TestSupersededWillDeadline(t *testing.T) {
	h := newHarness(t)
	h.start(func(c *Config) { c.NodeTimeout = time.Second })
	heart, _ := h.frontendHeart("fe-lost")
	const cid = "deadline-1"
	a := h.connectOp(&session.Op{ClientID: cid, Conn: connID(cid, "A"), Node: "fe-lost", Inc: heart.Inc(), Proto: 5, Expiry: 600,
		Will: &session.Will{Topic: "will/" + cid, Payload: []byte("lost"), QoS: 1}})
	took := time.Now()
	b := h.connectOp(&session.Op{ClientID: cid, Conn: connID(cid, "B"), Node: "fe-lost", Inc: heart.Inc(), Proto: 5, Expiry: 600})
	evs := h.waitFor(cid, hasEvent(events.SessionWillPublished, string(events.WillConnectionEnded)))
	if d := time.Since(took); d < 2*time.Second {
		t.Fatalf("published %v after the takeover, before its deadline", d)
	}
	w := evs[len(evs)-1].Data.(*events.WillPublished)
	if w.ConnID != a.id || w.Node != "sessiond-test" {
		t.Fatalf("will_published %+v, want the first connection's, by the session service", w)
	}
	eventually(t, "settled, the new connection online", func() (bool, error) {
		st := h.load(cid)
		return st.Exists && st.Meta.Online && st.Meta.Conn == b.id && len(st.Meta.Superseded) == 0, nil
	})
	h.marker(cid)
	if recs := h.willsLogged()["will/"+cid]; len(recs) != 1 {
		t.Fatalf("%d will records, want 1", len(recs))
	}
	h.checkEvents()
}
