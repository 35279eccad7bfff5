package session

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/telemetry"
)

// DependencyChecks are the readiness checks every process that keeps
// sessions shares: Kafka answers a metadata request for the sessions topic,
// and Redis answers PING.
func DependencyChecks(kafka kafkalog.Cluster, t Topics, rdb redis.UniversalClient) []telemetry.Check {
	return []telemetry.Check{
		{Name: "kafka", Fn: func(ctx context.Context) error {
			return kafkalog.Ping(ctx, kafka, t.Sessions)
		}},
		{Name: "redis", Fn: func(ctx context.Context) error {
			if err := rdb.Ping(ctx).Err(); err != nil {
				return fmt.Errorf("redis: %w", err)
			}
			return nil
		}},
	}
}
