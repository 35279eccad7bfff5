package mqtt_test

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/tidemarkmq/tidemark/pkg/mqtt"
	"github.com/tidemarkmq/tidemark/pkg/mqtt/mqtttest"
)

// The fuzz targets read arbitrary bytes as a stream of packets. They assert
// that the decoder never panics, that every error is an I/O end of stream
// or carries a ReasonCode, and that whatever decodes re-encodes to bytes
// that decode to the same value (and re-encode identically).
//
// Seed corpora in testdata/fuzz are generated from the golden tables; run
//
//	go test -run TestFuzzCorpus -update-corpus
//
// after changing mqtttest. Crashers the fuzzer finds are kept next to them
// as regression inputs.

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the generated seed corpora in testdata/fuzz")

// fuzzMaxPacket keeps fuzz inputs from asking for large allocations.
const fuzzMaxPacket = 1 << 16

func FuzzReadConnect(f *testing.F)    { fuzzRead(f, 0) }
func FuzzReadPacketV31(f *testing.F)  { fuzzRead(f, mqtt.V31) }
func FuzzReadPacketV311(f *testing.F) { fuzzRead(f, mqtt.V311) }
func FuzzReadPacketV5(f *testing.F)   { fuzzRead(f, mqtt.V5) }

func fuzzRead(f *testing.F, v mqtt.Version) {
	f.Fuzz(func(t *testing.T, data []byte) {
		r := mqtt.NewReader(bytes.NewReader(data), fuzzMaxPacket)
		cur := v
		for range 64 {
			p, err := r.ReadPacket(cur)
			if err != nil {
				if _, ok := mqtt.ReasonCodeOf(err); !ok && err != io.EOF && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("error is neither end of stream nor a reason code: %v", err)
				}
				return
			}
			checkReencode(t, p, cur)
			if cur == 0 {
				cur = p.(*mqtt.Connect).Version // the rest of the stream speaks it
			}
		}
	})
}

func checkReencode(t *testing.T, p mqtt.Packet, v mqtt.Version) {
	t.Helper()
	raw, err := mqtt.AppendPacket(nil, p, v)
	if err != nil {
		t.Fatalf("decoded %s does not encode: %v", show(p), err)
	}
	if n := mqtt.PacketSize(p, v); n != len(raw) {
		t.Fatalf("PacketSize %d, encoded %d", n, len(raw))
	}
	again, err := mqtt.NewReader(bytes.NewReader(raw), 0).ReadPacket(v)
	if err != nil {
		t.Fatalf("re-encoded % x does not decode: %v", raw, err)
	}
	if !reflect.DeepEqual(again, p) {
		t.Fatalf("round trip\n got %s\nwant %s", show(again), show(p))
	}
	raw2, err := mqtt.AppendPacket(nil, again, v)
	if err != nil || !bytes.Equal(raw2, raw) {
		t.Fatalf("second encoding differs: % x vs % x (%v)", raw2, raw, err)
	}
}

func FuzzDecodeProperties(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := mqtt.DecodeProperties(data)
		if err != nil {
			if _, ok := mqtt.ReasonCodeOf(err); !ok {
				t.Fatalf("error without reason code: %v", err)
			}
			return
		}
		raw := mqtt.AppendProperties(nil, p)
		again, err := mqtt.DecodeProperties(raw)
		if err != nil {
			t.Fatalf("re-encoded % x does not decode: %v", raw, err)
		}
		if !reflect.DeepEqual(again, p) {
			t.Fatalf("round trip\n got %s\nwant %s", show(again), show(p))
		}
		if raw2 := mqtt.AppendProperties(nil, again); !bytes.Equal(raw2, raw) {
			t.Fatalf("second encoding differs: % x vs % x", raw2, raw)
		}
	})
}

