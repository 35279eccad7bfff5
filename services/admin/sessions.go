package admin

import (
	"context"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/adminapi"
	"github.com/tidemarkmq/tidemark/pkg/auth"
	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/session"
	"github.com/tidemarkmq/tidemark/pkg/topic"
)

// pageChunk is how many ClientIDs one read of a partition's index takes.
const pageChunk = 500

// examineLimit bounds the sessions one listing request looks at, so a
// filter that matches little answers a short page (with a cursor) in
// bounded time instead of reading every session.
const examineLimit = 20_000

// listSessions pages through the sessions partitions in order, each
// partition's ClientIDs in byte order (session.Reader.Page).
func (s *Server) listSessions(r *http.Request, _ auth.Token) reply {
	q := r.URL.Query()
	limit, cur, bad := pageParams(r, cursorSessions)
	if bad != nil {
		return *bad
	}
	state := q.Get("state")
	if state != "" && state != adminapi.StateOnline && state != adminapi.StateOffline {
		return fail(http.StatusBadRequest, "state must be online or offline, got %q", state)
	}
	node, prefix := q.Get("node"), q.Get("prefix")
	ctx := r.Context()
	parts, err := kafkalog.Partitions(ctx, s.cfg.Kafka, s.cfg.Topics.Sessions)
	if err != nil {
		return failErr("list sessions partitions", err)
	}
	if cur.Part >= len(parts) {
		return fail(http.StatusBadRequest, "%v", errBadCursor)
	}
	out := adminapi.SessionList{Sessions: []adminapi.SessionSummary{}}
	examined := 0
	chunk := pageChunk
	if state == "" && node == "" {
		chunk = limit // every ClientID read is listed
	}
	p, after := cur.Part, cur.After
	for p < len(parts) && len(out.Sessions) < limit && examined < examineLimit {
		ids, err := s.reader.Page(ctx, parts[p], after, prefix, chunk)
		if err != nil {
			return failErr("page sessions", err)
		}
		metas, err := s.reader.Metas(ctx, parts[p], ids)
		if err != nil {
			return failErr("read sessions", err)
		}
		full := false
		for _, id := range ids {
			examined++
			after = id
			m := metas[id]
			if m == nil || (node != "" && m.Node != node) || (state != "" && stateOf(m) != state) {
				continue
			}
			out.Sessions = append(out.Sessions, summary(id, m))
			if full = len(out.Sessions) == limit; full {
				break
			}
		}
		// A short chunk ends the partition, unless the page filled up
		// before its last ClientID.
		if len(ids) < chunk && (len(ids) == 0 || after == ids[len(ids)-1]) {
			p, after = p+1, ""
		}
		if full {
			break
		}
	}
	if p < len(parts) {
		out.NextCursor = cursor{Kind: cursorSessions, Part: p, After: after}.encode()
	}
	return ok(out)
}

// partitionOf returns the sessions partition that holds cid's ops, and so
// its keys in the view.
func (s *Server) partitionOf(ctx context.Context, cid string) (int, error) {
	parts, err := kafkalog.Partitions(ctx, s.cfg.Kafka, s.cfg.Topics.Sessions)
	if err != nil {
		return 0, err
	}
	return session.Partition(cid, len(parts)), nil
}

// load reads the whole session of cid (missing: State.Exists false); the
// reply is set when the read failed.
func (s *Server) load(ctx context.Context, cid string) (session.State, *reply) {
	n, err := s.partitionOf(ctx, cid)
	if err != nil {
		rep := failErr("locate the session", err)
		return session.State{}, &rep
	}
	st, err := s.reader.Load(ctx, n, cid)
	if err != nil {
		rep := failErr("load session", err)
		return session.State{}, &rep
	}
	return st, nil
}

func stateOf(m *session.Meta) string {
	if m.Online {
		return adminapi.StateOnline
	}
	return adminapi.StateOffline
}

