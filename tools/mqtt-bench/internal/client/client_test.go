package client

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/mqtt"
)

// script runs fn as the server side of one connection after reading its
// CONNECT; fn's failures are reported through t (Errorf, not Fatal: it runs
// on its own goroutine). The returned channel closes when fn returns.
func script(t *testing.T, fn func(r *mqtt.Reader, nc net.Conn, v mqtt.Version)) (string, <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		nc, err := ln.Accept()
		ln.Close()
		if err != nil {
			t.Errorf("accept: %v", err)
			return
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(10 * time.Second))
		r := mqtt.NewReader(nc, 0)
		cp, err := r.ReadConnect()
		if err != nil {
			t.Errorf("read connect: %v", err)
			return
		}
		fn(r, nc, cp.Version)
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String(), done
}

func expect[P mqtt.Packet](t *testing.T, r *mqtt.Reader, v mqtt.Version) P {
	t.Helper()
	p, err := r.ReadPacket(v)
	if err != nil {
		t.Errorf("read: %v", err)
		var zero P
		return zero
	}
	got, ok := p.(P)
	if !ok {
		t.Errorf("got %v, want %T", p.Type(), got)
	}
	return got
}

func write(t *testing.T, nc net.Conn, p mqtt.Packet, v mqtt.Version) {
	t.Helper()
	if err := mqtt.WritePacket(nc, p, v); err != nil {
		t.Errorf("write %v: %v", p.Type(), err)
	}
}

func TestDialRefused(t *testing.T) {
	tests := []struct {
		name string
		v    mqtt.Version
		code mqtt.ReasonCode
	}{
		{"MQTT 5 not authorized", mqtt.V5, mqtt.NotAuthorized},
		{"MQTT 3.1.1 bad credentials", mqtt.V311, mqtt.BadUsernameOrPassword},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, _ := script(t, func(r *mqtt.Reader, nc net.Conn, v mqtt.Version) {
				write(t, nc, &mqtt.Connack{ReasonCode: tt.code}, v)
			})
			_, err := Dial(context.Background(), Options{Addr: addr, Version: tt.v, ClientID: "c"})
			if !errors.Is(err, ErrRefused) || !errors.Is(err, tt.code) {
				t.Errorf("Dial = %v, want ErrRefused wrapping %v", err, tt.code)
			}
		})
	}
}

