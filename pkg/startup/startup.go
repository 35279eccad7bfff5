// Package startup holds what the binaries share when they start: the
// topics they create, the readiness checks of the dependencies every
// process that keeps sessions has (Kafka, Redis), and the flags common to
// the frontend and the session service, so that the standalone broker,
// which is both, defines each of them once.
package startup

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/session"
	"github.com/tidemarkmq/tidemark/pkg/session/liveness"
	"github.com/tidemarkmq/tidemark/pkg/telemetry"
)

// EnsureTopics creates the broker's topics when they are missing (it is
// idempotent), with the layout of docs/design.md: the retained topic
// compacted, the nodes topic as liveness.TopicSpec, the others with the given
// partitions. retention applies to the
// messages and sessions topics, which must outlive the longest session
// expiry; 0 keeps the cluster default.
func EnsureTopics(ctx context.Context, kafka kafkalog.Cluster, t session.Topics, partitions int, retention time.Duration) error {
	t = t.WithDefaults()
	err := kafkalog.EnsureTopics(ctx, kafka,
		kafkalog.TopicSpec{Name: t.Messages, Partitions: partitions, Retention: retention},
		kafkalog.TopicSpec{Name: t.Retained, Partitions: 1, Compact: true},
		kafkalog.TopicSpec{Name: t.Sessions, Partitions: partitions, Retention: retention},
		kafkalog.TopicSpec{Name: t.Lifecycle, Partitions: partitions},
		liveness.TopicSpec(t.Nodes),
	)
	if err != nil {
		return fmt.Errorf("ensure topics: %w", err)
	}
	return nil
}

// DependencyChecks are the readiness checks every process that keeps
// sessions shares: Kafka answers a metadata request for the sessions topic,
// and Redis answers PING.
func DependencyChecks(kafka kafkalog.Cluster, t session.Topics, rdb redis.UniversalClient) []telemetry.Check {
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
