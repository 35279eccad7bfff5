package e2e

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/redis/go-redis/v9"

	"github.com/tidemarkmq/tidemark/pkg/events"
	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/kafkalog/kafkatest"
	"github.com/tidemarkmq/tidemark/pkg/session/redistest"
	"github.com/tidemarkmq/tidemark/services/frontend"
	"github.com/tidemarkmq/tidemark/services/sessiond"
)

// testPartitions is the partition count of the messages and sessions topics:
// more than one, so ordering and ownership are exercised across partitions.
const testPartitions = 4

// waitFor bounds every wait of these tests.
const waitFor = 30 * time.Second

// options tune a cluster for one test.
type options struct {
	frontends     int
	defaultExpiry time.Duration
	maxQueued     int
	// kafka, when set, is a Kafka of the test's own (or the secured one)
	// instead of the shared test stack's.
	kafka kafkalog.Cluster
	// redis, when set, is the Redis of the session view instead of the
	// shared test stack's plain one (a cluster, a TLS server).
	redis redis.UniversalClient
	// publishRetry bounds how long a frontend holds a PUBLISH while Kafka
	// is away (frontend default when zero).
	publishRetry time.Duration
	// tune, when set, adjusts frontend i's configuration (authentication,
	// TLS, limits, metrics) before it starts.
	tune func(i int, cfg *frontend.Config)
}

// cluster is frontends and one session service on private topics and a
// private Redis key prefix of the shared test stack.
type cluster struct {
	t      *testing.T
	opt    options
	kafka  kafkalog.Cluster
	rdb    redis.UniversalClient
	prefix string
	topics frontend.Topics
	group  string
	log    *slog.Logger

	fes  []*runner[*frontend.Server]
	sd   *runner[*sessiond.Service]
	life *lifecycle
}

// runner is one running service and the means to stop it.
type runner[S any] struct {
	svc    S
	cancel context.CancelFunc
	done   chan error
}

func (r *runner[S]) stop() {
	if r == nil || r.cancel == nil {
		return
	}
	r.cancel()
	<-r.done
	r.cancel = nil
}

func newCluster(t *testing.T, opt options) *cluster {
	t.Helper()
	if opt.frontends == 0 {
		opt.frontends = 2
	}
	if opt.defaultExpiry == 0 {
		opt.defaultExpiry = time.Hour
	}
	if opt.maxQueued == 0 {
		opt.maxQueued = 5000
	}
	kc := opt.kafka
	if kc.Brokers == nil {
		kc = kafkatest.Cluster(t)
	}
	rdb := opt.redis
	if rdb == nil {
		rdb = redistest.Client(t)
	}
	c := &cluster{
		t: t, opt: opt, kafka: kc, rdb: rdb, prefix: redistest.Prefix(t, rdb),
		group: kafkatest.UniqueName(t, "sessiond"),
		log:   testLogger(),
	}
	c.topics = frontend.Topics{
		Messages:  c.newTopic(kafkalog.TopicSpec{Partitions: testPartitions}),
		Retained:  c.newTopic(kafkalog.TopicSpec{Partitions: 1, Compact: true}),
		Sessions:  c.newTopic(kafkalog.TopicSpec{Partitions: testPartitions}),
		Lifecycle: c.newTopic(kafkalog.TopicSpec{Partitions: testPartitions}),
	}
	c.life = followLifecycle(t, kc, c.topics.Lifecycle)
	c.startSessiond()
	for i := 0; i < opt.frontends; i++ {
		c.fes = append(c.fes, c.startFrontend(i))
	}
	t.Cleanup(func() {
		for _, f := range c.fes {
			f.stop()
		}
		c.sd.stop()
		c.life.checkPairs()
	})
	return c
}

// newTopic creates a uniquely named topic on the cluster's Kafka.
func (c *cluster) newTopic(spec kafkalog.TopicSpec) string {
	c.t.Helper()
	spec.Name = kafkatest.UniqueName(c.t, spec.Name)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := kafkalog.EnsureTopics(ctx, c.kafka, spec); err != nil {
		c.t.Fatalf("create topic %s: %v", spec.Name, err)
	}
	return spec.Name
}