// seedCorpora builds the generated seeds per fuzz target from the golden
// tables.
func seedCorpora() map[string]map[string][]byte {
	out := map[string]map[string][]byte{
		"FuzzReadConnect": {}, "FuzzReadPacketV31": {}, "FuzzReadPacketV311": {}, "FuzzReadPacketV5": {}, "FuzzDecodeProperties": {},
	}
	target := map[mqtt.Version]string{0: "FuzzReadConnect", mqtt.V31: "FuzzReadPacketV31", mqtt.V311: "FuzzReadPacketV311", mqtt.V5: "FuzzReadPacketV5"}
	golden := mqtttest.Packets()
	// A stream per version after its CONNECT reaches every decoder from
	// the connect target.
	streams := map[mqtt.Version][]byte{}
	for _, c := range golden {
		if c.Packet.Type() != mqtt.CONNECT {
			streams[c.Version] = append(streams[c.Version], c.Raw...)
		}
	}
	for _, c := range golden {
		name := seedName("golden", c.Version.String()+"-"+c.Name)
		if c.Packet.Type() == mqtt.CONNECT {
			out["FuzzReadConnect"][name] = append(append([]byte{}, c.Raw...), streams[c.Version]...)
		} else {
			out[target[c.Version]][name] = c.Raw
			if c.Version == mqtt.V311 {
				out["FuzzReadPacketV31"][name] = c.Raw
			}
		}
		for i, pr := range propertiesOf(c.Packet) {
			out["FuzzDecodeProperties"][seedName("golden", c.Version.String()+"-"+c.Name+"-"+strconv.Itoa(i))] = mqtt.AppendProperties(nil, pr)
		}
	}
	out["FuzzDecodeProperties"][seedName("all", "properties")] = mqtt.AppendProperties(nil, allProperties())
	for _, b := range mqtttest.BadPackets() {
		out[target[b.Version]][seedName("bad", b.Name)] = b.Raw
	}
	return out
}

func propertiesOf(p mqtt.Packet) []*mqtt.Properties {
	var ps []*mqtt.Properties
	switch p := p.(type) {
	case *mqtt.Connect:
		ps = append(ps, &p.Properties)
		if p.Will != nil {
			ps = append(ps, &p.Will.Properties)
		}
	case *mqtt.Connack:
		ps = append(ps, &p.Properties)
	case *mqtt.Publish:
		ps = append(ps, &p.Properties)
	case *mqtt.Pubrec:
		ps = append(ps, &p.Properties)
	case *mqtt.Pubcomp:
		ps = append(ps, &p.Properties)
	case *mqtt.Subscribe:
		ps = append(ps, &p.Properties)
	case *mqtt.Suback:
		ps = append(ps, &p.Properties)
	case *mqtt.Unsubscribe:
		ps = append(ps, &p.Properties)
	case *mqtt.Disconnect:
		ps = append(ps, &p.Properties)
	case *mqtt.Auth:
		ps = append(ps, &p.Properties)
	}
	var out []*mqtt.Properties
	for _, pr := range ps {
		if len(mqtt.AppendProperties(nil, pr)) > 0 {
			out = append(out, pr)
		}
	}
	return out
}

var unsafeChars = regexp.MustCompile(`[^a-zA-Z0-9.]+`)

// seedName marks generated files with a "seed-" prefix, so they can be
// regenerated without touching crashers the fuzzer saved.
func seedName(kind, name string) string {
	return "seed-" + kind + "-" + strings.Trim(unsafeChars.ReplaceAllString(name, "_"), "_")
}

// corpusFile is the file format of the go fuzzing engine.
func corpusFile(b []byte) []byte {
	return []byte("go test fuzz v1\n[]byte(" + strconv.Quote(string(b)) + ")\n")
}

// TestFuzzCorpus fails when the generated seed corpora are stale, and
// rewrites them with -update-corpus.
func TestFuzzCorpus(t *testing.T) {
	for target, seeds := range seedCorpora() {
		dir := filepath.Join("testdata", "fuzz", target)
		if *updateCorpus {
			old, _ := filepath.Glob(filepath.Join(dir, "seed-*"))
			for _, f := range old {
				if err := os.Remove(f); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		for name, b := range seeds {
			path := filepath.Join(dir, name)
			want := corpusFile(b)
			if *updateCorpus {
				if err := os.WriteFile(path, want, 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s is missing or stale; run go test -run TestFuzzCorpus -update-corpus", path)
			}
		}
		if !*updateCorpus {
			files, _ := filepath.Glob(filepath.Join(dir, "seed-*"))
			if len(files) != len(seeds) {
				t.Errorf("%s: %d seed files, %d generated; run go test -run TestFuzzCorpus -update-corpus", dir, len(files), len(seeds))
			}
		}
	}
}
