// Package kafkalog is the broker's only door to Kafka: it creates topics,
// appends records with acks=all and reports their offsets, follows every
// partition of a topic in offset order, reads offset ranges, and runs
// consumer groups with explicit assignment and commits.
//
// It wraps github.com/segmentio/kafka-go and hides its defaults that are
// wrong for a broker (acks none, a 1 s batch timeout, a 10 s fetch wait).
// Keys are partitioned with murmur2, as the Java client does, so every tool
// that computes a partition from a key agrees with the producers.
package kafkalog

import (
	"errors"
	"time"
)

// ErrUnavailable is wrapped by errors returned when the Kafka cluster cannot
// be reached or did not acknowledge in time; callers may retry later, and
// nothing covered by such an error may be treated as durable.
var ErrUnavailable = errors.New("kafka unavailable")

// Header is one Kafka record header. Values are bytes; the broker stores
// strings in most of them (see docs/design.md).
type Header struct {
	Key   string
	Value []byte
}

// Record is one Kafka record as the broker sees it. Partition and Offset are
// filled in by Append on success and by every reader.
type Record struct {
	Topic     string
	Partition int
	Offset    int64
	Key       []byte
	Value     []byte
	Headers   []Header
	Time      time.Time
	// Pinned makes Append write the record to Partition rather than to
	// the partition of its key: for records about a partition as a whole
	// (the session service's node_down ops), which must be ordered with
	// that partition's other records whatever their key.
	Pinned bool
}

// Header returns the value of the first header named key. Records carry few
// headers, so a linear scan beats building a map.
func (r *Record) Header(key string) ([]byte, bool) {
	for _, h := range r.Headers {
		if h.Key == key {
			return h.Value, true
		}
	}
	return nil, false
}
