package telemetry

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
)

// ErrAddrInUse is wrapped by CheckListen when another process holds the
// port, the most common start-up mistake.
var ErrAddrInUse = errors.New("address already in use")

// CheckListen reports whether addr can be bound now, by binding and
// releasing it. Mains call it for every listener before starting anything,
// so a port in use is one clear error instead of a half-started process.
// An empty addr (listener disabled) passes.
func CheckListen(addr string) error {
	if addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("listen %s: %w", addr, ErrAddrInUse)
		}
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	if err := ln.Close(); err != nil {
		return fmt.Errorf("release %s: %w", addr, err)
	}
	return nil
}

// CheckWritableDir creates dir if needed and proves it is writable by
// creating, writing and removing a file in it; permission bits alone do
// not tell (read-only mounts, root squash).
func CheckWritableDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("data dir %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, ".write-check-*")
	if err != nil {
		return fmt.Errorf("data dir %s not writable: %w", dir, err)
	}
	name := f.Name()
	_, werr := f.Write([]byte("ok"))
	cerr := f.Close()
	rerr := os.Remove(name)
	if err := errors.Join(werr, cerr, rerr); err != nil {
		return fmt.Errorf("data dir %s not writable: %w", dir, err)
	}
	return nil
}

// EnvName returns the environment variable that sets a flag:
// TIDEMARK_ + the flag name upper-cased with - as _ (mqtt-addr becomes
// TIDEMARK_MQTT_ADDR).
func EnvName(flagName string) string {
	return "TIDEMARK_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// ApplyEnv sets every flag of fs that was not given on the command line
// from its environment variable (see EnvName), so the command line wins
// over the environment and the environment over defaults. Call it after
// fs.Parse.
func ApplyEnv(fs *flag.FlagSet) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] {
			return
		}
		v, ok := os.LookupEnv(EnvName(f.Name))
		if !ok {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", EnvName(f.Name), v, err))
		}
	})
	return errors.Join(errs...)
}
