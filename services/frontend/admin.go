package frontend

import (
	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/session"
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
	c.logger().Info("administrative op", "op", kind, "operator", op.By, "offset", rec.Offset)
	switch kind {
	case session.OpAdminDisconnect, session.OpAdminDiscard:
		c.kill(ErrAdministrative)
	case session.OpAdminUnsubscribe:
		filters := op.Filters
		c.post(func() { // the subscriptions are the loop's
			for _, f := range filters {
				c.dropSub(f)
			}
		})
	}
}
