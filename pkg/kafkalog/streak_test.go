package kafkalog

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestStreakQuietThenLoudOnce: a failing run is logged at debug level while
// it is younger than quietFor, becomes loud exactly once after, and its end
// says whether it had been loud.
func TestStreakQuietThenLoudOnce(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var s streak
	if s.fail(log, "fetch failing") {
		t.Fatal("the first failure of a run is loud")
	}
	if !strings.Contains(buf.String(), "level=DEBUG") {
		t.Fatalf("a young run is not logged at debug level: %q", buf.String())
	}
	if s.ok() {
		t.Fatal("a quiet run ended as loud")
	}

	s.fail(log, "fetch failing")
	s.since = s.since.Add(-quietFor) // the run has lasted quietFor
	if !s.fail(log, "fetch failing") {
		t.Fatal("a run older than quietFor did not become loud")
	}
	for range 3 {
		if s.fail(log, "fetch failing") {
			t.Fatal("a loud run became loud again")
		}
	}
	if !s.ok() {
		t.Fatal("a loud run ended as quiet")
	}
	if s.fail(log, "fetch failing") || time.Since(s.since) > time.Second {
		t.Fatal("a run after ok did not start afresh")
	}
}
