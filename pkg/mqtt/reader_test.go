package mqtt_test

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
	"testing/iotest"

	"github.com/tidemarkmq/tidemark/pkg/mqtt"
)

func mustAppend(t testing.TB, dst []byte, p mqtt.Packet, v mqtt.Version) []byte {
	t.Helper()
	b, err := mqtt.AppendPacket(dst, p, v)
	if err != nil {
		t.Fatalf("AppendPacket(%T): %v", p, err)
	}
	return b
}

// TestReaderMixedSizes streams small packets around packets larger than
// the pooled buffer, delivered whole, a byte at a time and in halves.
func TestReaderMixedSizes(t *testing.T) {
	big := &mqtt.Publish{QoS: 1, PacketID: 1, Topic: "big", Payload: bytes.Repeat([]byte("abcdefgh"), 1500)}
	huge := &mqtt.Publish{Topic: "huge", Payload: bytes.Repeat([]byte{0xEE}, 300000)} // four-byte length
	small := &mqtt.Publish{Topic: "s", Payload: []byte("1")}
	want := []mqtt.Packet{small, big, small, huge, &mqtt.Pingreq{}, big}
	var stream []byte
	for _, p := range want {
		stream = mustAppend(t, stream, p, mqtt.V5)
	}
	readers := map[string]func([]byte) io.Reader{
		"whole":    func(b []byte) io.Reader { return bytes.NewReader(b) },
		"one byte": func(b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) },
		"half":     func(b []byte) io.Reader { return iotest.HalfReader(bytes.NewReader(b)) },
	}
	for name, mk := range readers {
		t.Run(name, func(t *testing.T) {
			r := mqtt.NewReader(mk(stream), 1<<20)
			for i, w := range want {
				got, err := r.ReadPacket(mqtt.V5)
				if err != nil {
					t.Fatalf("packet %d: %v", i, err)
				}
				if !reflect.DeepEqual(got, w) {
					t.Fatalf("packet %d differs: got %s", i, got.Type())
				}
			}
			if _, err := r.ReadPacket(mqtt.V5); err != io.EOF {
				t.Fatalf("at end: %v", err)
			}
			if r.Buffered() != 0 {
				t.Fatalf("Buffered() = %d at end", r.Buffered())
			}
		})
	}
}

// TestReaderDoesNotAlias checks decoded packets own their bytes: reading
// the next packet reuses the Reader's buffer and must not change them.
func TestReaderDoesNotAlias(t *testing.T) {
	first := &mqtt.Publish{Topic: "a", Payload: []byte("first"), Properties: mqtt.Properties{CorrelationData: []byte("c1")}}
	second := &mqtt.Publish{Topic: "b", Payload: []byte("SECOND"), Properties: mqtt.Properties{CorrelationData: []byte("C2")}}
	pr, pw := io.Pipe()
	r := mqtt.NewReader(pr, 0)
	b1, b2 := mustAppend(t, nil, first, mqtt.V5), mustAppend(t, nil, second, mqtt.V5)
	go func() {
		// Two writes, so the second packet lands in a buffer taken from
		// the pool after the first one was released.
		pw.Write(b1)
		pw.Write(b2)
		pw.Close()
	}()
	p1, err := r.ReadPacket(mqtt.V5)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadPacket(mqtt.V5); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p1, first) {
		t.Fatalf("first packet changed by the second read: %s", show(p1))
	}
}

func TestReaderMaxPacketSize(t *testing.T) {
	p := &mqtt.Publish{Topic: "t", Payload: make([]byte, 100)}
	raw := mustAppend(t, nil, p, mqtt.V311)
	tests := []struct {
		name string
		max  int
		ok   bool
	}{
		{"exact", len(raw), true},
		{"one less", len(raw) - 1, false},
		{"default", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mqtt.NewReader(bytes.NewReader(raw), 1)
			r.SetMaxPacketSize(tt.max)
			_, err := r.ReadPacket(mqtt.V311)
			if tt.ok && err != nil {
				t.Fatalf("ReadPacket: %v", err)
			}
			if !tt.ok && !errors.Is(err, mqtt.PacketTooLarge) {
				t.Fatalf("ReadPacket error %v, want packet too large", err)
			}
		})
	}
}

// errReader fails the test if the Reader reads past the fixed header of an
// oversized packet: the limit must be enforced before the body is read.
type errReader struct{ t *testing.T }

func (e errReader) Read([]byte) (int, error) {
	e.t.Error("body of an oversized packet was read")
	return 0, io.ErrUnexpectedEOF
}

func TestReaderRefusesBeforeBody(t *testing.T) {
	hdr := []byte{0x30, 0xFF, 0xFF, 0x7F} // PUBLISH, remaining length 2097151
	r := mqtt.NewReader(io.MultiReader(bytes.NewReader(hdr), errReader{t}), 1<<20)
	if _, err := r.ReadPacket(mqtt.V5); !errors.Is(err, mqtt.PacketTooLarge) {
		t.Fatalf("got %v, want packet too large", err)
	}
}

func TestReaderIOErrors(t *testing.T) {
	boom := errors.New("boom")
	r := mqtt.NewReader(iotest.ErrReader(boom), 0)
	if _, err := r.ReadPacket(mqtt.V5); !errors.Is(err, boom) {
		t.Fatalf("got %v, want boom", err)
	}
	// An error after part of a packet is passed on too.
	r = mqtt.NewReader(io.MultiReader(bytes.NewReader([]byte{0x30, 0x05, 0x00}), iotest.ErrReader(boom)), 0)
	if _, err := r.ReadPacket(mqtt.V5); !errors.Is(err, boom) {
		t.Fatalf("mid-packet: got %v, want boom", err)
	}
}

func TestReadConnect(t *testing.T) {
	raw := mustAppend(t, nil, &mqtt.Connect{Version: mqtt.V5, ClientID: "x"}, 0)
	c, err := mqtt.NewReader(bytes.NewReader(raw), 0).ReadConnect()
	if err != nil {
		t.Fatal(err)
	}
	if c.Version != mqtt.V5 || c.ClientID != "x" || c.ProtocolName != "MQTT" {
		t.Fatalf("got %s", show(c))
	}
	_, err = mqtt.NewReader(bytes.NewReader([]byte{0xC0, 0x00}), 0).ReadConnect()
	if !errors.Is(err, mqtt.ProtocolError) {
		t.Fatalf("PINGREQ first: %v", err)
	}
}

func TestReadPacketUnknownVersion(t *testing.T) {
	_, err := mqtt.NewReader(bytes.NewReader([]byte{0xC0, 0x00}), 0).ReadPacket(6)
	if !errors.Is(err, mqtt.UnsupportedProtocolVersion) {
		t.Fatalf("got %v, want unsupported protocol version", err)
	}
}
