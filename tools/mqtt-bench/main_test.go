package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/mqtt"
	"github.com/tidemarkmq/tidemark/tools/mqtt-bench/internal/bench"
	"github.com/tidemarkmq/tidemark/tools/mqtt-bench/internal/brokertest"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		check   func(t *testing.T, o *options)
		wantErr error
	}{
		{
			name: "defaults",
			check: func(t *testing.T, o *options) {
				c := o.bench
				if c.Count != 10_000 || c.Duration != 10*time.Second || c.Version != mqtt.V311 || !c.Clean {
					t.Errorf("defaults: %+v", c)
				}
				if len(c.PubAddrs) != 1 || c.PubAddrs[0] != "127.0.0.1:1883" || c.SubAddrs[0] != "127.0.0.1:1883" {
					t.Errorf("addresses %v %v", c.PubAddrs, c.SubAddrs)
				}
			},
		},
		{
			name: "separate addresses and MQTT 5",
			args: []string{"--pub-addr", "127.0.0.1:1", "--sub-addr", "127.0.0.1:2,127.0.0.1:3", "--mqtt-version", "5", "--qos", "1"},
			check: func(t *testing.T, o *options) {
				c := o.bench
				if c.Version != mqtt.V5 || c.QoS != 1 || len(c.SubAddrs) != 2 || c.PubAddrs[0] != "127.0.0.1:1" {
					t.Errorf("got %+v", c)
				}
			},
		},
		{
			name: "environment, overridden by flags",
			args: []string{"--count", "7"},
			env:  map[string]string{"TIDEMARK_COUNT": "5", "TIDEMARK_PUBLISHERS": "3"},
			check: func(t *testing.T, o *options) {
				if o.bench.Count != 7 || o.bench.Publishers != 3 {
					t.Errorf("count %d publishers %d, want 7 and 3", o.bench.Count, o.bench.Publishers)
				}
			},
		},
		{
			name: "raw kafka names a topic and keys",
			args: []string{"--scenario", "raw-kafka", "--run-id", "x", "--subscribers", "4"},
			check: func(t *testing.T, o *options) {
				if !o.rawKafka || o.kTopic != "bench.raw-x" || o.kKeys != 4 {
					t.Errorf("raw %v topic %q keys %d", o.rawKafka, o.kTopic, o.kKeys)
				}
			},
		},
		{name: "unbounded count", args: []string{"--count", "0"}, wantErr: bench.ErrConfig},
		{name: "unbounded duration", args: []string{"--duration", "0s"}, wantErr: bench.ErrConfig},
		{name: "bad version", args: []string{"--mqtt-version", "6"}, wantErr: bench.ErrConfig},
		{name: "bad qos", args: []string{"--qos", "3"}, wantErr: bench.ErrConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			o, err := parse(tt.args, &bytes.Buffer{})
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("parse = %v, want %v", err, tt.wantErr)
			}
			if tt.check != nil {
				tt.check(t, o)
			}
		})
	}
}

func TestRunRefusesRemoteTarget(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"--addr", "192.0.2.1:1883", "--quiet"}, &stdout, &stderr)
	if code == 0 || !strings.Contains(stderr.String(), "loopback") {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
}

// TestReportsLossAndDuplicate runs the command as a user would, against a
// broker that drops one message and duplicates another, and reads its JSON.
func TestReportsLossAndDuplicate(t *testing.T) {
	addr := startBroker(t, brokertest.Faults{Drop: []int{10}, Dup: []int{20}})
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"--addr", addr, "--qos", "1", "--count", "100",
		"--duration", "10s", "--drain", "300ms", "--json", "--quiet"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var res bench.Result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("decode %q: %v", stdout.String(), err)
	}
	if res.Sent != 100 || res.Received != 100 || res.Lost != 1 || res.Duplicated != 1 || res.Errors != 0 {
		t.Errorf("sent %d received %d lost %d duplicated %d errors %d, want 100 100 1 1 0",
			res.Sent, res.Received, res.Lost, res.Duplicated, res.Errors)
	}
	if res.Latency == nil || res.Latency.P999 <= 0 || res.Latency.Max < res.Latency.P50 {
		t.Errorf("latency %+v", res.Latency)
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
