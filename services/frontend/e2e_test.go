package frontend

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	paho3 "github.com/eclipse/paho.mqtt.golang"
)

// client3 connects an MQTT 3.1.1 client (paho.mqtt.golang) and forwards
// received messages to the returned channel.
func client3(t *testing.T, brokerURL, id string, clean bool) (paho3.Client, chan paho3.Message) {
	t.Helper()
	msgs := make(chan paho3.Message, 100)
	opts := paho3.NewClientOptions().AddBroker(brokerURL).SetClientID(id).SetCleanSession(clean).
		SetProtocolVersion(4).SetAutoReconnect(false).SetConnectRetry(false).SetOrderMatters(true).
		SetDefaultPublishHandler(func(_ paho3.Client, m paho3.Message) { msgs <- m })
	c := paho3.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s: %v", id, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c, msgs
}

func wait3(t *testing.T, tok paho3.Token, what string) {
	t.Helper()
	if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatalf("%s: %v", what, tok.Error())
	}
}

func recv3(t *testing.T, ch chan paho3.Message) paho3.Message {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(30 * time.Second):
		t.Fatal("no message within 30s")
		return nil
	}
}

// client5 connects an MQTT 5 client (paho.golang).
type client5 struct {
	*paho.Client
	msgs  chan *paho.Publish
	disco chan *paho.Disconnect
	ack   *paho.Connack
}

func dial5(t *testing.T, hostport string, cp *paho.Connect) *client5 {
	t.Helper()
	nc, err := net.Dial("tcp", hostport)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	c5 := &client5{msgs: make(chan *paho.Publish, 100), disco: make(chan *paho.Disconnect, 1)}
	c5.Client = paho.NewClient(paho.ClientConfig{
		Conn: nc,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			c5.msgs <- pr.Packet
			return true, nil
		}},
		OnServerDisconnect: func(d *paho.Disconnect) { c5.disco <- d },
		PacketTimeout:      30 * time.Second,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if cp.KeepAlive == 0 {
		cp.KeepAlive = 30
	}
	ack, err := c5.Connect(ctx, cp)
	if err != nil {
		t.Fatalf("connect %s: %v", cp.ClientID, err)
	}
	c5.ack = ack
	t.Cleanup(func() { _ = c5.Disconnect(&paho.Disconnect{}) })
	return c5
}

func (c *client5) sub(t *testing.T, subs ...paho.SubscribeOptions) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: subs}); err != nil {
		t.Fatalf("subscribe: %v", err)
	}
}

func (c *client5) pub(t *testing.T, p *paho.Publish) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Publish(ctx, p); err != nil {
		t.Fatalf("publish: %v", err)
	}
}

func (c *client5) recv(t *testing.T) *paho.Publish {
	t.Helper()
	select {
	case m := <-c.msgs:
		return m
	case <-time.After(30 * time.Second):
		t.Fatal("no message within 30s")
		return nil
	}
}

func TestIntegrationRoundTrip311(t *testing.T) {
	st := newStack(t)
	fe := st.frontend("fe1")
	url := "tcp://" + addr(fe, "mqtt")
	tp := uniqueTopic(t)
	sub, msgs := client3(t, url, "sub-"+t.Name(), true)
	wait3(t, sub.Subscribe(tp+"/#", 2, nil), "subscribe")
	pub, _ := client3(t, url, "pub-"+t.Name(), true)
	for qos := byte(0); qos <= 2; qos++ {
		t.Run(fmt.Sprintf("qos%d", qos), func(t *testing.T) {
			want := fmt.Sprintf("hello %d", qos)
			wait3(t, pub.Publish(tp+"/q", qos, false, want), "publish")
			m := recv3(t, msgs)
			if string(m.Payload()) != want || m.Qos() != qos {
				t.Fatalf("got %q qos %d, want %q qos %d", m.Payload(), m.Qos(), want, qos)
			}
		})
	}
	// Per-topic order of a burst.
	for i := 0; i < 20; i++ {
		pub.Publish(tp+"/order", 1, false, fmt.Sprint(i))
	}
	for i := 0; i < 20; i++ {
		if m := recv3(t, msgs); string(m.Payload()) != fmt.Sprint(i) {
			t.Fatalf("message %d: got %q", i, m.Payload())
		}
	}
}

