package frontend

import (
	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/session"
	"github.com/tidemarkmq/tidemark/pkg/topic"
)

// onAdminOp acts on an operator's op (from the admin API) for a ClientID
// connected here: the session service applies the op to the view and
// announces it; the frontend holding the connection must stop serving
// what the op ended. An op for another epoch is not meant for this
// connection (fenced as the session service fences it).
func (s *Server) onAdminOp(rec *kafkalog.Record, kind string) {
	if !session.IsAdmin(kind) {
		return
	}
	s.mu.Lock()
	c := s.clients[string(rec.Key)]
	s.mu.Unlock()
	if c == nil {
		return
	}
	op, err := session.DecodeOp(rec)
	if err != nil || c.epoch.Load() != op.Epoch {
		return
	}
	c.log.Info("administrative op", "op", kind, "operator", op.By, "offset", rec.Offset)
	switch kind {
	case session.OpAdminDisconnect, session.OpAdminDiscard:
		c.kill(ErrAdministrative)
	case session.OpAdminUnsubscribe:
		for _, f := range op.Filters {
			c.dropSub(f)
		}
	}
}

// dropSub takes one subscription out of the connection's live delivery
// (UNSUBSCRIBE, or an operator's unsubscribe); it reports whether the
// connection had it.
func (c *conn) dropSub(f string) bool {
	c.subMu.Lock()
	_, had := c.subs[f]
	delete(c.subs, f)
	c.subMu.Unlock()
	if group, inner, shared, _ := topic.ParseShared(f); shared {
		if had {
			c.s.shares.leave(c, group, inner, nil)
		}
	} else {
		c.s.router.unsubscribe(c, f)
	}
	return had
}
