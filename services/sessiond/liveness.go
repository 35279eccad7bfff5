package sessiond

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/session"
	"github.com/tidemarkmq/tidemark/pkg/session/liveness"
)

// Frontend deaths. The owner of each sessions partition judges, for its
// own partition, every frontend incarnation that has had a session of the
// partition online (the partition's incarnation index), and appends a
// node_down op to the partition (pinned there) for each one the tracker
// finds dead. Applying that op ends the incarnation's sessions of the
// partition, in order with every other op of their clients. Owners act
// only for their own partitions, so no incarnation is declared twice in a
// partition, except around a rebalance, where the second op finds nothing
// left to end and changes nothing.

// judgeLoop judges the owned partitions' incarnations every eighth of the
// node timeout, and at once when the tracker reads a death.
func (s *Service) judgeLoop(ctx context.Context) {
	s.everyPartition(ctx, max(s.cfg.NodeTimeout/8, 50*time.Millisecond), s.judgeNow, "node judgement", s.judgePartition)
}

// poke asks the judge loop to judge now.
func (s *Service) poke() {
	select {
	case s.judgeNow <- struct{}{}:
	default:
	}
}

func (s *Service) judgePartition(ctx context.Context, p *part) error {
	incs, err := s.w.Incarnations(ctx, p.n)
	if err != nil {
		return err
	}
	for _, inc := range slices.Sorted(maps.Keys(incs)) {
		node := incs[inc]
		v := s.tracker.Judge(inc, node)
		if !v.Dead {
			continue
		}
		p.mu.Lock()
		if p.declared[inc] {
			p.mu.Unlock()
			continue
		}
		p.declared[inc] = true
		p.mu.Unlock()
		op := &session.Op{Kind: session.OpNodeDown, Node: node, Inc: inc, TS: v.LastAlive, Reason: v.Reason}
		if err := s.app.Append(ctx, op.PartitionRecord(s.cfg.Topics.Sessions, p.n)); err != nil {
			p.mu.Lock()
			delete(p.declared, inc)
			p.mu.Unlock()
			return err
		}
		s.declared(ctx, node, inc, v)
	}
	return nil
}

// declared logs, counts and writes down an incarnation's death once per
// instance (it appends one node_down op per owned partition).
func (s *Service) declared(ctx context.Context, node, inc string, v liveness.Verdict) {
	s.mu.Lock()
	seen := s.downSeen[inc]
	s.downSeen[inc] = true
	s.mu.Unlock()
	if seen {
		return
	}
	s.log.Warn("frontend declared down; ending its connections", "frontend", node, "inc", inc, "reason", v.Reason,
		"last_alive", time.UnixMilli(v.LastAlive).UTC().Format(time.RFC3339Nano))
	s.met.nodeDown.WithLabelValues(v.Reason).Inc()
	if v.Reason == liveness.DownStopped {
		return // it said so itself
	}
	// On the nodes topic too, so every reader knows it is gone and ignores
	// what it may still say.
	b := &liveness.Beat{Kind: liveness.KindDown, Node: node, Inc: inc, Role: liveness.RoleFrontend, TS: v.LastAlive, Reason: v.Reason, By: s.cfg.Node}
	if err := s.app.Append(ctx, b.Record(s.cfg.Topics.Nodes)); err != nil {
		s.log.Warn("write down record", "frontend", node, "err", err)
	}
}
