package sessiond

import (
	"context"
	"fmt"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/session"
	"github.com/tidemarkmq/tidemark/pkg/telemetry"
)

// EnsureTopics creates the broker's topics when they are missing; see
// session.EnsureTopics.
func EnsureTopics(ctx context.Context, brokers []string, t Topics, partitions int, retention time.Duration) error {
	return session.EnsureTopics(ctx, brokers, t, partitions, retention)
}

// Ping checks that Redis answers and the sessions topic's metadata can be
// read: the dependencies readiness probes should reflect.
func (s *Service) Ping(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("ping redis: %w", err)
	}
	if _, err := kafkalog.Partitions(ctx, s.cfg.Kafka, s.cfg.Topics.Sessions); err != nil {
		return fmt.Errorf("ping kafka: %w", err)
	}
	return nil
}

// Checks are the service's readiness conditions for /readyz: partitions
// assigned and their views rebuilt, the offline-queue follower positioned
// (Ready), Kafka and Redis answering.
func (s *Service) Checks() []telemetry.Check {
	return append([]telemetry.Check{telemetry.ReadyCheck("sessiond", s.Ready)},
		session.DependencyChecks(s.cfg.Kafka, s.cfg.Topics, s.rdb)...)
}
