package sessiond

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tidemarkmq/tidemark/pkg/events"
	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/session"
)

// aclUser is a Redis ACL user of its own for the service's client, so a
// test can make the real Redis refuse that client's commands (NOPERM)
// while everyone else sharing the server goes on.
type aclUser struct {
	t      *testing.T
	admin  *redis.Client
	name   string
	client *redis.Client
}

// aclUser creates a user allowed every command on the harness's keys,
// then changed by rules (ACL SETUSER syntax), and a client logged in as it.
func (h *harness) aclUser(rules ...string) *aclUser {
	h.t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	admin, ok := h.rdb.(*redis.Client)
	if !ok {
		h.t.Fatalf("an ACL user needs one Redis server, not a %T", h.rdb)
	}
	u := &aclUser{t: h.t, admin: admin, name: "tidemark-test-" + hex.EncodeToString(b[:])}
	u.set(append([]string{"on", "nopass", "~" + h.prefix + "*", "+@all"}, rules...)...)
	h.t.Cleanup(func() { admin.ACLDelUser(context.Background(), u.name) })
	u.client = redis.NewClient(&redis.Options{Addr: admin.Options().Addr, Username: u.name, Password: "unused"})
	h.t.Cleanup(func() { u.client.Close() })
	return u
}

// set changes the user's permissions; Redis applies them to its open
// connections at once.
func (u *aclUser) set(rules ...string) {
	u.t.Helper()
	if err := u.admin.ACLSetUser(context.Background(), u.name, rules...).Err(); err != nil {
		u.t.Fatalf("acl setuser %v: %v", rules, err)
	}
}

// refused counts the user's commands named cmd that Redis refused, from
// its ACL log.
func (u *aclUser) refused(cmd string) (int64, error) {
	entries, err := u.admin.ACLLog(context.Background(), 128).Result()
	var n int64
	for _, e := range entries {
		if e.Username == u.name && e.Object == cmd {
			n += e.Count
		}
	}
	return n, err
}

// appendRecords appends recs in one call (one client's records keep their
// order) and fills in their offsets.
func (h *harness) appendRecords(recs []*kafkalog.Record) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := h.app.Append(ctx, recs...); err != nil {
		h.t.Fatalf("append %d records: %v", len(recs), err)
	}
}

// goOfflineMany connects n persistent sessions with sub, then disconnects
// them, one append per step rather than a round trip per session, and
// waits until the service has every one offline.
func (h *harness) goOfflineMany(n int, sub session.Subscription) []string {
	h.t.Helper()
	now := time.Now().UnixMilli()
	cids := make([]string, n)
	connects := make([]*kafkalog.Record, n)
	for i := range cids {
		cids[i] = fmt.Sprintf("many-%04d", i)
		op := session.Op{Kind: session.OpConnect, ClientID: cids[i], Conn: connID(cids[i], "A"), Node: "fe-1", TS: now,
			Proto: 5, Expiry: 600, Keepalive: 30, Peer: "127.0.0.1:5"}
		connects[i] = op.Record(h.topics.Sessions)
	}
	h.appendRecords(connects)
	rest := make([]*kafkalog.Record, 0, 2*n)
	for i, cid := range cids {
		base := session.Op{ClientID: cid, Conn: connID(cid, "A"), Epoch: connects[i].Offset, Node: "fe-1", TS: now}
		subscribe, disconnect := base, base
		subscribe.Kind, subscribe.Subs = session.OpSubscribe, []session.Subscription{sub}
		disconnect.Kind, disconnect.Reason, disconnect.Expiry = session.OpDisconnect, string(events.DisconnectNormal), 600
		rest = append(rest, subscribe.Record(h.topics.Sessions), disconnect.Record(h.topics.Sessions))
	}
	h.appendRecords(rest)
	w := session.NewWriter(h.rdb, session.Options{Prefix: h.prefix})
	eventuallyWithin(h.t, bulkWait, "sessions offline", func() (bool, error) {
		byPart := map[int][]string{}
		for _, cid := range cids {
			n := session.Partition(cid, testPartitions)
			byPart[n] = append(byPart[n], cid)
		}
		for n, part := range byPart {
			metas, err := w.Metas(context.Background(), n, part)
			if err != nil {
				return false, err
			}
			for _, m := range metas {
				if m == nil || m.Online {
					return false, nil
				}
			}
		}
		return true, nil
	})
	return cids
}