func (c *cluster) startSessiond() {
	c.t.Helper()
	svc, err := sessiond.New(sessiond.Config{
		Node: "sessiond-0", Kafka: c.kafka, RedisClient: c.rdb, KeyPrefix: c.prefix, GroupID: c.group,
		Topics:    c.topics,
		MaxQueued: c.opt.maxQueued, QueueQoS0: true, DefaultExpiry: c.opt.defaultExpiry,
		ExpiryCheck: 100 * time.Millisecond, CommitInterval: 50 * time.Millisecond, SessionTimeout: 6 * time.Second,
		Logger: c.log.With("svc", "sessiond"),
	})
	if err != nil {
		c.t.Fatalf("sessiond: %v", err)
	}
	c.sd = start(c.t, svc, svc.Run, svc.Ready)
}

// startFrontend starts (or restarts) frontend i, node fe-<i>, with the
// cluster's tuning for it.
func (c *cluster) startFrontend(i int) *runner[*frontend.Server] {
	c.t.Helper()
	node := fmt.Sprintf("fe-%d", i)
	cfg := frontend.Config{
		Node: node, MQTTAddr: "127.0.0.1:0", Kafka: c.kafka, RedisClient: c.rdb, KeyPrefix: c.prefix,
		Topics: c.topics, DefaultExpiry: c.opt.defaultExpiry, ProgressInterval: 50 * time.Millisecond,
		PublishRetry: c.opt.publishRetry,
		Logger:       c.log.With("svc", node),
	}
	if c.opt.tune != nil {
		c.opt.tune(i, &cfg)
	}
	srv, err := frontend.New(cfg)
	if err != nil {
		c.t.Fatalf("frontend %s: %v", node, err)
	}
	return start(c.t, srv, srv.Run, srv.Ready)
}

