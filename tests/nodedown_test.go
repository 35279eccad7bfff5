package e2e

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	paho5 "github.com/eclipse/paho.golang/paho"
	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/redis/go-redis/v9"

	"github.com/tidemarkmq/tidemark/pkg/events"
	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/session"
	"github.com/tidemarkmq/tidemark/pkg/session/liveness"
)

// The tests of SESSIONS.md "When a process dies instead of stopping" and
// "Wills" (ARCHITECTURE.md invariant 9), with every service a process of
// its own and real MQTT clients over real sockets.

var (
	disconnectedDown = step{events.ClientDisconnected, "node_down"}
	terminatedDown   = step{events.SessionTerminated, "node_down"}
	subscribed       = step{Type: events.SessionSubscribed}
	willPublished    = step{Type: events.SessionWillPublished}
)

// downEvent waits for cid's disconnected event with reason node_down.
func (l *lifecycle) downEvent(cid string) events.Envelope {
	l.t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		all := l.events(cid)
		for _, e := range all {
			if d, ok := e.Data.(*events.Disconnected); ok && d.Reason == events.DisconnectNodeDown {
				return e
			}
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("%s: no disconnected (node_down) within %v", cid, waitFor)
		}
		l.waitMore(cid, len(all))
	}
}

// willEvent waits for cid's first event of kind (will_published or
// will_cancelled).
func (l *lifecycle) willEvent(cid string, kind events.Type) events.Envelope {
	l.t.Helper()
	return l.waitEvents(cid, kind, 1)[0]
}

// count returns how many events of kind cid has so far.
func (l *lifecycle) count(cid string, kind events.Type) int {
	n := 0
	for _, e := range l.events(cid) {
		if e.Type == kind {
			n++
		}
	}
	return n
}

// payloads returns the payloads the clients received on topics with
// prefix, as a set.
func payloads(prefix string, cls ...*client) map[string]bool {
	out := map[string]bool{}
	for _, cl := range cls {
		for _, m := range cl.received() {
			if strings.HasPrefix(m.Topic, prefix) {
				out[m.Payload] = true
			}
		}
	}
	return out
}

// numbered publishes "0", "1", ... at QoS 1 on topic every interval until
// stop is closed (at most max), and keeps those acknowledged.
type numbered struct {
	mu    sync.Mutex
	acked []string
	err   error
	done  chan struct{}
}

func publishNumbered(cl *client, topic string, interval time.Duration, limit int, stop <-chan struct{}) *numbered {
	n := &numbered{done: make(chan struct{})}
	go func() {
		defer close(n.done)
		for i := 0; i < limit; i++ {
			select {
			case <-stop:
				return
			default:
			}
			tok := cl.paho.Publish(topic, 1, false, strconv.Itoa(i))
			if !tok.WaitTimeout(waitFor) || tok.Error() != nil {
				n.mu.Lock()
				n.err = fmt.Errorf("publish %d: not acknowledged (%v)", i, tok.Error())
				n.mu.Unlock()
				return
			}
			n.mu.Lock()
			n.acked = append(n.acked, strconv.Itoa(i))
			n.mu.Unlock()
			select {
			case <-stop:
				return
			case <-time.After(interval):
			}
		}
	}()
	return n
}

func (n *numbered) ackedSoFar() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.acked)
}

// finish waits for the publisher to stop and returns what was acknowledged.
func (n *numbered) finish(t *testing.T) []string {
	t.Helper()
	select {
	case <-n.done:
	case <-time.After(waitFor):
		t.Fatal("publisher did not stop")
	}
	if n.err != nil {
		t.Fatal(n.err)
	}
	return n.ackedSoFar()
}

// waitDelivered waits until the subscriber connections (one session, one
// after another) have received every acknowledged payload.
func waitDelivered(t *testing.T, who string, acked []string, prefix string, cls ...*client) {
	t.Helper()
	waitUntil(t, who+" received every acknowledged message", func() bool {
		got := payloads(prefix, cls...)
		for _, p := range acked {
			if !got[p] {
				return false
			}
		}
		return true
	})
}

// metric scrapes one sample from a process's /metrics.
func metric(t *testing.T, p *process, name string) float64 {
	t.Helper()
	return scrape(t, "http://"+p.http)[name]
}