// queues reads the offline queues of cids in one round trip.
func (h *harness) queues(cids []string) map[string][]session.QueueRef {
	h.t.Helper()
	ctx := context.Background()
	keys := session.Keys{Prefix: h.prefix}
	cmds := make([]*redis.StringSliceCmd, len(cids))
	if _, err := h.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, cid := range cids {
			cmds[i] = p.LRange(ctx, keys.Queue(session.Partition(cid, testPartitions), cid), 0, -1)
		}
		return nil
	}); err != nil {
		h.t.Fatal(err)
	}
	out := make(map[string][]session.QueueRef, len(cids))
	for i, cid := range cids {
		out[cid] = nil // an empty queue is a queue too
		for _, s := range cmds[i].Val() {
			ref, err := session.ParseQueueRef(s)
			if err != nil {
				h.t.Fatal(err)
			}
			out[cid] = append(out[cid], ref)
		}
	}
	return out
}

// bulkWait bounds a wait on work for a thousand sessions or more: generous
// for a loaded two-core machine running the race detector.
const bulkWait = 120 * time.Second

// differing returns the sessions whose queue is not want, and one of them.
func differing(qs map[string][]session.QueueRef, want []session.QueueRef) (n int, example string) {
	for cid, q := range qs {
		if !slices.Equal(q, want) {
			n++
			example = fmt.Sprintf("%s has %v", cid, q)
		}
	}
	return n, example
}

// TestOfflineQueueCatchUpAfterRefusedWrites: Redis refuses the service's
// writes while a message arrives for many offline sessions, so queueing
// it fails for every one of them and each must be caught up later. Once
// Redis takes writes again, every queue holds every message, once and in
// log order: none is missing, whatever the number of sessions waiting.
func TestOfflineQueueCatchUpAfterRefusedWrites(t *testing.T) {
	h := newHarness(t)
	user := h.aclUser()
	in := h.start(func(c *Config) { c.RedisClient = user.client })
	// More sessions than the catch-up workers can take at once, plus the
	// 1024 a bounded hand-off to them could hold: those past it must not
	// be forgotten while the workers are stuck on the refused writes.
	const n = catchUpWorkers + 1024 + 100
	const name = "refused/t"
	cids := h.goOfflineMany(n, session.Subscription{Filter: name, QoS: 1})
	ref := func(r *kafkalog.Record) session.QueueRef {
		return session.QueueRef{Partition: r.Partition, Offset: r.Offset, QoS: 1}
	}
	waitQueues := func(what string, want []session.QueueRef) {
		t.Helper()
		last := -1
		eventuallyWithin(t, bulkWait, what, func() (bool, error) {
			bad, example := differing(h.queues(cids), want)
			if bad > 0 && bad != last {
				t.Logf("%s: %d of %d queues differ from %v, e.g. %s", what, bad, n, want, example)
			}
			last = bad
			return bad == 0, nil
		})
	}

	// Every session queued for by the follower (synced), as in steady state.
	first := h.publish(msg{topic: name, qos: 1, from: "p"})[0]
	waitQueues("before the refusal", []session.QueueRef{ref(first)})

	user.set("-@write")
	refused := h.publish(msg{topic: name, qos: 1, from: "p"})[0]
	eventually(t, "follower past the refused message", func() (bool, error) {
		return in.svc.q.fol.Positions()[refused.Partition] > refused.Offset, nil
	})
	if bad, example := differing(h.queues(cids), []session.QueueRef{ref(first)}); bad != 0 {
		t.Fatalf("%d queues changed while Redis refused writes, e.g. %s", bad, example)
	}
	user.set("+@write")

	last := h.publish(msg{topic: name, qos: 1, from: "p"})[0]
	waitQueues("after the refusal", []session.QueueRef{ref(first), ref(refused), ref(last)})
	h.checkEvents()
}
