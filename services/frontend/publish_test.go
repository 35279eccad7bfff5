package frontend

import (
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/mqtt"
	"github.com/tidemarkmq/tidemark/pkg/session"
)

func TestPublishAckAfterAppend(t *testing.T) {
	s, log := newUnitServer(t, nil)
	c := dialPipe(t, s, mqtt.V5)
	c.connect(&mqtt.Connect{ClientID: "pub", CleanStart: true})
	c.send(&mqtt.Publish{QoS: 1, PacketID: 7, Topic: "a/b", Payload: []byte("x"), Retain: true,
		Properties: mqtt.Properties{ContentType: mqtt.Ptr("text/plain"), MessageExpiry: mqtt.Ptr(uint32(60)),
			UserProperties: []mqtt.UserProperty{{Key: "traceparent", Value: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}}}})
	ack, ok := c.next(5 * time.Second).(*mqtt.Puback)
	if !ok || ack.PacketID != 7 {
		t.Fatalf("want PUBACK 7, got %#v", ack)
	}
	msgs := log.messages(DefaultTopics().Messages)
	if len(msgs) != 1 {
		t.Fatalf("%d records on the messages topic, want 1", len(msgs))
	}
	rec := msgs[0]
	checks := map[string]string{kafkalog.HeaderQoS: "1", kafkalog.HeaderRetain: "1", kafkalog.HeaderClient: "pub"}
	for k, want := range checks {
		if v, _ := rec.Header(k); string(v) != want {
			t.Errorf("header %s = %q, want %q", k, v, want)
		}
	}
	// The trace continues: same trace id (the span id is the frontend's
	// publish span when a tracer provider is installed).
	if v, _ := rec.Header(kafkalog.HeaderTraceparent); !strings.Contains(string(v), "0af7651916cd43dd8448eb211c80319c") {
		t.Errorf("traceparent %q does not continue the publisher's trace", v)
	}
	if _, ok := rec.Header(kafkalog.HeaderExpires); !ok {
		t.Error("no mqtt-expires header")
	}
	m := decodeMessage(rec)
	if m.props.ContentType == nil || *m.props.ContentType != "text/plain" {
		t.Errorf("content type not carried: %+v", m.props)
	}
	if r := log.messages(DefaultTopics().Retained); len(r) != 1 || string(r[0].Key) != "a/b" {
		t.Fatalf("retained topic got %d records, want 1 keyed a/b", len(r))
	}
}

// TestNoAckWhileLogDown is invariant 1 at unit level: while appends fail
// no PUBACK/PUBREC is sent, and both arrive once the log is back, in order.
func TestNoAckWhileLogDown(t *testing.T) {
	s, log := newUnitServer(t, nil)
	c := dialPipe(t, s, mqtt.V311)
	c.connect(&mqtt.Connect{ClientID: "pub", CleanStart: true})
	log.setDown(true)
	for len(log.attempts) > 0 {
		<-log.attempts
	}
	c.send(&mqtt.Publish{QoS: 1, PacketID: 1, Topic: "t", Payload: []byte("1")})
	c.send(&mqtt.Publish{QoS: 2, PacketID: 2, Topic: "t", Payload: []byte("2")})
	// Wait for several failed attempts: the pump holds and retries.
	for i := 0; i < 3; i++ {
		select {
		case <-log.attempts:
		case <-time.After(5 * time.Second):
			t.Fatal("pump did not retry")
		}
	}
	select {
	case p := <-c.pkts:
		t.Fatalf("got %s while the log is down", p.Type())
	default:
	}
	log.setDown(false)
	if a, ok := c.next(5 * time.Second).(*mqtt.Puback); !ok || a.PacketID != 1 {
		t.Fatalf("want PUBACK 1, got %#v", a)
	}
	if a, ok := c.next(5 * time.Second).(*mqtt.Pubrec); !ok || a.PacketID != 2 {
		t.Fatalf("want PUBREC 2, got %#v", a)
	}
	msgs := log.messages(DefaultTopics().Messages)
	if len(msgs) != 2 || string(msgs[0].Value) != "1" || string(msgs[1].Value) != "2" {
		t.Fatalf("logged %d messages, want 1 then 2", len(msgs))
	}
}

// TestPublishGivesUp: after PublishRetry the connection closes without an
// acknowledgement, so the client resends.
func TestPublishGivesUp(t *testing.T) {
	s, log := newUnitServer(t, func(c *Config) { c.PublishRetry = 200 * time.Millisecond })
	c := dialPipe(t, s, mqtt.V5)
	c.connect(&mqtt.Connect{ClientID: "pub", CleanStart: true})
	log.setDown(true)
	c.send(&mqtt.Publish{QoS: 1, PacketID: 1, Topic: "t", Payload: []byte("1")})
	d, ok := c.next(5 * time.Second).(*mqtt.Disconnect)
	if !ok || d.ReasonCode != mqtt.ServerBusy {
		t.Fatalf("want DISCONNECT 0x89, got %#v (%v)", d, <-c.errc)
	}
	c.closed(5 * time.Second)
}

