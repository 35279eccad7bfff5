package frontend

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/mqtt"
	"github.com/tidemarkmq/tidemark/pkg/session"
)

// CONNECT is handled before the connection's loop exists: on the goroutine
// that took the connection, before it hands it to its reader (serve),
// validated, logged as the connect op, waited
// for until the session service applied it, and answered with CONNACK.
// Only an accepted connection gets a loop (conn.attach).

// refuseUndecoded answers a CONNECT the codec rejected. Only an unknown
// protocol name or level has an answer every client understands: the 3.1.1
// CONNACK with return code 0x01 [MQTT-3.1.2-2]; anything else just closes.
func (c *conn) refuseUndecoded(err error) {
	defer c.nc.Close()
	if errors.Is(err, mqtt.UnsupportedProtocolVersion) {
		buf, _ := mqtt.AppendPacket(nil, &mqtt.Connack{ReasonCode: mqtt.UnsupportedProtocolVersion}, mqtt.V311)
		_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = c.nc.Write(buf)
		c.s.m.connects.WithLabelValues("unsupported_protocol").Inc()
		c.logger().Info("connection refused", "peer", c.nc.RemoteAddr(), "reason", "unsupported_protocol")
		// Announced like every refused CONNECT; the codec stopped before
		// the ClientID, so the event names none.
		if err := c.logOp(&session.Op{Kind: session.OpRejected, Connack: byte(mqtt.RefusedProtocolVersion),
			Peer: c.nc.RemoteAddr().String(), Reason: err.Error()}); err != nil {
			c.logger().Warn("log rejected connect", "err", err)
		}
		return
	}
	c.s.m.connects.WithLabelValues("malformed").Inc()
	c.logger().Info("connection refused", "peer", c.nc.RemoteAddr(), "reason", "malformed", "err", err)
}

// validateConnect applies the CONNECT rules the codec leaves to the server
// and the Authorizer. It returns Success or the CONNACK reason code.
func (c *conn) validateConnect(cp *mqtt.Connect) (assigned bool, rc mqtt.ReasonCode) {
	// First, so that a CONNECT flood costs no password hashing.
	if !c.s.lim.connectAllowed() {
		return false, mqtt.ConnectionRateExceeded
	}
	if !c.s.lim.clientIDOK(cp.ClientID) {
		return false, mqtt.ClientIdentifierNotValid
	}
	if cp.ClientID == "" {
		switch {
		case cp.Version == mqtt.V31:
			return false, mqtt.ClientIdentifierNotValid
		case cp.Version == mqtt.V311 && !cp.CleanStart:
			return false, mqtt.ClientIdentifierNotValid // [MQTT-3.1.3-8]
		}
		cp.ClientID = "auto-" + uuid.NewString() // [MQTT-3.1.3-6]
		assigned = true
	}
	if cp.Version == mqtt.V31 && len(cp.ClientID) > 23 {
		return false, mqtt.ClientIdentifierNotValid
	}
	if cp.Properties.AuthMethod != nil {
		return false, mqtt.BadAuthenticationMethod // no extended authentication
	}
	ci := ConnectInfo{ClientInfo: c.infoFor(cp), Password: cp.Password, HasPassword: cp.PasswordFlag}
	if tc, ok := c.nc.(*tls.Conn); ok {
		st := tc.ConnectionState()
		ci.TLS = &st
	}
	user, err := c.s.cfg.Auth.Connect(c.ctx, ci)
	switch {
	case err == nil:
		cp.Username = user // the identity the Authorizer settled on
		return assigned, c.checkWill(cp)
	case errors.Is(err, ErrBadCredentials):
		return false, mqtt.BadUsernameOrPassword
	default:
		return false, mqtt.NotAuthorized
	}
}

// checkWill applies the topic limits and the ACL to the will at CONNECT,
// as Mosquitto does: a will the client may not publish is refused now,
// not dropped when it is due (the session service may publish it then).
func (c *conn) checkWill(cp *mqtt.Connect) mqtt.ReasonCode {
	if cp.Will == nil {
		return mqtt.Success
	}
	if c.s.lim.checkTopic(cp.Will.Topic) != nil {
		return mqtt.TopicNameInvalid
	}
	if !c.s.cfg.Auth.Publish(c.ctx, c.infoFor(cp), cp.Will.Topic) {
		c.s.lim.denied.WithLabelValues("will").Inc()
		return mqtt.NotAuthorized
	}
	return mqtt.Success
}

