package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/mqtt"
	"github.com/tidemarkmq/tidemark/tools/mqtt-bench/internal/client"
	"github.com/tidemarkmq/tidemark/tools/mqtt-bench/internal/seqtrack"
)

// receiver is the state of one subscriber connection, touched only by that
// connection's read goroutine until the connection is closed.
type receiver struct {
	tracker  seqtrack.Tracker
	hist     *lockedHist
	received atomic.Uint64
	last     atomic.Int64 // unix ns of the latest delivery
	group    int          // index of the tracker group it reports into
}

func (r *receiver) onPublish(p *mqtt.Publish, at time.Time) {
	r.received.Add(1)
	r.last.Store(at.UnixNano())
	pub, seq, sent, ok := parseHeader(p.Payload)
	if !ok {
		r.tracker.Observe(seqtrack.MaxPublishers, 0) // counted as invalid
		return
	}
	// A duplicate's latency says how late the redelivery was, not how fast
	// the broker is; only first arrivals count.
	if r.tracker.Observe(pub, seq) != seqtrack.Duplicate {
		r.hist.Record(at.Sub(sent))
	}
}

// publisher is one publishing connection and its counters.
type publisher struct {
	conn  *client.Conn
	topic string
	n     int           // messages to send
	rate  float64       // messages/s, 0 = as fast as possible
	sent  atomic.Uint64 // written to the socket (the flush succeeded)
	// unsure counts the messages after sent of a batch whose write failed:
	// some of them may have reached the broker, so they are neither
	// expected nor unexpected.
	unsure atomic.Uint64
	acked  atomic.Uint64
	ackLat *lockedHist
}

// topology is who publishes where and what each receiver group expects.
type topology struct {
	pubTopic  []string
	subFilter []string
	subGroup  []int   // receiver -> group
	groupPubs [][]int // group -> publishers it expects everything from
}

func (cfg *Config) topology() topology {
	var t topology
	for i := range cfg.Publishers {
		switch cfg.Pattern {
		case FanIn, P2P:
			t.pubTopic = append(t.pubTopic, cfg.topic(i%cfg.Subscribers))
		default:
			t.pubTopic = append(t.pubTopic, cfg.topic(0))
		}
	}
	all := make([]int, cfg.Publishers)
	for i := range all {
		all[i] = i
	}
	for j := range cfg.Subscribers {
		switch cfg.Pattern {
		case FanIn, P2P:
			t.subFilter = append(t.subFilter, cfg.topic(j))
			var pubs []int
			for i := j; i < cfg.Publishers; i += cfg.Subscribers {
				pubs = append(pubs, i)
			}
			t.subGroup = append(t.subGroup, j)
			t.groupPubs = append(t.groupPubs, pubs)
		case FanOut:
			t.subFilter = append(t.subFilter, cfg.topic(0))
			t.subGroup = append(t.subGroup, j)
			t.groupPubs = append(t.groupPubs, all)
		case Shared:
			t.subFilter = append(t.subFilter, "$share/"+cfg.ShareGroup+"/"+cfg.topic(0))
			t.subGroup = append(t.subGroup, 0)
			if j == 0 {
				t.groupPubs = append(t.groupPubs, all)
			}
		}
	}
	return t
}

