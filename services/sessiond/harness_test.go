package sessiond

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/tidemarkmq/tidemark/pkg/events"
	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/kafkalog/kafkatest"
	"github.com/tidemarkmq/tidemark/pkg/session"
	"github.com/tidemarkmq/tidemark/pkg/session/redistest"
)

// testPartitions is the partition count of the test topics.
const testPartitions = 4

// harness drives session services the way frontends do: it appends ops
// to a private sessions topic and reads the private lifecycle topic.
type harness struct {
	t      *testing.T
	kafka  kafkalog.Cluster
	rdb    redis.UniversalClient
	prefix string
	topics Topics
	group  string
	app    *kafkalog.Appender
	reader *session.Reader
	valid  *events.Validator

	mu     sync.Mutex
	events map[string][]events.Envelope // by ClientID, in log order
	ids    map[string]int               // event id -> times seen
	bad    []error
	dups   []string
	notify chan struct{}
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	return newHarnessOn(t, redistest.Client(t))
}

// newHarnessOn is newHarness with the view on rdb (a cluster, a TLS
// server).
func newHarnessOn(t *testing.T, rdb redis.UniversalClient) *harness {
	t.Helper()
	h := newBareHarnessOn(t, rdb)
	h.reader = session.NewReaderOptions(rdb, session.Options{Prefix: h.prefix})
	v, err := events.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	h.valid = v
	h.app = kafkalog.NewAppender(h.kafka, kafkalog.AppenderOptions{})
	t.Cleanup(func() { h.app.Close() })

	ctx, cancel := context.WithCancel(context.Background())
	fol := kafkalog.NewFollower(h.kafka, kafkalog.FollowerOptions{Topic: h.topics.Lifecycle, Default: kafkalog.Earliest}, h.onEvent)
	done := make(chan struct{})
	go func() { defer close(done); _ = fol.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-fol.Ready():
	case <-time.After(30 * time.Second):
		t.Fatal("lifecycle follower not ready")
	}
	return h
}

// newBareHarness gives a service its private topics, Redis prefix and
// group, and nothing else: no client of the harness's own runs.
func newBareHarness(t *testing.T) *harness {
	t.Helper()
	return newBareHarnessOn(t, redistest.Client(t))
}

func newBareHarnessOn(t *testing.T, rdb redis.UniversalClient) *harness {
	t.Helper()
	h := &harness{
		t: t, kafka: kafkatest.Cluster(t), rdb: rdb, prefix: redistest.Prefix(t, rdb),
		group:  kafkatest.UniqueName(t, "sessiond"),
		events: map[string][]events.Envelope{}, ids: map[string]int{}, notify: make(chan struct{}),
	}
	h.topics = Topics{
		Sessions:  kafkatest.NewTopic(t, testPartitions),
		Messages:  kafkatest.NewTopic(t, testPartitions),
		Lifecycle: kafkatest.NewTopic(t, testPartitions),
		Retained:  "unused",
	}
	return h
}

func (h *harness) onEvent(r *kafkalog.Record) {
	env, err := events.Decode(r.Value)
	verr := h.valid.Validate(r.Value)
	h.mu.Lock()
	defer h.mu.Unlock()
	if err != nil {
		h.bad = append(h.bad, err)
		return
	}
	if verr != nil {
		h.bad = append(h.bad, fmt.Errorf("%s: %w", env.Type, verr))
	}
	if string(r.Key) != env.Subject {
		h.bad = append(h.bad, fmt.Errorf("key %q != subject %q", r.Key, env.Subject))
	}
	h.ids[env.ID]++
	if h.ids[env.ID] > 1 {
		h.dups = append(h.dups, fmt.Sprintf("%s at %d/%d: %s", env.ID, r.Partition, r.Offset, describe([]events.Envelope{*env})))
	}
	h.events[env.Subject] = append(h.events[env.Subject], *env)
	close(h.notify)
	h.notify = make(chan struct{})
}

// partOf is the sessions partition of cid's ops on the test topics.
func partOf(cid string) int { return session.Partition(cid, testPartitions) }

// connID returns a stable UUID naming connection label of cid.
func connID(cid, label string) string {
	return uuid.NewSHA1(uuid.NameSpaceOID, []byte(cid+"/"+label)).String()
}

