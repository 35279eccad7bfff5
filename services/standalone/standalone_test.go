package standalone

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/tidemarkmq/tidemark/services/frontend"
	"github.com/tidemarkmq/tidemark/services/sessiond"
)

func testConfig(dir string) Config {
	return Config{
		Frontend: frontend.Config{MQTTAddr: "127.0.0.1:0", WSAddr: "127.0.0.1:0"},
		Sessiond: sessiond.Config{MaxQueued: 100, QueueQoS0: true},
		HTTPAddr: "127.0.0.1:0", DataDir: dir, Node: "test",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

// waitReady polls Ready (the services offer no signal), bounded.
func waitReady(t *testing.T, s *Server) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !s.Ready() {
		if time.Now().After(deadline) {
			t.Fatal("not ready within 30s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func connect(t *testing.T, addr net.Addr, id string, clean bool) paho.Client {
	t.Helper()
	o := paho.NewClientOptions().AddBroker("tcp://" + addr.String()).SetClientID(id).
		SetCleanSession(clean).SetAutoReconnect(false).SetConnectTimeout(10 * time.Second)
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s: %v", id, tok.Error())
	}
	return c
}

func TestStandaloneServesAndKeepsSessionsAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := testCtx(t)
	s, err := Start(ctx, testConfig(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	waitReady(t, s)
	a := s.Addrs()
	if a.MQTT == nil || a.WS == nil || a.HTTP == nil || a.Kafka == "" || a.Redis == "" {
		t.Fatalf("addresses missing: %+v", a)
	}
	res, err := http.Get("http://" + a.HTTP.String() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("readyz %d while Ready", res.StatusCode)
	}

	// A persistent subscriber, then a publish while it is online.
	got := make(chan string, 10)
	sub := connect(t, a.MQTT, "sub", false)
	if tok := sub.Subscribe("a/+", 1, func(_ paho.Client, m paho.Message) { got <- string(m.Payload()) }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	pub := connect(t, a.MQTT, "pub", true)
	if tok := pub.Publish("a/b", 1, false, "online"); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	select {
	case m := <-got:
		if m != "online" {
			t.Fatalf("got %q", m)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no message while online")
	}
	sub.Disconnect(100)
	// Published while the subscriber is offline: it must be queued.
	if tok := pub.Publish("a/c", 1, false, "offline"); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	pub.Disconnect(100)
	s.Stop()

	s, err = Start(ctx, testConfig(dir))
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	defer s.Stop()
	waitReady(t, s)
	got2 := make(chan string, 10)
	o := paho.NewClientOptions().AddBroker("tcp://" + s.Addrs().MQTT.String()).SetClientID("sub").
		SetCleanSession(false).SetAutoReconnect(false).SetConnectTimeout(10 * time.Second)
	o.SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { got2 <- string(m.Payload()) })
	sub = paho.NewClient(o)
	tok := sub.Connect()
	if !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
		t.Fatalf("reconnect: %v", tok.Error())
	}
	defer sub.Disconnect(100)
	if !tok.(*paho.ConnectToken).SessionPresent() {
		t.Fatal("session not present after restart")
	}
	select {
	case m := <-got2:
		if m != "offline" {
			t.Fatalf("got %q after restart, want the offline message", m)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("offline message not delivered after restart")
	}
}

func TestStartRejectsBadConfig(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	cfg := testConfig(t.TempDir())
	cfg.Frontend.MQTTAddr = held.Addr().String()
	if _, err := Start(context.Background(), cfg); !errors.Is(err, ErrConfig) {
		t.Fatalf("err %v, want ErrConfig", err)
	}
}

func TestDataDirLockedWhileRunning(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.Frontend.MQTTAddr, cfg.Frontend.WSAddr, cfg.HTTPAddr = "", "", ""
	s, err := Start(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Start(testCtx(t), cfg); !errors.Is(err, ErrDataDirInUse) {
		s.Stop()
		t.Fatalf("second Start on the same data dir: %v, want ErrDataDirInUse", err)
	}
	s.Stop()
	// Released at Stop: the next run may start.
	s, err = Start(testCtx(t), cfg)
	if err != nil {
		t.Fatalf("start after Stop: %v", err)
	}
	s.Stop()
}
