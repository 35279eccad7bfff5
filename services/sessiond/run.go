package sessiond

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/tidemarkmq/tidemark/pkg/events"
	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/session"
)

// maxRun bounds how many ops one run applies: one Append of their events
// and one Redis transaction.
const maxRun = 256

// Handle passes records to the partition's worker, which applies them in
// runs: whatever has arrived while the previous run was being applied.
// That batches the events of many ops into one Append and their Redis
// changes into one transaction, while a lone op is applied at once.

func (s *Service) startWorker(p *part) {
	p.in = make(chan *kafkalog.Record, maxRun)
	p.stop = make(chan struct{})
	p.exited = make(chan struct{})
	p.failed = make(chan struct{})
	go s.work(p)
}

// stopWorker stops p's worker after the run in flight and waits for it.
// Records not yet applied are not committed: the next owner applies them.
func (p *part) stopWorker() {
	close(p.stop)
	<-p.exited
}

func (s *Service) handle(ctx context.Context, rec *kafkalog.Record) error {
	s.mu.Lock()
	p := s.parts[rec.Partition]
	s.mu.Unlock()
	if p == nil {
		return fmt.Errorf("handle %d/%d: %w", rec.Partition, rec.Offset, kafkalog.ErrNotAssigned)
	}
	select {
	case <-p.failed:
		return p.err
	default:
	}
	select {
	case p.in <- rec:
		return nil
	case <-p.failed:
		// Ending the generation makes the group rejoin: the new
		// assignment claims the partition again (and rebuilds the view
		// if it was wiped).
		return p.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Service) work(p *part) {
	defer close(p.exited)
	ctx := s.workCtx
	for {
		var run []*kafkalog.Record
		select {
		case <-p.stop:
			return
		case <-ctx.Done():
			return
		case rec := <-p.in:
			run = append(run, rec)
		}
	drain:
		for len(run) < maxRun {
			select {
			case rec := <-p.in:
				run = append(run, rec)
			default:
				break drain
			}
		}
		if !s.applyRun(ctx, p, run) {
			return
		}
	}
}

// applyRun applies a run, retrying with back-off while Kafka or Redis
// fail: the run's ops must be applied before any later op of the
// partition. A retry re-announces events with the same ids. It returns
// false when the worker must stop.
func (s *Service) applyRun(ctx context.Context, p *part, run []*kafkalog.Record) bool {
	wait := 100 * time.Millisecond
	for failing := false; ; {
		p.handling.Lock()
		if s.stopping.Load() {
			p.handling.Unlock()
			return false
		}
		start := time.Now()
		err := s.processRun(ctx, p, run, true)
		if err == nil {
			s.met.runTime.Observe(time.Since(start).Seconds())
			last := run[len(run)-1]
			p.next.Store(last.Offset + 1)
			s.met.lag.WithLabelValues(itoa(p.n)).Set(time.Since(last.Time).Seconds())
		}
		p.handling.Unlock()
		if err == nil {
			if failing {
				s.log.Info("applying session ops again", "partition", p.n)
			}
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		if errors.Is(err, session.ErrNotOwner) {
			s.log.Error("partition claimed by another instance; stopping its processing", "partition", p.n)
			p.err = err
			close(p.failed)
			// Handle reports the failure to the group with the next record;
			// rejoining now also covers a record already queued, after which
			// none may come.
			s.group.Rejoin()
			return false
		}
		if !failing {
			s.log.Warn("applying session ops failed; retrying", "partition", p.n, "err", err)
			failing = true
		}
		t := time.NewTimer(wait)
		select {
		case <-p.stop:
			t.Stop()
			return false
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// overlay is the view of the clients a run touches, as it stands after
// the run's ops so far: decisions within one run see the effects of the
// earlier ops before Redis does.
type overlay map[string]*input

// view returns cid's view, reading the session hash on first use.
func (s *Service) view(ctx context.Context, n int, ov overlay, cid string) (*input, error) {
	if in, ok := ov[cid]; ok {
		return in, nil
	}
	m, err := s.w.Meta(ctx, n, cid)
	if err != nil {
		return nil, err
	}
	in := &input{meta: m}
	ov[cid] = in
	return in, nil
}

// prefetch reads the views of the clients a run touches in one round trip,
// rather than one per op as the run is decided: under a burst of CONNECTs
// a run holds many clients, and each sequential read would delay the
// CONNACK of every op after it.
func (s *Service) prefetch(ctx context.Context, n int, ov overlay, cids []string) error {
	var want []string
	seen := make(map[string]bool, len(cids))
	for _, cid := range cids {
		if _, ok := ov[cid]; !ok && !seen[cid] {
			seen[cid] = true
			want = append(want, cid)
		}
	}
	if len(want) < 2 {
		return nil // view reads a lone one itself
	}
	metas, err := s.w.Metas(ctx, n, want)
	if err != nil {
		return err
	}
	for _, cid := range want {
		ov[cid] = &input{meta: metas[cid]}
	}
	return nil
}

// full makes sure in has the cursor and qfrom (what a disconnect needs),
// reading Redis's and replaying the run's cursor changes over them.
func (s *Service) full(ctx context.Context, n int, in *input, cid string) error {
	if in.loaded {
		return nil
	}
	st, err := s.w.Load(ctx, n, cid)
	if err != nil {
		return err
	}
	in.cursor, in.qfrom = st.Cursor, st.QueueFrom
	if in.cursor == nil {
		in.cursor = map[int]int64{}
	}
	for p, o := range in.delta {
		in.cursor[p] = o
	}
	in.delta, in.loaded = nil, true
	return nil
}

// processRun applies a run of ops of one partition: decide each against
// the overlay, announce all their events (and publish the wills they
// publish) in one Append (when emit), apply all their changes in one
// transaction, then move the queue index. Ops at or below the partition's
// applied mark are already in Redis and skipped.
//
// A node_down op is applied in a run of its own: it finds the sessions its
// incarnation holds in Redis, which must not lag behind earlier ops of the
// run held only in the overlay, and the connects after it must know the
// incarnation is down.
func (s *Service) processRun(ctx context.Context, p *part, run []*kafkalog.Record, emit bool) error {
	from := 0
	for i, rec := range run {
		if h, _ := rec.Header(session.HeaderOp); string(h) != session.OpNodeDown {
			continue
		}
		for _, seg := range [][]*kafkalog.Record{run[from:i], run[i : i+1]} {
			if err := s.applyOps(ctx, p, seg, emit); err != nil {
				return err
			}
		}
		from = i + 1
	}
	return s.applyOps(ctx, p, run[from:], emit)
}

// decoded is one record of a run with its op; held lists, for a node_down
// op, the sessions its incarnation holds.
type decoded struct {
	rec  *kafkalog.Record
	op   *session.Op
	err  error
	held []string
}

// applyOps is processRun for a run with at most one node_down op, alone.
func (s *Service) applyOps(ctx context.Context, p *part, run []*kafkalog.Record, emit bool) error {
	ov := overlay{}
	var (
		steps   []session.Step
		envs    = 0
		batches []*batch
		leave   []string
		touched []string
		moves   [][2]string
		timers  []*session.Op // expire and will ops applied
		wills   []willPub
		downs   []string
		// connects: the run applies a connect, whose frontend waits for
		// it (session.Writer.Announce).
		connects bool
	)
	var follow map[int]int64
	if emit {
		follow = s.q.positions()
	}
	ops := make([]decoded, 0, len(run))
	var cids []string
	for _, rec := range run {
		if rec.Offset <= p.applied {
			continue
		}
		d := decoded{rec: rec}
		d.op, d.err = session.DecodeOp(rec)
		switch {
		case d.err != nil:
		case d.op.Kind == session.OpNodeDown:
			if d.held, d.err = s.w.Held(ctx, p.n, d.op.Inc); d.err != nil {
				return d.err
			}
			cids = append(cids, d.held...)
		case d.op.Kind != session.OpRejected && d.op.Kind != session.OpDrop:
			cids = append(cids, d.op.ClientID)
		}
		ops = append(ops, d)
	}
	if err := s.prefetch(ctx, p.n, ov, cids); err != nil {
		return err
	}
	for _, d := range ops {
		rec, op, err := d.rec, d.op, d.err
		if err != nil {
			// A record that is not an op can never be applied: log it,
			// count it and move on rather than block the partition.
			s.log.Warn("undecodable session op skipped", "partition", rec.Partition, "offset", rec.Offset, "err", err)
			s.met.ops.WithLabelValues("invalid", "skipped").Inc()
			steps = append(steps, session.Step{Offset: rec.Offset})
			continue
		}
		if op.TS == 0 {
			op.TS = rec.Time.UnixMilli()
		}
		b := &batch{topic: s.cfg.Topics.Sessions, partition: rec.Partition, offset: rec.Offset, at: time.UnixMilli(op.TS)}
		batches = append(batches, b)
		// decideOne decides one client's op against its view and records
		// the outcome's consequences for the run.
		decideOne := func(op *session.Op, in *input) (func(*session.Tx), error) {
			if (op.Kind == session.OpDisconnect || op.Kind == session.OpAdminDisconnect) && in.meta != nil && in.meta.Epoch == op.Epoch && in.meta.Online {
				if err := s.full(ctx, p.n, in, op.ClientID); err != nil {
					return nil, err
				}
			}
			before := stateOf(in.meta)
			v := *in
			if op.Kind == session.OpConnect {
				v.incDown = op.Inc != "" && p.down[op.Inc]
				v.parent, v.state = traceContext(rec)
			}
			span := startApplySpan(rec, op)
			out := s.decide(b, op, v, follow)
			if span != nil {
				endSpan(span, nil, attribute.String("tidemark.result", out.result))
			}
			s.met.ops.WithLabelValues(op.Kind, out.result).Inc()
			if out.leave {
				leave = append(leave, op.ClientID)
			}
			if out.state != "" {
				moves = append(moves, [2]string{before, out.state})
			}
			advance(in, op, out)
			touched = append(touched, op.ClientID)
			wills = append(wills, out.wills...)
			tx := out.tx
			if len(out.wills) > 0 {
				ids := make([]string, len(out.wills))
				for i, w := range out.wills {
					ids[i] = w.id
				}
				tx = func(t *session.Tx) { out.tx(t); t.UnmarkWills(ids...) }
			}
			return tx, nil
		}
		switch op.Kind {
		case session.OpRejected, session.OpDrop:
			out := s.decide(b, op, input{}, follow)
			s.met.ops.WithLabelValues(op.Kind, out.result).Inc()
			steps = append(steps, session.Step{Offset: rec.Offset, Fn: out.tx})
		case session.OpNodeDown:
			// Each session still online on the incarnation ends as a
			// connection closed without DISCONNECT, at the moment the
			// incarnation was last known alive.
			var fns []func(*session.Tx)
			ended := 0
			for _, cid := range d.held {
				in, err := s.view(ctx, p.n, ov, cid)
				if err != nil {
					return err
				}
				m := in.meta
				if !m.Holds(op.Inc) {
					continue // ended or taken over since; the index lags
				}
				// The ends of connections taken over from the incarnation
				// (their wills were waiting for them), then its own.
				var ends []*session.Op
				for _, w := range m.Superseded {
					if w.Inc == op.Inc {
						ends = append(ends, &session.Op{Kind: session.OpDisconnect, ClientID: cid, Conn: w.Conn, Epoch: w.Epoch,
							Node: w.Node, TS: op.TS, Reason: string(events.DisconnectNodeDown)})
					}
				}
				if m.Online && m.Inc == op.Inc {
					ends = append(ends, &session.Op{Kind: session.OpDisconnect, ClientID: cid, Conn: m.Conn, Epoch: m.Epoch, Node: m.Node,
						TS: op.TS, Reason: string(events.DisconnectNodeDown), Expiry: m.Expiry})
					ended++
				}
				for _, end := range ends {
					tx, err := decideOne(end, in)
					if err != nil {
						return err
					}
					fns = append(fns, tx)
				}
			}
			inc, alive := op.Inc, op.TS
			fns = append(fns, func(tx *session.Tx) { tx.NodeDown(inc, alive) })
			steps = append(steps, session.Step{Offset: rec.Offset, Fn: func(tx *session.Tx) {
				for _, fn := range fns {
					if fn != nil {
						fn(tx)
					}
				}
			}})
			downs = append(downs, inc)
			s.met.ops.WithLabelValues(op.Kind, resultApplied).Inc()
			if emit {
				s.met.nodeDownConns.Add(float64(ended))
				s.log.Info("connections of a dead frontend ended", "partition", p.n, "node", op.Node, "inc", inc, "reason", op.Reason, "connections", ended)
			}
		default:
			in, err := s.view(ctx, p.n, ov, op.ClientID)
			if err != nil {
				return err
			}
			tx, err := decideOne(op, in)
			if err != nil {
				return err
			}
			if op.Kind == session.OpExpire || op.Kind == session.OpWill {
				timers = append(timers, op)
			}
			connects = connects || op.Kind == session.OpConnect
			steps = append(steps, session.Step{Offset: rec.Offset, Fn: tx})
		}
		envs += len(b.envs)
	}
	if len(steps) == 0 {
		return nil
	}
	p.doneTimers(timers)
	// Sessions that stop being offline leave the queue before Redis
	// changes, so no queue write lands after their connect.
	for _, cid := range leave {
		s.q.remove(cid)
	}
	if emit && (envs > 0 || len(wills) > 0) {
		all, traces, err := s.willRecords(ctx, p, wills)
		if err != nil {
			return fmt.Errorf("publish wills %d/[%d..%d]: %w", p.n, run[0].Offset, run[len(run)-1].Offset, err)
		}
		for _, b := range batches {
			recs, err := records(s.cfg.Topics.Lifecycle, b.envs)
			if err != nil {
				return err
			}
			all = append(all, recs...)
		}
		err = s.app.Append(ctx, all...)
		traces.end(err)
		if err != nil {
			return fmt.Errorf("announce ops %d/[%d..%d]: %w", p.n, run[0].Offset, run[len(run)-1].Offset, err)
		}
		if hookAppended != nil {
			if err := hookAppended(); err != nil {
				return err
			}
		}
		for _, b := range batches {
			for _, e := range b.envs {
				s.met.events.WithLabelValues(string(e.Type)).Inc()
			}
		}
		for _, w := range wills {
			s.met.wills.WithLabelValues(string(w.trigger)).Inc()
		}
	}
	if err := s.w.ApplyBatch(ctx, p.n, s.token, steps); err != nil {
		return err
	}
	p.applied = steps[len(steps)-1].Offset
	if connects {
		s.announce(ctx, p)
	}
	for _, inc := range downs {
		p.down[inc] = true
	}
	s.met.runs.Observe(float64(len(steps)))
	if !emit {
		return nil
	}
	for _, m := range moves {
		p.count(m[0], m[1])
	}
	if len(moves) > 0 {
		s.updateGauges()
	}
	// Sessions that end the run offline start (again) to be queued for.
	seen := map[string]bool{}
	var queued []string
	for _, cid := range touched {
		if seen[cid] {
			continue
		}
		seen[cid] = true
		if in := ov[cid]; in != nil && in.meta != nil && !in.meta.Online && in.queued {
			queued = append(queued, cid)
		}
	}
	_, err := s.q.add(ctx, p.n, queued)
	return err
}

// announce tells the frontends waiting for connects of p that they are
// applied (session.Writer.Announce). A failure costs them a poll; it is
// said once per streak of failures.
func (s *Service) announce(ctx context.Context, p *part) {
	err := s.w.Announce(ctx, p.n, p.applied)
	switch {
	case err == nil && s.announceFailing.Swap(false):
		s.log.Info("applied announcements published again")
	case err != nil && ctx.Err() == nil && !s.announceFailing.Swap(true):
		s.log.Warn("applied announcements cannot be published; frontends poll Redis for applied connects (grant the Redis user the channel)",
			"channel", s.w.Keys().AppliedChannel(), "err", err)
	}
}

// reset starts in's cursor and queue start afresh: the session was created
// or discarded by the op, so nothing of Redis's applies any more.
func (in *input) reset() {
	in.cursor, in.qfrom, in.delta, in.loaded = map[int]int64{}, map[int]int64{}, nil, true
}

// advance updates a client's overlay view with an op's outcome.
func advance(in *input, op *session.Op, out outcome) {
	if out.result != resultApplied {
		return
	}
	switch op.Kind {
	case session.OpConnect:
		in.meta = out.meta
		in.queued = false
		if !out.meta.Present {
			in.reset()
		}
	case session.OpDisconnect, session.OpAdminDisconnect:
		if out.state == "" {
			in.meta = out.meta // a superseded connection's end
			return
		}
		if out.state == stateNone {
			in.meta = nil
			in.reset()
			in.queued = false
			return
		}
		in.meta = out.meta
		in.qfrom = out.qfrom
		in.queued = true
	case session.OpExpire, session.OpAdminDiscard:
		in.meta = nil
		in.reset()
		in.queued = false
	case session.OpAdminUnsubscribe:
		// An offline session left the queue (outcome.leave); it joins
		// again with its new subscriptions.
		in.queued = in.meta != nil && !in.meta.Online
	case session.OpWill:
		in.meta = out.meta
	case session.OpProgress:
		for p, o := range op.Cursor {
			if in.loaded {
				in.cursor[p] = o
				continue
			}
			if in.delta == nil {
				in.delta = map[int]int64{}
			}
			in.delta[p] = o
		}
	}
}
