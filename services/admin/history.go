package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/adminapi"
	"github.com/tidemarkmq/tidemark/pkg/auth"
	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/session"
)

// clientLogs locates a client's records: its partition of the sessions
// topic (its ops) and of the lifecycle topic (its events), both keyed by
// ClientID, with their bounds.
type clientLogs struct {
	opsPart, evPart int
	ops, ev         kafkalog.Bounds
}

func (s *Server) locate(ctx context.Context, cid string) (clientLogs, error) {
	var l clientLogs
	ob, err := kafkalog.TopicBounds(ctx, s.cfg.Kafka, s.cfg.Topics.Sessions)
	if err != nil {
		return l, err
	}
	eb, err := kafkalog.TopicBounds(ctx, s.cfg.Kafka, s.cfg.Topics.Lifecycle)
	if err != nil {
		return l, err
	}
	l.opsPart = kafkalog.PartitionFor([]byte(cid), len(ob))
	l.evPart = kafkalog.PartitionFor([]byte(cid), len(eb))
	l.ops, l.ev = ob[l.opsPart], eb[l.evPart]
	return l, nil
}

// quietOps are the op kinds left out of a history unless asked for: a
// connection logs them often, and the events say what matters of them.
var quietOps = map[string]bool{
	session.OpProgress: true, session.OpQoS2Out: true, session.OpQoS2In: true, session.OpQoS2Rel: true,
}

// history merges the client's ops and events, newest first.
func (s *Server) history(r *http.Request, _ auth.Token) reply {
	cid := r.PathValue("clientid")
	q := r.URL.Query()
	limit, cur, bad := pageParams(r, cursorHistory)
	if bad != nil {
		return *bad
	}
	source := q.Get("source")
	if source != "" && source != adminapi.SourceOp && source != adminapi.SourceEvent {
		return fail(http.StatusBadRequest, "source must be op or event, got %q", source)
	}
	verbose := q.Get("verbose") == "true"
	ctx := r.Context()
	logs, err := s.locate(ctx, cid)
	if err != nil {
		return failErr("locate the client's partitions", err)
	}
	opsFrom, evFrom := logs.ops.Next, logs.ev.Next
	if q.Get("cursor") != "" {
		opsFrom, evFrom = min(cur.Ops, opsFrom), min(cur.Events, evFrom)
	}
	var ops, evs *backScan
	if source != adminapi.SourceEvent {
		ops = newBackScan(s.cfg.Kafka, s.cfg.Topics.Sessions, logs.opsPart, cid, logs.ops.First, opsFrom, s.cfg.ScanLimit)
	}
	if source != adminapi.SourceOp {
		evs = newBackScan(s.cfg.Kafka, s.cfg.Topics.Lifecycle, logs.evPart, cid, logs.ev.First, evFrom, s.cfg.ScanLimit)
	}
	out := adminapi.History{ClientID: cid, Entries: []adminapi.HistoryEntry{}}
	for len(out.Entries) < limit {
		op, err := nextOp(ctx, ops, verbose)
		if err != nil {
			return failErr("read the sessions topic", err)
		}
		ev, err := peek(ctx, evs)
		if err != nil {
			return failErr("read the lifecycle topic", err)
		}
		switch {
		case op == nil && ev == nil:
		case op == nil || (ev != nil && !ev.Time.Before(op.Time)):
			// An event is caused by an op logged before it: on a tie the
			// event is the newer.
			evs.take()
			out.Entries = append(out.Entries, eventEntry(ev))
			continue
		default:
			ops.take()
			out.Entries = append(out.Entries, opEntry(op))
			continue
		}
		break
	}
	if !done(ops) || !done(evs) {
		c := cursor{Kind: cursorHistory}
		if ops != nil {
			c.Ops = ops.resume()
		}
		if evs != nil {
			c.Events = evs.resume()
		}
		out.NextCursor = c.encode()
	}
	if len(out.Entries) == 0 && q.Get("cursor") == "" {
		m, err := s.reader.Meta(ctx, logs.opsPart, cid)
		if err != nil {
			return failErr("read session", err)
		}
		if m == nil && out.NextCursor == "" {
			return fail(http.StatusNotFound, "no session and no history for ClientID %q", cid)
		}
	}
	return ok(out)
}

