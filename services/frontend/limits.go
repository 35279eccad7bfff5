package frontend

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tidemarkmq/tidemark/pkg/mqtt"
)

// Limits bound what the whole frontend and each client may use, so that
// one misbehaving client cannot starve the others. A zero field takes the
// default named on it; a negative one turns that limit off.
//
// What a client sees when it hits one:
//
//	MaxConnections    the socket is closed at accept, before any byte is read
//	                  (cheaper than a TLS handshake and a CONNACK)
//	ConnectRate       CONNACK 0x9F Connection rate exceeded (3.1.x: 0x03
//	                  Server unavailable), before the password is checked
//	MaxClientIDLength CONNACK 0x85 Client Identifier not valid (3.1.x: 0x02)
//	MaxSubscriptions  SUBACK 0x97 Quota exceeded for each filter beyond it
//	                  (3.1.1: 0x80); filters already held may be renewed
//	PublishRate       the connection's reader pauses until a token is due:
//	                  TCP pushes back on the client, nothing is dropped
//	MaxTopicLength,   PUBLISH: DISCONNECT 0x90 Topic Name invalid (3.1.x:
//	MaxTopicLevels    the connection is closed); SUBSCRIBE: SUBACK 0x8F
//	                  (3.1.1: 0x80); will topic: CONNACK 0x90 (3.1.x: 0x03)
//
// Every hit is counted in tidemark_frontend_limit_hits_total{limit}.
type Limits struct {
	// MaxConnections bounds the open connections of this frontend over all
	// listeners; default 100000.
	MaxConnections int
	// ConnectRate bounds the CONNECTs this frontend handles per second,
	// with a burst of one second's worth; default 1000.
	ConnectRate float64
	// MaxClientIDLength bounds the ClientID in bytes; default 256 (MQTT
	// requires at least 23).
	MaxClientIDLength int
	// MaxSubscriptions bounds the subscriptions of one session; default 1000.
	MaxSubscriptions int
	// PublishRate bounds the PUBLISHes one connection may send per second,
	// with a burst of one second's worth; default 1000.
	PublishRate float64
	// MaxTopicLength bounds topic names and filters in bytes; default 1024.
	MaxTopicLength int
	// MaxTopicLevels bounds the levels of topic names and filters; default 32.
	MaxTopicLevels int
}

// Limit defaults.
const (
	DefaultMaxConnections    = 100000
	DefaultConnectRate       = 1000
	DefaultMaxClientIDLength = 256
	DefaultMaxSubscriptions  = 1000
	DefaultPublishRate       = 1000
	DefaultMaxTopicLength    = 1024
	DefaultMaxTopicLevels    = 32
)

func (l *Limits) applyDefaults() {
	setInt := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	setRate := func(v *float64, def float64) {
		if *v == 0 {
			*v = def
		}
	}
	setInt(&l.MaxConnections, DefaultMaxConnections)
	setRate(&l.ConnectRate, DefaultConnectRate)
	setInt(&l.MaxClientIDLength, DefaultMaxClientIDLength)
	setInt(&l.MaxSubscriptions, DefaultMaxSubscriptions)
	setRate(&l.PublishRate, DefaultPublishRate)
	setInt(&l.MaxTopicLength, DefaultMaxTopicLength)
	setInt(&l.MaxTopicLevels, DefaultMaxTopicLevels)
}

// LimitFlags registers the limit flags on fs and returns the Limits they
// fill; the binaries share them so that the names and defaults agree.
func LimitFlags(fs *flag.FlagSet) *Limits {
	l := &Limits{}
	fs.IntVar(&l.MaxConnections, "max-connections", DefaultMaxConnections, "open connections of this frontend (-1: no limit)")
	fs.Float64Var(&l.ConnectRate, "connect-rate", DefaultConnectRate, "CONNECTs handled per second by this frontend; more are refused (-1: no limit)")
	fs.IntVar(&l.MaxClientIDLength, "max-client-id-length", DefaultMaxClientIDLength, "longest ClientID in bytes (-1: no limit)")
	fs.IntVar(&l.MaxSubscriptions, "max-subscriptions", DefaultMaxSubscriptions, "subscriptions per session (-1: no limit)")
	fs.Float64Var(&l.PublishRate, "publish-rate", DefaultPublishRate, "PUBLISHes per second per connection; faster clients are slowed, not dropped (-1: no limit)")
	fs.IntVar(&l.MaxTopicLength, "max-topic-length", DefaultMaxTopicLength, "longest topic name or filter in bytes (-1: no limit)")
	fs.IntVar(&l.MaxTopicLevels, "max-topic-levels", DefaultMaxTopicLevels, "most levels in a topic name or filter (-1: no limit)")
	return l
}

// Limit names, the values of the limit label.
const (
	limitConnections    = "connections"
	limitConnectRate    = "connect_rate"
	limitConnectTimeout = "connect_timeout"
	limitPacketSize     = "packet_size"
	limitClientID       = "client_id_length"
	limitSubscriptions  = "subscriptions"
	limitPublishRate    = "publish_rate"
	limitTopic          = "topic"
	limitInflight       = "inflight"
	limitPending        = "pending"
)