// start runs svc until the test ends and waits until it is ready.
func start[S any](t *testing.T, svc S, run func(context.Context) error, ready func() bool) *runner[S] {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &runner[S]{svc: svc, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- run(ctx) }()
	deadline := time.Now().Add(waitFor)
	for !ready() {
		select {
		case err := <-r.done:
			t.Fatalf("service stopped before ready: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("service not ready in time")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return r
}

// testLogger logs warnings, or everything from TIDEMARK_TEST_LOG's level
// (for example TIDEMARK_TEST_LOG=debug when a test needs explaining).
func testLogger() *slog.Logger {
	level := slog.LevelWarn
	if v := os.Getenv("TIDEMARK_TEST_LOG"); v != "" {
		_ = level.UnmarshalText([]byte(v))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// addr is the MQTT address of frontend i.
func (c *cluster) addr(i int) string { return c.fes[i].svc.Addr("mqtt").String() }

// client is a paho MQTT 3.1.1 client that records what it receives.
type client struct {
	t     *testing.T
	id    string
	paho  paho.Client
	lost  chan error
	mu    sync.Mutex
	msgs  []message
	added chan struct{}
}

// message is one PUBLISH a client received.
type message struct {
	Topic   string
	Payload string
	QoS     byte
	Dup     bool
}

// dial connects a 3.1.1 client to frontend i; it fails the test unless the
// CONNACK accepts it, and returns the CONNACK's Session Present.
func (c *cluster) dial(i int, id string, clean bool) (*client, bool) {
	c.t.Helper()
	return dialV3(c.t, c.addr(i), id, "", clean)
}

// dialAs is dial with a user name (no password).
func (c *cluster) dialAs(i int, id, user string, clean bool) (*client, bool) {
	c.t.Helper()
	return dialV3(c.t, c.addr(i), id, user, clean)
}

// dialV3 connects a 3.1.1 client, with a user name when user is set, to the
// broker at addr (host:port), as cluster.dial does.
func dialV3(t *testing.T, addr, id, user string, clean bool) (*client, bool) {
	t.Helper()
	cl := &client{t: t, id: id, lost: make(chan error, 1), added: make(chan struct{}, 1)}
	opts := paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).SetCleanSession(clean).SetUsername(user).
		SetAutoReconnect(false).SetConnectRetry(false).SetKeepAlive(30 * time.Second).SetProtocolVersion(4).
		SetOrderMatters(true).SetConnectTimeout(waitFor).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { cl.record(m) }).
		SetConnectionLostHandler(func(_ paho.Client, err error) { cl.lost <- err })
	cl.paho = paho.NewClient(opts)
	tok := cl.paho.Connect()
	if !tok.WaitTimeout(waitFor) {
		t.Fatalf("%s: connect timed out", id)
	}
	if err := tok.Error(); err != nil {
		t.Fatalf("%s: connect: %v", id, err)
	}
	t.Cleanup(func() {
		if cl.paho.IsConnectionOpen() {
			cl.paho.Disconnect(100)
		}
	})
	return cl, tok.(*paho.ConnectToken).SessionPresent()
}

func (cl *client) record(m paho.Message) {
	cl.mu.Lock()
	cl.msgs = append(cl.msgs, message{Topic: m.Topic(), Payload: string(m.Payload()), QoS: m.Qos(), Dup: m.Duplicate()})
	cl.mu.Unlock()
	select {
	case cl.added <- struct{}{}:
	default:
	}
}

// subscribe subscribes and waits for the SUBACK.
func (cl *client) subscribe(filter string, qos byte) {
	cl.t.Helper()
	tok := cl.paho.Subscribe(filter, qos, nil)
	if !tok.WaitTimeout(waitFor) || tok.Error() != nil {
		cl.t.Fatalf("%s: subscribe %s: %v", cl.id, filter, tok.Error())
	}
}

// publish publishes and waits for the acknowledgement (for QoS > 0).
func (cl *client) publish(topic string, qos byte, payload string) {
	cl.t.Helper()
	tok := cl.paho.Publish(topic, qos, false, payload)
	if !tok.WaitTimeout(waitFor) || tok.Error() != nil {
		cl.t.Fatalf("%s: publish %s: %v", cl.id, topic, tok.Error())
	}
}

// disconnect sends DISCONNECT and closes.
func (cl *client) disconnect() { cl.paho.Disconnect(250) }

// waitMessages waits until the client has received at least n messages and
// returns a copy of all it received.
func (cl *client) waitMessages(n int) []message {
	cl.t.Helper()
	deadline := time.After(waitFor)
	for {
		cl.mu.Lock()
		got := len(cl.msgs)
		cl.mu.Unlock()
		if got >= n {
			return cl.received()
		}
		select {
		case <-cl.added:
		case <-deadline:
			cl.t.Fatalf("%s: received %d messages, want %d", cl.id, got, n)
		}
	}
}

func (cl *client) received() []message {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return append([]message(nil), cl.msgs...)
}

// waitLost waits until the broker closes the client's connection.
func (cl *client) waitLost() {
	cl.t.Helper()
	select {
	case <-cl.lost:
	case <-time.After(waitFor):
		cl.t.Fatalf("%s: connection was not closed by the broker", cl.id)
	}
}

// lifecycle collects the lifecycle topic, validating every event against
// its schema as it arrives.
type lifecycle struct {
	t     *testing.T
	valid *events.Validator
	// repeatable: an event may be announced again, with the same id and
	// the same content, as after a crash of the session service; the
	// repeat is checked and then ignored.
	repeatable bool
	mu         sync.Mutex
	byCID      map[string][]events.Envelope
	ids        map[string]int
	first      map[string][]byte    // repeatable: the value first seen per id
	seenAt     map[string]time.Time // when each event id was first read
	bad        []string
	notify     chan struct{}
}

func followLifecycle(t *testing.T, kc kafkalog.Cluster, topic string) *lifecycle {
	t.Helper()
	return newLifecycle(t, kc, topic, false)
}

// followLifecycleRepeats is followLifecycle for tests that crash the
// session service: events may be announced again, as designed.
func followLifecycleRepeats(t *testing.T, kc kafkalog.Cluster, topic string) *lifecycle {
	t.Helper()
	return newLifecycle(t, kc, topic, true)
}

func newLifecycle(t *testing.T, brokers kafkalog.Cluster, topic string, repeatable bool) *lifecycle {
	t.Helper()
	v, err := events.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	l := &lifecycle{t: t, valid: v, repeatable: repeatable, byCID: map[string][]events.Envelope{}, ids: map[string]int{},
		first: map[string][]byte{}, seenAt: map[string]time.Time{}, notify: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	f := kafkalog.NewFollower(brokers, kafkalog.FollowerOptions{Topic: topic, Default: kafkalog.Earliest}, l.add)
	done := make(chan struct{})
	go func() { defer close(done); _ = f.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-f.Ready():
	case <-time.After(waitFor):
		t.Fatal("lifecycle follower not ready")
	}
	return l
}

func (l *lifecycle) add(r *kafkalog.Record) {
	env, err := events.Decode(r.Value)
	verr := l.valid.Validate(r.Value)
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case err != nil:
		l.bad = append(l.bad, fmt.Sprintf("undecodable event at %d/%d: %v", r.Partition, r.Offset, err))
		return
	case verr != nil:
		l.bad = append(l.bad, fmt.Sprintf("%s at %d/%d does not match its schema: %v", env.Type, r.Partition, r.Offset, verr))
	case string(r.Key) != env.Subject:
		l.bad = append(l.bad, fmt.Sprintf("%s: record key %q is not the subject %q", env.Type, r.Key, env.Subject))
	}
	l.ids[env.ID]++
	switch {
	case l.ids[env.ID] == 1:
		l.seenAt[env.ID] = time.Now()
		if l.repeatable {
			l.first[env.ID] = bytes.Clone(r.Value)
		}
	case !l.repeatable:
		l.bad = append(l.bad, fmt.Sprintf("event id %s announced %d times", env.ID, l.ids[env.ID]))
	case !bytes.Equal(l.first[env.ID], r.Value):
		l.bad = append(l.bad, fmt.Sprintf("event id %s announced again with another content:\n%s\n%s", env.ID, l.first[env.ID], r.Value))
		return
	default:
		return // the same event again, as designed
	}
	l.byCID[env.Subject] = append(l.byCID[env.Subject], *env)
	close(l.notify)
	l.notify = make(chan struct{})
}

// step is one expected event: its type and the reason or flag it carries
// ("" when the type has none).
type step struct {
	Type   events.Type
	Detail string
}

func (s step) String() string {
	t := strings.TrimPrefix(string(s.Type), "mqtt.")
	if s.Detail == "" {
		return t
	}
	return t + "(" + s.Detail + ")"
}

// stepOf reduces an event to the step the SESSIONS.md tables speak of.
func stepOf(e events.Envelope) step {
	s := step{Type: e.Type}
	switch d := e.Data.(type) {
	case *events.Connected:
		s.Detail = fmt.Sprintf("present=%v", d.SessionPresent)
	case *events.Disconnected:
		s.Detail = string(d.Reason)
	case *events.Terminated:
		s.Detail = string(d.Reason)
	case *events.ConnectRejected:
		s.Detail = fmt.Sprintf("connack=%d", d.ConnAck)
	case *events.MessageDropped:
		s.Detail = string(d.Reason)
	}
	return s
}

// waitSteps waits until cid has at least len(want) events and checks that
// they are exactly want, in order; it returns the events.
func (l *lifecycle) waitSteps(cid string, want ...step) []events.Envelope {
	l.t.Helper()
	deadline := time.After(waitFor)
	for {
		l.mu.Lock()
		got := append([]events.Envelope(nil), l.byCID[cid]...)
		notify := l.notify
		l.mu.Unlock()
		if len(got) >= len(want) {
			var gs, ws []string
			for _, e := range got {
				gs = append(gs, stepOf(e).String())
			}
			for _, w := range want {
				ws = append(ws, w.String())
			}
			if strings.Join(gs, " ") != strings.Join(ws, " ") {
				l.t.Fatalf("%s lifecycle:\n got  %s\n want %s", cid, strings.Join(gs, " · "), strings.Join(ws, " · "))
			}
			return got
		}
		select {
		case <-notify:
		case <-deadline:
			var gs []string
			for _, e := range got {
				gs = append(gs, stepOf(e).String())
			}
			l.t.Fatalf("%s lifecycle: only %d events after %v: %s", cid, len(got), waitFor, strings.Join(gs, " · "))
		}
	}
}

// checkPairs fails the test when an event was bad (undecodable, not
// matching its schema, keyed wrongly, announced twice), or when a
// disconnected event names a connection not announced connected before it.
func (l *lifecycle) checkPairs() {
	l.t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, b := range l.bad {
		l.t.Error(b)
	}
	for cid, evs := range l.byCID {
		if open, err := pairing(evs); err != nil {
			l.t.Errorf("%s: %v (open: %v)", cid, err, open)
		}
	}
}

// waitPaired waits until every connection of cid announced connected has
// been announced disconnected exactly once.
func (l *lifecycle) waitPaired(cid string) {
	l.t.Helper()
	deadline := time.After(waitFor)
	for {
		l.mu.Lock()
		open, err := pairing(l.byCID[cid])
		notify := l.notify
		l.mu.Unlock()
		if err != nil {
			l.t.Fatalf("%s: %v", cid, err)
		}
		if len(open) == 0 {
			return
		}
		select {
		case <-notify:
		case <-deadline:
			l.t.Fatalf("%s: connections announced connected but never disconnected: %v", cid, open)
		}
	}
}

// pairing returns the connections still open after evs, and an error when a
// connection is disconnected more often than connected.
func pairing(evs []events.Envelope) ([]string, error) {
	count := map[string]int{}
	for _, e := range evs {
		switch d := e.Data.(type) {
		case *events.Connected:
			count[d.ConnID]++
		case *events.Disconnected:
			count[d.ConnID]--
			if count[d.ConnID] < 0 {
				return nil, fmt.Errorf("connection %s announced disconnected without being connected", d.ConnID)
			}
		}
	}
	var open []string
	for id, n := range count {
		if n > 1 {
			return nil, fmt.Errorf("connection %s announced connected %d times", id, n)
		}
		if n == 1 {
			open = append(open, id)
		}
	}
	sort.Strings(open)
	return open, nil
}

// events returns the events of cid so far.
func (l *lifecycle) events(cid string) []events.Envelope {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]events.Envelope(nil), l.byCID[cid]...)
}

// waitMore waits until cid has more than n events.
func (l *lifecycle) waitMore(cid string, n int) {
	l.t.Helper()
	deadline := time.After(waitFor)
	for {
		l.mu.Lock()
		got, notify := len(l.byCID[cid]), l.notify
		l.mu.Unlock()
		if got > n {
			return
		}
		select {
		case <-notify:
		case <-deadline:
			l.t.Fatalf("%s: no event after the %d-th within %v", cid, n, waitFor)
		}
	}
}

// waitEvents waits until cid has at least n events of type kind and
// returns all of them.
func (l *lifecycle) waitEvents(cid string, kind events.Type, n int) []events.Envelope {
	l.t.Helper()
	for {
		all := l.events(cid)
		var of []events.Envelope
		for _, e := range all {
			if e.Type == kind {
				of = append(of, e)
			}
		}
		if len(of) >= n {
			return of
		}
		l.waitMore(cid, len(all))
	}
}

// missingStack skips a test whose part of the stack is missing, or fails
// it when TIDEMARK_REQUIRE_STACK=1 says the stack must be complete (as
// under `make test`).
func missingStack(t *testing.T, msg string) {
	t.Helper()
	if os.Getenv("TIDEMARK_REQUIRE_STACK") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// receivedAt returns when the event with id was first read.
func (l *lifecycle) receivedAt(id string) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seenAt[id]
}

// waitUntil polls cond until it holds or waitFor passes.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
