package sessiond

import (
	"flag"
	"time"
)

// Flags are the session service's own command-line flags, defined once for
// every binary that runs one (mqtt-sessiond, mqtt-standalone); the flags it
// shares with the frontend are startup.CommonFlags.
type Flags struct {
	GroupID                  string
	MaxQueued                int
	QueueQoS0                bool
	ExpiryCheck, NodeTimeout time.Duration
}

// RegisterFlags registers the session service's flags on fs.
func RegisterFlags(fs *flag.FlagSet) *Flags {
	f := &Flags{}
	fs.StringVar(&f.GroupID, "group-id", "mqtt-sessiond", "consumer group id of the session service")
	fs.IntVar(&f.MaxQueued, "max-queued", 1000, "offline queue bound per session (oldest dropped beyond it)")
	fs.BoolVar(&f.QueueQoS0, "queue-qos0", true, "queue QoS 0 messages for offline sessions")
	fs.DurationVar(&f.ExpiryCheck, "expiry-check", time.Second, "how often offline sessions are checked for expiry and delayed wills")
	fs.DurationVar(&f.NodeTimeout, "node-timeout", 10*time.Second, "silence after which a frontend is declared dead and its connections ended (node_down); also bounds how long a dead instance keeps its partitions")
	return f
}

// Apply sets cfg's fields from the parsed flags.
func (f *Flags) Apply(cfg *Config) {
	cfg.GroupID, cfg.MaxQueued, cfg.QueueQoS0 = f.GroupID, f.MaxQueued, f.QueueQoS0
	cfg.ExpiryCheck, cfg.NodeTimeout = f.ExpiryCheck, f.NodeTimeout
}
