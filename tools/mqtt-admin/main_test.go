package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestRunExitCodes checks the command line without a server: usage
// errors exit 2 before any request, an unreachable server exits 1.
func TestRunExitCodes(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want int
		says string
	}{
		{"no command", nil, 2, "usage"},
		{"unknown command", []string{"frobnicate"}, 2, "unknown command"},
		{"session without subcommand", []string{"session"}, 2, "needs a subcommand"},
		{"kick without ClientID", []string{"session", "kick"}, 2, "takes 1 argument"},
		{"explain without offset", []string{"session", "explain", "c", "--partition", "1"}, 2, "needs --offset"},
		{"publish without topic", []string{"publish", "--message", "x"}, 2, "needs --topic"},
		{"unknown flag", []string{"nodes", "--nope"}, 2, "nope"},
		{"help", []string{"--help"}, 0, ""},
		{"unreachable server", []string{"--addr", "127.0.0.1:1", "--timeout", "2s", "nodes"}, 1, "connection refused"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			got := run(context.Background(), tc.args, func(string) string { return "" }, strings.NewReader(""), &out, &errb)
			if got != tc.want || !strings.Contains(errb.String(), tc.says) {
				t.Fatalf("exit %d (stderr %q), want %d mentioning %q", got, errb.String(), tc.want, tc.says)
			}
		})
	}
}
