package session

import (
	"context"
	"fmt"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
)

// Topics names the Kafka topics every process of a deployment shares; the
// frontend and the session service must agree on them, so they are defined
// once, here, next to the protocol they carry.
type Topics struct {
	Messages, Retained, Sessions, Lifecycle string
}

// DefaultTopics returns the topic names of docs/design.md.
func DefaultTopics() Topics {
	return Topics{Messages: "mqtt.messages", Retained: "mqtt.retained", Sessions: "mqtt.sessions", Lifecycle: "mqtt.lifecycle"}
}

// WithDefaults returns t with every empty name replaced by its default.
func (t Topics) WithDefaults() Topics {
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
	return t
}

// EnsureTopics creates the broker's topics when they are missing (it is
// idempotent), with the layout of docs/design.md: the retained topic
// compacted, the others with the given partitions. retention applies to the
// messages and sessions topics, which must outlive the longest session
// expiry; 0 keeps the cluster default.
func EnsureTopics(ctx context.Context, kafka kafkalog.Cluster, t Topics, partitions int, retention time.Duration) error {
	t = t.WithDefaults()
	err := kafkalog.EnsureTopics(ctx, kafka,
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