func TestIntegrationTwoFrontendsV5(t *testing.T) {
	st := newStack(t)
	a, b := st.frontend("fe-a"), st.frontend("fe-b")
	tp := uniqueTopic(t)
	sub := dial5(t, addr(a, "mqtt"), &paho.Connect{ClientID: "sub-" + t.Name(), CleanStart: true})
	sub.sub(t, paho.SubscribeOptions{Topic: tp + "/+", QoS: 1}, paho.SubscribeOptions{Topic: tp + "/#", QoS: 2})
	pub := dial5(t, addr(b, "mqtt"), &paho.Connect{ClientID: "pub-" + t.Name(), CleanStart: true})
	ct := "text/plain"
	pub.pub(t, &paho.Publish{Topic: tp + "/x", QoS: 2, Payload: []byte("across"),
		Properties: &paho.PublishProperties{ContentType: ct, User: paho.UserProperties{{Key: "k", Value: "v"}}}})
	m := sub.recv(t)
	if string(m.Payload) != "across" || m.QoS != 2 {
		t.Fatalf("got %q qos %d", m.Payload, m.QoS)
	}
	if m.Properties == nil || m.Properties.ContentType != ct || m.Properties.User.Get("k") != "v" {
		t.Fatalf("properties not passed through: %+v", m.Properties)
	}
	select {
	case d := <-sub.msgs:
		t.Fatalf("second delivery %q for overlapping subscriptions", d.Payload)
	case <-time.After(300 * time.Millisecond):
	}
}

func TestIntegrationRetained(t *testing.T) {
	st := newStack(t)
	fe := st.frontend("fe1")
	tp := uniqueTopic(t)
	pub := dial5(t, addr(fe, "mqtt"), &paho.Connect{ClientID: "pub-" + t.Name(), CleanStart: true})
	pub.pub(t, &paho.Publish{Topic: tp, QoS: 1, Retain: true, Payload: []byte("kept")})
	// A second frontend learns it from the compacted topic.
	fe2 := st.frontend("fe2")
	sub := dial5(t, addr(fe2, "mqtt"), &paho.Connect{ClientID: "sub-" + t.Name(), CleanStart: true})
	sub.sub(t, paho.SubscribeOptions{Topic: tp, QoS: 1})
	m := sub.recv(t)
	if string(m.Payload) != "kept" || !m.Retain {
		t.Fatalf("got %q retain=%v, want the retained message with RETAIN", m.Payload, m.Retain)
	}
	// Live messages carry RETAIN only with Retain As Published.
	pub.pub(t, &paho.Publish{Topic: tp, QoS: 1, Retain: true, Payload: []byte("live")})
	if m := sub.recv(t); string(m.Payload) != "live" || m.Retain {
		t.Fatalf("live: got %q retain=%v", m.Payload, m.Retain)
	}
	// An empty retained payload clears it.
	pub.pub(t, &paho.Publish{Topic: tp, QoS: 1, Retain: true, Payload: nil})
	sub.recv(t)
	waitFor(t, 30*time.Second, "retained cleared", func() bool {
		fe2.retained.mu.RLock()
		defer fe2.retained.mu.RUnlock()
		_, ok := fe2.retained.msgs[tp]
		return !ok
	})
}

