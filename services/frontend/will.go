package frontend

import (
	"context"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/events"
	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/mqtt"
)

// nowFunc is the clock; a variable so expiry tests need not sleep.
var nowFunc = time.Now

// willRetry bounds how long a will is retried while Kafka is unavailable.
const willRetry = 30 * time.Second

// scheduleWill publishes a connection's will now, or after its Will Delay
// Interval unless the client reconnects first [MQTT-3.1.3-9]. The delay is
// capped by the session expiry: the will goes out when the session ends.
func (s *Server) scheduleWill(cid string, info ClientInfo, w *mqtt.Will, expiry uint32, reason events.DisconnectReason) {
	var delay uint32
	if w.Properties.WillDelay != nil {
		delay = min(*w.Properties.WillDelay, expiry)
	}
	if delay > 0 && (reason == events.DisconnectTakenOver || reason == events.DisconnectServerShutdown) {
		// Taken over: the new connection resumes the session within the
		// delay by definition. Shutdown: the timer would die with the
		// process; the session service knows the will from the connect op.
		return
	}
	if !s.cfg.Auth.Publish(context.Background(), info, w.Topic) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.willsClosed {
		s.log.Warn("will not published: the frontend is stopping", "client", cid, "topic", w.Topic)
		return
	}
	if delay == 0 {
		s.bg.Add(1)
		go func() {
			defer s.bg.Done()
			s.publishWill(cid, w)
		}()
		return
	}
	if t := s.wills[cid]; t != nil {
		t.Stop()
	}
	var t *time.Timer
	t = time.AfterFunc(time.Duration(delay)*time.Second, func() {
		s.mu.Lock()
		if s.wills[cid] == t {
			delete(s.wills, cid)
		}
		if s.willsClosed {
			s.mu.Unlock()
			return
		}
		s.bg.Add(1)
		s.mu.Unlock()
		defer s.bg.Done()
		s.publishWill(cid, w)
	})
	s.wills[cid] = t
}

// stopWills ends will publishing before the appender closes: delayed wills
// still waiting are dropped (logged), and the ones being published are
// waited for, so that nothing outlives Run.
func (s *Server) stopWills() {
	s.mu.Lock()
	s.willsClosed = true
	for cid, t := range s.wills {
		if t.Stop() {
			s.log.Warn("delayed will not published: the frontend stopped first", "client", cid)
		}
		delete(s.wills, cid)
	}
	s.mu.Unlock()
	s.bg.Wait()
}

// cancelWill stops a delayed will because the client connected again.
func (s *Server) cancelWill(cid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.wills[cid]; t != nil {
		t.Stop()
		delete(s.wills, cid)
	}
}

// publishWill appends the will like a PUBLISH from the client.
func (s *Server) publishWill(cid string, w *mqtt.Will) {
	p := &mqtt.Publish{Topic: w.Topic, Payload: w.Payload, QoS: w.QoS, Retain: w.Retain, Properties: w.Properties}
	p.Properties.WillDelay = nil
	now := time.Now()
	recs := []*kafkalog.Record{publishRecord(s.cfg.Topics.Messages, cid, p, now)}
	if w.Retain {
		r := publishRecord(s.cfg.Topics.Retained, cid, p, now)
		if len(p.Payload) == 0 {
			r.Value = nil
		}
		recs = append(recs, r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), willRetry)
	defer cancel()
	wait := retryMin
	for {
		err := s.app.Append(ctx, recs...)
		if err == nil {
			s.m.messagesIn.WithLabelValues(qosLabel[w.QoS&3]).Inc()
			return
		}
		if ctx.Err() != nil {
			s.log.Error("will lost: message log unavailable", "client", cid, "topic", w.Topic, "err", err)
			return
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
		}
		wait = min(wait*2, retryMax)
	}
}
