package frontend

import (
	"context"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/session"
	"github.com/tidemarkmq/tidemark/pkg/session/liveness"
)

// Liveness. Each start of the frontend is an incarnation that announces
// itself on the nodes topic before any CONNECT is served, and beats there
// until its connections are drained; every connect op names it. The
// session service declares an incarnation dead when it falls silent (or a
// newer one of the same node name announces itself) and ends its
// connections' sessions in the log, so a frontend that dies loses no
// lifecycle fact and holds no will. A frontend that was only cut off, or
// paused, learns it was declared dead from the node_down ops on the
// sessions topic it follows: it closes that incarnation's connections and
// goes on under a new one.

// newHeart builds the incarnation's heart; Run starts it.
func (s *Server) newHeart() *liveness.Heart {
	return liveness.NewHeart(s.app, liveness.HeartConfig{
		Topic: s.cfg.Topics.Nodes, Node: s.cfg.Node, Role: liveness.RoleFrontend,
		Interval: s.cfg.HeartbeatInterval, Brokers: s.cfg.Kafka, Logger: s.log,
		Conns: func() int {
			s.mu.Lock()
			defer s.mu.Unlock()
			return len(s.clients)
		},
	})
}

// onNodeDown reacts to a node_down op for this node: the cluster has ended
// the sessions of that incarnation, so its connections must not stay open
// as if nothing happened. If it is the current incarnation, a new one
// serves from now on.
func (s *Server) onNodeDown(rec *kafkalog.Record) {
	op, err := session.DecodeOp(rec)
	if err != nil || op.Node != s.cfg.Node {
		return
	}
	// One op comes per sessions partition: the first renews, every one
	// makes sure (kill is idempotent).
	renewed := op.Inc == s.heart.Inc()
	if renewed {
		s.heart.Renew()
	}
	s.mu.Lock()
	var doomed []*conn
	for c := range s.conns {
		if c.inc == op.Inc {
			doomed = append(doomed, c)
		}
	}
	s.mu.Unlock()
	if renewed {
		s.m.declaredDown.Inc()
		s.log.Error("the cluster declared this frontend dead; closing that incarnation's connections",
			"inc", op.Inc, "reason", op.Reason, "connections", len(doomed), "new_inc", s.heart.Inc())
	}
	for _, c := range doomed {
		c.kill(ErrNodeDown)
	}
}

// signOff tells the nodes topic that this incarnation stopped, once its
// connections' last ops are logged.
func (s *Server) signOff() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.heart.SignOff(ctx); err != nil {
		s.log.Warn("sign off", "err", err)
	}
}
