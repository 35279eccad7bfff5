package sessiond

import (
	"context"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/session"
)

// expiryLoop checks the owned partitions' expiry sets every ExpiryCheck
// and appends an expire op for each offline session past its deadline.
// The op, not this loop, deletes the session when applied, so expiry is
// in the log (a rebuild replays it) and fenced by epoch against a connect
// that races it. Sessions that expired while no instance ran are due at
// the first check.
func (s *Service) expiryLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.ExpiryCheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.assignedNow:
			// A new assignment may bring sessions whose deadline passed
			// while no instance owned them: check at once.
		}
		for _, p := range s.owned() {
			if err := s.expirePartition(ctx, p); err != nil && ctx.Err() == nil {
				s.log.Warn("expiry check failed; will retry", "partition", p.n, "err", err)
			}
		}
	}
}

func (s *Service) expirePartition(ctx context.Context, p *part) error {
	now := time.Now().UnixMilli()
	due, err := s.w.Due(ctx, p.n, now)
	if err != nil {
		return err
	}
	for _, cid := range due {
		m, err := s.w.Meta(ctx, p.n, cid)
		if err != nil {
			return err
		}
		if m == nil || m.Online || m.ExpiresAt == 0 || m.ExpiresAt > now {
			continue
		}
		p.mu.Lock()
		epoch, pending := p.expiring[cid]
		if pending && epoch == m.Epoch {
			p.mu.Unlock()
			continue
		}
		p.expiring[cid] = m.Epoch
		p.mu.Unlock()
		op := &session.Op{Kind: session.OpExpire, ClientID: cid, Epoch: m.Epoch, Node: s.cfg.Node, TS: now}
		if err := s.app.Append(ctx, op.Record(s.cfg.Topics.Sessions)); err != nil {
			p.mu.Lock()
			delete(p.expiring, cid)
			p.mu.Unlock()
			return err
		}
	}
	return nil
}
