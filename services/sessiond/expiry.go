package sessiond

import (
	"context"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/session"
)

// expiryLoop checks the owned partitions' due sets every ExpiryCheck and
// appends an expire op for each offline session past its deadline, and a
// will op for each delayed will past its delay. The op, not this loop,
// changes the session when applied, so expiry and delayed wills are in the
// log (a rebuild replays them, a crash loses none) and fenced by epoch
// against a connect that races them. What fell due while no instance ran
// is due at the first check.
func (s *Service) expiryLoop(ctx context.Context) {
	// A new assignment may bring sessions whose deadline passed while no
	// instance owned them: check at once.
	s.everyPartition(ctx, s.cfg.ExpiryCheck, s.assignedNow, "expiry check", func(ctx context.Context, p *part) error {
		if err := s.expirePartition(ctx, p); err != nil {
			return err
		}
		n, err := s.w.PendingWills(ctx, p.n)
		if err != nil {
			return err
		}
		p.pendingWills.Store(n)
		return nil
	})
}

// everyPartition calls fn for each owned partition every interval and
// whenever wake fires, until ctx ends; a failure is logged and retried at
// the next round.
func (s *Service) everyPartition(ctx context.Context, every time.Duration, wake <-chan struct{}, what string, fn func(context.Context, *part) error) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-wake:
		}
		for _, p := range s.owned() {
			if err := fn(ctx, p); err != nil && ctx.Err() == nil {
				s.log.Warn(what+" failed; will retry", "partition", p.n, "err", err)
			}
		}
	}
}

// timer is one kind of deadline a session can have.
type timer struct {
	kind string // the op appended when due
	list func(ctx context.Context, n int, nowMs int64) ([]string, error)
	at   func(*session.Meta) int64 // the deadline; 0: none
}

func (s *Service) timers() []timer {
	return []timer{
		{session.OpExpire, s.w.Due, func(m *session.Meta) int64 {
			if m.Online {
				return 0
			}
			return m.ExpiresAt
		}},
		{session.OpWill, s.w.DueWills, (*session.Meta).NextWill},
	}
}

func (s *Service) expirePartition(ctx context.Context, p *part) error {
	now := time.Now().UnixMilli()
	for _, tm := range s.timers() {
		due, err := tm.list(ctx, p.n, now)
		if err != nil {
			return err
		}
		for _, cid := range due {
			m, err := s.w.Meta(ctx, p.n, cid)
			if err != nil {
				return err
			}
			if m == nil || tm.at(m) == 0 || tm.at(m) > now {
				continue
			}
			p.mu.Lock()
			epoch, appended := p.timers[tm.kind][cid]
			if appended && epoch == m.Epoch {
				p.mu.Unlock()
				continue
			}
			p.timers[tm.kind][cid] = m.Epoch
			p.mu.Unlock()
			op := &session.Op{Kind: tm.kind, ClientID: cid, Epoch: m.Epoch, Node: s.cfg.Node, TS: now}
			if err := s.app.Append(ctx, op.Record(s.cfg.Topics.Sessions)); err != nil {
				p.mu.Lock()
				delete(p.timers[tm.kind], cid)
				p.mu.Unlock()
				return err
			}
		}
	}
	return nil
}
