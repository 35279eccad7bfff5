package sessiond

import (
	"context"
	"fmt"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
)

// EnsureTopics creates the broker's topics when they are missing (it is
// idempotent), with the layout of docs/design.md. retention applies to the
// messages and sessions topics, which must outlive the longest session
// expiry; 0 keeps the cluster default.
func EnsureTopics(ctx context.Context, brokers []string, t Topics, partitions int, retention time.Duration) error {
	d := DefaultTopics()
	if t.Messages == "" {
		t.Messages = d.Messages
	}
	if t.Retained == "" {
		t.Retained = d.Retained
	}
	if t.Sessions == "" {
		t.Sessions = d.Sessions
	}
	if t.Lifecycle == "" {
		t.Lifecycle = d.Lifecycle
	}
	err := kafkalog.EnsureTopics(ctx, brokers,
		kafkalog.TopicSpec{Name: t.Messages, Partitions: partitions, Retention: retention},
		kafkalog.TopicSpec{Name: t.Retained, Partitions: 1, Compact: true},
		kafkalog.TopicSpec{Name: t.Sessions, Partitions: partitions, Retention: retention},
		kafkalog.TopicSpec{Name: t.Lifecycle, Partitions: partitions},
	)
	if err != nil {
		return fmt.Errorf("ensure topics: %w", err)
	}
	return nil
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
