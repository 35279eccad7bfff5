package admin

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/adminapi"
	"github.com/tidemarkmq/tidemark/pkg/auth"
	"github.com/tidemarkmq/tidemark/pkg/session"
	"github.com/tidemarkmq/tidemark/pkg/topic"
)

// sessionOf reads the session hash of the request's ClientID; the reply
// is set when there is none (404) or the read failed.
func (s *Server) sessionOf(r *http.Request) (string, *session.Meta, *reply) {
	cid := r.PathValue("clientid")
	n, err := s.partitionOf(r.Context(), cid)
	if err != nil {
		rep := failErr("locate the session", err)
		return cid, nil, &rep
	}
	m, err := s.reader.Meta(r.Context(), n, cid)
	if err != nil {
		rep := failErr("read session", err)
		return cid, nil, &rep
	}
	if m == nil {
		rep := fail(http.StatusNotFound, "no session for ClientID %q", cid)
		return cid, nil, &rep
	}
	return cid, m, nil
}

// disconnect ends the session's connection: the frontend that holds it
// closes it (MQTT 5: DISCONNECT 0x98) and the session goes offline, or
// ends if it ends with its connection.
func (s *Server) disconnect(r *http.Request, tok auth.Token) reply {
	cid, m, bad := s.sessionOf(r)
	if bad != nil {
		return *bad
	}
	if !m.Online {
		return fail(http.StatusConflict, "ClientID %q is not connected", cid)
	}
	return s.act(r.Context(), tok, adminapi.ActionDisconnect, &session.Op{Kind: session.OpAdminDisconnect, ClientID: cid, Epoch: m.Epoch})
}

// discard ends the session, connected or not.
func (s *Server) discard(r *http.Request, tok auth.Token) reply {
	cid, m, bad := s.sessionOf(r)
	if bad != nil {
		return *bad
	}
	return s.act(r.Context(), tok, adminapi.ActionDiscard, &session.Op{Kind: session.OpAdminDiscard, ClientID: cid, Epoch: m.Epoch})
}

// unsubscribe removes one subscription; a connected client is not told
// (MQTT has no way to), it just stops receiving.
func (s *Server) unsubscribe(r *http.Request, tok auth.Token) reply {
	cid := r.PathValue("clientid")
	filter := r.URL.Query().Get("filter")
	if filter == "" {
		return fail(http.StatusBadRequest, "the filter parameter names the subscription to remove")
	}
	if err := topic.ValidateFilter(filter); err != nil {
		return fail(http.StatusBadRequest, "filter %q: %v", filter, err)
	}
	st, bad := s.load(r.Context(), cid)
	if bad != nil {
		return *bad
	}
	if !st.Exists {
		return fail(http.StatusNotFound, "no session for ClientID %q", cid)
	}
	if !slices.ContainsFunc(st.Subscriptions, func(sub session.Subscription) bool { return sub.Filter == filter }) {
		return fail(http.StatusNotFound, "ClientID %q has no subscription %q", cid, filter)
	}
	return s.act(r.Context(), tok, adminapi.ActionUnsubscribe,
		&session.Op{Kind: session.OpAdminUnsubscribe, ClientID: cid, Epoch: st.Epoch, Filters: []string{filter}})
}

// act appends an administrative op in the token's name and waits until
// the session service has applied it, then answers with the session as
// it is.
func (s *Server) act(ctx context.Context, tok auth.Token, action string, op *session.Op) reply {
	op.Node, op.By, op.TS = s.cfg.Node, tok.Name, time.Now().UnixMilli()
	rec := op.Record(s.cfg.Topics.Sessions)
	if err := s.append(ctx, rec); err != nil {
		return failErr("append "+op.Kind+" op", err)
	}
	s.met.actions.WithLabelValues(action).Inc()
	s.log.Info("admin action", "operator", tok.Name, "action", action, "client", op.ClientID, "epoch", op.Epoch,
		"filters", op.Filters, "partition", rec.Partition, "offset", rec.Offset)
	out := adminapi.ActionResult{Action: action, ClientID: op.ClientID, Epoch: op.Epoch,
		Op: adminapi.MessageRef{Partition: rec.Partition, Offset: rec.Offset}}
	if err := s.waitApplied(ctx, rec.Partition, rec.Offset); err != nil {
		return fail(http.StatusGatewayTimeout, "%s op logged at %d/%d, not applied by the session service within %s: %v",
			op.Kind, rec.Partition, rec.Offset, s.cfg.ApplyTimeout, err)
	}
	m, err := s.reader.Meta(ctx, rec.Partition, op.ClientID)
	if err != nil {
		return failErr("read session", err)
	}
	// A newer connection holding the session now may have come before
	// the op reached it (fenced) or after.
	out.Applied = m == nil || m.Epoch == op.Epoch
	if m != nil {
		sum := summary(op.ClientID, m)
		out.Session = &sum
	}
	return ok(out)
}

// waitApplied polls until the session service has applied the op at
// offset of sessions partition p (or ApplyTimeout passes).
func (s *Server) waitApplied(ctx context.Context, p int, offset int64) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ApplyTimeout)
	defer cancel()
	wait := 2 * time.Millisecond
	for {
		applied, ok, err := s.reader.Applied(ctx, p)
		if err == nil && ok && applied >= offset {
			return nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			if err != nil {
				return err
			}
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, 100*time.Millisecond)
	}
}
