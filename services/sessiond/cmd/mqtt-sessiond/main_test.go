package main

import (
	"strings"
	"testing"
)

func TestRunRejectsBadConfiguration(t *testing.T) {
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"unknown flag", []string{"--no-such-flag"}, nil, "no-such-flag"},
		{"bad log level", []string{"--log-level", "loud"}, nil, "log level"},
		{"bad env value", nil, map[string]string{"TIDEMARK_MAX_QUEUED": "many"}, "TIDEMARK_MAX_QUEUED"},
		{"bad log format from env", nil, map[string]string{"TIDEMARK_LOG_FORMAT": "xml"}, "log format"},
		{"admin api without tokens", []string{"--admin-addr", "127.0.0.1:0", "--create-topics=false", "--http-addr", ""}, nil, "no token file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			err := run(tc.args)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error naming %q", err, tc.want)
			}
		})
	}
}
