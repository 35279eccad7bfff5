package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/tidemarkmq/tidemark/tools/mqtt-bench/internal/bench"
	"github.com/tidemarkmq/tidemark/tools/mqtt-bench/internal/latency"
)

// report prints the result for people; --json is the form for scripts.
func report(w io.Writer, r *bench.Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	defer tw.Flush()
	line := func(k, format string, a ...any) { fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, a...)...) }
	head := r.Scenario
	if r.Pattern != "" {
		head += " " + r.Pattern
	}
	switch {
	case r.Scenario == "raw-kafka":
		line("scenario", "%s, acks=all, %d B records, %d producers", head, r.Size, r.Publishers)
	case r.Size > 0:
		line("scenario", "%s, MQTT %s, QoS %d, %d B payload", head, r.Version, r.QoS, r.Size)
	default:
		line("scenario", "%s, MQTT %s, %d connections", head, r.Version, r.Connections)
	}
	if r.Subscribers > 0 {
		line("clients", "%d publishers, %d subscribers", r.Publishers, r.Subscribers)
	}
	line("elapsed", "%.2f s", r.Elapsed)
	if r.Sent > 0 {
		line("sent", "%d (%.0f msg/s)", r.Sent, r.ThroughputIn)
		if r.QoS > 0 {
			line("acked", "%d (unacked %d)", r.Acked, r.Unacked)
		}
	}
	if r.Expected > 0 || r.Received > 0 {
		line("received", "%d of %d expected (%.0f msg/s)", r.Received, r.Expected, r.ThroughputOut)
	}
	if r.Replayed > 0 {
		line("replayed", "%d (%.0f msg/s until drained)", r.Replayed, r.ReplayRate)
	}
	if r.Connections > 0 {
		line("connects", "%d of %d (%.0f/s)", r.Connects, r.Connections, r.ConnectRate)
	}
	if r.KiBPerConn != nil {
		line("broker rss", "%d KiB -> %d KiB (%.2f KiB per connection)", r.RSSBeforeKiB, r.RSSAfterKiB, *r.KiBPerConn)
	}
	latencyLine(line, "latency", r.Latency)
	latencyLine(line, "ack latency", r.AckLatency)
	latencyLine(line, "connect time", r.ConnectLatency)
	if r.Subscribers > 0 {
		line("integrity", "lost %d, duplicated %d, out of order %d, unexpected %d, invalid %d",
			r.Lost, r.Duplicated, r.OutOfOrder, r.Unexpected, r.Invalid)
	}
	if r.Undelivered > 0 {
		line("backlog", "%d not delivered when the drain cap ended the run, deliveries still arriving", r.Undelivered)
	}
	line("errors", "%d", r.Errors)
	for _, s := range r.ErrorSamples {
		line("", "%s", s)
	}
}

func latencyLine(line func(string, string, ...any), name string, s *latency.Summary) {
	if s == nil {
		return
	}
	line(name, "p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f ms (%d samples)",
		s.P50, s.P90, s.P99, s.P999, s.Max, s.Count)
}