func TestQoS2Inbound(t *testing.T) {
	s, log := newUnitServer(t, nil)
	c := dialPipe(t, s, mqtt.V5)
	c.connect(&mqtt.Connect{ClientID: "q2", CleanStart: true})
	pub := &mqtt.Publish{QoS: 2, PacketID: 9, Topic: "t", Payload: []byte("once")}
	c.send(pub)
	if a, ok := c.next(5 * time.Second).(*mqtt.Pubrec); !ok || a.PacketID != 9 {
		t.Fatalf("want PUBREC 9, got %#v", a)
	}
	// A DUP resend before PUBREL is acknowledged but not logged again.
	dup := *pub
	dup.Dup = true
	c.send(&dup)
	if a, ok := c.next(5 * time.Second).(*mqtt.Pubrec); !ok || a.PacketID != 9 {
		t.Fatalf("want PUBREC 9 again, got %#v", a)
	}
	c.send(&mqtt.Pubrel{PacketID: 9})
	if a, ok := c.next(5 * time.Second).(*mqtt.Pubcomp); !ok || a.PacketID != 9 || a.ReasonCode != mqtt.Success {
		t.Fatalf("want PUBCOMP 9, got %#v", a)
	}
	if n := len(log.messages(DefaultTopics().Messages)); n != 1 {
		t.Fatalf("logged %d times, want once", n)
	}
	var kinds []string
	for _, op := range log.ops(t) {
		if op.Kind == session.OpQoS2In || op.Kind == session.OpQoS2Rel {
			kinds = append(kinds, op.Kind)
		}
	}
	if len(kinds) != 2 || kinds[0] != session.OpQoS2In || kinds[1] != session.OpQoS2Rel {
		t.Fatalf("qos2 ops %v, want [qos2_in qos2_rel]", kinds)
	}
	// PUBREL for an unknown id: PUBCOMP 0x92.
	c.send(&mqtt.Pubrel{PacketID: 10})
	if a, ok := c.next(5 * time.Second).(*mqtt.Pubcomp); !ok || a.ReasonCode != mqtt.PacketIdentifierNotFound {
		t.Fatalf("want PUBCOMP 0x92, got %#v", a)
	}
}

// feed dispatches a logged message record through the router as the
// messages follower would.
func feed(s *Server, p int, off int64, topic string, qos byte, client string, payload string) {
	rec := &kafkalog.Record{Partition: p, Offset: off, Key: []byte(topic), Value: []byte(payload),
		Headers: []kafkalog.Header{{Key: kafkalog.HeaderQoS, Value: []byte{'0' + qos}}, {Key: kafkalog.HeaderClient, Value: []byte(client)}}}
	s.router.dispatch(rec)
}

func subscribe(t *testing.T, c *pipeClient, pid uint16, subs ...mqtt.Subscription) *mqtt.Suback {
	t.Helper()
	c.send(&mqtt.Subscribe{PacketID: pid, Subscriptions: subs, Properties: mqtt.Properties{}})
	a, ok := c.next(30 * time.Second).(*mqtt.Suback)
	if !ok || a.PacketID != pid {
		t.Fatalf("want SUBACK %d, got %#v", pid, a)
	}
	return a
}