func peek(ctx context.Context, b *backScan) (*kafkalog.Record, error) {
	if b == nil {
		return nil, nil
	}
	return b.peek(ctx)
}

// nextOp peeks at the next op to show, skipping quiet ones.
func nextOp(ctx context.Context, b *backScan, verbose bool) (*kafkalog.Record, error) {
	for {
		rec, err := peek(ctx, b)
		if err != nil || rec == nil || verbose {
			return rec, err
		}
		if kind, _ := rec.Header(session.HeaderOp); !quietOps[string(kind)] {
			return rec, nil
		}
		b.take()
	}
}

func done(b *backScan) bool { return b == nil || b.exhausted() }

func opEntry(rec *kafkalog.Record) adminapi.HistoryEntry {
	e := adminapi.HistoryEntry{Time: rec.Time.UTC(), Source: adminapi.SourceOp, Partition: rec.Partition, Offset: rec.Offset}
	if err := json.Unmarshal(rec.Value, &e.Data); err != nil {
		e.Data = map[string]any{"undecodable": err.Error()}
	}
	e.Kind, _ = e.Data["op"].(string)
	if e.Kind == "" {
		k, _ := rec.Header(session.HeaderOp)
		e.Kind = string(k)
	}
	if ts, ok := e.Data["ts"].(float64); ok && ts > 0 {
		e.Time = time.UnixMilli(int64(ts)).UTC()
	}
	e.Summary = describe(e.Kind, e.Data, opFields)
	return e
}

// envelope is the part of a lifecycle event a history shows; data stays
// generic, so event types newer than this build show too.
type envelope struct {
	ID   string         `json:"id"`
	Type string         `json:"type"`
	Time time.Time      `json:"time"`
	Data map[string]any `json:"data"`
}

func eventEntry(rec *kafkalog.Record) adminapi.HistoryEntry {
	e := adminapi.HistoryEntry{Time: rec.Time.UTC(), Source: adminapi.SourceEvent, Partition: rec.Partition, Offset: rec.Offset}
	var env envelope
	if err := json.Unmarshal(rec.Value, &env); err != nil {
		e.Data = map[string]any{"undecodable": err.Error()}
		return e
	}
	e.Kind, e.Data = env.Type, env.Data
	if e.Data == nil {
		e.Data = map[string]any{}
	}
	if !env.Time.IsZero() {
		e.Time = env.Time.UTC()
	}
	e.Summary = describe(strings.TrimPrefix(env.Type, "mqtt."), env.Data, eventFields)
	return e
}

// The fields a summary line shows, in this order, when present.
var (
	opFields    = []string{"proto", "clean", "expiry", "peer", "username", "reason", "code", "subs", "filters", "topic", "p", "o", "count", "epoch", "by"}
	eventFields = []string{"reason", "mqtt_reason_code", "session_present", "clean_start", "expiry_interval", "peer", "username", "proto",
		"subscriptions", "filters", "topic", "partition", "from", "to", "count", "duration_ms", "conn_id", "operator"}
)

// describe renders kind and the chosen fields as "kind k=v k=v".
func describe(kind string, data map[string]any, fields []string) string {
	var b strings.Builder
	b.WriteString(kind)
	for _, f := range fields {
		v, ok := data[f]
		if !ok || v == nil {
			continue
		}
		b.WriteString(" " + f + "=" + short(f, v))
	}
	return b.String()
}

func short(field string, v any) string {
	switch x := v.(type) {
	case float64:
		if field == "code" || field == "mqtt_reason_code" {
			return fmt.Sprintf("0x%02X", int(x))
		}
		return strconv.FormatFloat(x, 'f', -1, 64)
	case string:
		return x
	case []any:
		parts := make([]string, 0, len(x))
		for _, it := range x {
			if m, ok := it.(map[string]any); ok {
				parts = append(parts, fmt.Sprint(m["filter"]))
				continue
			}
			parts = append(parts, fmt.Sprint(it))
		}
		return strings.Join(parts, ",")
	}
	return fmt.Sprint(v)
}
