package admin

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/tidemarkmq/tidemark/pkg/adminapi"
	"github.com/tidemarkmq/tidemark/pkg/auth"
	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/mqtt"
	"github.com/tidemarkmq/tidemark/pkg/topic"
)

// retainedStore follows the compacted retained topic from its start and
// keeps the latest message of each topic: what the frontends keep, for
// listing. Its own goroutine applies records; requests read under mu.
type retainedStore struct {
	fol *kafkalog.Follower

	mu    sync.Mutex
	msgs  map[string]adminapi.Retained
	next  map[int]int64 // next offset per partition applied
	moved chan struct{} // closed and replaced when next moves
}

func newRetainedStore(kafka kafkalog.Cluster, t string, log *slog.Logger) *retainedStore {
	r := &retainedStore{msgs: map[string]adminapi.Retained{}, next: map[int]int64{}, moved: make(chan struct{})}
	r.fol = kafkalog.NewFollower(kafka, kafkalog.FollowerOptions{Topic: t, Default: kafkalog.Earliest, Logger: log}, r.apply)
	return r
}

func (r *retainedStore) run(ctx context.Context) { _ = r.fol.Run(ctx) }

func (r *retainedStore) apply(rec *kafkalog.Record) {
	name := string(rec.Key)
	var m adminapi.Retained
	if len(rec.Value) > 0 {
		m = adminapi.Retained{Topic: name, PayloadBase64: base64.StdEncoding.EncodeToString(rec.Value), Offset: rec.Offset, Time: rec.Time.UTC()}
		if utf8.Valid(rec.Value) {
			s := string(rec.Value)
			m.Payload = &s
		}
		if v, ok := rec.Header(kafkalog.HeaderQoS); ok {
			m.QoS, _ = strconv.Atoi(string(v))
		}
		if v, ok := rec.Header(kafkalog.HeaderProps); ok && len(v) > 0 {
			if pr, err := mqtt.DecodeProperties(v); err == nil {
				m.Properties = apiProperties(pr)
			}
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(rec.Value) == 0 {
		delete(r.msgs, name) // tombstone
	} else {
		r.msgs[name] = m
	}
	r.next[rec.Partition] = rec.Offset + 1
	close(r.moved)
	r.moved = make(chan struct{})
}

// waitPast waits (within ctx) until the record at offset of partition p
// was applied.
func (r *retainedStore) waitPast(ctx context.Context, p int, offset int64) {
	for {
		r.mu.Lock()
		done, moved := r.next[p] > offset, r.moved
		r.mu.Unlock()
		if done {
			return
		}
		select {
		case <-moved:
		case <-ctx.Done():
			return
		}
	}
}

// page returns up to limit messages matching filter with topics after
// after, in topic order, and whether more follow.
func (r *retainedStore) page(filter, after string, limit int) ([]adminapi.Retained, bool) {
	r.mu.Lock()
	var names []string
	for name := range r.msgs {
		if name > after && topic.Match(filter, name) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	more := len(names) > limit
	names = names[:min(limit, len(names))]
	out := make([]adminapi.Retained, len(names))
	for i, n := range names {
		out[i] = r.msgs[n]
	}
	r.mu.Unlock()
	return out, more
}

func (r *retainedStore) has(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.msgs[name]
	return ok
}

// catchUpTimeout bounds how long a request waits for the retained copy
// to reach the end of the topic.
const catchUpTimeout = 10 * time.Second

// caughtUp waits until the store holds everything the topic held when
// it was called, so a listing is complete; positions rather than applied
// records, since compaction leaves holes the follower steps over.
func (r *retainedStore) caughtUp(ctx context.Context, kafka kafkalog.Cluster, t string) error {
	ctx, cancel := context.WithTimeout(ctx, catchUpTimeout)
	defer cancel()
	bounds, err := kafkalog.TopicBounds(ctx, kafka, t)
	if err != nil {
		return err
	}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-r.fol.Ready():
			pos := r.fol.Positions()
			done := true
			for p, b := range bounds {
				done = done && pos[p] >= b.Next
			}
			if done {
				return nil
			}
		default:
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("retained messages not caught up: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

func (s *Server) listRetained(r *http.Request, _ auth.Token) reply {
	q := r.URL.Query()
	limit, cur, bad := pageParams(r, cursorRetained)
	if bad != nil {
		return *bad
	}
	filter := q.Get("filter")
	if filter == "" {
		filter = "#"
	}
	if err := topic.ValidateFilter(filter); err != nil {
		return fail(http.StatusBadRequest, "filter %q: %v", filter, err)
	}
	if err := s.retained.caughtUp(r.Context(), s.cfg.Kafka, s.cfg.Topics.Retained); err != nil {
		return failErr("catch up with the retained topic", err)
	}
	msgs, more := s.retained.page(filter, cur.After, limit)
	out := adminapi.RetainedList{Messages: msgs}
	if more {
		out.NextCursor = cursor{Kind: cursorRetained, After: msgs[len(msgs)-1].Topic}.encode()
	}
	return ok(out)
}

// deleteRetained logs the tombstone that clears a topic's retained
// message, and answers once the listing no longer shows it.
func (s *Server) deleteRetained(r *http.Request, tok auth.Token) reply {
	name := r.URL.Query().Get("topic")
	if name == "" {
		return fail(http.StatusBadRequest, "the topic parameter names the retained message to delete")
	}
	if err := topic.ValidateName(name); err != nil {
		return fail(http.StatusBadRequest, "topic %q: %v", name, err)
	}
	ctx := r.Context()
	if err := s.retained.caughtUp(ctx, s.cfg.Kafka, s.cfg.Topics.Retained); err != nil {
		return failErr("catch up with the retained topic", err)
	}
	if !s.retained.has(name) {
		return fail(http.StatusNotFound, "no retained message on %q", name)
	}
	rec := &kafkalog.Record{Topic: s.cfg.Topics.Retained, Key: []byte(name)}
	if err := s.append(ctx, rec); err != nil {
		return failErr("append the tombstone", err)
	}
	s.log.Info("admin retained delete", "operator", tok.Name, "topic", name, "partition", rec.Partition, "offset", rec.Offset)
	s.retained.waitPast(ctx, rec.Partition, rec.Offset)
	return ok(adminapi.RetainedDeleted{Topic: name, Offset: rec.Offset})
}