func TestSubscribe(t *testing.T) {
	tests := []struct {
		name  string
		codes []mqtt.ReasonCode
		want  error
	}{
		{"granted", []mqtt.ReasonCode{mqtt.GrantedQoS1}, nil},
		{"refused", []mqtt.ReasonCode{mqtt.UnspecifiedError}, ErrSubscribeFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, _ := script(t, func(r *mqtt.Reader, nc net.Conn, v mqtt.Version) {
				write(t, nc, &mqtt.Connack{}, v)
				sub := expect[*mqtt.Subscribe](t, r, v)
				if sub == nil {
					return
				}
				write(t, nc, &mqtt.Suback{PacketID: sub.PacketID, ReasonCodes: tt.codes}, v)
				expect[*mqtt.Disconnect](t, r, v)
			})
			c, err := Dial(context.Background(), Options{Addr: addr, ClientID: "c"})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			err = c.Subscribe(context.Background(), mqtt.Subscription{Filter: "a/#", QoS: 1})
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("Subscribe = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestFlows checks the acknowledgement flows in both directions for QoS 1
// and 2: what the client sends for received messages, and when it reports
// its own publishes complete.
func TestFlows(t *testing.T) {
	acks := make(chan mqtt.ReasonCode, 4)
	delivered := make(chan string, 4)
	flowsDone := make(chan struct{})
	addr, done := script(t, func(r *mqtt.Reader, nc net.Conn, v mqtt.Version) {
		write(t, nc, &mqtt.Connack{}, v)
		// Client's QoS 2 publish: PUBREC, expect PUBREL, PUBCOMP.
		p := expect[*mqtt.Publish](t, r, v)
		if p == nil {
			return
		}
		write(t, nc, &mqtt.Pubrec{PacketID: p.PacketID}, v)
		if rel := expect[*mqtt.Pubrel](t, r, v); rel == nil || rel.PacketID != p.PacketID {
			t.Errorf("pubrel %+v for id %d", rel, p.PacketID)
		}
		write(t, nc, &mqtt.Pubcomp{PacketID: p.PacketID}, v)
		// Client's QoS 1 publish refused by the broker.
		p = expect[*mqtt.Publish](t, r, v)
		if p == nil {
			return
		}
		write(t, nc, &mqtt.Puback{PacketID: p.PacketID, ReasonCode: mqtt.NotAuthorized}, v)
		// Server's QoS 1 and QoS 2 deliveries.
		write(t, nc, &mqtt.Publish{QoS: 1, PacketID: 7, Topic: "q1", Payload: []byte("x")}, v)
		if ack := expect[*mqtt.Puback](t, r, v); ack == nil || ack.PacketID != 7 {
			t.Errorf("puback %+v, want id 7", ack)
		}
		write(t, nc, &mqtt.Publish{QoS: 2, PacketID: 8, Topic: "q2", Payload: []byte("y")}, v)
		if rec := expect[*mqtt.Pubrec](t, r, v); rec == nil || rec.PacketID != 8 {
			t.Errorf("pubrec %+v, want id 8", rec)
		}
		write(t, nc, &mqtt.Pubrel{PacketID: 8}, v)
		if comp := expect[*mqtt.Pubcomp](t, r, v); comp == nil || comp.PacketID != 8 {
			t.Errorf("pubcomp %+v, want id 8", comp)
		}
		close(flowsDone)
		expect[*mqtt.Disconnect](t, r, v)
	})
	c, err := Dial(context.Background(), Options{
		Addr: addr, Version: mqtt.V5, ClientID: "c",
		OnAck:     func(_ time.Time, rc mqtt.ReasonCode) { acks <- rc },
		OnPublish: func(p *mqtt.Publish, _ time.Time) { delivered <- p.Topic },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, qos := range []byte{2, 1} {
		if err := c.Publish(ctx, &mqtt.Publish{Topic: "t", QoS: qos, Payload: []byte("p")}, time.Now()); err != nil {
			t.Fatal(err)
		}
		if err := c.Flush(); err != nil {
			t.Fatal(err)
		}
		want := mqtt.Success
		if qos == 1 {
			want = mqtt.NotAuthorized
		}
		if got := <-acks; got != want {
			t.Errorf("QoS %d completion = %v, want %v", qos, got, want)
		}
	}
	for _, want := range []string{"q1", "q2"} {
		if got := <-delivered; got != want {
			t.Errorf("delivered %q, want %q", got, want)
		}
	}
	if n := c.Inflight(); n != 0 {
		t.Errorf("in flight after completion: %d", n)
	}
	select {
	case <-flowsDone:
	case <-done: // the server gave up; its errors are reported
	}
	c.Close()
	<-done
}

func TestReceiveMaximumBoundsWindow(t *testing.T) {
	const window, total = 2, 5
	addr, done := script(t, func(r *mqtt.Reader, nc net.Conn, v mqtt.Version) {
		write(t, nc, &mqtt.Connack{Properties: mqtt.Properties{ReceiveMaximum: mqtt.Ptr(uint16(window))}}, v)
		var ids []uint16
		for range window {
			if p := expect[*mqtt.Publish](t, r, v); p != nil {
				ids = append(ids, p.PacketID)
			}
		}
		// Nothing more may arrive while the window is full.
		nc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if p, err := r.ReadPacket(v); err == nil {
			t.Errorf("got %v beyond a full window", p.Type())
		}
		nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		for _, id := range ids {
			write(t, nc, &mqtt.Puback{PacketID: id}, v)
		}
		for range total - window {
			if p := expect[*mqtt.Publish](t, r, v); p != nil {
				write(t, nc, &mqtt.Puback{PacketID: p.PacketID}, v)
			}
		}
		expect[*mqtt.Disconnect](t, r, v)
	})
	acked := make(chan struct{}, total)
	c, err := Dial(context.Background(), Options{Addr: addr, Version: mqtt.V5, ClientID: "c", Inflight: 64,
		OnAck: func(time.Time, mqtt.ReasonCode) { acked <- struct{}{} }})
	if err != nil {
		t.Fatal(err)
	}
	for range total {
		if err := c.Publish(context.Background(), &mqtt.Publish{Topic: "t", QoS: 1}, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	for range total {
		select {
		case <-acked:
		case <-done:
			t.Fatal("server ended before acknowledging every publish")
		}
	}
	c.Close()
	<-done
}

func TestKeepAlivePings(t *testing.T) {
	addr, done := script(t, func(r *mqtt.Reader, nc net.Conn, v mqtt.Version) {
		write(t, nc, &mqtt.Connack{}, v)
		expect[*mqtt.Pingreq](t, r, v)
		write(t, nc, &mqtt.Pingresp{}, v)
		expect[*mqtt.Pingreq](t, r, v)
	})
	c, err := Dial(context.Background(), Options{Addr: addr, ClientID: "c", KeepAlive: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	<-done
	c.Close()
}

func TestBrokerDisconnect(t *testing.T) {
	addr, _ := script(t, func(r *mqtt.Reader, nc net.Conn, v mqtt.Version) {
		write(t, nc, &mqtt.Connack{}, v)
		write(t, nc, &mqtt.Disconnect{ReasonCode: mqtt.ServerShuttingDown}, v)
	})
	c, err := Dial(context.Background(), Options{Addr: addr, Version: mqtt.V5, ClientID: "c"})
	if err != nil {
		t.Fatal(err)
	}
	<-c.Done()
	if err := c.Err(); !errors.Is(err, mqtt.ServerShuttingDown) {
		t.Errorf("Err = %v, want server shutting down", err)
	}
	err = c.Publish(context.Background(), &mqtt.Publish{Topic: "t", QoS: 1}, time.Now())
	if err == nil {
		err = c.Flush()
	}
	if err == nil {
		t.Error("publish on a closed connection succeeded")
	}
}

// BenchmarkPublishQoS0 is the client's cost per QoS 0 message, encoded into
// the write buffer and flushed in batches of 64 to a server that discards.
func BenchmarkPublishQoS0(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		r := mqtt.NewReader(nc, 0)
		if _, err := r.ReadConnect(); err != nil {
			return
		}
		mqtt.WritePacket(nc, &mqtt.Connack{}, mqtt.V311)
		io.Copy(io.Discard, nc)
	}()
	c, err := Dial(context.Background(), Options{Addr: ln.Addr().String(), ClientID: "b"})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	p := &mqtt.Publish{Topic: "bench/x/0", Payload: make([]byte, 64)}
	ctx := context.Background()
	now := time.Now()
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if err := c.Publish(ctx, p, now); err != nil {
			b.Fatal(err)
		}
		if n++; n%64 == 0 {
			if err := c.Flush(); err != nil {
				b.Fatal(err)
			}
		}
	}
}
