package kafkalog

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
)

// TopicSpec describes a topic for EnsureTopics.
type TopicSpec struct {
	Name       string
	Partitions int
	// Compact selects cleanup.policy=compact (the retained-message topic).
	Compact bool
	// Retention sets retention.ms; 0 keeps the broker default.
	Retention time.Duration
	// Configs are further topic configs (for example delete.retention.ms);
	// Compact and Retention win over the same keys here.
	Configs map[string]string
}

// Bounds are the offsets of one partition: First is the first retained
// offset, Next the offset the next appended record will get. First == Next
// means the partition is empty.
type Bounds struct{ First, Next int64 }

// ErrNoTopic is wrapped by Partitions and TopicBounds when the topic does
// not exist.
var ErrNoTopic = errors.New("topic does not exist")

// EnsureTopics creates the topics that do not exist yet. It is idempotent:
// an existing topic is left as it is, even if its spec differs, because
// changing partition counts would move keys between partitions. The
// replication factor is the broker's default.
func EnsureTopics(ctx context.Context, c Cluster, specs ...TopicSpec) error {
	if len(specs) == 0 {
		return nil
	}
	req := &kafka.CreateTopicsRequest{}
	for _, s := range specs {
		if s.Name == "" || s.Partitions <= 0 {
			return fmt.Errorf("ensure topics: bad spec %+v", s)
		}
		tc := kafka.TopicConfig{Topic: s.Name, NumPartitions: s.Partitions, ReplicationFactor: -1}
		for _, k := range slices.Sorted(maps.Keys(s.Configs)) {
			if (k == "cleanup.policy" && s.Compact) || (k == "retention.ms" && s.Retention > 0) {
				continue
			}
			tc.ConfigEntries = append(tc.ConfigEntries, kafka.ConfigEntry{ConfigName: k, ConfigValue: s.Configs[k]})
		}
		if s.Compact {
			tc.ConfigEntries = append(tc.ConfigEntries, kafka.ConfigEntry{ConfigName: "cleanup.policy", ConfigValue: "compact"})
		}
		if s.Retention > 0 {
			tc.ConfigEntries = append(tc.ConfigEntries, kafka.ConfigEntry{ConfigName: "retention.ms", ConfigValue: strconv.FormatInt(s.Retention.Milliseconds(), 10)})
		}
		req.Topics = append(req.Topics, tc)
	}
	t := newTransport(c)
	defer closeTransport(t)
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	res, err := newClient(c, t).CreateTopics(ctx, req)
	if err != nil {
		return fmt.Errorf("create topics: %w", classify(err))
	}
	for name, err := range res.Errors {
		if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w", name, classify(err))
		}
	}
	// A new topic's partitions get leaders shortly after creation; wait so
	// the first Append or Follower does not race the controller.
	for _, s := range specs {
		if err := waitLeaders(ctx, c, t, s.Name); err != nil {
			return fmt.Errorf("wait for topic %s: %w", s.Name, err)
		}
	}
	return nil
}

func waitLeaders(ctx context.Context, c Cluster, t *kafka.Transport, topic string) error {
	var b backoff
	for {
		meta, err := metadata(ctx, c, t, topic)
		if err == nil {
			ok := len(meta.Partitions) > 0
			for _, p := range meta.Partitions {
				if p.Error != nil || p.Leader.ID < 0 {
					ok = false
				}
			}
			if ok {
				return nil
			}
		}
		if !sleep(ctx, b.next()) {
			if err == nil {
				err = ctx.Err()
			}
			return classify(err)
		}
	}
}

func metadata(ctx context.Context, c Cluster, t *kafka.Transport, topic string) (kafka.Topic, error) {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	res, err := newClient(c, t).Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return kafka.Topic{}, classify(err)
	}
	for _, tm := range res.Topics {
		if tm.Name != topic {
			continue
		}
		if tm.Error != nil {
			if errors.Is(tm.Error, kafka.UnknownTopicOrPartition) {
				return tm, fmt.Errorf("%s: %w", topic, ErrNoTopic)
			}
			return tm, classify(tm.Error)
		}
		return tm, nil
	}
	return kafka.Topic{}, fmt.Errorf("%s: %w", topic, ErrNoTopic)
}

// Partitions returns the partition ids of topic, sorted.
func Partitions(ctx context.Context, c Cluster, topic string) ([]int, error) {
	return withFreshFallback(c, func(t *kafka.Transport) ([]int, error) {
		return partitions(ctx, c, t, topic)
	})
}

func partitions(ctx context.Context, c Cluster, t *kafka.Transport, topic string) ([]int, error) {
	tm, err := metadata(ctx, c, t, topic)
	if err != nil {
		return nil, fmt.Errorf("partitions: %w", err)
	}
	ids := make([]int, 0, len(tm.Partitions))
	for _, p := range tm.Partitions {
		ids = append(ids, p.ID)
	}
	slices.Sort(ids)
	return ids, nil
}

// Ping reports whether the cluster answers a metadata request for topic
// within the request timeout: the readiness check of a process that
// depends on Kafka.
func Ping(ctx context.Context, c Cluster, topic string) error {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	if _, err := Partitions(ctx, c, topic); err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	return nil
}

// TopicBounds returns the first retained and the next offset of every
// partition of topic.
func TopicBounds(ctx context.Context, c Cluster, topic string) (map[int]Bounds, error) {
	return withFreshFallback(c, func(t *kafka.Transport) (map[int]Bounds, error) {
		ids, err := partitions(ctx, c, t, topic)
		if err != nil {
			return nil, fmt.Errorf("topic bounds: %w", err)
		}
		b, err := bounds(ctx, c, t, topic, ids)
		if err != nil {
			return nil, fmt.Errorf("topic bounds: %w", err)
		}
		return b, nil
	})
}

// bounds lists the first and next offsets of the given partitions in one
// request per leader.
func bounds(ctx context.Context, c Cluster, t *kafka.Transport, topic string, ids []int) (map[int]Bounds, error) {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	reqs := make([]kafka.OffsetRequest, 0, 2*len(ids))
	for _, p := range ids {
		reqs = append(reqs, kafka.FirstOffsetOf(p), kafka.LastOffsetOf(p))
	}
	res, err := newClient(c, t).ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return nil, fmt.Errorf("list offsets: %w", classify(err))
	}
	out := make(map[int]Bounds, len(ids))
	for _, po := range res.Topics[topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("list offsets %s/%d: %w", topic, po.Partition, classify(po.Error))
		}
		out[po.Partition] = Bounds{First: po.FirstOffset, Next: po.LastOffset}
	}
	for _, p := range ids {
		if _, ok := out[p]; !ok {
			return nil, fmt.Errorf("list offsets %s/%d: %w", topic, p, ErrUnavailable)
		}
	}
	return out, nil
}