func (c *conn) infoFor(cp *mqtt.Connect) ClientInfo {
	return ClientInfo{ClientID: cp.ClientID, Username: cp.Username, Peer: c.nc.RemoteAddr(), Protocol: byte(cp.Version)}
}

// refuse answers CONNECT with a failure code and logs the rejected op.
func (c *conn) refuse(cp *mqtt.Connect, rc mqtt.ReasonCode, why string) {
	_ = c.writeNow(&mqtt.Connack{ReasonCode: rc})
	c.nc.Close()
	c.s.m.connects.WithLabelValues(rc.Error()).Inc()
	c.logger().Info("connection refused", "peer", c.nc.RemoteAddr(), "reason", why)
	code := byte(rc)
	if c.version != mqtt.V5 {
		code = byte(mqtt.ReturnCodeFor(rc))
	}
	if err := c.logOp(&session.Op{Kind: session.OpRejected, Proto: byte(cp.Version), Connack: code,
		Username: cp.Username, Peer: c.nc.RemoteAddr().String(), Reason: why}); err != nil {
		c.logger().Warn("log rejected connect", "err", err)
	}
}

// sessionExpiry is the effective expiry in seconds after defaults and caps.
func (c *conn) sessionExpiry(cp *mqtt.Connect) uint32 {
	cfg := &c.s.cfg
	var exp uint32
	if cp.Version == mqtt.V5 {
		if cp.Properties.SessionExpiry != nil {
			exp = *cp.Properties.SessionExpiry
		}
	} else if !cp.CleanStart {
		exp = uint32(cfg.DefaultExpiry / time.Second)
	}
	if cfg.MaxExpiry > 0 && exp > uint32(cfg.MaxExpiry/time.Second) {
		exp = uint32(cfg.MaxExpiry / time.Second)
	}
	return exp
}

