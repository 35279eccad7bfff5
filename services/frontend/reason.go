package frontend

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"

	"github.com/tidemarkmq/tidemark/pkg/events"
	"github.com/tidemarkmq/tidemark/pkg/mqtt"
)

// Errors that end a connection. closeReason turns each into the disconnect
// reason of the session op and, for MQTT 5, the DISCONNECT reason code.
var (
	// ErrClientDisconnect: the client sent DISCONNECT.
	ErrClientDisconnect = errors.New("client sent disconnect")
	// ErrTakenOver: a newer CONNECT with the same ClientID won.
	ErrTakenOver = errors.New("session taken over")
	// ErrKeepAlive: nothing was received for 1.5 times the keep alive.
	ErrKeepAlive = errors.New("keep alive timeout")
	// ErrSlowConsumer: the client did not take its messages in time.
	ErrSlowConsumer = errors.New("slow consumer")
	// ErrShutdown: the server is draining.
	ErrShutdown = errors.New("server shutting down")
	// ErrKafkaUnavailable: a PUBLISH could not be logged within the retry
	// bound; the connection closes so the client resends elsewhere or later.
	ErrKafkaUnavailable = errors.New("message log unavailable")
	// ErrAdministrative: an operator ended the connection or its session
	// through the admin API (an administrative op on the sessions topic).
	ErrAdministrative = errors.New("ended by an operator")
	// ErrNodeDown: the cluster declared this frontend's incarnation dead
	// (it was cut off, or paused, past the node timeout) and has already
	// ended the connection's session; the socket must not stay open.
	ErrNodeDown = errors.New("frontend declared down by the cluster")
)

// clientDisconnect is the end by the client's DISCONNECT, with its reason
// code: the session service publishes the will unless it is 0x00.
type clientDisconnect mqtt.ReasonCode

func (d clientDisconnect) Error() string {
	return fmt.Sprintf("%s (0x%02x)", ErrClientDisconnect, byte(d))
}

// Is makes a clientDisconnect an ErrClientDisconnect.
func (d clientDisconnect) Is(target error) bool { return target == ErrClientDisconnect }

// closeReason derives, in one place, why a connection ended: the reason word
// of the disconnect op and event, the MQTT 5 reason code, and whether the
// server should send DISCONNECT first (MQTT 5 only, never after the client's
// own DISCONNECT or a dead socket).
func closeReason(err error) (reason events.DisconnectReason, code mqtt.ReasonCode, send bool) {
	var rc mqtt.ReasonCode
	var cd clientDisconnect
	switch {
	case errors.As(err, &cd):
		return events.DisconnectNormal, mqtt.ReasonCode(cd), false
	case err == nil, errors.Is(err, ErrClientDisconnect):
		return events.DisconnectNormal, mqtt.NormalDisconnection, false
	case errors.Is(err, ErrTakenOver):
		return events.DisconnectTakenOver, mqtt.SessionTakenOver, true
	case errors.Is(err, ErrKeepAlive):
		return events.DisconnectKeepAliveTimeout, mqtt.KeepAliveTimeout, true
	case errors.Is(err, ErrSlowConsumer):
		return events.DisconnectSlowConsumer, mqtt.QuotaExceeded, true
	case errors.Is(err, ErrAdministrative):
		return events.DisconnectAdministrative, mqtt.AdministrativeAction, true
	case errors.Is(err, ErrShutdown):
		return events.DisconnectServerShutdown, mqtt.ServerShuttingDown, true
	case errors.Is(err, ErrNodeDown):
		// For the client, this node has stopped serving it.
		return events.DisconnectNodeDown, mqtt.ServerShuttingDown, true
	case errors.Is(err, ErrKafkaUnavailable):
		return events.DisconnectClosed, mqtt.ServerBusy, true
	case errors.Is(err, os.ErrDeadlineExceeded):
		return events.DisconnectKeepAliveTimeout, mqtt.KeepAliveTimeout, true
	case errors.As(err, &rc):
		switch rc {
		case mqtt.PacketTooLarge:
			return events.DisconnectPacketTooLarge, rc, true
		case mqtt.ReceiveMaximumExceeded, mqtt.QuotaExceeded:
			return events.DisconnectQuotaExceeded, rc, true
		}
		if !rc.IsError() {
			rc = mqtt.ProtocolError
		}
		return events.DisconnectProtocolError, rc, true
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return events.DisconnectClosed, mqtt.UnspecifiedError, false
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return events.DisconnectClosed, mqtt.UnspecifiedError, false
	}
	return events.DisconnectProtocolError, mqtt.UnspecifiedError, true
}
