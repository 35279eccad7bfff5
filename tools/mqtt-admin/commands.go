package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/tidemarkmq/tidemark/pkg/adminapi"
)

// command parses a command's flags and arguments (flags may come after
// arguments too) with the global flags registered as well; want is the
// number of arguments it takes.
func (c *cli) command(name string, args []string, want int, define func(fs *flag.FlagSet)) ([]string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.g.register(fs)
	if define != nil {
		define(fs)
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if err == flag.ErrHelp {
				fs.SetOutput(c.out)
				fs.PrintDefaults()
				return nil, err
			}
			return nil, fmt.Errorf("%w: %s: %v", errUsage, name, err)
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if len(pos) != want {
		return nil, fmt.Errorf("%w: %s takes %d argument(s), got %d", errUsage, name, want, len(pos))
	}
	return pos, nil
}

func (c *cli) dispatch(ctx context.Context, cmd string, args []string) error {
	switch cmd {
	case "sessions":
		return c.sessions(ctx, args)
	case "session":
		if len(args) == 0 {
			return fmt.Errorf("%w: session needs a subcommand: show, history, explain, kick, discard or unsubscribe", errUsage)
		}
		return c.session(ctx, args[0], args[1:])
	case "publish":
		return c.publish(ctx, args)
	case "retained":
		if len(args) == 0 {
			return fmt.Errorf("%w: retained needs ls or rm", errUsage)
		}
		return c.retained(ctx, args[0], args[1:])
	case "nodes":
		if _, err := c.command("nodes", args, 0, nil); err != nil {
			return err
		}
		return c.call(ctx, func(ctx context.Context) (any, error) { return c.client().Nodes(ctx) })
	}
	return fmt.Errorf("%w: unknown command %q", errUsage, cmd)
}

// call runs one request within the timeout and prints its answer.
func (c *cli) call(ctx context.Context, f func(context.Context) (any, error)) error {
	ctx, cancel := context.WithTimeout(ctx, c.g.timeout)
	defer cancel()
	v, err := f(ctx)
	if err != nil {
		return err
	}
	return c.print(v)
}

func (c *cli) sessions(ctx context.Context, args []string) error {
	var q adminapi.SessionQuery
	page := false
	if _, err := c.command("sessions", args, 0, func(fs *flag.FlagSet) {
		fs.StringVar(&q.State, "state", "", "online or offline")
		fs.StringVar(&q.Node, "node", "", "only sessions on this frontend node")
		fs.StringVar(&q.Prefix, "prefix", "", "only ClientIDs with this prefix")
		fs.IntVar(&q.Limit, "limit", 0, "sessions per request (default the server's)")
		fs.StringVar(&q.Cursor, "cursor", "", "start at this next_cursor")
		fs.BoolVar(&page, "page", false, "one page only, with its next_cursor")
	}); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.g.timeout)
	defer cancel()
	var all adminapi.SessionList
	for {
		l, err := c.client().Sessions(ctx, q)
		if err != nil {
			return err
		}
		all.Sessions = append(all.Sessions, l.Sessions...)
		all.NextCursor = l.NextCursor
		if page || l.NextCursor == "" {
			break
		}
		q.Cursor = l.NextCursor
	}
	return c.print(all)
}

func (c *cli) session(ctx context.Context, sub string, args []string) error {
	api := c.client()
	switch sub {
	case "show":
		return c.onClient(ctx, "session show", args, func(ctx context.Context, cid string) (any, error) { return api.Session(ctx, cid) })
	case "history":
		var q adminapi.HistoryQuery
		pos, err := c.command("session history", args, 1, func(fs *flag.FlagSet) {
			fs.IntVar(&q.Limit, "limit", 0, "entries (default the server's)")
			fs.StringVar(&q.Source, "source", "", "op or event (default both)")
			fs.BoolVar(&q.Verbose, "verbose", false, "include progress and QoS 2 ops")
			fs.StringVar(&q.Cursor, "cursor", "", "continue at this next_cursor")
		})
		if err != nil {
			return err
		}
		return c.call(ctx, func(ctx context.Context) (any, error) { return api.History(ctx, pos[0], q) })
	case "explain":
		var p int
		var o int64 = -1
		pos, err := c.command("session explain", args, 1, func(fs *flag.FlagSet) {
			fs.IntVar(&p, "partition", 0, "partition of the messages topic")
			fs.Int64Var(&o, "offset", -1, "offset of the message")
		})
		if err != nil {
			return err
		}
		if o < 0 {
			return fmt.Errorf("%w: session explain needs --offset", errUsage)
		}
		return c.call(ctx, func(ctx context.Context) (any, error) { return api.Explain(ctx, pos[0], p, o) })
	case "kick":
		return c.onClient(ctx, "session kick", args, func(ctx context.Context, cid string) (any, error) { return api.Disconnect(ctx, cid) })
	case "discard":
		return c.onClient(ctx, "session discard", args, func(ctx context.Context, cid string) (any, error) { return api.Discard(ctx, cid) })
	case "unsubscribe":
		pos, err := c.command("session unsubscribe", args, 2, nil)
		if err != nil {
			return err
		}
		return c.call(ctx, func(ctx context.Context) (any, error) { return api.Unsubscribe(ctx, pos[0], pos[1]) })
	}
	return fmt.Errorf("%w: unknown session subcommand %q", errUsage, sub)
}

