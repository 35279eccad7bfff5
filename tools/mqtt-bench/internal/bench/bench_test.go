package bench

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/mqtt"
	"github.com/tidemarkmq/tidemark/tools/mqtt-bench/internal/brokertest"
)

func TestPubSubFindsFaults(t *testing.T) {
	tests := []struct {
		name           string
		version        mqtt.Version
		qos            byte
		publishers     int
		subscribers    int    // default 1
		pattern        string // default fan-in
		drop, dup, swp []int
		wantLost       uint64
		wantDup        uint64
		wantOutOfOrder uint64
	}{
		{name: "honest broker", version: mqtt.V311, qos: 1, publishers: 1},
		{name: "one lost one duplicated", version: mqtt.V311, qos: 1, publishers: 1,
			drop: []int{17}, dup: []int{42}, wantLost: 1, wantDup: 1},
		{name: "one lost one duplicated, MQTT 5, QoS 0", version: mqtt.V5, qos: 0, publishers: 1,
			drop: []int{3}, dup: []int{99}, wantLost: 1, wantDup: 1},
		{name: "reordered", version: mqtt.V311, qos: 1, publishers: 1,
			swp: []int{50}, wantOutOfOrder: 1},
		{name: "several publishers", version: mqtt.V311, qos: 1, publishers: 3,
			drop: []int{10, 20}, dup: []int{30}, wantLost: 2, wantDup: 1},
		{name: "shared group: duplicate to another member", version: mqtt.V5, qos: 1, publishers: 2,
			subscribers: 3, pattern: Shared, drop: []int{5}, dup: []int{60}, wantLost: 1, wantDup: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := startBroker(t, brokertest.Faults{Drop: tt.drop, Dup: tt.dup, Swap: tt.swp})
			const count = 120
			res, err := Run(context.Background(), Config{
				Scenario: PubSub, Pattern: tt.pattern, PubAddrs: []string{addr},
				Publishers: tt.publishers, Subscribers: max(tt.subscribers, 1), QoS: tt.qos, SubQoS: tt.qos,
				Version: tt.version, Clean: true, Count: count,
				Duration: 10 * time.Second, Drain: 300 * time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Errors != 0 {
				t.Fatalf("errors: %v", res.ErrorSamples)
			}
			if res.Sent != count || res.Expected != count {
				t.Errorf("sent/expected = %d/%d, want %d/%d", res.Sent, res.Expected, count, count)
			}
			if res.Lost != tt.wantLost || res.Duplicated != tt.wantDup || res.OutOfOrder != tt.wantOutOfOrder {
				t.Errorf("lost/duplicated/out of order = %d/%d/%d, want %d/%d/%d",
					res.Lost, res.Duplicated, res.OutOfOrder, tt.wantLost, tt.wantDup, tt.wantOutOfOrder)
			}
			if want := count - tt.wantLost + tt.wantDup; res.Received != want {
				t.Errorf("received = %d, want %d", res.Received, want)
			}
			// Latency counts first arrivals per subscriber: a shared group's
			// duplicate reached another member, where it was the first.
			samples := int64(count - tt.wantLost)
			if tt.pattern == Shared {
				samples += int64(tt.wantDup)
			}
			if res.Latency == nil || res.Latency.Count != samples {
				t.Errorf("latency samples = %+v, want %d", res.Latency, samples)
			}
		})
	}
}

// A broker that is merely behind when the drain cap ends the run has a
// backlog, not losses; one that drops messages and then goes quiet has
// losses even when it is slow.
func TestBacklogIsNotLoss(t *testing.T) {
	tests := []struct {
		name          string
		drop          []int
		duration      time.Duration
		wantLost      uint64
		wantBacklog   bool
		wantDelivered uint64 // 0: not checked
	}{
		{name: "still draining at the cap", duration: 400 * time.Millisecond, wantBacklog: true},
		{name: "slow but done, one dropped", drop: []int{7}, duration: 10 * time.Second, wantLost: 1, wantDelivered: 59},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := startBroker(t, brokertest.Faults{Slow: 15 * time.Millisecond, Drop: tt.drop})
			const count = 60 // 0.9 s of routing at 15 ms each
			res, err := Run(context.Background(), Config{
				PubAddrs: []string{addr}, QoS: 0, Clean: true, Count: count,
				Duration: tt.duration, Drain: 300 * time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Sent != count {
				t.Fatalf("sent %d, want %d (QoS 0 publishes only fill socket buffers)", res.Sent, count)
			}
			if res.Lost != tt.wantLost {
				t.Errorf("lost %d, want %d", res.Lost, tt.wantLost)
			}
			if got := res.Undelivered > 0; got != tt.wantBacklog {
				t.Errorf("undelivered at cap %d, want backlog %v", res.Undelivered, tt.wantBacklog)
			}
			if tt.wantBacklog && res.Received+res.Undelivered != count {
				t.Errorf("received %d + undelivered %d != %d", res.Received, res.Undelivered, count)
			}
			if tt.wantDelivered != 0 && res.Received != tt.wantDelivered {
				t.Errorf("received %d, want %d", res.Received, tt.wantDelivered)
			}
		})
	}
}

func TestPatterns(t *testing.T) {
	tests := []struct {
		pattern      string
		pubs, subs   int
		wantExpected uint64
	}{
		{FanIn, 4, 2, 100},
		{FanOut, 1, 3, 300},
		{P2P, 2, 2, 100},
		{Shared, 2, 3, 100},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			addr := startBroker(t, brokertest.Faults{})
			res, err := Run(context.Background(), Config{
				Pattern: tt.pattern, PubAddrs: []string{addr}, Publishers: tt.pubs, Subscribers: tt.subs,
				QoS: 1, SubQoS: 1, Clean: true, Count: 100, Duration: 10 * time.Second, Drain: 300 * time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Expected != tt.wantExpected || res.Received != tt.wantExpected || res.Lost != 0 || res.Duplicated != 0 {
				t.Errorf("expected/received/lost/dup = %d/%d/%d/%d, want %d/%d/0/0",
					res.Expected, res.Received, res.Lost, res.Duplicated, tt.wantExpected, tt.wantExpected)
			}
		})
	}
}

func TestRateIsPaced(t *testing.T) {
	addr := startBroker(t, brokertest.Faults{})
	start := time.Now()
	res, err := Run(context.Background(), Config{
		PubAddrs: []string{addr}, QoS: 1, SubQoS: 1, Clean: true,
		Count: 100, Rate: 200, Duration: 10 * time.Second, Drain: 300 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	// 100 messages at 200/s take about half a second, not a few ms.
	if took := time.Since(start); took < 400*time.Millisecond {
		t.Errorf("100 messages at 200/s took %v", took)
	}
	if res.Received != 100 {
		t.Errorf("received %d, want 100", res.Received)
	}
}

func TestTimeCap(t *testing.T) {
	addr := startBroker(t, brokertest.Faults{})
	start := time.Now()
	res, err := Run(context.Background(), Config{
		PubAddrs: []string{addr}, QoS: 1, SubQoS: 1, Clean: true,
		Count: 1_000_000, Rate: 100, Duration: 300 * time.Millisecond, Drain: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("run took %v despite a 300ms cap", took)
	}
	if res.Sent == 0 || res.Sent > 100 {
		t.Errorf("sent %d in 300ms at 100/s", res.Sent)
	}
}

func TestConfigChecks(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want error
	}{
		{"remote address", Config{PubAddrs: []string{"10.0.0.1:1883"}}, ErrNotLoopback},
		{"host name", Config{PubAddrs: []string{"example.com:1883"}}, ErrNotLoopback},
		{"remote subscriber", Config{PubAddrs: []string{"127.0.0.1:1"}, SubAddrs: []string{"192.168.1.1:1883"}}, ErrNotLoopback},
		{"payload too small", Config{PubAddrs: []string{"127.0.0.1:1"}, Size: 8}, ErrConfig},
		{"duration over cap", Config{PubAddrs: []string{"127.0.0.1:1"}, Duration: time.Hour}, ErrConfig},
		{"count over cap", Config{PubAddrs: []string{"127.0.0.1:1"}, Count: MaxCount + 1}, ErrConfig},
		{"p2p mismatch", Config{PubAddrs: []string{"127.0.0.1:1"}, Pattern: P2P, Publishers: 2, Subscribers: 3}, ErrConfig},
		{"no address", Config{}, ErrConfig},
		{"ipv6 loopback", Config{PubAddrs: []string{"[::1]:1883"}}, nil},
		{"localhost", Config{PubAddrs: []string{"localhost:1883"}}, nil},
		{"127/8", Config{PubAddrs: []string{"127.1.2.3:1883"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Normalize()
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("Normalize() = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestConnectStormAndIdle(t *testing.T) {
	addr := startBroker(t, brokertest.Faults{})
	tests := []struct {
		scenario string
		pid      int
	}{
		{ConnectStorm, 0},
		{Idle, os.Getpid()}, // the broker runs in this process
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			res, err := Run(context.Background(), Config{
				Scenario: tt.scenario, SubAddrs: []string{addr}, Connections: 50, Concurrency: 8,
				Duration: 10 * time.Second, Hold: 100 * time.Millisecond, PID: tt.pid,
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Connects != 50 || res.ConnectRate <= 0 || res.Errors != 0 {
				t.Errorf("connects %d at %v/s, errors %v", res.Connects, res.ConnectRate, res.ErrorSamples)
			}
			if tt.pid != 0 && (res.RSSBeforeKiB <= 0 || res.RSSAfterKiB <= 0 || res.KiBPerConn == nil) {
				t.Errorf("rss %d -> %d KiB", res.RSSBeforeKiB, res.RSSAfterKiB)
			}
		})
	}
}

// startBroker runs a brokertest broker for the rest of the test.
func startBroker(t *testing.T, f brokertest.Faults) string {
	t.Helper()
	b, err := brokertest.Start(f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b.Addr()
}