func TestLiveDelivery(t *testing.T) {
	s, log := newUnitServer(t, nil)
	c := dialPipe(t, s, mqtt.V5)
	c.connect(&mqtt.Connect{ClientID: "sub", CleanStart: true})
	c.send(&mqtt.Subscribe{PacketID: 1, Subscriptions: []mqtt.Subscription{
		{Filter: "a/+", QoS: 1},
		{Filter: "a/#", QoS: 2},
		{Filter: "$share/g", QoS: 1},
		{Filter: "a/#/b", QoS: 1},
	}, Properties: mqtt.Properties{SubscriptionIDs: []uint32{5}}})
	ack, ok := c.next(5 * time.Second).(*mqtt.Suback)
	if !ok {
		t.Fatal("want SUBACK")
	}
	want := []mqtt.ReasonCode{mqtt.GrantedQoS1, mqtt.GrantedQoS2, mqtt.TopicFilterInvalid, mqtt.TopicFilterInvalid}
	for i, rc := range want {
		if ack.ReasonCodes[i] != rc {
			t.Fatalf("SUBACK codes %v, want %v", ack.ReasonCodes, want)
		}
	}
	if op := log.waitOp(t, session.OpSubscribe); len(op.Subs) != 2 {
		t.Fatalf("subscribe op has %d subs, want 2", len(op.Subs))
	}
	// Overlapping subscriptions: one delivery at the highest QoS with both
	// identifiers [MQTT-3.3.4-2, -3].
	feed(s, 0, 0, "a/b", 2, "other", "m1")
	p, ok := c.next(5 * time.Second).(*mqtt.Publish)
	if !ok {
		t.Fatal("want PUBLISH")
	}
	if p.QoS != 2 || string(p.Payload) != "m1" || len(p.Properties.SubscriptionIDs) != 2 {
		t.Fatalf("got qos %d payload %q subids %v", p.QoS, p.Payload, p.Properties.SubscriptionIDs)
	}
	// $ topics do not match leading wildcards; a/# does not match b.
	feed(s, 0, 1, "b", 1, "other", "no")
	// QoS downgrade: a QoS 2 publish on a/b/c only matches a/# (QoS 2),
	// a QoS 1 on a/x matches both: QoS 1.
	feed(s, 0, 2, "a/x", 1, "other", "m2")
	p2, ok := c.next(5 * time.Second).(*mqtt.Publish)
	if !ok || string(p2.Payload) != "m2" || p2.QoS != 1 || p2.PacketID == p.PacketID {
		t.Fatalf("want m2 at QoS 1 with a new packet id, got %#v", p2)
	}
	c.send(&mqtt.Pubrec{PacketID: p.PacketID})
	if r, ok := c.next(5 * time.Second).(*mqtt.Pubrel); !ok || r.PacketID != p.PacketID {
		t.Fatalf("want PUBREL, got %#v", r)
	}
	c.send(&mqtt.Pubcomp{PacketID: p.PacketID})
	c.send(&mqtt.Puback{PacketID: p2.PacketID})
	// Everything acknowledged: the cursor reaches the dispatch position.
	deadline := time.Now().Add(5 * time.Second)
	for {
		var cur map[int]int64
		var infl []session.Inflight
		c.serverConn(t, s).inLoop(t, func(sc *conn) { cur, infl = sc.progressNow() })
		if cur[0] == 3 && len(infl) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cursor %v inflight %v, want cursor 3 and nothing inflight", cur, infl)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// inLoop runs fn in c's loop, where its session state may be read, and
// waits for it.
func (c *conn) inLoop(t *testing.T, fn func(*conn)) {
	t.Helper()
	done := make(chan struct{})
	c.post(func() { fn(c); close(done) })
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the connection's loop did not run")
	}
}

// serverConn finds the server side of the only connection.
func (c *pipeClient) serverConn(t *testing.T, s *Server) *conn {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for sc := range s.conns {
		return sc
	}
	t.Fatal("no connection")
	return nil
}

func TestReceiveMaximumWindow(t *testing.T) {
	s, _ := newUnitServer(t, nil)
	c := dialPipe(t, s, mqtt.V5)
	c.connect(&mqtt.Connect{ClientID: "w", CleanStart: true, Properties: mqtt.Properties{ReceiveMaximum: mqtt.Ptr(uint16(2))}})
	subscribe(t, c, 1, mqtt.Subscription{Filter: "t", QoS: 1})
	for i := int64(0); i < 4; i++ {
		feed(s, 0, i, "t", 1, "x", string(rune('a'+i)))
	}
	p1 := c.next(5 * time.Second).(*mqtt.Publish)
	p2 := c.next(5 * time.Second).(*mqtt.Publish)
	select {
	case p := <-c.pkts:
		t.Fatalf("third %s sent with a window of 2", p.Type())
	case <-time.After(100 * time.Millisecond):
	}
	c.send(&mqtt.Puback{PacketID: p1.PacketID})
	p3 := c.next(5 * time.Second).(*mqtt.Publish)
	if string(p1.Payload)+string(p2.Payload)+string(p3.Payload) != "abc" {
		t.Fatalf("order %q %q %q", p1.Payload, p2.Payload, p3.Payload)
	}
}

func TestNoLocalAndTopicAlias(t *testing.T) {
	s, _ := newUnitServer(t, nil)
	c := dialPipe(t, s, mqtt.V5)
	c.connect(&mqtt.Connect{ClientID: "me", CleanStart: true, Properties: mqtt.Properties{TopicAliasMaximum: mqtt.Ptr(uint16(4))}})
	subscribe(t, c, 1, mqtt.Subscription{Filter: "t", QoS: 0, NoLocal: true})
	feed(s, 0, 0, "t", 0, "me", "own")
	feed(s, 0, 1, "t", 0, "other", "x1")
	feed(s, 0, 2, "t", 0, "other", "x2")
	p1 := c.next(5 * time.Second).(*mqtt.Publish)
	p2 := c.next(5 * time.Second).(*mqtt.Publish)
	if string(p1.Payload) != "x1" || p1.Topic != "t" || p1.Properties.TopicAlias == nil {
		t.Fatalf("first: %#v", p1)
	}
	if string(p2.Payload) != "x2" || p2.Topic != "" || p2.Properties.TopicAlias == nil || *p2.Properties.TopicAlias != *p1.Properties.TopicAlias {
		t.Fatalf("second should use the alias only: %#v", p2)
	}
}

// TestReceiveMaximumInbound: an MQTT 5 client that sends more unacknowledged
// QoS 1/2 PUBLISHes than the server's Receive Maximum is disconnected with
// 0x93 (it broke [MQTT-3.3.4-7]).
func TestReceiveMaximumInbound(t *testing.T) {
	s, log := newUnitServer(t, func(c *Config) { c.ReceiveMaximum = 2 })
	c := dialPipe(t, s, mqtt.V5)
	c.connect(&mqtt.Connect{ClientID: "greedy", CleanStart: true})
	log.setDown(true) // nothing gets acknowledged
	for i := uint16(1); i <= 3; i++ {
		c.send(&mqtt.Publish{Topic: "t", QoS: 1, PacketID: i, Payload: []byte("x")})
	}
	d, ok := c.next(5 * time.Second).(*mqtt.Disconnect)
	if !ok || d.ReasonCode != mqtt.ReceiveMaximumExceeded {
		t.Fatalf("want DISCONNECT 0x93, got %#v", d)
	}
}

// TestBurstBeyondOneTurn: a burst of live deliveries larger than what one
// turn of the loop writes (batchMax) all reach the client, with nothing
// else happening on the connection: the loop continues by itself, without
// waiting for a progress tick or another packet to wake it. A second case:
// a burst the size the log hands a frontend at once (fetches of up to
// 4 MiB per partition: tens of thousands of small records for one
// subscriber) does not make a client that reads all the while a slow
// consumer under the default bound.
func TestBurstBeyondOneTurn(t *testing.T) {
	for _, n := range []int{20 * batchMax, 30000} {
		t.Run(strconv.Itoa(n), func(t *testing.T) { testBurst(t, n) })
	}
}

func testBurst(t *testing.T, n int) {
	s, _ := newUnitServer(t, nil)
	c := dialPipe(t, s, mqtt.V311)
	c.connect(&mqtt.Connect{ClientID: "burst", CleanStart: true})
	subscribe(t, c, 1, mqtt.Subscription{Filter: "burst/#", QoS: 0})
	for i := range n {
		feed(s, 0, int64(i), "burst/t", 0, "pub", strconv.Itoa(i))
	}
	timeout := time.After(30 * time.Second)
	for i := range n {
		var p *mqtt.Publish
		select {
		case pkt := <-c.pkts:
			p, _ = pkt.(*mqtt.Publish)
		case <-timeout:
		}
		if p == nil {
			t.Fatalf("%d of %d deliveries of the burst arrived", i, n)
		}
		if string(p.Payload) != strconv.Itoa(i) {
			t.Fatalf("delivery %d is %q: out of order", i, p.Payload)
		}
	}
}

// TestPublishWaitObserved: a PUBLISH read while its connection's previous
// append is in flight waits for it, and the wait is observed from when it
// was read to when its own append starts.
func TestPublishWaitObserved(t *testing.T) {
	s, log := newUnitServer(t, nil)
	c := dialPipe(t, s, mqtt.V5)
	c.connect(&mqtt.Connect{ClientID: "waiter", CleanStart: true})
	held := log.holdWhere(func(r *kafkalog.Record) bool { return string(r.Value) == "first" })
	c.send(&mqtt.Publish{Topic: "t", QoS: 1, PacketID: 1, Payload: []byte("first")})
	<-held
	c.send(&mqtt.Publish{Topic: "t", QoS: 1, PacketID: 2, Payload: []byte("second")})
	sc := c.serverConn(t, s)
	waitFor(t, 10*time.Second, "the second PUBLISH queued behind the first", func() bool {
		sc.pub.mu.Lock()
		defer sc.pub.mu.Unlock()
		return len(sc.pub.queue) > 0
	})
	const hold = 50 * time.Millisecond
	time.Sleep(hold) // the wait to be measured, not a synchronisation
	close(log.unhang)
	for i := uint16(1); i <= 2; i++ {
		if a, ok := c.next(5 * time.Second).(*mqtt.Puback); !ok || a.PacketID != i {
			t.Fatalf("got %v, want PUBACK %d", a, i)
		}
	}
	var m dto.Metric
	if err := s.m.publishWait.Write(&m); err != nil {
		t.Fatal(err)
	}
	h := m.GetHistogram()
	if h.GetSampleCount() != 2 {
		t.Fatalf("%d waits observed, want 2", h.GetSampleCount())
	}
	if h.GetSampleSum() < hold.Seconds() {
		t.Fatalf("waits sum to %.3fs, want at least the %s the second waited", h.GetSampleSum(), hold)
	}
}
