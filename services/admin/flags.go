package admin

import "flag"

// Flags are the admin API's command-line flags, defined once for every
// binary that serves it (mqtt-sessiond, mqtt-standalone).
type Flags struct {
	Addr, TokenFile string
}

// RegisterFlags registers the admin API's flags on fs.
func RegisterFlags(fs *flag.FlagSet) *Flags {
	f := &Flags{}
	fs.StringVar(&f.Addr, "admin-addr", "", "address of the admin API (empty: off; needs --admin-tokens)")
	fs.StringVar(&f.TokenFile, "admin-tokens", "", "admin API token file: name, role (read or admin) and secret per line, reloaded on change")
	return f
}
