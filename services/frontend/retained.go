package frontend

import (
	"sync"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/session"
	"github.com/tidemarkmq/tidemark/pkg/topic"
)

// nowFunc is the clock; a variable so expiry tests need not sleep.
var nowFunc = time.Now

// retainedStore is the in-memory copy of the compacted retained topic,
// keyed by MQTT topic name. Every frontend follows the topic from the
// beginning and is not ready before it caught up.
type retainedStore struct {
	mu   sync.RWMutex
	msgs map[string]*message
	next map[int]int64 // next offset per partition seen, for catch-up
}

func newRetainedStore() *retainedStore {
	return &retainedStore{msgs: make(map[string]*message), next: make(map[int]int64)}
}

// apply is the retained follower's handler.
func (r *retainedStore) apply(rec *kafkalog.Record) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.next[rec.Partition] = rec.Offset + 1
	name := string(rec.Key)
	if len(rec.Value) == 0 {
		delete(r.msgs, name) // tombstone
		return
	}
	m := decodeMessage(rec)
	m.offset = -1 // not a messages-topic position: never part of a cursor
	m.retain = true
	r.msgs[name] = m
}

// caughtUp reports whether every partition reached the given end offsets.
func (r *retainedStore) caughtUp(ends map[int]kafkalog.Bounds) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for p, b := range ends {
		if b.Next > b.First && r.next[p] < b.Next {
			return false
		}
	}
	return true
}

// matching returns the deliveries of the retained messages matching s, with
// RETAIN set [MQTT-3.3.1-8] at min(retained QoS, subscription QoS). The
// ACL is applied when they are written, as for every delivery.
func (r *retainedStore) matching(s session.Subscription) []*delivery {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var ds []*delivery
	for name, m := range r.msgs {
		if !topic.Match(s.Filter, name) || m.expired(nowFunc()) {
			continue
		}
		d := &delivery{msg: m, qos: min(m.qos, s.QoS), retain: true}
		if s.SubID != 0 {
			d.subIDs = []uint32{s.SubID}
		}
		ds = append(ds, d)
	}
	return ds
}
