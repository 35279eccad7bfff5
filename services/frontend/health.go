package frontend

import (
	"github.com/tidemarkmq/tidemark/pkg/startup"
	"github.com/tidemarkmq/tidemark/pkg/telemetry"
)

// Checks are the frontend's readiness conditions for /readyz: it serves
// (listeners bound, live dispatch positioned, retained messages caught
// up), Kafka answers, and Redis answers (CONNECT reads sessions there).
func (s *Server) Checks() []telemetry.Check {
	return append([]telemetry.Check{telemetry.ReadyCheck("frontend", s.Ready)},
		startup.DependencyChecks(s.cfg.Kafka, s.cfg.Topics, s.rdb)...)
}
