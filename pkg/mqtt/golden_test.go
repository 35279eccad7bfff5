package mqtt_test

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/tidemarkmq/tidemark/pkg/mqtt"
	"github.com/tidemarkmq/tidemark/pkg/mqtt/mqtttest"
)

// readVersion is the version to read a golden packet with: CONNECT is the
// first packet of a connection, read before the version is known.
func readVersion(c mqtttest.Case) mqtt.Version {
	if c.Packet.Type() == mqtt.CONNECT {
		return 0
	}
	return c.Version
}

func TestGoldenDecode(t *testing.T) {
	for _, c := range mqtttest.Packets() {
		t.Run(c.Version.String()+"/"+c.Name, func(t *testing.T) {
			r := mqtt.NewReader(bytes.NewReader(c.Raw), 0)
			got, err := r.ReadPacket(readVersion(c))
			if err != nil {
				t.Fatalf("ReadPacket: %v", err)
			}
			if !reflect.DeepEqual(got, c.Packet) {
				t.Fatalf("decoded\n got %s\nwant %s", show(got), show(c.Packet))
			}
			if _, err := r.ReadPacket(c.Version); err != io.EOF {
				t.Fatalf("after the packet: got %v, want io.EOF", err)
			}
		})
	}
}

func TestGoldenEncode(t *testing.T) {
	for _, c := range mqtttest.Packets() {
		if c.DecodeOnly {
			continue
		}
		t.Run(c.Version.String()+"/"+c.Name, func(t *testing.T) {
			prefix := []byte{0xAA}
			got, err := mqtt.AppendPacket(prefix, c.Packet, c.Version)
			if err != nil {
				t.Fatalf("AppendPacket: %v", err)
			}
			if !bytes.Equal(got[1:], c.Raw) || got[0] != 0xAA {
				t.Fatalf("encoded\n got % x\nwant % x", got[1:], c.Raw)
			}
			if n := mqtt.PacketSize(c.Packet, c.Version); n != len(c.Raw) {
				t.Fatalf("PacketSize = %d, want %d", n, len(c.Raw))
			}
		})
	}
}

// TestGoldenStream reads every golden packet of a version from one stream
// delivered a byte at a time, which exercises every partial-read path of
// the Reader.
func TestGoldenStream(t *testing.T) {
	for _, v := range []mqtt.Version{mqtt.V31, mqtt.V311, mqtt.V5} {
		t.Run(v.String(), func(t *testing.T) {
			var stream []byte
			var want []mqtt.Packet
			for _, c := range mqtttest.Packets() {
				if c.Version == v && c.Packet.Type() != mqtt.CONNECT {
					stream = append(stream, c.Raw...)
					want = append(want, c.Packet)
				}
			}
			r := mqtt.NewReader(iotest.OneByteReader(bytes.NewReader(stream)), 0)
			for i, w := range want {
				got, err := r.ReadPacket(v)
				if err != nil {
					t.Fatalf("packet %d: %v", i, err)
				}
				if !reflect.DeepEqual(got, w) {
					t.Fatalf("packet %d\n got %#v\nwant %#v", i, got, w)
				}
			}
			if _, err := r.ReadPacket(v); err != io.EOF {
				t.Fatalf("at end: got %v, want io.EOF", err)
			}
		})
	}
}

func TestBadPackets(t *testing.T) {
	for _, c := range mqtttest.BadPackets() {
		t.Run(c.Name, func(t *testing.T) {
			r := mqtt.NewReader(bytes.NewReader(c.Raw), c.MaxSize)
			p, err := r.ReadPacket(c.Version)
			if err == nil {
				t.Fatalf("decoded %#v, want error %v", p, c.Want)
			}
			rc, ok := mqtt.ReasonCodeOf(err)
			if !ok || rc != c.Want {
				t.Fatalf("error %q carries %v (ok=%v), want %v", err, rc, ok, c.Want)
			}
			if !errors.Is(err, c.Want) {
				t.Fatalf("errors.Is(%q, %v) = false", err, c.Want)
			}
			if !strings.Contains(err.Error(), c.Want.Error()) {
				t.Fatalf("error %q does not name %q", err, c.Want.Error())
			}
		})
	}
}

// TestTruncatedStream cuts every golden packet at every length: the Reader
// must report io.ErrUnexpectedEOF (or io.EOF at zero bytes), never a packet.
func TestTruncatedStream(t *testing.T) {
	for _, c := range mqtttest.Packets() {
		t.Run(c.Version.String()+"/"+c.Name, func(t *testing.T) {
			for n := 0; n < len(c.Raw); n++ {
				r := mqtt.NewReader(bytes.NewReader(c.Raw[:n]), 0)
				p, err := r.ReadPacket(readVersion(c))
				want := io.ErrUnexpectedEOF
				if n == 0 {
					want = io.EOF
				}
				if !errors.Is(err, want) {
					t.Fatalf("cut at %d: got %v, %v; want %v", n, p, err, want)
				}
			}
		})
	}
}

// TestTruncatedBody shortens the remaining length instead, so the body
// ends early inside the packet: that is a MalformedPacket, not an I/O error.
func TestTruncatedBody(t *testing.T) {
	for _, c := range mqtttest.Packets() {
		if len(c.Raw) < 3 || c.Raw[1]&0x80 != 0 {
			continue // no body or multi-byte length
		}
		t.Run(c.Version.String()+"/"+c.Name, func(t *testing.T) {
			for n := 0; n < int(c.Raw[1]); n++ {
				raw := append([]byte{c.Raw[0], byte(n)}, c.Raw[2:2+n]...)
				p, err := mqtt.NewReader(bytes.NewReader(raw), 0).ReadPacket(readVersion(c))
				if err == nil {
					// A few prefixes are themselves valid packets (a PUBLISH
					// with a shorter payload, a short-form ack).
					continue
				}
				if rc, ok := mqtt.ReasonCodeOf(err); !ok {
					t.Fatalf("body cut at %d: %v is not a reason code (packet %v)", n, err, p)
				} else if rc != mqtt.MalformedPacket && rc != mqtt.ProtocolError && rc != mqtt.UnsupportedProtocolVersion && rc != mqtt.TopicNameInvalid {
					t.Fatalf("body cut at %d: unexpected %v", n, rc)
				}
			}
		})
	}
}
