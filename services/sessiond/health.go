package sessiond

import (
	"github.com/tidemarkmq/tidemark/pkg/startup"
	"github.com/tidemarkmq/tidemark/pkg/telemetry"
)

// Checks are the service's readiness conditions for /readyz: partitions
// assigned and their views rebuilt, the offline-queue follower positioned
// (Ready), Kafka and Redis answering.
func (s *Service) Checks() []telemetry.Check {
	return append([]telemetry.Check{telemetry.ReadyCheck("sessiond", s.Ready)},
		startup.DependencyChecks(s.cfg.Kafka, s.cfg.Topics, s.rdb)...)
}