// instance is one running Service.
type instance struct {
	svc    *Service
	cancel context.CancelFunc
	done   chan struct{}
}

func (h *harness) config() Config {
	return Config{
		Node: "sessiond-test", Kafka: h.kafka, RedisClient: h.rdb, KeyPrefix: h.prefix, Topics: h.topics,
		GroupID: h.group, QueueQoS0: true, ExpiryCheck: 100 * time.Millisecond, CommitInterval: 50 * time.Millisecond,
		SessionTimeout: 6 * time.Second,
		Logger:         quietLogger(),
	}
}

// quietLogger logs warnings and errors only.
func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// start runs a Service with the harness config changed by tweak, and
// waits until it is ready.
func (h *harness) start(tweak func(*Config)) *instance {
	h.t.Helper()
	in := h.launch(tweak)
	in.waitReady(h.t)
	return in
}

// launch runs a Service with the harness config changed by tweak; it is
// stopped when the test ends.
func (h *harness) launch(tweak func(*Config)) *instance {
	h.t.Helper()
	cfg := h.config()
	if tweak != nil {
		tweak(&cfg)
	}
	svc, err := New(cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	in := &instance{svc: svc, cancel: cancel, done: make(chan struct{})}
	go func() { defer close(in.done); _ = svc.Run(ctx) }()
	h.t.Cleanup(in.stop)
	return in
}

func (in *instance) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(40 * time.Second)
	for !in.svc.Ready() {
		if time.Now().After(deadline) {
			t.Fatal("service not ready in time")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (in *instance) stop() {
	in.cancel()
	<-in.done
}

// op appends an op and returns its offset.
func (h *harness) op(o *session.Op) int64 {
	h.t.Helper()
	if o.TS == 0 {
		o.TS = time.Now().UnixMilli()
	}
	if o.Node == "" {
		o.Node = "fe-1"
	}
	rec := o.Record(h.topics.Sessions)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := h.app.Append(ctx, rec); err != nil {
		h.t.Fatalf("append %s: %v", o.Kind, err)
	}
	return rec.Offset
}

// conn is a simulated frontend connection.
type conn struct {
	h     *harness
	cid   string
	id    string
	epoch int64
	proto byte
}

// connect appends a connect op and waits until it is applied.
func (h *harness) connect(cid, id string, clean bool, proto byte, expiry uint32) (*conn, session.State) {
	h.t.Helper()
	epoch := h.op(&session.Op{Kind: session.OpConnect, ClientID: cid, Conn: id, Proto: proto, Clean: clean, Expiry: expiry, Keepalive: 30, Peer: "127.0.0.1:5"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := h.reader.WaitApplied(ctx, partOf(cid), cid, epoch)
	if err != nil {
		h.t.Fatalf("wait connect %s/%s applied: %v", cid, id, err)
	}
	return &conn{h: h, cid: cid, id: id, epoch: epoch, proto: proto}, st
}

func (c *conn) send(o *session.Op) int64 {
	o.ClientID, o.Conn, o.Epoch = c.cid, c.id, c.epoch
	return c.h.op(o)
}

func (c *conn) disconnect(reason events.DisconnectReason, expiry uint32) int64 {
	return c.send(&session.Op{Kind: session.OpDisconnect, Reason: string(reason), Expiry: expiry})
}

// admin appends an administrative op for cid's session at epoch as the
// admin API does, by the operator "ops".
func (h *harness) admin(cid, kind string, epoch int64, filters ...string) int64 {
	h.t.Helper()
	return h.op(&session.Op{Kind: kind, ClientID: cid, Epoch: epoch, Node: "sessiond-test", By: "ops", Filters: filters})
}

// marker appends a rejected op for cid and waits until its event is seen:
// every op of cid appended before has been processed by then.
func (h *harness) marker(cid string) {
	h.t.Helper()
	o := &session.Op{Kind: session.OpRejected, ClientID: cid, Conn: connID(cid, "marker"), Proto: 4, Connack: 5, Reason: "marker",
		Node: "fe-1", TS: time.Now().UnixMilli()}
	rec := o.Record(h.topics.Sessions)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := h.app.Append(ctx, rec); err != nil {
		h.t.Fatal(err)
	}
	h.waitFor(cid, func(evs []events.Envelope) bool {
		for _, e := range evs {
			if d, ok := e.Data.(*events.ConnectRejected); ok && d.Epoch == rec.Offset {
				return true
			}
		}
		return false
	})
	// Events are appended before their ops reach Redis: wait for that too.
	w := session.NewWriter(h.rdb, session.Options{Prefix: h.prefix})
	eventually(h.t, "marker applied", func() (bool, error) {
		off, ok, err := w.Applied(ctx, rec.Partition)
		return ok && off >= rec.Offset, err
	})
}

// waitFor waits until cond holds for cid's events.
func (h *harness) waitFor(cid string, cond func([]events.Envelope) bool) []events.Envelope {
	h.t.Helper()
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for {
		h.mu.Lock()
		evs := slices.Clone(h.events[cid])
		ch := h.notify
		h.mu.Unlock()
		if cond(evs) {
			return evs
		}
		select {
		case <-ch:
		case <-deadline.C:
			h.t.Fatalf("events of %s: condition not met; have %s", cid, describe(evs))
		}
	}
}

// sequence returns cid's events up to (not including) marker events.
func (h *harness) sequence(cid string) []events.Envelope {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []events.Envelope
	for _, e := range h.events[cid] {
		if d, ok := e.Data.(*events.ConnectRejected); ok && d.Reason == "marker" {
			continue
		}
		out = append(out, e)
	}
	return out
}

// checkEvents fails on invalid or duplicated events.
func (h *harness) checkEvents() {
	h.t.Helper()
	h.checkValid()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, d := range h.dups {
		h.t.Errorf("event announced again: %s", d)
	}
}

// checkValid fails on invalid events only: where the contract allows an
// event to be announced again (with the same id).
func (h *harness) checkValid() {
	h.t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, err := range h.bad {
		h.t.Errorf("bad event: %v", err)
	}
}

// want is one expected event: its type, the connection it names, and the
// reason or Session Present flag where the type has one.
type want struct {
	typ     events.Type
	conn    string
	reason  string
	present bool
}

func (w want) String() string {
	s := string(w.typ) + "(" + w.conn
	if w.reason != "" {
		s += "," + w.reason
	}
	if w.typ == events.ClientConnected {
		s += ",present=" + strconv.FormatBool(w.present)
	}
	return s + ")"
}

// summarize turns an event into a want for comparison.
func summarize(e events.Envelope) want {
	w := want{typ: e.Type}
	switch d := e.Data.(type) {
	case *events.Connected:
		w.conn, w.present = d.ConnID, d.SessionPresent
	case *events.Disconnected:
		w.conn, w.reason = d.ConnID, string(d.Reason)
	case *events.ConnectRejected:
		w.conn = d.ConnID
	case *events.Created:
		w.conn = d.ConnID
	case *events.Resumed:
		w.conn = d.ConnID
	case *events.Terminated:
		w.conn, w.reason = d.ConnID, string(d.Reason)
	case *events.Subscribed:
		w.conn = d.ConnID
	case *events.Unsubscribed:
		w.conn, w.reason = d.ConnID, string(d.Reason)
	case *events.MessageDropped:
		w.conn, w.reason = d.ConnID, string(d.Reason)
	case *events.WillPublished:
		w.conn, w.reason = d.ConnID, string(d.Trigger)
	case *events.WillCancelled:
		w.conn = d.ConnID
	}
	return w
}

func describe(evs []events.Envelope) string {
	s := "["
	for i, e := range evs {
		if i > 0 {
			s += " "
		}
		s += summarize(e).String()
	}
	return s + "]"
}

// waitGone waits until cid has no session in Redis.
func (h *harness) load(cid string) session.State {
	h.t.Helper()
	st, err := h.reader.Load(context.Background(), partOf(cid), cid)
	if err != nil {
		h.t.Fatal(err)
	}
	return st
}

// eventually polls cond (bounded) for state that has no event to wait on.
func eventually(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	eventuallyWithin(t, 30*time.Second, what, cond)
}

// eventuallyWithin is eventually with its own bound, for waits on bulk
// work.
func eventuallyWithin(t *testing.T, bound time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(bound)
	wait := 10 * time.Millisecond
	for {
		ok, err := cond()
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached in time", what)
		}
		time.Sleep(wait)
		wait = min(2*wait, 200*time.Millisecond)
	}
}