// onClient runs a command whose one argument is a ClientID.
func (c *cli) onClient(ctx context.Context, name string, args []string, f func(context.Context, string) (any, error)) error {
	pos, err := c.command(name, args, 1, nil)
	if err != nil {
		return err
	}
	return c.call(ctx, func(ctx context.Context) (any, error) { return f(ctx, pos[0]) })
}

// userProps collects repeated --user-property key=value flags.
type userProps []adminapi.UserProperty

func (u *userProps) String() string { return fmt.Sprint(*u) }

func (u *userProps) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok {
		return fmt.Errorf("want key=value, got %q", s)
	}
	*u = append(*u, adminapi.UserProperty{Key: k, Value: v})
	return nil
}

func (c *cli) publish(ctx context.Context, args []string) error {
	var (
		req              adminapi.PublishRequest
		msg, file, ctype string
		respTopic        string
		expiry           int64 = -1
		props            userProps
		hasMsg           bool
	)
	if _, err := c.command("publish", args, 0, func(fs *flag.FlagSet) {
		fs.StringVar(&req.Topic, "topic", "", "topic name")
		fs.Func("message", "payload text", func(s string) error { msg, hasMsg = s, true; return nil })
		fs.StringVar(&file, "file", "", "payload from this file (- for standard input)")
		fs.IntVar(&req.QoS, "qos", 0, "0 or 1")
		fs.BoolVar(&req.Retain, "retain", false, "retain the message")
		fs.StringVar(&ctype, "content-type", "", "MQTT 5 content type")
		fs.StringVar(&respTopic, "response-topic", "", "MQTT 5 response topic")
		fs.Int64Var(&expiry, "expiry", -1, "MQTT 5 message expiry interval in seconds")
		fs.Var(&props, "user-property", "MQTT 5 user property key=value (repeatable)")
	}); err != nil {
		return err
	}
	if req.Topic == "" {
		return fmt.Errorf("%w: publish needs --topic", errUsage)
	}
	switch {
	case hasMsg && file != "":
		return fmt.Errorf("%w: give --message or --file, not both", errUsage)
	case hasMsg:
		req.Payload = &msg
	case file != "":
		var b []byte
		var err error
		if file == "-" {
			b, err = io.ReadAll(c.stdin)
		} else {
			b, err = os.ReadFile(file)
		}
		if err != nil {
			return fmt.Errorf("read payload: %w", err)
		}
		s := string(b)
		req.Payload = &s
	}
	if ctype != "" || respTopic != "" || expiry >= 0 || len(props) > 0 {
		req.Properties = &adminapi.Properties{ContentType: ctype, ResponseTopic: respTopic, UserProperties: props}
		if expiry >= 0 {
			req.Properties.MessageExpiry = &expiry
		}
	}
	return c.call(ctx, func(ctx context.Context) (any, error) { return c.client().Publish(ctx, req) })
}

func (c *cli) retained(ctx context.Context, sub string, args []string) error {
	switch sub {
	case "ls":
		filter := ""
		if _, err := c.command("retained ls", args, 0, func(fs *flag.FlagSet) {
			fs.StringVar(&filter, "filter", "#", "topic filter")
		}); err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(ctx, c.g.timeout)
		defer cancel()
		var all adminapi.RetainedList
		cur := ""
		for {
			l, err := c.client().Retained(ctx, filter, 0, cur)
			if err != nil {
				return err
			}
			all.Messages = append(all.Messages, l.Messages...)
			if cur = l.NextCursor; cur == "" {
				break
			}
		}
		return c.print(all)
	case "rm":
		pos, err := c.command("retained rm", args, 1, nil)
		if err != nil {
			return err
		}
		return c.call(ctx, func(ctx context.Context) (any, error) { return c.client().DeleteRetained(ctx, pos[0]) })
	}
	return fmt.Errorf("%w: unknown retained subcommand %q", errUsage, sub)
}
