package sessiond

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/events"
	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/session"
)

func testService(t *testing.T) *Service {
	t.Helper()
	s, err := New(Config{Kafka: kafkalog.Plain("127.0.0.1:1"), Redis: "127.0.0.1:1", Node: "sd", MaxExpiry: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestDecideConnect covers the connect decision without Kafka or Redis:
// which events, in which order, and whether the session is present.
func TestDecideConnect(t *testing.T) {
	s := testService(t)
	const now = 1_000_000
	online := func(clean bool, expiry uint32) *session.Meta {
		return &session.Meta{Epoch: 5, Conn: "old", Node: "fe-0", Online: true, Clean: clean, Proto: 5, Expiry: expiry, Since: now - 10}
	}
	offline := func(expiresAt int64) *session.Meta {
		return &session.Meta{Epoch: 5, Conn: "old", Online: false, Proto: 4, Expiry: 7200, ExpiresAt: expiresAt}
	}
	cases := []struct {
		name    string
		old     *session.Meta
		clean   bool
		want    []string // type:reason
		present bool
	}{
		{"no session", nil, false, []string{"created", "connected"}, false},
		{"offline persistent, resume", offline(now + 1), false, []string{"resumed", "connected"}, true},
		{"offline persistent, clean start", offline(now + 1), true, []string{"terminated:discarded", "created", "connected"}, false},
		{"offline persistent, expired", offline(now), false, []string{"terminated:expired", "created", "connected"}, false},
		{"online persistent, takeover", online(false, 60), false, []string{"disconnected:takenover", "resumed", "connected"}, true},
		{"online persistent, clean start", online(false, 60), true, []string{"disconnected:discarded", "terminated:discarded", "created", "connected"}, false},
		{"online clean session, conflict", online(true, 0), false, []string{"disconnected:discarded", "terminated:conflict", "created", "connected"}, false},
		{"online MQTT 5 clean start with expiry, takeover", online(true, 60), false, []string{"disconnected:takenover", "resumed", "connected"}, true},
		{"online expiry 0 without clean start, takeover", online(false, 0), false, []string{"disconnected:takenover", "resumed", "connected"}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := &batch{topic: "s", partition: 1, offset: 9, at: time.UnixMilli(now)}
			op := &session.Op{Kind: session.OpConnect, ClientID: "c", Conn: "new", Node: "fe-1", TS: now, Proto: 5, Clean: tc.clean, Expiry: 60}
			out := s.decide(b, op, input{meta: tc.old}, nil)
			var got []string
			present := false
			for _, e := range b.envs {
				w := summarize(e)
				name := string(e.Type)[len("mqtt.session."):]
				if e.Type == events.ClientConnected || e.Type == events.ClientDisconnected {
					name = string(e.Type)[len("mqtt.client."):]
				}
				if w.reason != "" {
					name += ":" + w.reason
				}
				got = append(got, name)
				if d, ok := e.Data.(*events.Connected); ok {
					present = d.SessionPresent
					if d.Epoch != 9 || d.ConnID != "new" {
						t.Errorf("connected names epoch %d conn %s", d.Epoch, d.ConnID)
					}
				}
				if d, ok := e.Data.(*events.Disconnected); ok && (d.ConnID != "old" || d.Epoch != 5 || d.DurationMS != 10) {
					t.Errorf("disconnected names %+v", d)
				}
			}
			if !reflect.DeepEqual(got, tc.want) || present != tc.present {
				t.Fatalf("got %v present=%v, want %v present=%v", got, present, tc.want, tc.present)
			}
			if out.state != stateOnline || !out.leave || out.tx == nil || out.meta.Epoch != 9 || out.meta.Present != tc.present || out.meta.Expiry != 60 {
				t.Fatalf("outcome %+v", out)
			}
			// Ids are a function of the op's position only.
			b2 := &batch{topic: "s", partition: 1, offset: 9, at: time.UnixMilli(now)}
			s.decide(b2, op, input{meta: tc.old}, nil)
			for i := range b.envs {
				if b.envs[i].ID != b2.envs[i].ID {
					t.Fatal("event ids not deterministic")
				}
			}
		})
	}
}

func TestDecideStale(t *testing.T) {
	s := testService(t)
	cur := &session.Meta{Epoch: 20, Conn: "new", Online: true, Proto: 5, Expiry: 60}
	off := &session.Meta{Epoch: 20, Conn: "new", Online: false, Proto: 5, Expiry: 60, ExpiresAt: 5}
	cases := []struct {
		name string
		meta *session.Meta
		op   session.Op
	}{
		{"older epoch disconnect", cur, session.Op{Kind: session.OpDisconnect, Epoch: 10}},
		{"older epoch subscribe", cur, session.Op{Kind: session.OpSubscribe, Epoch: 10}},
		{"no session", nil, session.Op{Kind: session.OpProgress, Epoch: 20}},
		{"offline session progress", off, session.Op{Kind: session.OpProgress, Epoch: 20}},
		{"expire of an older epoch", off, session.Op{Kind: session.OpExpire, Epoch: 10}},
		{"expire of an online session", cur, session.Op{Kind: session.OpExpire, Epoch: 20}},
		{"admin disconnect of an older epoch", cur, session.Op{Kind: session.OpAdminDisconnect, Epoch: 10}},
		{"admin disconnect of an offline session", off, session.Op{Kind: session.OpAdminDisconnect, Epoch: 20}},
		{"admin discard of an older epoch", off, session.Op{Kind: session.OpAdminDiscard, Epoch: 10}},
		{"admin discard of no session", nil, session.Op{Kind: session.OpAdminDiscard, Epoch: 20}},
		{"admin unsubscribe of an older epoch", cur, session.Op{Kind: session.OpAdminUnsubscribe, Epoch: 10, Filters: []string{"a"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := &batch{}
			op := tc.op
			op.ClientID = "c"
			out := s.decide(b, &op, input{meta: tc.meta}, nil)
			if out.result != resultStale || out.tx != nil || len(b.envs) != 0 || out.state != "" {
				t.Fatalf("stale op had effects: %+v events %d", out, len(b.envs))
			}
		})
	}
}

func TestExpiryRules(t *testing.T) {
	c := Config{DefaultExpiry: 2 * time.Hour, MaxExpiry: time.Hour}
	cases := []struct {
		name      string
		proto     byte
		clean     bool
		requested uint32
		want      uint32
	}{
		{"3.1.1 clean", 4, true, 500, 0},
		{"3.1.1 persistent default, capped", 4, false, 0, 3600},
		{"3.1.1 persistent explicit", 4, false, 600, 600},
		{"5 zero", 5, false, 0, 0},
		{"5 requested", 5, true, 120, 120},
		{"5 never, capped", 5, false, 0xFFFFFFFF, 3600},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := c.expiry(tc.proto, tc.clean, tc.requested); got != tc.want {
				t.Fatalf("got %d want %d", got, tc.want)
			}
		})
	}
}

func TestDecideDisconnectQueueStart(t *testing.T) {
	s := testService(t)
	m := &session.Meta{Epoch: 3, Conn: "c1", Online: true, Proto: 5, Expiry: 60}
	cases := []struct {
		name   string
		expiry uint32
		state  string
		at     int64
	}{
		{"persistent", 60, stateOffline, 1000 + 60_000},
		{"expiry zero ends it", 0, stateNone, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := &batch{}
			op := &session.Op{Kind: session.OpDisconnect, ClientID: "c", Epoch: 3, TS: 1000, Reason: string(events.DisconnectNormal), Expiry: tc.expiry}
			out := s.decide(b, op, input{meta: m, cursor: map[int]int64{0: 7}, qfrom: map[int]int64{0: 2, 1: 4}}, map[int]int64{0: 9, 1: 9, 2: 9})
			if out.state != tc.state {
				t.Fatalf("state %q want %q", out.state, tc.state)
			}
			if tc.state != stateOffline {
				return
			}
			if out.meta.Online || out.meta.ExpiresAt != tc.at {
				t.Fatalf("offline outcome %+v meta %+v", out, out.meta)
			}
			// Cursor first, then an older qfrom, then the follower's position.
			if want := map[int]int64{0: 7, 1: 4, 2: 9}; !reflect.DeepEqual(out.qfrom, want) {
				t.Fatalf("qfrom %v want %v", out.qfrom, want)
			}
		})
	}
}

