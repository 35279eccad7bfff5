package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/events"
	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
)

// ErrBadType is returned for a --type value that names no event type.
var ErrBadType = errors.New("unknown event type")

// Config is what the command line asks for.
type Config struct {
	// Kafka is the cluster and how to reach it.
	Kafka kafkalog.Cluster
	// Topic is the lifecycle topic; default mqtt.lifecycle.
	Topic string
	// FromBeginning reads every retained event instead of only new ones.
	FromBeginning bool
	// Clients keeps only events whose subject is one of these ClientIDs;
	// empty keeps all.
	Clients []string
	// Types keeps only these event types; empty keeps all.
	Types []events.Type
	// Summary prints a summary every Interval instead of the events.
	Summary bool
	// Interval is the summary period; default 1s.
	Interval time.Duration
	// Validate reports events that do not match the published schemas.
	Validate bool
	// UntilEnd stops once every partition was read up to the end it had
	// at the start (as kcat -e does), so a script can read and exit.
	UntilEnd bool
	// Out receives the output lines; Logger the warnings.
	Out    io.Writer
	Logger *slog.Logger
}

// ParseTypes turns a comma list of event types into Types. Each item is a
// full type ("mqtt.client.connected"), the part after "mqtt."
// ("client.connected") or, when unambiguous, the last part ("connected").
func ParseTypes(list string) ([]events.Type, error) {
	var out []events.Type
	for item := range strings.SplitSeq(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		var found []events.Type
		for _, k := range events.Types {
			s := string(k)
			if s == item || s == "mqtt."+item || strings.HasSuffix(s, "."+item) {
				found = append(found, k)
			}
		}
		if len(found) != 1 {
			return nil, fmt.Errorf("%w: %q", ErrBadType, item)
		}
		out = append(out, found[0])
	}
	return out, nil
}

// Tail follows the lifecycle topic and writes what Config asks for.
type Tail struct {
	cfg   Config
	ready chan struct{}
	val   *events.Validator

	mu  sync.Mutex // serialises Out and sum across partition goroutines
	sum *Summary

	// seen, when set (by tests), is called after each record is handled,
	// kept or not, so a test knows when the output is complete.
	seen func(*kafkalog.Record)
}

// NewTail checks cfg and returns a Tail; it reads nothing until Run.
func NewTail(cfg Config) (*Tail, error) {
	if len(cfg.Kafka.Brokers) == 0 {
		return nil, errors.New("no kafka brokers")
	}
	if cfg.Topic == "" {
		cfg.Topic = "mqtt.lifecycle"
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	t := &Tail{cfg: cfg, ready: make(chan struct{}), sum: NewSummary()}
	if cfg.Validate {
		v, err := events.NewValidator()
		if err != nil {
			return nil, fmt.Errorf("load schemas: %w", err)
		}
		t.val = v
	}
	return t, nil
}

// Ready is closed once the start offset of every partition is known: events
// appended after it are certain to be seen.
func (t *Tail) Ready() <-chan struct{} { return t.ready }

// Run tails every partition until ctx ends (one reader per partition, no
// consumer group, so it commits nothing and disturbs no one) and returns
// nil then; with UntilEnd it returns once every partition was read up to
// the end it had when Run started.
func (t *Tail) Run(ctx context.Context) error {
	start := kafkalog.Latest
	if t.cfg.FromBeginning {
		start = kafkalog.Earliest
	}
	var ends map[int]kafkalog.Bounds
	if t.cfg.UntilEnd {
		var err error
		if ends, err = kafkalog.TopicBounds(ctx, t.cfg.Kafka, t.cfg.Topic); err != nil {
			return fmt.Errorf("read the end of %s: %w", t.cfg.Topic, err)
		}
	}
	f := kafkalog.NewFollower(t.cfg.Kafka, kafkalog.FollowerOptions{
		Topic:   t.cfg.Topic,
		Default: start,
		Logger:  t.cfg.Logger,
		OnGap: func(p int, from, to int64) {
			t.cfg.Logger.Warn("events deleted by retention skipped", "partition", p, "from", from, "to", to)
		},
	}, t.handle)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	select {
	case <-f.Ready():
		close(t.ready)
	case err := <-done:
		return ignoreCanceled(err)
	}
	var sumTick, endTick <-chan time.Time
	if t.cfg.Summary {
		tick := time.NewTicker(t.cfg.Interval)
		defer tick.Stop()
		sumTick = tick.C
	}
	if ends != nil {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		endTick = tick.C
	}
	last := time.Now()
	summary := func(now time.Time) {
		t.mu.Lock()
		line := t.sum.Line(now, now.Sub(last))
		t.mu.Unlock()
		last = now
		fmt.Fprintln(t.cfg.Out, line)
	}
	for {
		select {
		case now := <-sumTick:
			summary(now)
		case <-endTick:
			// Positions move only after their records were handled.
			if !reached(f.Positions(), ends) {
				continue
			}
			cancel()
			err := <-done
			if t.cfg.Summary {
				summary(time.Now())
			}
			return ignoreCanceled(err)
		case err := <-done:
			return ignoreCanceled(err)
		}
	}
}

// reached reports whether every partition's position is at its end.
func reached(pos map[int]int64, ends map[int]kafkalog.Bounds) bool {
	for p, b := range ends {
		if pos[p] < b.Next {
			return false
		}
	}
	return true
}

func ignoreCanceled(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	return err
}

// keep reports whether the filters keep an event of kind about client.
func (t *Tail) keep(kind events.Type, client string) bool {
	if len(t.cfg.Clients) > 0 && !slices.Contains(t.cfg.Clients, client) {
		return false
	}
	return len(t.cfg.Types) == 0 || slices.Contains(t.cfg.Types, kind)
}

// handle is called by the follower for each record, concurrently across
// partitions.
func (t *Tail) handle(rec *kafkalog.Record) {
	if t.seen != nil {
		defer t.seen(rec)
	}
	e, err := events.Decode(rec.Value)
	if err != nil && !errors.Is(err, events.ErrUnknownType) {
		t.cfg.Logger.Warn("skipping record that is not a lifecycle event", "partition", rec.Partition, "offset", rec.Offset, "err", err)
		return
	}
	if !t.keep(e.Type, e.Subject) {
		return
	}
	if t.val != nil {
		if err := t.val.Validate(rec.Value); err != nil {
			t.cfg.Logger.Warn("event does not match its schema", "partition", rec.Partition, "offset", rec.Offset, "id", e.ID, "err", err)
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cfg.Summary {
		t.sum.Apply(e)
		return
	}
	var line bytes.Buffer
	if err := json.Compact(&line, rec.Value); err != nil {
		return // Decode succeeded, so the value is JSON.
	}
	line.WriteByte('\n')
	if _, err := t.cfg.Out.Write(line.Bytes()); err != nil {
		t.cfg.Logger.Warn("write event", "err", err)
	}
}
