package frontend

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"testing"

	"github.com/tidemarkmq/tidemark/pkg/events"
	"github.com/tidemarkmq/tidemark/pkg/mqtt"
)

func TestCloseReason(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		reason events.DisconnectReason
		code   mqtt.ReasonCode
		send   bool
	}{
		{"client disconnect", ErrClientDisconnect, events.DisconnectNormal, mqtt.NormalDisconnection, false},
		{"eof", fmt.Errorf("read packet: %w", io.EOF), events.DisconnectClosed, mqtt.UnspecifiedError, false},
		{"eof inside a packet", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), events.DisconnectClosed, mqtt.UnspecifiedError, false},
		{"reset", &net.OpError{Op: "read", Err: errors.New("connection reset by peer")}, events.DisconnectClosed, mqtt.UnspecifiedError, false},
		{"takeover", ErrTakenOver, events.DisconnectTakenOver, mqtt.SessionTakenOver, true},
		{"keep alive", ErrKeepAlive, events.DisconnectKeepAliveTimeout, mqtt.KeepAliveTimeout, true},
		{"deadline", fmt.Errorf("read: %w", os.ErrDeadlineExceeded), events.DisconnectKeepAliveTimeout, mqtt.KeepAliveTimeout, true},
		{"slow consumer", ErrSlowConsumer, events.DisconnectSlowConsumer, mqtt.QuotaExceeded, true},
		{"administrative", ErrAdministrative, events.DisconnectAdministrative, mqtt.AdministrativeAction, true},
		{"shutdown", ErrShutdown, events.DisconnectServerShutdown, mqtt.ServerShuttingDown, true},
		{"log unavailable", ErrKafkaUnavailable, events.DisconnectClosed, mqtt.ServerBusy, true},
		{"malformed", fmt.Errorf("read packet: %w", mqtt.MalformedPacket), events.DisconnectProtocolError, mqtt.MalformedPacket, true},
		{"protocol error", fmt.Errorf("read packet: %w", mqtt.ProtocolError), events.DisconnectProtocolError, mqtt.ProtocolError, true},
		{"too large", fmt.Errorf("read packet: %w", mqtt.PacketTooLarge), events.DisconnectPacketTooLarge, mqtt.PacketTooLarge, true},
		{"topic alias", fmt.Errorf("alias: %w", mqtt.TopicAliasInvalid), events.DisconnectProtocolError, mqtt.TopicAliasInvalid, true},
		{"client disconnect 0x00", clientDisconnect(mqtt.NormalDisconnection), events.DisconnectNormal, mqtt.NormalDisconnection, false},
		{"client disconnect with will", fmt.Errorf("read: %w", clientDisconnect(mqtt.DisconnectWithWillMessage)), events.DisconnectNormal, mqtt.DisconnectWithWillMessage, false},
		{"declared down", ErrNodeDown, events.DisconnectNodeDown, mqtt.ServerShuttingDown, true},
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
