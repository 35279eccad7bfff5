package frontend

import (
	"context"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/session"
	"github.com/tidemarkmq/tidemark/pkg/topic"
)

// Shared subscriptions ($share/{group}/{filter}) deliver each message to
// one member across all frontends. Each frontend with members of a share
// joins the Kafka consumer group share.<group>.<hash(filter)> on the
// messages topic: the owner of a partition delivers each matching record to
// one of its local members (round-robin, preferring members with window
// room) and commits only below the oldest record not yet completed, so a
// frontend that dies hands its partitions, uncommitted records included,
// to another. A member leaving hands its unfinished messages to another
// local member; the last one leaving leaves the consumer group.

// shareKey names one shared subscription on this frontend.
type shareKey struct{ group, filter string }

// shareCommitEvery is how often completed positions are committed.
const shareCommitEvery = 500 * time.Millisecond

// shares holds the frontend's shared subscriptions.
type shares struct {
	s      *Server
	mu     sync.Mutex
	groups map[shareKey]*shareGroup
	// leaving holds the groups whose last member left and whose consumer
	// group is still being left: the member does not wait for Kafka, but
	// stopAll does, so no group goroutine outlives the server.
	leaving map[*shareGroup]struct{}
}

func newShares(s *Server) *shares {
	return &shares{s: s, groups: make(map[shareKey]*shareGroup), leaving: make(map[*shareGroup]struct{})}
}

// shareGroup is one shared subscription on this frontend: its local
// members and its consumer group membership.
type shareGroup struct {
	s   *Server
	key shareKey

	mu      sync.Mutex
	members []*shareMember
	rr      int
	startAt map[int]int64 // records below are older than the share here
	pending map[int]map[int64]struct{}
	next    map[int]int64 // next offset handled; its keys are the owned partitions

	// requeued holds the messages no member could take when they were
	// offered (every member closing or full): they stay pending and are
	// offered again every shareCommitEvery and when a member joins.
	requeued []*message

	cancel context.CancelFunc
	done   chan struct{} // closed when the group's goroutines returned
	group  *kafkalog.Group
}

// maxRequeued bounds the messages waiting for a member: past it, Handle
// waits, so the share stops reading the log instead of buffering it.
const maxRequeued = 1024

type shareMember struct {
	c   *conn
	sub session.Subscription
}

// join adds c as a member of group/filter with sub's options.
func (sh *shares) join(c *conn, group string, sub session.Subscription) {
	key := shareKey{group, sub.Filter}
	sh.mu.Lock()
	g := sh.groups[key]
	if g == nil {
		g = sh.start(key)
		sh.groups[key] = g
	}
	g.mu.Lock()
	joined := true
	for _, m := range g.members {
		if m.c == c {
			m.sub = sub // re-subscribe replaces the options
			joined = false
			break
		}
	}
	if joined {
		g.members = append(g.members, &shareMember{c: c, sub: sub})
	}
	g.mu.Unlock()
	sh.mu.Unlock()
	if joined {
		g.retry() // what waited for a member
	}
}

// start joins the consumer group of key; called with sh.mu held.
func (sh *shares) start(key shareKey) *shareGroup {
	h := fnv.New64a()
	h.Write([]byte(key.filter))
	g := &shareGroup{
		s:       sh.s,
		key:     key,
		startAt: sh.s.router.positions(),
		pending: make(map[int]map[int64]struct{}),
		next:    make(map[int]int64),
		done:    make(chan struct{}),
	}
	g.group = kafkalog.NewGroup(kafkalog.GroupOptions{
		Cluster: sh.s.cfg.Kafka,
		GroupID: fmt.Sprintf("share.%s.%x", key.group, h.Sum64()),
		Topic:   sh.s.cfg.Topics.Messages,
		// The broker's smallest allowed session timeout: a frontend that
		// dies hands its share partitions over within seconds.
		SessionTimeout: 6 * time.Second,
		Logger:         sh.s.log,
	}, g)
	ctx, cancel := context.WithCancel(context.Background())
	g.cancel = cancel
	go func() {
		defer func() {
			sh.mu.Lock()
			delete(sh.leaving, g)
			sh.mu.Unlock()
			close(g.done)
		}()
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); g.maintain(ctx) }()
		_ = g.group.Run(ctx)
		wg.Wait()
	}()
	return g
}

// leave removes c from group/filter; unfinished deliveries of c go to
// another local member. The last member leaving leaves the consumer group.
func (sh *shares) leave(c *conn, group, filter string, unfinished []*delivery) {
	key := shareKey{group, filter}
	sh.mu.Lock()
	g := sh.groups[key]
	if g == nil {
		sh.mu.Unlock()
		return
	}
	g.mu.Lock()
	for i, m := range g.members {
		if m.c == c {
			g.members = append(g.members[:i], g.members[i+1:]...)
			break
		}
	}
	last := len(g.members) == 0
	g.mu.Unlock()
	if last {
		delete(sh.groups, key)
		sh.leaving[g] = struct{}{}
	}
	sh.mu.Unlock()
	sh.s.log.Debug("shared subscription member left", "group", group, "filter", filter, "last", last)
	if last {
		// Unfinished records stay uncommitted: the group's next owner
		// delivers them again.
		g.cancel()
		return
	}
	for _, d := range unfinished {
		if d.share == g && !g.deliver(d.msg) {
			g.requeue(d.msg)
		}
	}
}