// TestDecideWills covers the will rows of SESSIONS.md without Kafka or
// Redis: which ops publish a will, cancel it or hold it, and with which
// events around it.
func TestDecideWills(t *testing.T) {
	s := testService(t)
	const now = 1_000_000
	will := func(delay uint32) *session.Will {
		return &session.Will{Topic: "status/c", Payload: []byte("gone"), QoS: 1, Delay: delay}
	}
	online := func(expiry uint32, w *session.Will) *session.Meta {
		return &session.Meta{Epoch: 5, Conn: "old", Node: "fe-0", Inc: "inc-0", Online: true, Proto: 5, Expiry: expiry, Since: now - 10, Will: w}
	}
	offline := func(w *session.Will, due, expiresAt int64) *session.Meta {
		return &session.Meta{Epoch: 5, Conn: "old", Node: "fe-0", Online: false, Proto: 5, Expiry: 60, ExpiresAt: expiresAt, Will: w, WillDue: due}
	}
	disconnect := func(reason string, code byte, expiry uint32) *session.Op {
		return &session.Op{Kind: session.OpDisconnect, ClientID: "c", Conn: "old", Epoch: 5, Node: "fe-0", TS: now, Reason: reason, Code: code, Expiry: expiry}
	}
	unaccepted := func(op *session.Op) *session.Op { op.Unaccepted = true; return op }
	connect := &session.Op{Kind: session.OpConnect, ClientID: "c", Conn: "new", Node: "fe-1", Inc: "inc-1", TS: now, Proto: 5, Expiry: 60}
	cases := []struct {
		name    string
		in      input
		op      *session.Op
		want    []string // type:detail, detail = reason or will trigger
		willDue int64    // of the session afterwards; -1: no pending will
		result  string
	}{
		{"DISCONNECT 0x00 discards the will", input{meta: online(60, will(0))}, disconnect("normal", 0, 60),
			[]string{"disconnected:normal"}, -1, resultApplied},
		{"DISCONNECT 0x04 publishes it", input{meta: online(60, will(0))}, disconnect("normal", 4, 60),
			[]string{"disconnected:normal", "will_published:connection_ended"}, -1, resultApplied},
		{"never accepted (no CONNACK): none", input{meta: online(60, will(0))}, unaccepted(disconnect("closed", 0x88, 60)),
			[]string{"disconnected:closed"}, -1, resultApplied},
		{"never accepted, clean session: none", input{meta: online(0, will(5))}, unaccepted(disconnect("closed", 0x88, 0)),
			[]string{"disconnected:closed", "terminated:normal"}, -1, resultApplied},
		{"socket closed, no delay: at once", input{meta: online(60, will(0))}, disconnect("closed", 0x80, 60),
			[]string{"disconnected:closed", "will_published:connection_ended"}, -1, resultApplied},
		{"socket closed, delay: held", input{meta: online(60, will(5))}, disconnect("closed", 0x80, 60),
			[]string{"disconnected:closed"}, now + 5_000, resultApplied},
		{"delay beyond the expiry: due when the session ends", input{meta: online(60, will(100))}, disconnect("closed", 0x80, 60),
			[]string{"disconnected:closed"}, now + 60_000, resultApplied},
		{"session ends with the connection: at once", input{meta: online(0, will(5))}, disconnect("keepalive_timeout", 0x8D, 0),
			[]string{"disconnected:keepalive_timeout", "will_published:session_ended", "terminated:normal"}, -1, resultApplied},
		{"node down, clean session", input{meta: online(0, will(0))}, disconnect(string(events.DisconnectNodeDown), 0, 0),
			[]string{"disconnected:node_down", "will_published:connection_ended", "terminated:node_down"}, -1, resultApplied},
		{"server shutdown, delay: held", input{meta: online(60, will(5))}, disconnect("server_shutdown", 0x8B, 60),
			[]string{"disconnected:server_shutdown"}, now + 5_000, resultApplied},
		{"takeover, no delay: held for the old connection's end (TestSupersededWills)", input{meta: online(60, will(0))}, connect,
			[]string{"disconnected:takenover", "resumed", "connected"}, -1, resultApplied},
		{"takeover within the delay: cancelled", input{meta: online(60, will(5))}, connect,
			[]string{"disconnected:takenover", "will_cancelled", "resumed", "connected"}, -1, resultApplied},
		{"reconnect within the delay: cancelled", input{meta: offline(will(5), now+1, now+50_000)}, connect,
			[]string{"will_cancelled", "resumed", "connected"}, -1, resultApplied},
		{"reconnect after the delay, before the will op", input{meta: offline(will(5), now, now+50_000)}, connect,
			[]string{"will_published:delay_elapsed", "resumed", "connected"}, -1, resultApplied},
		{"reconnect after the session expired", input{meta: offline(will(100), now-1, now-1)}, connect,
			[]string{"will_published:session_ended", "terminated:expired", "created", "connected"}, -1, resultApplied},
		{"connect of an incarnation declared down", input{meta: offline(will(5), now+1, now+50_000), incDown: true}, connect,
			nil, now + 1, resultStale},
		{"will op, still pending", input{meta: offline(will(5), now, now+50_000)}, &session.Op{Kind: session.OpWill, ClientID: "c", Epoch: 5, TS: now},
			[]string{"will_published:delay_elapsed"}, -1, resultApplied},
		{"will op of an older epoch", input{meta: offline(will(5), now, now+50_000)}, &session.Op{Kind: session.OpWill, ClientID: "c", Epoch: 4, TS: now},
			nil, now, resultStale},
		{"will op after a reconnect", input{meta: online(60, will(5))}, &session.Op{Kind: session.OpWill, ClientID: "c", Epoch: 5, TS: now},
			nil, -1, resultStale},
		{"expiry publishes a pending will first", input{meta: offline(will(100), now+10, now)}, &session.Op{Kind: session.OpExpire, ClientID: "c", Epoch: 5, TS: now},
			[]string{"will_published:session_ended", "terminated:expired"}, -1, resultApplied},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := &batch{topic: "s", partition: 1, offset: 9, at: time.UnixMilli(now)}
			op := *tc.op
			out := s.decide(b, &op, tc.in, nil)
			got := names(b)
			published := 0
			for _, e := range b.envs {
				switch d := e.Data.(type) {
				case *events.WillPublished:
					published++
					if d.ConnID != "old" || d.Topic != "status/c" || d.QoS != 1 {
						t.Errorf("will_published names %+v", d)
					}
				case *events.WillCancelled:
					if d.ConnID != "new" || d.WillConnID != "old" || d.WillDelay != 5 {
						t.Errorf("will_cancelled names %+v", d)
					}
				case *events.Disconnected:
					if (d.MQTTReasonCode == nil) != (d.Reason == events.DisconnectNodeDown) {
						t.Errorf("disconnected %s with reason code %v", d.Reason, d.MQTTReasonCode)
					}
				}
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") || out.result != tc.result {
				t.Fatalf("got %v (%s), want %v (%s)", got, out.result, tc.want, tc.result)
			}
			if len(out.wills) != published {
				t.Fatalf("%d wills to publish, %d announced", len(out.wills), published)
			}
			for _, w := range out.wills {
				if w.meta.Will == nil || w.id != b.envs[slices.IndexFunc(b.envs, func(e events.Envelope) bool { return e.Type == events.SessionWillPublished })].ID {
					t.Fatalf("will to publish %+v does not match its event", w)
				}
			}
			after := out.meta
			if out.result == resultStale {
				after = tc.in.meta
			}
			due := int64(-1)
			if after != nil && pending(after) {
				due = after.WillDue
			}
			if due != tc.willDue {
				t.Fatalf("pending will due %d, want %d (meta %+v)", due, tc.willDue, after)
			}
		})
	}
}

