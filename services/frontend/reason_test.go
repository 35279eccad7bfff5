package frontend

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"testing"

	"github.com/tidemarkmq/tidemark/pkg/mqtt"
	"github.com/tidemarkmq/tidemark/pkg/session"
)

func TestCloseReason(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		reason string
		code   mqtt.ReasonCode
		send   bool
	}{
		{"client disconnect", ErrClientDisconnect, session.ReasonNormal, mqtt.NormalDisconnection, false},
		{"client disconnect 0x00", clientDisconnect(mqtt.NormalDisconnection), session.ReasonNormal, mqtt.NormalDisconnection, false},
		{"client disconnect with will", fmt.Errorf("read: %w", clientDisconnect(mqtt.DisconnectWithWillMessage)), session.ReasonNormal, mqtt.DisconnectWithWillMessage, false},
		{"declared down", ErrNodeDown, session.ReasonNodeDown, mqtt.ServerShuttingDown, true},
		{"eof", fmt.Errorf("read packet: %w", io.EOF), session.ReasonClosed, mqtt.UnspecifiedError, false},
		{"eof inside a packet", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), session.ReasonClosed, mqtt.UnspecifiedError, false},
		{"reset", &net.OpError{Op: "read", Err: errors.New("connection reset by peer")}, session.ReasonClosed, mqtt.UnspecifiedError, false},
		{"takeover", ErrTakenOver, session.ReasonTakenOver, mqtt.SessionTakenOver, true},
		{"keep alive", ErrKeepAlive, session.ReasonKeepalive, mqtt.KeepAliveTimeout, true},
		{"deadline", fmt.Errorf("read: %w", os.ErrDeadlineExceeded), session.ReasonKeepalive, mqtt.KeepAliveTimeout, true},
		{"slow consumer", ErrSlowConsumer, session.ReasonSlowConsumer, mqtt.QuotaExceeded, true},
		{"shutdown", ErrShutdown, session.ReasonServerShutdown, mqtt.ServerShuttingDown, true},
		{"log unavailable", ErrKafkaUnavailable, session.ReasonClosed, mqtt.ServerBusy, true},
		{"malformed", fmt.Errorf("read packet: %w", mqtt.MalformedPacket), session.ReasonProtocolError, mqtt.MalformedPacket, true},
		{"protocol error", fmt.Errorf("read packet: %w", mqtt.ProtocolError), session.ReasonProtocolError, mqtt.ProtocolError, true},
		{"too large", fmt.Errorf("read packet: %w", mqtt.PacketTooLarge), "packet_too_large", mqtt.PacketTooLarge, true},
		{"topic alias", fmt.Errorf("alias: %w", mqtt.TopicAliasInvalid), session.ReasonProtocolError, mqtt.TopicAliasInvalid, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reason, code, send := closeReason(tt.err)
			if reason != tt.reason || code != tt.code || send != tt.send {
				t.Fatalf("closeReason = %q %v %v, want %q %v %v", reason, code, send, tt.reason, tt.code, tt.send)
			}
		})
	}
}
