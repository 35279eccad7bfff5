package kafkalog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/segmentio/kafka-go"
)

// fetchMaxBytes bounds one fetch response per partition. Kafka still returns
// a first batch larger than this, so big records do not get stuck.
const fetchMaxBytes = 4 << 20

// fetchResult is one fetch: the records at or after the requested offset,
// and the partition's bounds as the leader reported them.
type fetchResult struct {
	recs          []*Record
	next          int64 // offset to fetch next; may pass empty ranges
	highWatermark int64
}

// fetchOnce fetches records of one partition starting at offset. It returns
// an error wrapping kafka.OffsetOutOfRange when offset is outside the log.
func fetchOnce(ctx context.Context, c *kafka.Client, topic string, partition int, offset int64, maxWait time.Duration) (fetchResult, error) {
	// The transport gives up on a request only when its context ends, so
	// bound the round trip by the long-poll time plus slack.
	ctx, cancel := context.WithTimeout(ctx, maxWait+requestTimeout)
	defer cancel()
	res, err := c.Fetch(ctx, &kafka.FetchRequest{
		Topic: topic, Partition: partition, Offset: offset,
		MinBytes: 1, MaxBytes: fetchMaxBytes, MaxWait: maxWait,
	})
	if err != nil {
		return fetchResult{}, fmt.Errorf("fetch %s/%d@%d: %w", topic, partition, offset, classify(err))
	}
	if res.Error != nil {
		return fetchResult{}, fmt.Errorf("fetch %s/%d@%d: %w", topic, partition, offset, classify(res.Error))
	}
	out := fetchResult{next: offset, highWatermark: res.HighWatermark}
	for {
		r, err := res.Records.ReadRecord()
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			// A truncated trailing batch is normal (MaxBytes cuts it);
			// deliver what was complete and fetch the rest next time.
			if len(out.recs) > 0 {
				break
			}
			return out, fmt.Errorf("fetch %s/%d@%d: decode: %w", topic, partition, offset, err)
		}
		// A batch may start before the requested offset.
		if r.Offset < offset {
			continue
		}
		rec, err := fromProtocol(topic, partition, r)
		if err != nil {
			return out, fmt.Errorf("fetch %s/%d@%d: %w", topic, partition, offset, err)
		}
		out.recs = append(out.recs, rec)
		out.next = r.Offset + 1
	}
	// No record at or after offset although the log goes further: the
	// records there were removed by compaction (say, expired tombstones at
	// the end of a cleaned segment, with an empty active segment after
	// it). Kafka returns every batch from offset on up to the byte limit,
	// so nothing lives in [offset, high watermark); step over the hole
	// instead of fetching it forever.
	if len(out.recs) == 0 && offset >= 0 && res.HighWatermark > offset {
		out.next = res.HighWatermark
	}
	return out, nil
}
