package kafkalog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// AppenderOptions tune an Appender. The zero value is usable.
type AppenderOptions struct {
	// BatchTimeout bounds how long a record waits for its batch to fill;
	// default 2ms (kafka-go's own default of 1s would make every
	// synchronous Append wait up to a second).
	BatchTimeout time.Duration
	// Timeout bounds one Append when the cluster does not answer; the error
	// then wraps ErrUnavailable. Default 10s.
	Timeout time.Duration
	// BatchSize bounds the records of one partition sent in one produce
	// request; default 256. kafka-go allocates room for BatchSize messages
	// (about 150 bytes each) for every batch it starts, however few records
	// it ends up holding, so a large bound costs garbage on every small
	// batch: with 1000, the allocation was the largest in the frontend's
	// profiles (connect ops and low-rate publishes are one-record batches).
	BatchSize int
	// Logger receives write errors; default slog.Default().
	Logger *slog.Logger
}

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("appender closed")

// Appender appends records with acks=all and murmur2 partitioning, and tells
// each caller the partition and offset its records got. It is safe for
// concurrent use; concurrent callers share batches.
//
// It drives a kafka.Writer in synchronous mode with a Completion callback:
// the writer calls Completion with the produce response's offsets before it
// releases the waiting WriteMessages, and each message's WriterData points
// at the caller's slot, so offsets reach the right caller without a lookup.
type Appender struct {
	w       *kafka.Writer
	t       *kafka.Transport
	timeout time.Duration

	mu     sync.RWMutex // guards closed against Append racing Close
	closed bool
}

// slot receives one message's outcome from the writer's goroutine; it is
// read only after WriteMessages returned, which orders the two.
type slot struct {
	pinned    bool // write to pin, not to the key's partition
	pin       int
	partition int
	offset    int64
	time      time.Time
	done      bool
}

// NewAppender returns an Appender for the cluster c. It connects
// lazily, so it can be created while the cluster is down.
func NewAppender(c Cluster, opt AppenderOptions) *Appender {
	if opt.BatchTimeout <= 0 {
		opt.BatchTimeout = 2 * time.Millisecond
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 10 * time.Second
	}
	if opt.BatchSize <= 0 {
		opt.BatchSize = 256
	}
	log := loggerOr(opt.Logger)
	t := newTransport(c)
	w := &kafka.Writer{
		Addr:         kafka.TCP(c.Brokers...),
		Balancer:     pinningBalancer{},
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: opt.BatchTimeout,
		// Concurrent callers fill batches; BatchSize records or 1 MiB
		// bound one partition's share of a produce request.
		BatchSize:       opt.BatchSize,
		BatchBytes:      1 << 20,
		WriteTimeout:    opt.Timeout,
		ReadTimeout:     opt.Timeout,
		MaxAttempts:     5,
		WriteBackoffMin: 50 * time.Millisecond,
		WriteBackoffMax: time.Second,
		Transport:       t,
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			log.Debug("kafka write", "detail", fmt.Sprintf(msg, args...))
		}),
		Completion: func(msgs []kafka.Message, err error) {
			if err != nil {
				return
			}
			for i := range msgs {
				if s, ok := msgs[i].WriterData.(*slot); ok {
					s.partition, s.offset, s.time, s.done = msgs[i].Partition, msgs[i].Offset, msgs[i].Time, true
				}
			}
		},
	}
	return &Appender{w: w, t: t, timeout: opt.Timeout}
}

// Append writes recs and waits until Kafka acknowledged all of them with
// acks=all. On success every rec has Partition and Offset set (and Time, if
// it was zero). On failure nothing is claimed durable (some records may
// still have been written: a caller that retries must tolerate
// duplicates), and the error wraps ErrUnavailable when the cluster could
// not be reached within the Appender's Timeout.
//
// Records with a nil key go to a random partition; give a key when order
// matters.
func (a *Appender) Append(ctx context.Context, recs ...*Record) error {
	if len(recs) == 0 {
		return nil
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.closed {
		return ErrClosed
	}
	msgs := make([]kafka.Message, len(recs))
	slots := make([]slot, len(recs))
	for i, r := range recs {
		if r.Topic == "" {
			return fmt.Errorf("append: record %d has no topic", i)
		}
		if r.Pinned && r.Partition < 0 {
			return fmt.Errorf("append: record %d pinned to partition %d", i, r.Partition)
		}
		slots[i].pinned, slots[i].pin = r.Pinned, r.Partition
		m := kafka.Message{Topic: r.Topic, Key: r.Key, Value: r.Value, Time: r.Time, WriterData: &slots[i]}
		if len(r.Headers) > 0 {
			m.Headers = make([]kafka.Header, len(r.Headers))
			for j, h := range r.Headers {
				m.Headers[j] = kafka.Header{Key: h.Key, Value: h.Value}
			}
		}
		msgs[i] = m
	}
	wctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	err := a.w.WriteMessages(wctx, msgs...)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("append: %w", ctx.Err())
		}
		if wctx.Err() != nil {
			return fmt.Errorf("append: no acknowledgement within %s: %w: %w", a.timeout, ErrUnavailable, err)
		}
		return fmt.Errorf("append: %w", wrapWriteErrors(err))
	}
	for i := range slots {
		if !slots[i].done {
			// The writer reported success without a produce response for
			// this message; never claim it durable.
			return fmt.Errorf("append: record %d: %w: no offset in acknowledgement", i, ErrUnavailable)
		}
	}
	for i, r := range recs {
		r.Partition, r.Offset = slots[i].partition, slots[i].offset
		if r.Time.IsZero() {
			r.Time = slots[i].time
		}
	}
	return nil
}

// pinningBalancer is murmur2 of the key, as the Java client does, except
// for pinned records, which go to the partition they name.
type pinningBalancer struct{ kafka.Murmur2Balancer }

func (b pinningBalancer) Balance(msg kafka.Message, partitions ...int) int {
	if s, ok := msg.WriterData.(*slot); ok && s.pinned {
		return s.pin
	}
	return b.Murmur2Balancer.Balance(msg, partitions...)
}

// wrapWriteErrors reduces kafka.WriteErrors (one per message, mostly the
// same) to the first error, marked unavailable when it is.
func wrapWriteErrors(err error) error {
	var werrs kafka.WriteErrors
	if errors.As(err, &werrs) {
		for _, e := range werrs {
			if e != nil {
				return classify(e)
			}
		}
	}
	return classify(err)
}

// Close waits for running Appends, flushes, and releases connections.
// Append returns ErrClosed afterwards.
func (a *Appender) Close() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	a.mu.Unlock()
	err := a.w.Close()
	closeTransport(a.t)
	if err != nil {
		return fmt.Errorf("close appender: %w", err)
	}
	return nil
}