// connect validates CONNECT, logs it, waits for the session service to
// apply it and answers CONNACK. It reports false when the connection ended
// (refused, or ended before its CONNACK: then without a will).
func (c *conn) connect(cp *mqtt.Connect) (session.State, bool) {
	c.version = cp.Version
	c.username = cp.Username
	assigned, rc := c.validateConnect(cp)
	c.clientID = cp.ClientID
	c.info = c.infoFor(cp)
	if rc != mqtt.Success {
		c.refuse(cp, rc, rc.Error())
		return session.State{}, false
	}
	select {
	case <-c.s.readyCh:
	case <-time.After(c.s.cfg.ConnectTimeout):
		c.refuse(cp, mqtt.ServerUnavailable, "frontend not ready")
		return session.State{}, false
	}
	c.connExp = c.sessionExpiry(cp)
	c.expiry = c.connExp
	ka := cp.KeepAlive
	serverKA := false
	// Only MQTT 5 can be told a shorter keep alive (Server Keep Alive); a
	// 3.1.x client pings at its own pace, so capping it would cut it off.
	if m := c.s.cfg.MaxKeepAlive; m > 0 && cp.Version == mqtt.V5 && (ka == 0 || int(ka) > m) {
		ka, serverKA = uint16(m), true
	}
	if ka > 0 {
		c.keepAlive = time.Duration(ka) * 1500 * time.Millisecond
	}

	c.s.expect(c)
	op := &session.Op{Kind: session.OpConnect, Proto: byte(cp.Version), Clean: cp.CleanStart,
		Expiry: c.connExp, Keepalive: ka, Username: cp.Username, Peer: c.nc.RemoteAddr().String(), Inc: c.inc}
	if cp.Properties.ReceiveMaximum != nil {
		op.ReceiveMax = *cp.Properties.ReceiveMaximum
	}
	if w := cp.Will; w != nil {
		op.Will = &session.Will{Topic: w.Topic, Payload: w.Payload, QoS: w.QoS, Retain: w.Retain,
			Props: mqtt.AppendProperties(nil, &w.Properties)}
		if w.Properties.WillDelay != nil {
			op.Will.Delay = *w.Properties.WillDelay
		}
	}
	rec := c.opRecord(op)
	// The connect op carries the CONNECT span (takeover, session service).
	kafkalog.InjectTrace(c.withConnSpan(context.Background()), rec)
	if err := c.appendRecords([]*kafkalog.Record{rec}, false); err != nil {
		c.s.unexpect(c)
		c.logger().Warn("log connect", "err", err)
		_ = c.writeNow(&mqtt.Connack{ReasonCode: mqtt.ServerUnavailable})
		c.nc.Close()
		c.s.m.connects.WithLabelValues("server_unavailable").Inc()
		return session.State{}, false
	}
	c.epoch.Store(rec.Offset)
	if !c.s.register(c) {
		// A newer CONNECT for this ClientID was logged, and read by the
		// takeover watch, before this one's append returned.
		c.kill(ErrTakenOver)
		c.endUnaccepted()
		return session.State{}, false
	}

	wctx, cancel := context.WithTimeout(c.withConnSpan(c.ctx), opTimeout)
	st, err := c.waitApplied(wctx, rec.Offset)
	cancel()
	switch {
	case err == nil && c.cause() != nil:
		// Killed while its session was being applied: taken over by a
		// newer CONNECT, or the frontend is draining.
		if errors.Is(c.cause(), ErrShutdown) {
			_ = c.writeNow(&mqtt.Connack{ReasonCode: mqtt.ServerUnavailable})
		}
		c.endUnaccepted()
		return session.State{}, false
	case errors.Is(err, session.ErrSuperseded):
		c.kill(ErrTakenOver)
		c.endUnaccepted()
		return session.State{}, false
	case err != nil:
		c.logger().Warn("wait for session", "err", err)
		_ = c.writeNow(&mqtt.Connack{ReasonCode: mqtt.ServerUnavailable})
		c.kill(fmt.Errorf("wait for session: %w", ErrKafkaUnavailable))
		c.endUnaccepted()
		return session.State{}, false
	}

	ack := &mqtt.Connack{SessionPresent: st.Present}
	c.out = newOutbox(c.s.cfg.ReceiveMaximum)
	if cp.Version == mqtt.V5 {
		pr := &ack.Properties
		pr.ReceiveMaximum = mqtt.Ptr(uint16(c.s.cfg.ReceiveMaximum))
		pr.RetainAvailable = mqtt.Ptr(byte(1))
		pr.WildcardSubAvailable = mqtt.Ptr(byte(1))
		pr.SubIDAvailable = mqtt.Ptr(byte(1))
		pr.SharedSubAvailable = mqtt.Ptr(byte(1))
		pr.TopicAliasMaximum = mqtt.Ptr(uint16(c.s.cfg.TopicAliasMaximum))
		pr.MaximumPacketSize = mqtt.Ptr(uint32(c.s.cfg.MaxPacketSize))
		if assigned {
			pr.AssignedClientID = mqtt.Ptr(c.clientID)
		}
		if serverKA {
			pr.ServerKeepAlive = mqtt.Ptr(ka)
		}
		if cp.Properties.SessionExpiry != nil && *cp.Properties.SessionExpiry != c.connExp {
			pr.SessionExpiry = mqtt.Ptr(c.connExp)
		}
		if cp.Properties.RequestResponseInfo != nil && *cp.Properties.RequestResponseInfo == 1 {
			pr.ResponseInfo = mqtt.Ptr("response/" + c.clientID + "/")
		}
		c.out.window = 65535
		if cp.Properties.ReceiveMaximum != nil {
			c.out.window = int(*cp.Properties.ReceiveMaximum)
		}
		if cp.Properties.TopicAliasMaximum != nil {
			c.out.aliasMax = *cp.Properties.TopicAliasMaximum
		}
		if cp.Properties.MaximumPacketSize != nil {
			c.out.maxPacket = int(*cp.Properties.MaximumPacketSize)
		}
	}
	if err := c.writeNow(ack); err != nil {
		// The client never saw its CONNACK. Its session is settled by the
		// loop's end like any other.
		c.kill(err)
		return st, true
	}
	c.connacked.Store(true)
	c.s.m.connects.WithLabelValues("accepted").Inc()
	return st, true
}

// endUnaccepted ends a connection whose connect op was logged but that got
// no CONNACK: its disconnect op settles the session, and nothing more is
// owed (no progress: it delivered nothing).
func (c *conn) endUnaccepted() {
	reason, code, _ := closeReason(c.cause())
	if err := c.logOp(&session.Op{Kind: session.OpDisconnect, Reason: string(reason),
		Code: byte(code), Expiry: c.connExp, Unaccepted: true}); err != nil {
		c.logger().Warn("log disconnect", "err", err)
	}
	c.nc.Close()
	c.s.unregister(c)
	c.s.m.disconnects.WithLabelValues(string(reason)).Inc()
	c.logger().Info("connection ended before its CONNACK", "reason", reason, "err", c.cause())
}
