package kafkalog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
)

// requestTimeout bounds one metadata, list-offsets or create-topics round
// trip when the caller's context has no earlier deadline, so a black-holed
// broker cannot hang an admin call forever.
const requestTimeout = 10 * time.Second

// newTransport returns a transport private to one component, so closing the
// component closes its connections and nothing is shared by accident. With
// topics, its metadata cache holds only those: it is refreshed every
// MetadataTTL, and on a cluster of many topics every refresh of all of them
// costs a component that reads one topic far more than its reads.
func newTransport(c Cluster, topics ...string) *kafka.Transport {
	return &kafka.Transport{
		MetadataTopics: topics,
		DialTimeout:    5 * time.Second,
		IdleTimeout:    30 * time.Second,
		// Short so leadership changes and restarts are noticed quickly.
		MetadataTTL: 2 * time.Second,
		ClientID:    "tidemark",
		TLS:         c.TLS,
		SASL:        c.SASL,
	}
}

// shared holds one transport per cluster (brokers and security) for the package functions
// (ReadRange, TopicBounds, Partitions), so a burst of calls, such as the
// replays of many reconnecting clients, reuses connections and cached
// metadata instead of dialling per call. Idle connections close after the
// transport's IdleTimeout.
var shared sync.Map // clusterKey -> *kafka.Transport

func sharedTransport(c Cluster) *kafka.Transport {
	key := c.key()
	if t, ok := shared.Load(key); ok {
		return t.(*kafka.Transport)
	}
	t, _ := shared.LoadOrStore(key, newTransport(c))
	return t.(*kafka.Transport)
}

// CloseIdleConnections drops the idle connections of the shared transports
// of the package functions. Nothing needs it for correctness (idle
// connections close after the transport's IdleTimeout); it lets a process
// or a test that is done with Kafka see no connection of it left.
func CloseIdleConnections() {
	shared.Range(func(_, t any) bool {
		closeTransport(t.(*kafka.Transport))
		return true
	})
}

// staleTopic reports whether err may only mean that a transport's cached
// metadata predates the topic (the cache refreshes every MetadataTTL):
// worth one more try on a fresh transport before reporting it.
func staleTopic(err error) bool {
	return errors.Is(err, protocol.ErrNoTopic) || errors.Is(err, protocol.ErrNoPartition) ||
		errors.Is(err, kafka.UnknownTopicOrPartition) || errors.Is(err, ErrNoTopic)
}

// withFreshFallback runs fn on the shared transport for c and, when
// that fails as if the topic did not exist, once more on a fresh transport
// whose metadata cannot be stale.
func withFreshFallback[T any](c Cluster, fn func(t *kafka.Transport) (T, error)) (T, error) {
	v, err := fn(sharedTransport(c))
	if err == nil || !staleTopic(err) {
		return v, err
	}
	t := newTransport(c)
	defer closeTransport(t)
	return fn(t)
}

func newClient(c Cluster, t *kafka.Transport) *kafka.Client {
	if t == nil {
		t = newTransport(c)
	}
	return &kafka.Client{Addr: kafka.TCP(c.Brokers...), Transport: t}
}

// closeTransport drops the idle connections of t; kafka.Transport has no
// Close, and its in-flight connections end with their requests.
func closeTransport(t *kafka.Transport) { t.CloseIdleConnections() }

// unavailable reports whether err means "the cluster could not be reached
// or did not answer in time" (worth retrying) rather than a request Kafka
// rejected for good, such as a record that is too large.
func unavailable(err error) bool {
	if err == nil {
		return false
	}
	var kerr kafka.Error
	if errors.As(err, &kerr) {
		return kerr.Temporary()
	}
	var nerr net.Error
	switch {
	case errors.As(err, &nerr),
		errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE),
		errors.Is(err, net.ErrClosed):
		return true
	}
	return false
}

// classify adds ErrAuth to err when the cluster refused the client, or
// ErrUnavailable when it is unreachable, so callers can test with
// errors.Is.
func classify(err error) error {
	switch {
	case err == nil || errors.Is(err, ErrAuth) || errors.Is(err, ErrUnavailable):
		return err
	case refused(err):
		return fmt.Errorf("%w: %w", ErrAuth, err)
	case unavailable(err):
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

// withTimeout applies requestTimeout unless ctx already ends earlier.
func withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Deadline(); ok && time.Until(d) < requestTimeout {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, requestTimeout)
}

// backoff doubles from 50ms up to 2s with jitter, so many followers that
// lost the same broker do not reconnect in lock step.
type backoff struct{ n int }

func (b *backoff) next() time.Duration {
	d := 50 * time.Millisecond << min(b.n, 6)
	if d > 2*time.Second {
		d = 2 * time.Second
	}
	b.n++
	return d/2 + rand.N(d/2+1)
}

func (b *backoff) reset() { b.n = 0 }

// sleep waits d or until ctx ends; it reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func loggerOr(l *slog.Logger) *slog.Logger {
	if l != nil {
		return l
	}
	return slog.Default()
}

// fromProtocol converts a fetched record; key, value and header bytes are
// copied because the record set's buffers are reused after it is closed.
func fromProtocol(topic string, partition int, r *protocol.Record) (*Record, error) {
	// Key, value and header values share one allocation: a fetch turns
	// every record of the messages topic into one of these, on every
	// frontend, and separate copies were most of the follower's garbage.
	n := 0
	if r.Key != nil {
		n += r.Key.Len()
	}
	if r.Value != nil {
		n += r.Value.Len()
	}
	for _, h := range r.Headers {
		n += len(h.Value)
	}
	buf := make([]byte, 0, n)
	read := func(b protocol.Bytes) ([]byte, error) {
		if b == nil {
			return nil, nil
		}
		start := len(buf)
		buf = buf[:start+b.Len()]
		if _, err := io.ReadFull(b, buf[start:]); err != nil {
			return nil, err
		}
		return buf[start:len(buf):len(buf)], nil
	}
	key, err := read(r.Key)
	if err != nil {
		return nil, fmt.Errorf("read key: %w", err)
	}
	val, err := read(r.Value)
	if err != nil {
		return nil, fmt.Errorf("read value: %w", err)
	}
	rec := &Record{Topic: topic, Partition: partition, Offset: r.Offset, Key: key, Value: val, Time: r.Time}
	if len(r.Headers) > 0 {
		rec.Headers = make([]Header, len(r.Headers))
		for i, h := range r.Headers {
			var v []byte
			if len(h.Value) > 0 {
				start := len(buf)
				buf = append(buf, h.Value...)
				v = buf[start:len(buf):len(buf)]
			}
			rec.Headers[i] = Header{Key: h.Key, Value: v}
		}
	}
	return rec, nil
}
