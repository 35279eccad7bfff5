package frontend

import (
	"context"
	"fmt"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/telemetry"
)

// Checks are the frontend's readiness conditions for /readyz: it serves
// (listeners bound, live dispatch positioned, retained messages caught
// up), Kafka answers, and Redis answers (CONNECT reads sessions there).
func (s *Server) Checks() []telemetry.Check {
	return []telemetry.Check{
		telemetry.ReadyCheck("frontend", s.Ready),
		{Name: "kafka", Fn: func(ctx context.Context) error {
			return kafkalog.Ping(ctx, s.cfg.Kafka, s.cfg.Topics.Sessions)
		}},
		{Name: "redis", Fn: func(ctx context.Context) error {
			if err := s.rdb.Ping(ctx).Err(); err != nil {
				return fmt.Errorf("redis: %w", err)
			}
			return nil
		}},
	}
}