func runPubSub(ctx context.Context, cfg *Config, res *Result, errs *errorLog) error {
	res.Pattern, res.Size, res.Publishers, res.Subscribers, res.TargetRate =
		cfg.Pattern, cfg.Size, cfg.Publishers, cfg.Subscribers, cfg.Rate
	topo := cfg.topology()

	recv := make([]*receiver, cfg.Subscribers)
	lat := newHistShards(cfg.Subscribers)
	for j := range recv {
		recv[j] = &receiver{hist: lat.of(j), group: topo.subGroup[j]}
	}
	cfg.say("connecting %d subscribers", cfg.Subscribers)
	subs := connectAll(ctx, cfg, cfg.Subscribers, func(j int) client.Options {
		o := cfg.clientOptions(pick(cfg.SubAddrs, j), cfg.clientID("s", j))
		o.OnPublish = recv[j].onPublish
		return o
	}, errs, nil)
	defer closeAll(cfg, subs)
	if err := subscribeAll(ctx, cfg, subs, topo.subFilter, errs); err != nil {
		return err
	}

	pubs, ackLat := cfg.publishers(func(i int) string { return topo.pubTopic[i] })
	cfg.say("connecting %d publishers", cfg.Publishers)
	pconns := connectAll(ctx, cfg, cfg.Publishers, func(i int) client.Options {
		o := cfg.clientOptions(pick(cfg.PubAddrs, i), cfg.clientID("p", i))
		o.OnAck = pubs[i].onAck(i, errs)
		return o
	}, errs, nil)
	defer closeAll(cfg, pconns)
	for i, c := range pconns {
		pubs[i].conn = c
	}

	cfg.say("publishing up to %d messages for up to %v", cfg.Count, cfg.Duration)
	start := time.Now()
	deadline := start.Add(cfg.Duration)
	pctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	stopProgress := progress(cfg, start, [2]string{"sent", "received"}, func() (uint64, uint64) {
		return sumSent(pubs), sumReceived(recv)
	})
	defer stopProgress()

	var wg sync.WaitGroup
	for i, p := range pubs {
		if p.conn == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.run(pctx, cfg, uint32(i)); err != nil && pctx.Err() == nil {
				errs.add(fmt.Errorf("publisher %d: %w", i, err))
			}
		}()
	}
	wg.Wait()
	pubEnd := time.Now()

	// Expected deliveries: every sent message once per receiver group that
	// expects its publisher.
	// The drain also waits for the messages of failed writes that may yet
	// arrive: counting only the sure ones, their arrivals would make the
	// total look complete while sure ones are still on their way.
	var expected, mayArrive uint64
	for _, pubsOf := range topo.groupPubs {
		for _, i := range pubsOf {
			expected += pubs[i].sent.Load()
			mayArrive += pubs[i].sent.Load() + pubs[i].unsure.Load()
		}
	}
	cfg.say("waiting for the last deliveries (up to %v, or %v without any)", cfg.Duration, cfg.Drain)
	dctx, dcancel := context.WithTimeout(ctx, cfg.Duration)
	defer dcancel()
	cut := waitDrain(dctx, cfg, func() (bool, uint64) {
		var unacked uint64
		for _, p := range pubs {
			if p.conn != nil {
				unacked += uint64(p.conn.Inflight())
			}
		}
		got := sumReceived(recv)
		return got >= mayArrive && unacked == 0, got + sumAcked(pubs)
	})
	stopProgress()
	closeAll(cfg, pconns)
	closeAll(cfg, subs)

	// Every read goroutine has ended (Close waits), so the trackers and
	// histograms can be read without locks.
	sent := map[uint32]uint64{}
	for i, p := range pubs {
		sent[uint32(i)] = p.sent.Load()
		res.Sent += p.sent.Load()
		res.Unconfirmed += p.unsure.Load()
		res.Acked += p.acked.Load()
	}
	if cfg.QoS > 0 && res.Acked < res.Sent {
		res.Unacked = res.Sent - res.Acked
	}
	groups := make([]*seqtrack.Tracker, len(topo.groupPubs))
	for g := range groups {
		groups[g] = &seqtrack.Tracker{}
	}
	var lastRecv int64
	for _, r := range recv {
		groups[r.group].Merge(&r.tracker)
		res.Received += r.received.Load()
		lastRecv = max(lastRecv, r.last.Load())
	}
	for g, tr := range groups {
		want := map[uint32]uint64{}
		for _, i := range topo.groupPubs[g] {
			want[uint32(i)] = sent[uint32(i)]
		}
		c := tr.Counts(want)
		for _, i := range topo.groupPubs[g] {
			// Arrivals from a failed write are no broker's invention.
			n := sent[uint32(i)]
			c.Unexpected -= tr.CountRange(uint32(i), n, n+pubs[i].unsure.Load())
		}
		res.Lost += c.Lost
		res.Duplicated += c.Duplicated
		res.OutOfOrder += c.OutOfOrder
		res.Unexpected += c.Unexpected
		res.Invalid += c.Invalid
	}
	if cut && res.Lost > 0 {
		// The drain cap ended a run whose deliveries were still arriving:
		// the missing messages are a backlog, reported apart from losses.
		res.Undelivered, res.Lost = res.Lost, 0
	}
	res.Expected = expected
	res.Elapsed = time.Since(start).Seconds()
	res.ThroughputIn = perSecond(res.Sent, pubEnd.Sub(start))
	if lastRecv > 0 {
		res.ThroughputOut = perSecond(res.Received, time.Unix(0, lastRecv).Sub(start))
	}
	res.Latency, res.AckLatency = summary(lat.merged()), summary(ackLat.merged())
	return nil
}

// publishers splits cfg.Count and cfg.Rate over cfg.Publishers; topic(i) is
// where publisher i publishes.
func (cfg *Config) publishers(topic func(i int) string) ([]*publisher, histShards) {
	pubs := make([]*publisher, cfg.Publishers)
	ackLat := newHistShards(cfg.Publishers)
	per, extra := cfg.Count/cfg.Publishers, cfg.Count%cfg.Publishers
	for i := range pubs {
		n := per
		if i < extra {
			n++
		}
		pubs[i] = &publisher{topic: topic(i), n: n, rate: cfg.Rate / float64(cfg.Publishers), ackLat: ackLat.of(i)}
	}
	return pubs, ackLat
}

