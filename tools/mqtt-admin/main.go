// Command mqtt-admin is the command line of the broker's admin API:
// sessions listed, shown, explained and acted on, messages published,
// retained messages listed and deleted, frontend nodes listed. Tables for
// people; --json prints the API's documents for scripts.
//
//	mqtt-admin [--addr host:port] [--token T] [--json] COMMAND ...
//
// The address and token also come from TIDEMARK_ADMIN_ADDR and
// TIDEMARK_ADMIN_TOKEN; flags win.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/adminapi"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr))
}

const usage = `usage: mqtt-admin [flags] COMMAND [ARGS]

commands:
  sessions [--state online|offline] [--node N] [--prefix P]   list sessions
  session show CLIENTID                                        everything about one session
  session history CLIENTID [--limit N] [--source op|event] [--verbose]
  session explain CLIENTID --partition P --offset O            what became of one message
  session kick CLIENTID                                        disconnect (MQTT 5: DISCONNECT 0x98)
  session discard CLIENTID                                     end the session
  session unsubscribe CLIENTID FILTER                          remove one subscription
  publish --topic T [--message M | --file F] [--qos 0|1] [--retain] [properties]
  retained ls [--filter F]                                     list retained messages
  retained rm TOPIC                                            delete a retained message
  nodes                                                        list the frontend nodes

flags (before or after the command):
`

// errUsage marks a command line that makes no sense; it exits 2.
var errUsage = errors.New("usage")

// globals are the flags every command takes.
type globals struct {
	addr, token string
	json        bool
	timeout     time.Duration
}

func (g *globals) register(fs *flag.FlagSet) {
	fs.StringVar(&g.addr, "addr", g.addr, "admin API address, host:port or URL (TIDEMARK_ADMIN_ADDR)")
	fs.StringVar(&g.token, "token", g.token, "bearer token (TIDEMARK_ADMIN_TOKEN)")
	fs.BoolVar(&g.json, "json", g.json, "print the API's JSON instead of tables")
	fs.DurationVar(&g.timeout, "timeout", g.timeout, "bound on each request")
}

// run is main without the exit, for tests.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	g := &globals{addr: "127.0.0.1:8082", timeout: 60 * time.Second}
	if v := getenv("TIDEMARK_ADMIN_ADDR"); v != "" {
		g.addr = v
	}
	g.token = getenv("TIDEMARK_ADMIN_TOKEN")
	fs := flag.NewFlagSet("mqtt-admin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	g.register(fs)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	c := &cli{g: g, stdin: stdin, out: stdout}
	err := c.dispatch(ctx, fs.Arg(0), fs.Args()[1:])
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "mqtt-admin: %v\n", err)
		fmt.Fprint(stderr, usage)
		return 2
	}
	fmt.Fprintf(stderr, "mqtt-admin: %v\n", err)
	return 1
}

// cli runs one command.
type cli struct {
	g     *globals
	stdin io.Reader
	out   io.Writer
	api   *adminapi.Client
}

func (c *cli) client() *adminapi.Client {
	if c.api == nil {
		c.api = adminapi.NewClient(c.g.addr, c.g.token, nil)
	}
	return c.api
}