// stopAll leaves every consumer group (server shutdown) and waits for
// the groups still being left.
func (sh *shares) stopAll() {
	sh.mu.Lock()
	gs := make([]*shareGroup, 0, len(sh.groups)+len(sh.leaving))
	for k, g := range sh.groups {
		gs = append(gs, g)
		delete(sh.groups, k)
	}
	for g := range sh.leaving {
		gs = append(gs, g)
	}
	sh.mu.Unlock()
	for _, g := range gs {
		g.cancel()
		<-g.done
	}
}

// Assigned implements kafkalog.GroupHandler.
func (g *shareGroup) Assigned(_ context.Context, parts map[int]int64) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	for p, off := range parts {
		g.pending[p] = make(map[int64]struct{})
		if off < 0 {
			off = 0
		}
		g.next[p] = max(off, g.startAt[p])
	}
	return nil
}

// Revoked implements kafkalog.GroupHandler.
func (g *shareGroup) Revoked(parts []int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, p := range parts {
		delete(g.pending, p)
		delete(g.next, p)
	}
}

// Handle implements kafkalog.GroupHandler: one member gets each match.
func (g *shareGroup) Handle(ctx context.Context, rec *kafkalog.Record) error {
	if err := g.waitRequeued(ctx); err != nil {
		return err
	}
	g.mu.Lock()
	p, o := rec.Partition, rec.Offset
	skip := o < g.startAt[p] || !topic.Match(g.key.filter, string(rec.Key))
	if o+1 > g.next[p] {
		g.next[p] = o + 1
	}
	if !skip {
		if g.pending[p] == nil {
			g.pending[p] = make(map[int64]struct{})
		}
		g.pending[p][o] = struct{}{}
	}
	g.mu.Unlock()
	if !skip {
		if msg := decodeMessage(rec); !g.deliver(msg) {
			g.requeue(msg)
		}
	}
	return nil
}

// waitRequeued holds the group's reading while too many messages wait
// for a member.
func (g *shareGroup) waitRequeued(ctx context.Context) error {
	for {
		g.mu.Lock()
		n := len(g.requeued)
		g.mu.Unlock()
		if n < maxRequeued {
			return nil
		}
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// deliver hands msg to one member: the next in round-robin order with
// window room, else the next that takes it at all. Members that may not read
// the topic are passed over; when none may, the message is complete (a
// denied delivery, counted once). It reports false when the members that
// may read it all refused it (closing, or too far behind).
func (g *shareGroup) deliver(msg *message) bool {
	// Members are looked at outside g.mu: an outbox calls complete with
	// its own lock held, so g.mu must never be held into an outbox.
	g.mu.Lock()
	members := append([]*shareMember(nil), g.members...)
	start := g.rr
	g.mu.Unlock()
	n := len(members)
	if n == 0 {
		return false
	}
	var order []int
	for i := 0; i < n; i++ {
		if j := (start + i) % n; members[j].c.out.hasRoom() {
			order = append(order, j)
		}
	}
	for i := 0; i < n; i++ {
		order = append(order, (start+i)%n)
	}
	readers := 0
	for _, j := range order[:n] {
		if members[j].c.mayRead(msg.topic) {
			readers++
		}
	}
	if readers == 0 {
		g.s.lim.deniedRead()
		g.complete(msg.partition, msg.offset)
		return true
	}
	for _, j := range order {
		m := members[j]
		if !m.c.mayRead(msg.topic) {
			continue
		}
		d := &delivery{msg: msg, qos: min(msg.qos, m.sub.QoS), share: g}
		if m.sub.SubID != 0 {
			d.subIDs = []uint32{m.sub.SubID}
		}
		if m.c.out.offer(d) {
			g.mu.Lock()
			g.rr = j + 1
			g.mu.Unlock()
			return true
		}
	}
	return false
}

// requeue keeps a message no member took; it stays pending.
func (g *shareGroup) requeue(msg *message) {
	g.mu.Lock()
	g.requeued = append(g.requeued, msg)
	g.mu.Unlock()
}

// retry offers the requeued messages again, in their order; those still
// refused wait for the next try.
func (g *shareGroup) retry() {
	g.mu.Lock()
	msgs := g.requeued
	g.requeued = nil
	g.mu.Unlock()
	for i, msg := range msgs {
		if !g.deliver(msg) {
			g.mu.Lock()
			g.requeued = append(append([]*message(nil), msgs[i:]...), g.requeued...)
			g.mu.Unlock()
			return
		}
	}
}

// complete marks a delivered record finished (acknowledged, or dropped
// with an event), so the commit may pass it.
func (g *shareGroup) complete(p int, o int64) {
	g.mu.Lock()
	delete(g.pending[p], o)
	g.mu.Unlock()
}

// maintain offers the requeued messages again and commits, per owned
// partition, the oldest unfinished offset (or the next one when all are
// finished), every shareCommitEvery.
func (g *shareGroup) maintain(ctx context.Context) {
	t := time.NewTicker(shareCommitEvery)
	defer t.Stop()
	last := map[int]int64{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		g.retry()
		g.mu.Lock()
		at := make(map[int]int64, len(g.next))
		for p, n := range g.next {
			c := n
			for o := range g.pending[p] {
				c = min(c, o)
			}
			at[p] = c
		}
		g.mu.Unlock()
		for p, c := range at {
			if last[p] == c {
				continue
			}
			if err := g.group.Commit(ctx, p, c); err == nil {
				last[p] = c
			}
		}
	}
}