// TestFrontendKilled: one of three frontends, holding clients of every
// kind, dies with SIGKILL while a publisher on another frontend sends a
// numbered QoS 1 stream. Within the node timeout plus 5 s every
// connection it held is announced disconnected (node_down): the clean
// sessions end (terminated node_down) and leave nothing in Redis, the
// will without delay is published once, the delayed one once after its
// delay, and that of the client that came back within its delay never;
// a persistent session is queued for while away, up to the bound, with a
// drop event for what goes beyond, and expires on time. Every message
// acknowledged to the publisher reaches both persistent subscribers: the
// one that came back at once elsewhere (a takeover) and the one that came
// back later.
func TestFrontendKilled(t *testing.T) {
	const (
		nodeTimeout = 4 * time.Second
		maxQueued   = 60
		flood       = 90
		expiry      = 12 // s, of the queued-for session
		returnDelay = 15 // s, the will delay of the client that comes back
	)
	c := newProcCluster(t, false)
	sd := c.sessiond("sessiond", "--node-timeout", nodeTimeout.String(), "--max-queued", strconv.Itoa(maxQueued))
	fes := []*svc{c.frontend("fe-0"), c.frontend("fe-1"), c.frontend("fe-2")}
	victim := fes[0]
	rdb := redis.NewClient(&redis.Options{Addr: c.redis})
	defer rdb.Close()
	view := session.NewReaderOptions(rdb, session.Options{Prefix: c.prefix})

	watcher, _ := dialV3(t, fes[2].mqtt, "k-watcher", "", true)
	watcher.subscribe("wills/#", 1)
	dialV3(t, victim.mqtt, "k-clean", "", true)
	subNow, _ := dialV3(t, victim.mqtt, "k-sub-now", "", false)
	subNow.subscribe("stream/#", 1)
	subLate, _ := dialV3(t, victim.mqtt, "k-sub-late", "", false)
	subLate.subscribe("stream/#", 1)
	dialV5(t, victim.mqtt, willConnect("k-will0", 0, 0))
	dialV5(t, victim.mqtt, willConnect("k-will5", 5, 60))
	dialV5(t, victim.mqtt, willConnect("k-return", returnDelay, 60))
	queued := dialV5(t, victim.mqtt, &paho5.Connect{ClientID: "k-queue", CleanStart: true,
		Properties: &paho5.ConnectProperties{SessionExpiryInterval: paho5.Uint32(expiry)}})
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	if _, err := queued.Subscribe(ctx, &paho5.Subscribe{Subscriptions: []paho5.SubscribeOptions{{Topic: "flood/#", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	cancel()
	victims := []string{"k-clean", "k-sub-now", "k-sub-late", "k-will0", "k-will5", "k-return", "k-queue"}
	for _, cid := range victims {
		c.life.waitEvents(cid, events.ClientConnected, 1)
	}

	pub, _ := dialV3(t, fes[2].mqtt, "k-pub", "", true)
	stopStream := make(chan struct{})
	stream := publishNumbered(pub, "stream/n", 200*time.Millisecond, 500, stopStream)
	waitUntil(t, "stream under way", func() bool { return len(stream.ackedSoFar()) >= 5 })

	victim.kill(t)
	killed := time.Now()
	// The persistent subscriber that comes back at once, elsewhere: before
	// the node timeout, so a takeover.
	subNow2, present := dialV3(t, fes[1].mqtt, "k-sub-now", "", false)
	if !present {
		t.Error("k-sub-now: session not present after moving to fe-1")
	}

	bound := killed.Add(nodeTimeout + 5*time.Second)
	down := map[string]events.Envelope{}
	for _, cid := range victims {
		if cid == "k-sub-now" {
			c.life.waitSteps(cid, created, connectedFresh, subscribed, disconnectedTaken, resumed, connectedPresent)
			continue
		}
		e := c.life.downEvent(cid)
		at := c.life.receivedAt(e.ID)
		if at.After(bound) {
			t.Errorf("%s: disconnected (node_down) announced %v after the kill, beyond the node timeout plus 5s", cid, at.Sub(killed))
		}
		t.Logf("%s: disconnected (node_down) announced %v after the kill", cid, at.Sub(killed))
		down[cid] = e
		c.life.waitPaired(cid)
	}
	lastAlive := down["k-queue"].Time

	// Within its will delay, the returning client resumes its session:
	// the will is cancelled.
	dialV5(t, fes[1].mqtt, &paho5.Connect{ClientID: "k-return", CleanStart: false,
		Properties: &paho5.ConnectProperties{SessionExpiryInterval: paho5.Uint32(60)}})
	c.life.willEvent("k-return", events.SessionWillCancelled)

	// The session that stays away is queued for, up to the bound.
	flooder, _ := dialV3(t, fes[2].mqtt, "k-flooder", "", true)
	for i := range flood {
		flooder.publish("flood/x", 1, strconv.Itoa(i))
	}
	close(stopStream)
	acked := stream.finish(t)
	subLate2, present := dialV3(t, fes[2].mqtt, "k-sub-late", "", false)
	if !present {
		t.Error("k-sub-late: session not present after the frontend died")
	}
	waitDelivered(t, "k-sub-now", acked, "stream/", subNow, subNow2)
	waitDelivered(t, "k-sub-late", acked, "stream/", subLate, subLate2)

	c.life.waitSteps("k-clean", created, connectedFresh, disconnectedDown, terminatedDown)
	published := c.life.willEvent("k-will0", events.SessionWillPublished)
	if d := published.Data.(*events.WillPublished); d.Trigger != events.WillConnectionEnded {
		t.Errorf("k-will0: will published by %s", d.Trigger)
	}
	c.life.waitSteps("k-will0", created, connectedFresh, disconnectedDown, willPublished, terminatedDown)
	for _, cid := range []string{"k-clean", "k-will0"} {
		waitUntil(t, cid+" gone from Redis", func() bool {
			st, err := view.Load(context.Background(), session.Partition(cid, testPartitions), cid)
			return err == nil && !st.Exists
		})
	}
	delayed := c.life.willEvent("k-will5", events.SessionWillPublished)
	if d := delayed.Time.Sub(down["k-will5"].Time); d < 5*time.Second {
		t.Errorf("k-will5: will published %v after the connection ended, before its 5s delay", d)
	}

	// The queued-for session: the oldest beyond the bound dropped, and
	// said so; then expired, counted from the frontend's last beat.
	dropped := int64(0)
	waitUntil(t, "drops announced", func() bool {
		dropped = 0
		for _, e := range c.life.events("k-queue") {
			if d, ok := e.Data.(*events.MessageDropped); ok && d.Reason == events.DropQueueFull {
				dropped += d.Count
			}
		}
		return dropped >= flood-maxQueued
	})
	if dropped != flood-maxQueued {
		t.Errorf("k-queue: %d messages dropped, want %d", dropped, flood-maxQueued)
	}
	expired := c.life.waitEvents("k-queue", events.SessionTerminated, 1)[0]
	if d := expired.Time.Sub(lastAlive); d < expiry*time.Second || d > expiry*time.Second+5*time.Second {
		t.Errorf("k-queue expired %v after the frontend was last known alive, want %ds (+5s)", d, expiry)
	}

	waitUntil(t, "the watcher got the wills", func() bool {
		got := payloads("wills/", watcher)
		return got["k-will0 gone"] && got["k-will5 gone"]
	})
	// Up to past the moment the returning client's will would have been
	// due, it is not published.
	due := down["k-return"].Time.Add(returnDelay*time.Second + time.Second)
	for {
		if payloads("wills/", watcher)["k-return gone"] || c.life.count("k-return", events.SessionWillPublished) != 0 {
			t.Fatal("k-return: will published although the client came back within its delay")
		}
		if time.Now().After(due) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	want := map[string]int{"wills/k-will0": 1, "wills/k-will5": 1, "wills/k-return": 0}
	got := willsLogged(t, c.brokers, c.topics.Messages)
	for topic, n := range want {
		if got[topic] != n {
			t.Errorf("%s logged %d times, want %d", topic, got[topic], n)
		}
	}

	// What the session service counted.
	waitUntil(t, "two frontends alive, no will pending", func() bool {
		return metric(t, sd.process, "tidemark_sessiond_frontends_alive") == 2 && metric(t, sd.process, "tidemark_sessiond_wills_pending") == 0
	})
	for name, want := range map[string]float64{
		`tidemark_sessiond_node_down_total{reason=timeout}`:                 1,
		`tidemark_sessiond_node_down_connections_total`:                     float64(len(down)),
		`tidemark_sessiond_wills_published_total{trigger=connection_ended}`: 1,
		`tidemark_sessiond_wills_published_total{trigger=delay_elapsed}`:    1,
	} {
		if got := metric(t, sd.process, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}

// TestSessiondKilledWithDelayedWills: the session service dies with
// SIGKILL while wills wait out their delay; the next one publishes each
// exactly once, after its delay.
func TestSessiondKilledWithDelayedWills(t *testing.T) {
	c := newProcCluster(t, true)
	sd := c.sessiond("sessiond")
	fe := c.frontend("fe")
	rdb := redis.NewClient(&redis.Options{Addr: c.redis})
	defer rdb.Close()
	view := session.NewReaderOptions(rdb, session.Options{Prefix: c.prefix})
	watcher, _ := dialV3(t, fe.mqtt, "d-watcher", "", true)
	watcher.subscribe("wills/#", 1)
	delays := map[string]uint32{"d-3": 3, "d-4": 4, "d-5": 5}
	var cls []*v5
	for _, cid := range slices.Sorted(maps.Keys(delays)) {
		cls = append(cls, dialV5(t, fe.mqtt, willConnect(cid, delays[cid], 60)))
		c.life.waitEvents(cid, events.ClientConnected, 1)
	}
	// Gone without DISCONNECT: the wills wait out their delays.
	for _, cl := range cls {
		cl.nc.Close()
	}
	ended := map[string]time.Time{}
	for cid := range delays {
		ended[cid] = c.life.waitEvents(cid, events.ClientDisconnected, 1)[0].Time
		waitUntil(t, cid+" will pending", func() bool {
			st, err := view.Load(context.Background(), session.Partition(cid, testPartitions), cid)
			return err == nil && st.Meta.Will != nil && st.Meta.WillDue > 0
		})
	}
	sd.kill(t)
	sd.start(t, sd.http)
	for cid, delay := range delays {
		e := c.life.willEvent(cid, events.SessionWillPublished)
		if d := e.Time.Sub(ended[cid]); d < time.Duration(delay)*time.Second {
			t.Errorf("%s: will published %v after the end, before its %ds delay", cid, d, delay)
		}
	}
	waitUntil(t, "the watcher got the wills", func() bool {
		got := payloads("wills/", watcher)
		return got["d-3 gone"] && got["d-4 gone"] && got["d-5 gone"]
	})
	got := willsLogged(t, c.brokers, c.topics.Messages)
	for cid := range delays {
		if n := got["wills/"+cid]; n != 1 {
			t.Errorf("%s: will logged %d times, want exactly once", cid, n)
		}
	}
}

// TestSessiondFailover: two session services share the partitions; one
// dies with SIGKILL under a steady load of CONNECTs and QoS 1 messages.
// The survivor takes its partitions over: every CONNECT is answered (and
// accepted) within the node timeout plus 5 s, every acknowledged message
// is delivered, and every lifecycle event appears (ids repeat only as
// designed: the same event again).
func TestSessiondFailover(t *testing.T) {
	const nodeTimeout = 6 * time.Second
	c := newProcCluster(t, true)
	a := c.sessiond("sessiond-a", "--node-timeout", nodeTimeout.String())
	b := c.sessiond("sessiond-b", "--node-timeout", nodeTimeout.String())
	fes := []*svc{c.frontend("fe-0"), c.frontend("fe-1")}
	waitUntil(t, "both instances own partitions", func() bool {
		return metric(t, a.process, "tidemark_sessiond_partitions") >= 1 && metric(t, b.process, "tidemark_sessiond_partitions") >= 1
	})

	sub, _ := dialV3(t, fes[1].mqtt, "f-sub", "", false)
	sub.subscribe("load/#", 1)
	pub, _ := dialV3(t, fes[0].mqtt, "f-pub", "", true)
	stop := make(chan struct{})
	stream := publishNumbered(pub, "load/n", 50*time.Millisecond, 2000, stop)

	// A steady stream of CONNECTs, each timed to its CONNACK.
	type attempt struct {
		id   string
		took time.Duration
		err  error
	}
	var (
		mu       sync.Mutex
		attempts []attempt
		wg       sync.WaitGroup
	)
	wg.Go(func() {
		for i := 0; i < 1000; i++ {
			select {
			case <-stop:
				return
			default:
			}
			id := fmt.Sprintf("f-conn-%d", i)
			opts := paho.NewClientOptions().AddBroker("tcp://" + fes[i%2].mqtt).SetClientID(id).SetCleanSession(true).
				SetAutoReconnect(false).SetConnectRetry(false).SetProtocolVersion(4).SetConnectTimeout(nodeTimeout + 5*time.Second)
			cl := paho.NewClient(opts)
			start := time.Now()
			tok := cl.Connect()
			ok := tok.WaitTimeout(nodeTimeout + 5*time.Second)
			at := attempt{id: id, took: time.Since(start), err: tok.Error()}
			if !ok && at.err == nil {
				at.err = fmt.Errorf("no CONNACK within %v", nodeTimeout+5*time.Second)
			}
			if at.err == nil {
				cl.Disconnect(100)
			}
			mu.Lock()
			attempts = append(attempts, at)
			mu.Unlock()
			time.Sleep(100 * time.Millisecond)
		}
	})
	waitUntil(t, "load under way", func() bool { return len(stream.ackedSoFar()) >= 20 })
	a.kill(t)
	killed := time.Now()
	waitUntil(t, "the survivor owns every partition", func() bool {
		return metric(t, b.process, "tidemark_sessiond_partitions") == testPartitions
	})
	// Keep the load on well past the takeover.
	waitUntil(t, "load after the takeover", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return time.Since(killed) > nodeTimeout+5*time.Second && len(attempts) > 0 && len(stream.ackedSoFar()) > 0
	})
	close(stop)
	wg.Wait()
	acked := stream.finish(t)

	slowest := time.Duration(0)
	for _, at := range attempts {
		if at.err != nil {
			t.Errorf("%s: CONNECT failed after %v: %v", at.id, at.took, at.err)
		}
		slowest = max(slowest, at.took)
	}
	t.Logf("%d CONNECTs, the slowest answered in %v; %d messages acknowledged", len(attempts), slowest, len(acked))
	waitDelivered(t, "f-sub", acked, "load/", sub)
	for _, at := range attempts {
		if at.err == nil {
			c.life.waitSteps(at.id, created, connectedFresh, disconnectedNormal, terminatedNormal)
		}
	}
}

// TestFrontendRestartSameNode: a frontend killed and started again under
// the same node name declares its earlier incarnation's connections down
// at start-up, not after the node timeout (here a minute).
func TestFrontendRestartSameNode(t *testing.T) {
	c := newProcCluster(t, false)
	c.sessiond("sessiond", "--node-timeout", "60s")
	fe := c.frontend("fe-r")
	dialV3(t, fe.mqtt, "r-clean", "", true)
	persist, _ := dialV3(t, fe.mqtt, "r-persist", "", false)
	persist.subscribe("r/#", 1)
	dialV5(t, fe.mqtt, willConnect("r-will", 0, 0))
	cids := []string{"r-clean", "r-persist", "r-will"}
	for _, cid := range cids {
		c.life.waitEvents(cid, events.ClientConnected, 1)
	}
	// The new incarnation's announcement is its start.
	announced := make(chan liveness.Beat, 8)
	fol := kafkalog.NewFollower(c.brokers, kafkalog.FollowerOptions{Topic: c.topics.Nodes, Default: kafkalog.Latest}, func(r *kafkalog.Record) {
		if b, err := liveness.Decode(r); err == nil && b.Kind == liveness.KindAnnounce && b.Node == "fe-r" {
			announced <- *b
		}
	})
	fctx, stopFol := context.WithCancel(context.Background())
	defer stopFol()
	go func() { _ = fol.Run(fctx) }()
	select {
	case <-fol.Ready():
	case <-time.After(waitFor):
		t.Fatal("nodes follower not ready")
	}

	fe.kill(t)
	fe.start(t, fe.http)
	var start time.Time
	select {
	case b := <-announced:
		start = time.UnixMilli(b.TS)
	case <-time.After(waitFor):
		t.Fatal("the restarted frontend did not announce itself")
	}
	for _, cid := range cids {
		e := c.life.downEvent(cid)
		took := c.life.receivedAt(e.ID).Sub(start)
		if took > 2*time.Second {
			t.Errorf("%s: declared down %v after the new incarnation started, want within 2s", cid, took)
		}
		t.Logf("%s: declared down %v after the new incarnation started", cid, took)
	}
	c.life.waitSteps("r-clean", created, connectedFresh, disconnectedDown, terminatedDown)
	c.life.willEvent("r-will", events.SessionWillPublished)
	// The persistent session is offline and resumes on the new process.
	if _, present := dialV3(t, fe.mqtt, "r-persist", "", false); !present {
		t.Error("r-persist: session not present after the restart")
	}
}

// TestFrontendStoppedAndContinued: a frontend stopped (SIGSTOP) past the
// node timeout is declared down; continued (SIGCONT), it closes the
// connections the cluster ended instead of serving them as if nothing
// happened, and serves new ones under a new incarnation.
func TestFrontendStoppedAndContinued(t *testing.T) {
	c := newProcCluster(t, false)
	sd := c.sessiond("sessiond", "--node-timeout", "4s")
	fe := c.frontend("fe-s")
	persist, _ := dialV3(t, fe.mqtt, "s-persist", "", false)
	persist.subscribe("s/#", 1)
	clean, _ := dialV3(t, fe.mqtt, "s-clean", "", true)
	willing := dialV5(t, fe.mqtt, willConnect("s-will", 0, 60))
	cids := []string{"s-persist", "s-clean", "s-will"}
	for _, cid := range cids {
		c.life.waitEvents(cid, events.ClientConnected, 1)
	}
	fe.signal(t, syscall.SIGSTOP)
	continued := false
	t.Cleanup(func() {
		if !continued {
			_ = fe.cmd.Process.Signal(syscall.SIGCONT)
		}
	})
	for _, cid := range cids {
		c.life.downEvent(cid)
	}
	fe.signal(t, syscall.SIGCONT)
	continued = true
	persist.waitLost()
	clean.waitLost()
	select {
	case <-willing.gone:
	case <-time.After(waitFor):
		t.Fatal("s-will: connection still open after the frontend was declared down")
	}
	waitUntil(t, "the frontend says it was declared down", func() bool {
		return metric(t, fe.process, "tidemark_frontend_declared_down_total") == 1
	})
	// Its new incarnation is alive, and serves.
	waitUntil(t, "the frontend alive again", func() bool { return metric(t, sd.process, "tidemark_sessiond_frontends_alive") == 1 })
	if _, present := dialV3(t, fe.mqtt, "s-persist", "", false); !present {
		t.Error("s-persist: session not present after the frontend came back")
	}
	c.life.waitSteps("s-persist", created, connectedFresh, subscribed, disconnectedDown, resumed, connectedPresent)
}

// TestStandaloneCrashRestart: the standalone broker killed with SIGKILL
// and started again on its data directory announces its earlier
// connections disconnected (node_down), ends the clean sessions and
// publishes their wills, and resumes the persistent ones.
func TestStandaloneCrashRestart(t *testing.T) {
	bin := binary(t, "services/standalone/cmd/mqtt-standalone")
	logs := t.TempDir()
	port := func() string { return "127.0.0.1:" + strconv.Itoa(freePort(t)) }
	mqttAddr, httpAddr, kafkaAddr, redisAddr := port(), port(), port(), port()
	args := []string{"--mqtt-addr", mqttAddr, "--ws-addr", "", "--http-addr", httpAddr, "--data-dir", t.TempDir(),
		"--kafka-addr", kafkaAddr, "--redis-addr", redisAddr, "--node", "sa", "--allow-anonymous", "--log-level", "info"}
	sa := &svc{node: "sa", mqtt: mqttAddr, bin: bin, args: args, log: logs + "/standalone.log"}
	sa.start(t, httpAddr)
	brokers := kafkalog.Plain(kafkaAddr)
	topics := session.DefaultTopics()
	life := followLifecycleRepeats(t, brokers, topics.Lifecycle)

	dialV3(t, mqttAddr, "sa-clean", "", true)
	persist, _ := dialV3(t, mqttAddr, "sa-persist", "", false)
	persist.subscribe("sa/#", 1)
	dialV5(t, mqttAddr, willConnect("sa-will", 0, 0))
	cids := []string{"sa-clean", "sa-persist", "sa-will"}
	for _, cid := range cids {
		life.waitEvents(cid, events.ClientConnected, 1)
	}
	sa.kill(t)
	sa.start(t, httpAddr)
	for _, cid := range cids {
		life.downEvent(cid)
	}
	life.waitSteps("sa-clean", created, connectedFresh, disconnectedDown, terminatedDown)
	life.waitSteps("sa-will", created, connectedFresh, disconnectedDown, willPublished, terminatedDown)
	if n := willsLogged(t, brokers, topics.Messages)["wills/sa-will"]; n != 1 {
		t.Errorf("will logged %d times, want once", n)
	}
	if _, present := dialV3(t, mqttAddr, "sa-persist", "", false); !present {
		t.Error("sa-persist: session not present after the restart")
	}
	life.checkPairs()
	if res, err := http.Get("http://" + httpAddr + "/readyz"); err != nil || res.StatusCode != http.StatusOK {
		t.Errorf("restarted broker not ready: %v", err)
	} else {
		res.Body.Close()
	}
}
