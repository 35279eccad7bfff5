package frontend

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/session"
)

// sessionView finds a client's session in Redis, where its keys carry the
// hash tag of its sessions partition (docs/design.md): the partition the
// murmur2 partitioner sent its connect op to, computed from the ClientID
// and the sessions topic's partition count.
type sessionView struct {
	r     *session.Reader
	kafka kafkalog.Cluster
	topic string
	n     atomic.Int64 // partitions of the sessions topic, once read
}

func newSessionView(r *session.Reader, kafka kafkalog.Cluster, topic string) *sessionView {
	return &sessionView{r: r, kafka: kafka, topic: topic}
}

// WaitApplied is session.Reader.WaitApplied for clientID's partition.
func (v *sessionView) WaitApplied(ctx context.Context, clientID string, epoch int64) (session.State, error) {
	n, err := v.partitions(ctx)
	if err != nil {
		return session.State{}, err
	}
	return v.r.WaitApplied(ctx, session.Partition(clientID, n), clientID, epoch)
}

// partitions reads the sessions topic's partition count once: it never
// changes on a live system (adding partitions would move ClientIDs).
func (v *sessionView) partitions(ctx context.Context) (int, error) {
	if n := v.n.Load(); n > 0 {
		return int(n), nil
	}
	ids, err := kafkalog.Partitions(ctx, v.kafka, v.topic)
	if err != nil {
		return 0, fmt.Errorf("sessions partitions: %w", err)
	}
	v.n.Store(int64(len(ids)))
	return len(ids), nil
}
