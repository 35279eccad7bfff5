package frontend

import (
	"flag"
	"time"
)

// Flags are the frontend's own command-line flags, defined once for every
// binary that runs a frontend (mqtt-frontend, mqtt-standalone); the flags it
// shares with the session service are startup.CommonFlags.
type Flags struct {
	MQTTAddr, WSAddr, TLSAddr, WSSAddr string
	TLSCert, TLSKey, TLSClientCA       string
	MaxPacketSize                      int
	ConnectTimeout, WriteTimeout       time.Duration
	PublishRetry, HeartbeatInterval    time.Duration
	ReceiveMaximum, TopicAliasMaximum  int
	MaxPending, MaxKeepAlive           int
	LeanGCPercent                      int
	Auth                               *AuthOptions
	Limits                             *Limits

	fs *flag.FlagSet
}

// RegisterFlags registers the frontend's flags on fs.
func RegisterFlags(fs *flag.FlagSet) *Flags {
	f := &Flags{fs: fs}
	fs.StringVar(&f.MQTTAddr, "mqtt-addr", ":1883", "MQTT over TCP listen address (empty: off)")
	fs.StringVar(&f.WSAddr, "ws-addr", ":8083", "MQTT over WebSocket listen address, path /mqtt (empty: off)")
	fs.StringVar(&f.TLSAddr, "tls-addr", "", "MQTT over TLS listen address (default :8883 when --tls-cert is set)")
	fs.StringVar(&f.WSSAddr, "wss-addr", "", "MQTT over secure WebSocket listen address (default :8084 when --tls-cert is set)")
	fs.StringVar(&f.TLSCert, "tls-cert", "", "PEM certificate file for TLS and WSS (reloaded when it changes)")
	fs.StringVar(&f.TLSKey, "tls-key", "", "PEM private key file for TLS and WSS (reloaded when it changes)")
	fs.StringVar(&f.TLSClientCA, "tls-client-ca", "", "PEM CA file; when set, client certificates are required (reloaded when it changes)")
	fs.IntVar(&f.MaxPacketSize, "max-packet-size", 1<<20, "largest accepted MQTT packet in bytes")
	fs.DurationVar(&f.ConnectTimeout, "connect-timeout", 5*time.Second, "time from accept to CONNECT (and TLS handshake) before the socket is closed")
	fs.DurationVar(&f.WriteTimeout, "write-timeout", 10*time.Second, "write deadline towards a client; one that cannot take its data within it is closed as a slow consumer")
	fs.DurationVar(&f.PublishRetry, "publish-retry", 30*time.Second, "how long a client's PUBLISH waits for Kafka before its connection is closed (it resends)")
	fs.DurationVar(&f.HeartbeatInterval, "heartbeat-interval", time.Second, "how often this frontend beats on the nodes topic (keep it well below the session service's --node-timeout)")
	fs.IntVar(&f.ReceiveMaximum, "receive-maximum", 1000, "unacknowledged QoS 1/2 PUBLISHes an MQTT 5 client may send (Receive Maximum)")
	fs.IntVar(&f.TopicAliasMaximum, "topic-alias-maximum", 64, "topic aliases an MQTT 5 client may use towards the broker (Topic Alias Maximum)")
	fs.IntVar(&f.MaxPending, "max-pending", 100000, "messages waiting for one connection before it is closed as a slow consumer (a burst from the log can hand one subscriber tens of thousands at once)")
	fs.IntVar(&f.MaxKeepAlive, "max-keepalive", 0, "cap on the keep alive of MQTT 5 clients in seconds, sent as Server Keep Alive (0: none)")
	fs.IntVar(&f.LeanGCPercent, "lean-gc-percent", 25, "GOGC while the frontend allocates little against its live heap (idle connections), returning the rest to the OS; -1: off")
	f.Auth = AuthFlags(fs)
	f.Limits = LimitFlags(fs)
	return f
}

// Apply sets cfg's fields from the parsed flags. A TLS certificate turns on
// the TLS and WSS listeners at their default ports unless their addresses
// were given.
func (f *Flags) Apply(cfg *Config) {
	set := map[string]bool{}
	f.fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	if f.TLSCert != "" {
		if !set["tls-addr"] && f.TLSAddr == "" {
			f.TLSAddr = ":8883"
		}
		if !set["wss-addr"] && f.WSSAddr == "" {
			f.WSSAddr = ":8084"
		}
	}
	cfg.MQTTAddr, cfg.WSAddr, cfg.TLSAddr, cfg.WSSAddr = f.MQTTAddr, f.WSAddr, f.TLSAddr, f.WSSAddr
	cfg.TLSCert, cfg.TLSKey, cfg.TLSClientCA = f.TLSCert, f.TLSKey, f.TLSClientCA
	cfg.MaxPacketSize = f.MaxPacketSize
	cfg.ConnectTimeout, cfg.WriteTimeout = f.ConnectTimeout, f.WriteTimeout
	cfg.PublishRetry, cfg.HeartbeatInterval = f.PublishRetry, f.HeartbeatInterval
	cfg.ReceiveMaximum, cfg.TopicAliasMaximum = f.ReceiveMaximum, f.TopicAliasMaximum
	cfg.MaxPending, cfg.MaxKeepAlive = f.MaxPending, f.MaxKeepAlive
	cfg.LeanGCPercent = f.LeanGCPercent
	cfg.Limits = *f.Limits
}

// Listeners are the listen addresses the flags ask for, by flag name, for
// checking before anything starts.
func (f *Flags) Listeners() map[string]string {
	return map[string]string{"mqtt-addr": f.MQTTAddr, "ws-addr": f.WSAddr, "tls-addr": f.TLSAddr, "wss-addr": f.WSSAddr}
}
