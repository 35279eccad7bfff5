package admin

import (
	"context"
	"slices"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
)

// backScan reads one partition backwards, newest record first, keeping
// only the records of one key: a client's ops or events, found by reading
// chunks of the partition (forward, as Kafka reads) from the end towards
// the start. It reads at most limit records.
type backScan struct {
	kafka     kafkalog.Cluster
	topic     string
	partition int
	key       string
	first     int64 // first retained offset: nothing before it
	hi        int64 // next chunk ends below hi
	chunk     int64
	limit     int64
	scanned   int64
	buf       []*kafkalog.Record // matches read, not yet taken, newest first
}

// newBackScan starts below before (exclusive) in partition p of topic.
func newBackScan(kafka kafkalog.Cluster, topic string, p int, key string, first, before, limit int64) *backScan {
	return &backScan{kafka: kafka, topic: topic, partition: p, key: key, first: first, hi: before, chunk: 1000, limit: limit}
}

// peek returns the next older record of the key without taking it, or
// nil when the start of the partition or the read limit was reached.
func (b *backScan) peek(ctx context.Context) (*kafkalog.Record, error) {
	for len(b.buf) == 0 && b.hi > b.first && b.scanned < b.limit {
		lo := max(b.first, b.hi-min(b.chunk, b.limit-b.scanned))
		var found []*kafkalog.Record
		err := kafkalog.ReadRange(ctx, b.kafka, b.topic, b.partition, lo, b.hi, func(r *kafkalog.Record) error {
			if string(r.Key) == b.key {
				found = append(found, r)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		b.scanned += b.hi - lo
		b.hi = lo
		b.chunk = min(b.chunk*2, 64_000) // long histories read in fewer requests
		slices.Reverse(found)
		b.buf = found
	}
	if len(b.buf) == 0 {
		return nil, nil
	}
	return b.buf[0], nil
}

// take drops the record peek returned.
func (b *backScan) take() { b.buf = b.buf[1:] }

// exhausted reports whether the start of the partition was reached (not
// only the read limit) and every match taken.
func (b *backScan) exhausted() bool { return len(b.buf) == 0 && b.hi <= b.first }

// resume is where a later scan continues: just above the newest match
// not yet taken, or where reading stopped.
func (b *backScan) resume() int64 {
	if len(b.buf) > 0 {
		return b.buf[0].Offset + 1
	}
	return b.hi
}