// limiter enforces the frontend-wide limits and counts every hit.
type limiter struct {
	cfg     Limits
	open    atomic.Int64
	connect *bucket // nil: no connect rate limit
	hits    *prometheus.CounterVec
	denied  *prometheus.CounterVec
}

func newLimiter(cfg Limits) *limiter {
	l := &limiter{
		cfg: cfg,
		hits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tidemark_frontend_limit_hits_total",
			Help: "Times a client ran into a limit, by limit (connections, connect_rate, connect_timeout, packet_size, client_id_length, subscriptions, publish_rate, topic, inflight, pending).",
		}, []string{"limit"}),
		denied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tidemark_frontend_denied_total",
			Help: "Actions the ACL refused, by action (publish, subscribe, will, read: a delivery not sent).",
		}, []string{"action"}),
	}
	// Every series exists from the start, so a dashboard shows 0, not nothing.
	for _, name := range []string{limitConnections, limitConnectRate, limitConnectTimeout, limitPacketSize, limitClientID,
		limitSubscriptions, limitPublishRate, limitTopic, limitInflight, limitPending} {
		l.hits.WithLabelValues(name)
	}
	for _, action := range []string{"publish", "subscribe", "will", "read"} {
		l.denied.WithLabelValues(action)
	}
	if cfg.ConnectRate > 0 {
		l.connect = newBucket(cfg.ConnectRate)
	}
	return l
}

// collectors are registered with the frontend's other metrics.
func (l *limiter) collectors() []prometheus.Collector {
	return []prometheus.Collector{l.hits, l.denied}
}

func (l *limiter) hit(limit string) { l.hits.WithLabelValues(limit).Inc() }

// deniedRead counts a delivery the ACL refused.
func (l *limiter) deniedRead() { l.denied.WithLabelValues("read").Inc() }

// acquireConn takes a connection slot; false: the frontend is full.
func (l *limiter) acquireConn() bool {
	n := l.open.Add(1)
	if l.cfg.MaxConnections > 0 && n > int64(l.cfg.MaxConnections) {
		l.open.Add(-1)
		l.hit(limitConnections)
		return false
	}
	return true
}

func (l *limiter) releaseConn() { l.open.Add(-1) }

// connectAllowed takes a CONNECT token; false: refuse with 0x9F.
func (l *limiter) connectAllowed() bool {
	if l.connect == nil || l.connect.tryTake(time.Now()) {
		return true
	}
	l.hit(limitConnectRate)
	return false
}

// clientIDOK applies MaxClientIDLength.
func (l *limiter) clientIDOK(id string) bool {
	if l.cfg.MaxClientIDLength > 0 && len(id) > l.cfg.MaxClientIDLength {
		l.hit(limitClientID)
		return false
	}
	return true
}

// errTopicLimit is wrapped by checkTopic's errors.
var errTopicLimit = errors.New("topic over the limit")

// checkTopic applies MaxTopicLength and MaxTopicLevels to a topic name or
// filter (a shared subscription's inner filter).
func (l *limiter) checkTopic(t string) error {
	if m := l.cfg.MaxTopicLength; m > 0 && len(t) > m {
		l.hit(limitTopic)
		return fmt.Errorf("%w: %d bytes, limit %d", errTopicLimit, len(t), m)
	}
	if m := l.cfg.MaxTopicLevels; m > 0 {
		if n := strings.Count(t, "/") + 1; n > m {
			l.hit(limitTopic)
			return fmt.Errorf("%w: %d levels, limit %d", errTopicLimit, n, m)
		}
	}
	return nil
}

// readFailed counts a read that ended a connection because of a limit:
// no CONNECT within ConnectTimeout, or a packet over MaxPacketSize.
func (l *limiter) readFailed(err error, beforeConnect bool) {
	var ne net.Error
	switch {
	case beforeConnect && errors.As(err, &ne) && ne.Timeout():
		l.hit(limitConnectTimeout)
	case errors.Is(err, mqtt.PacketTooLarge):
		l.hit(limitPacketSize)
	}
}

// newPublishBucket returns a connection's publish token bucket, nil when
// PublishRate is off.
func (l *limiter) newPublishBucket() *bucket {
	if l.cfg.PublishRate <= 0 {
		return nil
	}
	return newBucket(l.cfg.PublishRate)
}

// bucket is a token bucket holding up to one second's worth of tokens.
// take always takes a token and returns how long the caller must wait
// for it to be due, so a caller that waits is held to the rate exactly.
type bucket struct {
	mu     sync.Mutex
	rate   float64 // tokens per second
	burst  float64
	tokens float64 // may go negative: tokens promised to waiting callers
	last   time.Time
}

func newBucket(rate float64) *bucket {
	burst := max(rate, 1)
	return &bucket{rate: rate, burst: burst, tokens: burst, last: time.Now()}
}

// refillLocked adds the tokens due since the last call; b.mu is held.
func (b *bucket) refillLocked(now time.Time) {
	if el := now.Sub(b.last); el > 0 {
		b.tokens = min(b.burst, b.tokens+el.Seconds()*b.rate)
		b.last = now
	}
}

// take takes one token and returns the wait until it is due (0: now).
func (b *bucket) take(now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refillLocked(now)
	b.tokens--
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / b.rate * float64(time.Second))
}

// tryTake takes one token if one is there now, for a caller that will
// not wait for it.
func (b *bucket) tryTake(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refillLocked(now)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