// TestSupersededWills: the no-delay will of a connection taken over while
// online waits for word of that connection's end: published when its
// disconnect op says it was accepted, never when it says it was not (a
// CONNECT superseded before its CONNACK), discarded by DISCONNECT 0x00;
// published at its deadline when no word came, and when the session ends
// first. A delayed will of the session is not published early by a will op
// that came for a superseded one.
func TestSupersededWills(t *testing.T) {
	s := testService(t)
	const now = 1_000_000
	wait := s.supersededWait().Milliseconds()
	will := &session.Will{Topic: "status/c", Payload: []byte("gone"), QoS: 1}
	old := &session.Meta{Epoch: 5, Conn: "old", Node: "fe-0", Inc: "inc-0", Online: true, Proto: 5, Expiry: 60, Since: now - 10, Will: will}
	connect := &session.Op{Kind: session.OpConnect, ClientID: "c", Conn: "new", Node: "fe-1", Inc: "inc-1", TS: now, Proto: 5, Expiry: 60,
		Will: &session.Will{Topic: "status/new", Delay: 30}}
	end := func(reason string, code byte, unaccepted bool) *session.Op {
		return &session.Op{Kind: session.OpDisconnect, ClientID: "c", Conn: "old", Epoch: 5, Node: "fe-0", TS: now + 50,
			Reason: reason, Code: code, Unaccepted: unaccepted}
	}
	cases := []struct {
		name string
		ops  []*session.Op // after the takeover (the connect at offset 9)
		want []string      // events of ops, type:detail
		left int           // superseded wills left
	}{
		{"superseded before its CONNACK: never", []*session.Op{end("takenover", 0x8E, true)}, nil, 0},
		{"taken over after its CONNACK: published", []*session.Op{end("takenover", 0x8E, false)}, []string{"will_published:connection_ended"}, 0},
		{"its DISCONNECT 0x00 came first: discarded", []*session.Op{end("normal", 0, false)}, nil, 0},
		{"a late op of an older connection: no effect", []*session.Op{{Kind: session.OpDisconnect, ClientID: "c", Epoch: 3, TS: now}}, nil, 1},
		{"will op before the deadline: nothing", []*session.Op{{Kind: session.OpWill, ClientID: "c", Epoch: 9, TS: now + wait - 1}}, nil, 1},
		{"no word by the deadline: published", []*session.Op{{Kind: session.OpWill, ClientID: "c", Epoch: 9, TS: now + wait}},
			[]string{"will_published:connection_ended"}, 0},
		{"the new connection's delayed will is not due yet", []*session.Op{
			{Kind: session.OpDisconnect, ClientID: "c", Conn: "new", Epoch: 9, Node: "fe-1", TS: now + 10, Reason: "closed", Code: 0x80, Expiry: 60},
			{Kind: session.OpWill, ClientID: "c", Epoch: 9, TS: now + wait}},
			[]string{"disconnected:closed", "will_published:connection_ended"}, 0},
		{"the session ends first: published with it", []*session.Op{
			{Kind: session.OpDisconnect, ClientID: "c", Conn: "new", Epoch: 9, Node: "fe-1", TS: now + 10, Reason: "normal", Expiry: 0}},
			[]string{"disconnected:normal", "will_published:session_ended", "terminated:normal"}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := &input{meta: old}
			b := &batch{topic: "s", partition: 1, offset: 9, at: time.UnixMilli(now)}
			op := *connect
			out := s.decide(b, &op, *in, nil)
			advance(in, &op, out)
			if got := names(b); strings.Join(got, " ") != "disconnected:takenover resumed connected" || len(out.wills) != 0 {
				t.Fatalf("takeover: %v, %d wills", got, len(out.wills))
			}
			if m := in.meta; len(m.Superseded) != 1 || m.Superseded[0].Due != now+wait || !m.Holds("inc-0") || !m.Holds("inc-1") || m.NextWill() != now+wait {
				t.Fatalf("after the takeover: %+v", m)
			}
			var got []string
			for i, op := range tc.ops {
				b := &batch{topic: "s", partition: 1, offset: int64(10 + i), at: time.UnixMilli(op.TS)}
				op := *op
				out := s.decide(b, &op, *in, nil)
				advance(in, &op, out)
				got = append(got, names(b)...)
				for _, w := range out.wills {
					if w.meta.Will.Topic != "status/c" || w.meta.Conn != "old" || w.meta.Epoch != 5 {
						t.Fatalf("published %+v, want the old connection's will", w.meta)
					}
				}
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			left := 0
			if in.meta != nil {
				left = len(in.meta.Superseded)
				if in.meta.Holds("inc-0") != (left > 0) {
					t.Fatalf("holds the old incarnation: %v with %d superseded wills", in.meta.Holds("inc-0"), left)
				}
			}
			if left != tc.left {
				t.Fatalf("%d superseded wills left, want %d", left, tc.left)
			}
		})
	}
}

// names lists a batch's events as type:detail (reason or will trigger).
func names(b *batch) []string {
	var got []string
	for _, e := range b.envs {
		name := string(e.Type)[strings.LastIndex(string(e.Type), ".")+1:]
		detail := summarize(e).reason
		if d, ok := e.Data.(*events.WillPublished); ok {
			detail = string(d.Trigger)
		}
		if detail != "" {
			name += ":" + detail
		}
		got = append(got, name)
	}
	return got
}
