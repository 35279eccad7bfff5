package kafkalog

import (
	"context"
	"errors"
)

// ReadRange calls fn for every record of one partition with from <= offset <
// to, in offset order, and stops at the first error fn returns (which it
// returns). Offsets below the first retained offset are skipped silently;
// compare with TopicBounds to detect such a gap.
func ReadRange(ctx context.Context, brokers []string, topic string, partition int, from, to int64, fn func(*Record) error) error {
	return errors.New("read range: not implemented")
}
