package kafkalog

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// ReadRange calls fn for every record of one partition with from <= offset <
// to, in offset order, and stops at the first error fn returns (which it
// returns). Offsets below the first retained offset are skipped silently
// (compare with TopicBounds to detect such a gap), and the read ends early
// at the partition's high watermark, so a to beyond the end does not wait
// for records that may never come. Broker errors are retried until ctx
// ends; the error then wraps ErrUnavailable.
func ReadRange(ctx context.Context, c Cluster, topic string, partition int, from, to int64, fn func(*Record) error) error {
	if from >= to {
		return nil
	}
	t := sharedTransport(c)
	kc := newClient(c, t)
	fresh := false
	defer func() {
		if fresh {
			closeTransport(t)
		}
	}()
	pos := from
	var b backoff
	var lastErr error
	for pos < to {
		res, err := fetchOnce(ctx, kc, topic, partition, pos, 100*time.Millisecond)
		if err != nil && !fresh && staleTopic(err) {
			// The shared transport's metadata may predate the topic.
			t, fresh = newTransport(c), true
			kc = newClient(c, t)
			continue
		}
		switch {
		case errors.Is(err, kafka.OffsetOutOfRange):
			bs, berr := bounds(ctx, c, t, topic, []int{partition})
			if berr != nil {
				err = berr
				break
			}
			bd := bs[partition]
			if pos < bd.First {
				pos = bd.First
				continue
			}
			if pos >= bd.Next {
				return nil
			}
		case err == nil:
			b.reset()
			for _, r := range res.recs {
				if r.Offset >= to {
					return nil
				}
				if err := fn(r); err != nil {
					return err
				}
			}
			pos = res.next
			if pos >= res.highWatermark {
				return nil
			}
			continue
		}
		if err != nil && !unavailable(err) {
			return fmt.Errorf("read range: %w", err)
		}
		if err != nil {
			lastErr = err
		}
		if !sleep(ctx, b.next()) {
			if lastErr != nil {
				return fmt.Errorf("read range: %w (last error: %w)", ctx.Err(), lastErr)
			}
			return fmt.Errorf("read range: %w", ctx.Err())
		}
	}
	return nil
}
