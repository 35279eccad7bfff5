package mqtt_test

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/tidemarkmq/tidemark/pkg/mqtt"
)

func TestReasonCodeError(t *testing.T) {
	tests := []struct {
		rc   mqtt.ReasonCode
		want string
	}{
		{mqtt.Success, "success"},
		{mqtt.MalformedPacket, "malformed packet"},
		{mqtt.PacketTooLarge, "packet too large"},
		{mqtt.SessionTakenOver, "session taken over"},
		{mqtt.ServerShuttingDown, "server shutting down"},
		{mqtt.KeepAliveTimeout, "keep alive timeout"},
		{mqtt.WildcardSubscriptionsNotSupported, "wildcard subscriptions not supported"},
		{mqtt.ReasonCode(0x7F), "reason code 0x7f"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.rc.Error(); got != tt.want {
				t.Fatalf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestReasonCodeOf(t *testing.T) {
	wrapped := fmt.Errorf("read connect: %w", fmt.Errorf("level 9: %w", mqtt.UnsupportedProtocolVersion))
	if rc, ok := mqtt.ReasonCodeOf(wrapped); !ok || rc != mqtt.UnsupportedProtocolVersion {
		t.Fatalf("ReasonCodeOf(wrapped) = %v, %v", rc, ok)
	}
	if !errors.Is(wrapped, mqtt.UnsupportedProtocolVersion) {
		t.Fatal("errors.Is does not see the code")
	}
	if _, ok := mqtt.ReasonCodeOf(io.ErrUnexpectedEOF); ok {
		t.Fatal("an I/O error reported a reason code")
	}
}

func TestReturnCodes(t *testing.T) {
	tests := []struct {
		rc   mqtt.ReasonCode
		want mqtt.ReturnCode
		back mqtt.ReasonCode // what the 3.1.1 code maps back to
	}{
		{mqtt.Success, mqtt.Accepted, mqtt.Success},
		{mqtt.UnsupportedProtocolVersion, mqtt.RefusedProtocolVersion, mqtt.UnsupportedProtocolVersion},
		{mqtt.ClientIdentifierNotValid, mqtt.RefusedIdentifierRejected, mqtt.ClientIdentifierNotValid},
		{mqtt.ServerUnavailable, mqtt.RefusedServerUnavailable, mqtt.ServerUnavailable},
		{mqtt.ServerBusy, mqtt.RefusedServerUnavailable, mqtt.ServerUnavailable},
		{mqtt.MalformedPacket, mqtt.RefusedServerUnavailable, mqtt.ServerUnavailable},
		{mqtt.BadUsernameOrPassword, mqtt.RefusedBadUsernameOrPassword, mqtt.BadUsernameOrPassword},
		{mqtt.NotAuthorized, mqtt.RefusedNotAuthorized, mqtt.NotAuthorized},
		{mqtt.Banned, mqtt.RefusedNotAuthorized, mqtt.NotAuthorized},
	}
	for _, tt := range tests {
		t.Run(tt.rc.String(), func(t *testing.T) {
			got := mqtt.ReturnCodeFor(tt.rc)
			if got != tt.want {
				t.Fatalf("ReturnCodeFor = %d, want %d", got, tt.want)
			}
			back, ok := got.ReasonCode()
			if !ok || back != tt.back {
				t.Fatalf("ReasonCode() = %v, %v; want %v", back, ok, tt.back)
			}
		})
	}
	if _, ok := mqtt.ReturnCode(6).ReasonCode(); ok {
		t.Fatal("return code 6 accepted")
	}
}