func subscribeAll(ctx context.Context, cfg *Config, subs []*client.Conn, filters []string, errs *errorLog) error {
	var wg sync.WaitGroup
	sem := make(chan struct{}, cfg.Concurrency)
	var failed atomic.Int64
	for j, c := range subs {
		if c == nil {
			failed.Add(1)
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if err := c.Subscribe(sctx, mqtt.Subscription{Filter: filters[j], QoS: cfg.SubQoS}); err != nil {
				failed.Add(1)
				errs.add(fmt.Errorf("subscriber %d: %w", j, err))
			}
		}()
	}
	wg.Wait()
	if n := failed.Load(); n == int64(len(subs)) {
		return fmt.Errorf("no subscriber ready (%d failed)", n)
	}
	return nil
}

// run publishes p.n messages, paced to p.rate, until done or ctx ends.
// onAck counts publisher i's acknowledgements and their latency; a
// refusal is an error of the run.
func (p *publisher) onAck(i int, errs *errorLog) func(time.Time, mqtt.ReasonCode) {
	return func(sent time.Time, rc mqtt.ReasonCode) {
		if rc.IsError() {
			errs.add(fmt.Errorf("publisher %d: publish refused: %w", i, rc))
			return
		}
		p.acked.Add(1)
		p.ackLat.Record(time.Since(sent))
	}
}

// Messages due at the same moment are written with one flush.
func (p *publisher) run(ctx context.Context, cfg *Config, id uint32) error {
	payload := make([]byte, cfg.Size)
	for k := HeaderSize; k < len(payload); k++ {
		payload[k] = byte('a' + k%26)
	}
	msg := &mqtt.Publish{Topic: p.topic, QoS: cfg.QoS, Payload: payload}
	const maxBatch = 256
	start := time.Now()
	for seq := 0; seq < p.n; {
		if ctx.Err() != nil {
			return nil
		}
		due := p.n - seq
		if p.rate > 0 {
			due = min(due, int(time.Since(start).Seconds()*p.rate)+1-seq)
			if due <= 0 {
				next := start.Add(time.Duration(float64(seq) / p.rate * float64(time.Second)))
				t := time.NewTimer(time.Until(next))
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
					return nil
				}
				continue
			}
		}
		batch := 0
		for range min(due, maxBatch) {
			now := time.Now()
			putHeader(payload, id, uint64(seq), now)
			msg.PacketID = 0
			if err := p.conn.Publish(ctx, msg, now); err != nil {
				p.unsure.Store(uint64(batch + 1))
				return err
			}
			seq++
			batch++
		}
		if err := p.conn.Flush(); err != nil {
			p.unsure.Store(uint64(batch))
			return err
		}
		p.sent.Add(uint64(batch))
	}
	return nil
}

// waitDrain polls check until it reports done, or its progress value stops
// changing for cfg.Drain, or the context ends. Polling (every 20 ms) rather
// than a signal keeps the receive path free of any coordination. It reports
// cut when the context ended the wait while progress was still being made:
// what is missing then was still on its way, not known to be lost.
func waitDrain(ctx context.Context, cfg *Config, check func() (done bool, progress uint64)) (cut bool) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	done, last := check()
	lastChange := time.Now()
	for !done && time.Since(lastChange) < cfg.Drain {
		select {
		case <-ctx.Done():
			return true
		case <-tick.C:
		}
		var v uint64
		if done, v = check(); v != last {
			last, lastChange = v, time.Now()
		}
	}
	return false
}

// progress prints one line per second with two counters and their rates
// until the returned stop is called (stop may be called more than once).
func progress(cfg *Config, start time.Time, names [2]string, counts func() (uint64, uint64)) (stop func()) {
	if cfg.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		var lastA, lastB uint64
		for {
			select {
			case <-done:
				return
			case now := <-tick.C:
				a, b := counts()
				fmt.Fprintf(cfg.Progress, "%6.1fs  %s %10d (%8d/s)  %s %10d (%8d/s)\n",
					now.Sub(start).Seconds(), names[0], a, a-lastA, names[1], b, b-lastB)
				lastA, lastB = a, b
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(done); <-finished })
	}
}

func sumSent(pubs []*publisher) (n uint64) {
	for _, p := range pubs {
		n += p.sent.Load()
	}
	return n
}

func sumAcked(pubs []*publisher) (n uint64) {
	for _, p := range pubs {
		n += p.acked.Load()
	}
	return n
}

func sumReceived(recv []*receiver) (n uint64) {
	for _, r := range recv {
		n += r.received.Load()
	}
	return n
}