func TestIntegrationWill(t *testing.T) {
	st := newStack(t)
	fe := st.frontend("fe1")
	tp := uniqueTopic(t)
	sub := dial5(t, addr(fe, "mqtt"), &paho.Connect{ClientID: "sub-" + t.Name(), CleanStart: true})
	sub.sub(t, paho.SubscribeOptions{Topic: tp + "/#", QoS: 1})

	normal := dial5(t, addr(fe, "mqtt"), &paho.Connect{ClientID: "n-" + t.Name(), CleanStart: true,
		WillMessage: &paho.WillMessage{Topic: tp + "/normal", QoS: 1, Payload: []byte("no")}})
	_ = normal.Disconnect(&paho.Disconnect{})
	dying := dial5(t, addr(fe, "mqtt"), &paho.Connect{ClientID: "d-" + t.Name(), CleanStart: true,
		WillMessage: &paho.WillMessage{Topic: tp + "/dead", QoS: 1, Payload: []byte("gone")}})
	dying.TerminateConnectionForTest()
	m := sub.recv(t)
	if m.Topic != tp+"/dead" || string(m.Payload) != "gone" {
		t.Fatalf("got %s %q, want the will of the dropped client only", m.Topic, m.Payload)
	}
}

// TestIntegrationPersistentResume: messages published while a persistent
// session is offline are delivered when it comes back, all of them, in
// order, with Session Present.
func TestIntegrationPersistentResume(t *testing.T) {
	st := newStack(t)
	a, b := st.frontend("fe-a"), st.frontend("fe-b")
	tp := uniqueTopic(t)
	id := "p-" + t.Name()
	exp := uint32(600)
	c := dial5(t, addr(a, "mqtt"), &paho.Connect{ClientID: id, CleanStart: true, Properties: &paho.ConnectProperties{SessionExpiryInterval: &exp}})
	c.sub(t, paho.SubscribeOptions{Topic: tp, QoS: 1})
	_ = c.Disconnect(&paho.Disconnect{})

	pub := dial5(t, addr(b, "mqtt"), &paho.Connect{ClientID: "pub-" + t.Name(), CleanStart: true})
	const n = 10
	for i := 0; i < n; i++ {
		pub.pub(t, &paho.Publish{Topic: tp, QoS: 1, Payload: []byte(fmt.Sprint(i))})
	}
	// Resume on the other frontend.
	c2 := dial5(t, addr(b, "mqtt"), &paho.Connect{ClientID: id, CleanStart: false, Properties: &paho.ConnectProperties{SessionExpiryInterval: &exp}})
	if !c2.ack.SessionPresent {
		t.Fatal("Session Present not set on resume")
	}
	for i := 0; i < n; i++ {
		if m := c2.recv(t); string(m.Payload) != fmt.Sprint(i) {
			t.Fatalf("message %d: got %q", i, m.Payload)
		}
	}
	// Live delivery continues after the replay.
	pub.pub(t, &paho.Publish{Topic: tp, QoS: 1, Payload: []byte("live")})
	if m := c2.recv(t); string(m.Payload) != "live" {
		t.Fatalf("live: got %q", m.Payload)
	}
}

// TestIntegrationTakeover: a second CONNECT with the same ClientID on
// another frontend closes the first with DISCONNECT 0x8E.
func TestIntegrationTakeover(t *testing.T) {
	st := newStack(t)
	a, b := st.frontend("fe-a"), st.frontend("fe-b")
	id := "t-" + t.Name()
	exp := uint32(600)
	first := dial5(t, addr(a, "mqtt"), &paho.Connect{ClientID: id, CleanStart: true, Properties: &paho.ConnectProperties{SessionExpiryInterval: &exp}})
	second := dial5(t, addr(b, "mqtt"), &paho.Connect{ClientID: id, CleanStart: false, Properties: &paho.ConnectProperties{SessionExpiryInterval: &exp}})
	select {
	case d := <-first.disco:
		if d.ReasonCode != 0x8E {
			t.Fatalf("DISCONNECT %#x, want 0x8E", d.ReasonCode)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("first connection not taken over")
	}
	if !second.ack.SessionPresent {
		t.Fatal("second connection did not resume the session")
	}
	select {
	case <-second.Done():
		t.Fatal("the newer connection was closed")
	default:
	}
}
