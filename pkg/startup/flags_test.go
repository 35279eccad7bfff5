package startup

import (
	"flag"
	"io"
	"testing"
)

func TestRetention(t *testing.T) {
	cases := []struct {
		name string
		max  string
		want string
	}{
		{"uncapped keeps the cluster default", "0s", "0s"},
		{"short cap gets a week", "2h", "168h0m0s"},
		{"long cap plus a day", "720h", "744h0m0s"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			c := CommonFlags(fs, ":0")
			if err := fs.Parse([]string{"--max-expiry", tc.max}); err != nil {
				t.Fatal(err)
			}
			if got := c.Retention().String(); got != tc.want {
				t.Fatalf("got %s want %s", got, tc.want)
			}
		})
	}
}

func TestCommonTopicsAndLogger(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	c := CommonFlags(fs, ":0")
	if err := fs.Parse([]string{"--topic-prefix", "dev.", "--log-level", "loud"}); err != nil {
		t.Fatal(err)
	}
	if got := c.Topics().Sessions; got != "dev.mqtt.sessions" {
		t.Errorf("sessions topic %q, want dev.mqtt.sessions", got)
	}
	if _, err := c.Logger(io.Discard); err == nil {
		t.Error("a bad log level was accepted")
	}
}
