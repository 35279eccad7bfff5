// Package telemetry is what every tidemark binary needs to be operated: a
// configured slog logger, an HTTP server for health, readiness and
// Prometheus metrics, and start-up checks that turn bad input (a port in
// use, a read-only data directory) into one clear line before anything
// starts.
package telemetry

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// ErrBadLogFormat and ErrBadLogLevel are wrapped by NewLogger for values it
// does not know, so a main can name the flag at fault.
var (
	ErrBadLogFormat = errors.New("log format must be text or json")
	ErrBadLogLevel  = errors.New("log level must be debug, info, warn or error")
)

// NewLogger returns a logger writing to w in format "text" or "json" at
// level "debug", "info", "warn" or "error" (case-insensitive; empty means
// text and info).
func NewLogger(format, level string, w io.Writer) (*slog.Logger, error) {
	lvl, err := ParseLevel(level)
	if err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch strings.ToLower(format) {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("%q: %w", format, ErrBadLogFormat)
	}
}

// ParseLevel parses a level name as NewLogger accepts it.
func ParseLevel(level string) (slog.Level, error) {
	switch strings.ToLower(level) {
	case "debug":
		return slog.LevelDebug, nil
	case "", "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	default:
		return 0, fmt.Errorf("%q: %w", level, ErrBadLogLevel)
	}
}
