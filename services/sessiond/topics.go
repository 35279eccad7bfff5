package sessiond

import (
	"context"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/session"
	"github.com/tidemarkmq/tidemark/pkg/telemetry"
)

// EnsureTopics creates the broker's topics when they are missing; see
// session.EnsureTopics.
func EnsureTopics(ctx context.Context, kafka kafkalog.Cluster, t Topics, partitions int, retention time.Duration) error {
	return session.EnsureTopics(ctx, kafka, t, partitions, retention)
}

// Checks are the service's readiness conditions for /readyz: partitions
// assigned and their views rebuilt, the offline-queue follower positioned
// (Ready), Kafka and Redis answering.
func (s *Service) Checks() []telemetry.Check {
	return append([]telemetry.Check{telemetry.ReadyCheck("sessiond", s.Ready)},
		session.DependencyChecks(s.cfg.Kafka, s.cfg.Topics, s.rdb)...)
}
