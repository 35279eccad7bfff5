package kafkatest

import (
	"fmt"
	"net"
	"regexp"
	"strings"
	"testing"
)

// recorder is a testing.TB that records whether the helper skipped or
// failed; it stops the helper with a panic where the real TB would stop
// the goroutine.
type recorder struct {
	testing.TB
	outcome string
}

type stop struct{}

func (r *recorder) Helper()          {}
func (r *recorder) Name() string     { return "T" }
func (r *recorder) Skip(args ...any) { r.outcome = "skip: " + fmt.Sprint(args...); panic(stop{}) }
func (r *recorder) Skipf(f string, a ...any) {
	r.outcome = "skip: " + fmt.Sprintf(f, a...)
	panic(stop{})
}
func (r *recorder) Fatal(args ...any) { r.outcome = "fail: " + fmt.Sprint(args...); panic(stop{}) }
func (r *recorder) Fatalf(f string, a ...any) {
	r.outcome = "fail: " + fmt.Sprintf(f, a...)
	panic(stop{})
}

func brokers(r *recorder) (got []string) {
	defer func() {
		if v := recover(); v != nil {
			if _, ok := v.(stop); !ok {
				panic(v)
			}
		}
	}()
	return Brokers(r)
}

func TestBrokersSkipOrFail(t *testing.T) {
	up, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	down, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	downAddr := down.Addr().String()
	down.Close()

	tests := []struct {
		name, kafka, require string
		want                 string // outcome prefix; "" = brokers returned
	}{
		{"unset skips", "", "", "skip: TIDEMARK_KAFKA unset: run `make test`"},
		{"unset with stack required fails", "", "1", "fail:"},
		{"unreachable skips", downAddr, "", "skip:"},
		{"unreachable with stack required fails", downAddr, "1", "fail:"},
		{"reachable", up.Addr().String() + ",other:9092", "1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("TIDEMARK_KAFKA", tt.kafka)
			t.Setenv("TIDEMARK_REQUIRE_STACK", tt.require)
			r := &recorder{}
			got := brokers(r)
			if !strings.HasPrefix(r.outcome, tt.want) || (tt.want == "" && r.outcome != "") {
				t.Fatalf("outcome %q, want prefix %q", r.outcome, tt.want)
			}
			if tt.want == "" && len(got) != 2 {
				t.Fatalf("brokers %v", got)
			}
		})
	}
}

func TestUniqueName(t *testing.T) {
	valid := regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)
	tests := []struct{ prefix, wantPrefix string }{
		{"", "test."},
		{"ensure", "ensure."},
	}
	for _, tt := range tests {
		t.Run(tt.prefix, func(t *testing.T) {
			a, b := UniqueName(t, tt.prefix), UniqueName(t, tt.prefix)
			if a == b {
				t.Fatalf("two calls gave %q", a)
			}
			if !strings.HasPrefix(a, tt.wantPrefix) || !valid.MatchString(a) {
				t.Fatalf("name %q: want prefix %q and only Kafka topic characters", a, tt.wantPrefix)
			}
		})
	}
}