func msTime(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

func summary(cid string, m *session.Meta) adminapi.SessionSummary {
	out := adminapi.SessionSummary{
		ClientID: cid, State: stateOf(m), Node: m.Node, ConnID: m.Conn, Epoch: m.Epoch, Proto: int(m.Proto),
		Username: m.Username, Peer: m.Peer, ConnectedAt: msTime(m.Since),
	}
	if !m.Online && m.ExpiresAt > 0 {
		t := msTime(m.ExpiresAt)
		out.ExpiresAt = &t
	}
	return out
}

// showSession answers everything the view holds about one session, plus
// its backlog counted from the log.
func (s *Server) showSession(r *http.Request, _ auth.Token) reply {
	cid := r.PathValue("clientid")
	ctx := r.Context()
	st, bad := s.load(ctx, cid)
	if bad != nil {
		return *bad
	}
	if !st.Exists {
		return fail(http.StatusNotFound, "no session for ClientID %q", cid)
	}
	m := st.Meta
	out := adminapi.Session{
		SessionSummary: summary(cid, &m),
		CleanStart:     m.Clean, ExpiryInterval: m.Expiry, Keepalive: int(m.Keepalive),
		CreatedAt: msTime(m.Created), SessionsPartition: m.Partition,
		Subscriptions: apiSubs(st.Subscriptions),
		Inflight:      []adminapi.Inflight{},
		Cursor:        map[string]int64{},
		Queue:         adminapi.Queue{Length: len(st.Queue)},
	}
	for _, in := range st.Inflight {
		out.Inflight = append(out.Inflight, apiInflight(in))
	}
	for p, o := range st.Cursor {
		out.Cursor[strconv.Itoa(p)] = o
	}
	if n := len(st.Queue); n > 0 {
		first, last := queueEntry(st.Queue[0]), queueEntry(st.Queue[n-1])
		out.Queue.Oldest, out.Queue.Newest = &first, &last
	}
	var err error
	if out.Backlog, err = s.backlog(ctx, cid, st); err != nil {
		return failErr("count backlog", err)
	}
	return ok(out)
}

func apiSubs(subs []session.Subscription) []adminapi.Subscription {
	out := make([]adminapi.Subscription, 0, len(subs))
	for _, sub := range subs {
		out = append(out, adminapi.Subscription{
			Filter: sub.Filter, QoS: int(sub.QoS), NoLocal: sub.NoLocal, RetainAsPublished: sub.RetainAsPublished,
			RetainHandling: int(sub.RetainHandling), SubscriptionID: sub.SubID,
		})
	}
	return out
}

func apiInflight(in session.Inflight) adminapi.Inflight {
	return adminapi.Inflight{MessageRef: adminapi.MessageRef{Partition: in.Partition, Offset: in.Offset},
		PacketID: int(in.PacketID), QoS: int(in.QoS), State: in.State}
}

func queueEntry(q session.QueueRef) adminapi.QueueEntry {
	return adminapi.QueueEntry{MessageRef: adminapi.MessageRef{Partition: q.Partition, Offset: q.Offset}, QoS: int(q.QoS)}
}

// matches reports whether a record of the messages topic matches one of
// the session's own (not shared) subscriptions, No Local applied.
func matches(subs []session.Subscription, cid, name, publisher string) bool {
	for _, sub := range subs {
		if strings.HasPrefix(sub.Filter, topic.SharePrefix) || (sub.NoLocal && publisher == cid) {
			continue
		}
		if topic.Match(sub.Filter, name) {
			return true
		}
	}
	return false
}

// backlog counts the records past the session's cursor (or, for a
// partition without one, its offline queue's start) that match its
// subscriptions, reading at most ScanLimit records.
func (s *Server) backlog(ctx context.Context, cid string, st session.State) (adminapi.Backlog, error) {
	out := adminapi.Backlog{Complete: true}
	if len(st.Subscriptions) == 0 {
		return out, nil
	}
	bounds, err := kafkalog.TopicBounds(ctx, s.cfg.Kafka, s.cfg.Topics.Messages)
	if err != nil {
		return out, err
	}
	parts := make([]int, 0, len(bounds))
	for p := range bounds {
		parts = append(parts, p)
	}
	sort.Ints(parts)
	for _, p := range parts {
		from, ok := st.Cursor[p]
		if !ok {
			from, ok = st.QueueFrom[p]
		}
		if !ok {
			continue // no position here: nothing is owed from this partition
		}
		from = max(from, bounds[p].First)
		to := bounds[p].Next
		if room := s.cfg.ScanLimit - out.Scanned; to-from > room {
			to, out.Complete = from+room, false
		}
		if from >= to {
			continue
		}
		err := kafkalog.ReadRange(ctx, s.cfg.Kafka, s.cfg.Topics.Messages, p, from, to, func(rec *kafkalog.Record) error {
			pub, _ := rec.Header(kafkalog.HeaderClient)
			if matches(st.Subscriptions, cid, string(rec.Key), string(pub)) {
				out.Count++
			}
			return nil
		})
		if err != nil {
			return out, err
		}
		out.Scanned += to - from
	}
	return out, nil
}
