package telemetry

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestNewLogger(t *testing.T) {
	tests := []struct {
		format, level string
		wantErr       error
		wantJSON      bool
		debugShown    bool
		infoShown     bool
	}{
		{"text", "info", nil, false, false, true},
		{"json", "debug", nil, true, true, true},
		{"", "", nil, false, false, true},
		{"JSON", "WARN", nil, true, false, false},
		{"text", "error", nil, false, false, false},
		{"xml", "info", ErrBadLogFormat, false, false, false},
		{"text", "loud", ErrBadLogLevel, false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.format+"/"+tt.level, func(t *testing.T) {
			var buf bytes.Buffer
			log, err := NewLogger(tt.format, tt.level, &buf)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			log.Debug("dbg")
			log.Info("inf", "k", "v")
			out := buf.String()
			if got := strings.Contains(out, "dbg"); got != tt.debugShown {
				t.Errorf("debug shown %v, want %v: %q", got, tt.debugShown, out)
			}
			if got := strings.Contains(out, "inf"); got != tt.infoShown {
				t.Errorf("info shown %v, want %v: %q", got, tt.infoShown, out)
			}
			if tt.wantJSON && out != "" {
				line, _, _ := strings.Cut(out, "\n")
				var m map[string]any
				if err := json.Unmarshal([]byte(line), &m); err != nil {
					t.Errorf("not JSON: %q: %v", line, err)
				}
			}
		})
	}
}
