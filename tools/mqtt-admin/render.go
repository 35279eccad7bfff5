package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/adminapi"
)

// print writes v as JSON (--json) or as tables and lines for people.
func (c *cli) print(v any) error {
	if c.g.json {
		enc := json.NewEncoder(c.out)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	switch x := v.(type) {
	case adminapi.SessionList:
		fmt.Fprintln(tw, "CLIENTID\tSTATE\tNODE\tPROTO\tUSER\tPEER\tCONNECTED\tEXPIRES")
		for _, s := range x.Sessions {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", s.ClientID, s.State, s.Node, s.Proto, dash(s.Username), dash(s.Peer),
				when(s.ConnectedAt), whenp(s.ExpiresAt))
		}
		tw.Flush()
		fmt.Fprintf(c.out, "%d session(s)\n", len(x.Sessions))
		if x.NextCursor != "" {
			fmt.Fprintf(c.out, "next: --cursor %s\n", x.NextCursor)
		}
	case adminapi.Session:
		printSession(tw, x)
	case adminapi.History:
		fmt.Fprintln(tw, "TIME\tSOURCE\tAT\tWHAT")
		for _, e := range x.Entries {
			fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%s\n", when(e.Time), e.Source, e.Partition, e.Offset, e.Summary)
		}
		tw.Flush()
		if x.NextCursor != "" {
			fmt.Fprintf(c.out, "older: --cursor %s\n", x.NextCursor)
		}
	case adminapi.Explanation:
		printExplanation(tw, x)
	case adminapi.ActionResult:
		fmt.Fprintf(tw, "%s %s: op at %d/%d, epoch %d", x.Action, x.ClientID, x.Op.Partition, x.Op.Offset, x.Epoch)
		if !x.Applied {
			fmt.Fprint(tw, " (a newer connection holds the session now)")
		}
		if x.Session == nil {
			fmt.Fprintln(tw, "; the session is gone")
		} else {
			fmt.Fprintf(tw, "; session %s (epoch %d)\n", x.Session.State, x.Session.Epoch)
		}
	case adminapi.PublishResult:
		fmt.Fprintf(tw, "published to %s at %d/%d", x.Topic, x.Message.Partition, x.Message.Offset)
		if x.Retain != nil {
			fmt.Fprintf(tw, ", retained at %d/%d", x.Retain.Partition, x.Retain.Offset)
		}
		fmt.Fprintln(tw)
	case adminapi.RetainedList:
		fmt.Fprintln(tw, "TOPIC\tQOS\tOFFSET\tTIME\tPAYLOAD")
		for _, m := range x.Messages {
			p := "(binary, base64) " + m.PayloadBase64
			if m.Payload != nil {
				p = strconv.Quote(*m.Payload)
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\n", m.Topic, m.QoS, m.Offset, when(m.Time), cut(p, 60))
		}
		tw.Flush()
		fmt.Fprintf(c.out, "%d retained message(s)\n", len(x.Messages))
	case adminapi.RetainedDeleted:
		fmt.Fprintf(tw, "deleted the retained message of %s (tombstone at offset %d)\n", x.Topic, x.Offset)
	case adminapi.NodeList:
		fmt.Fprintln(tw, "NODE\tCONNECTIONS\tVERSION\tSTARTED\tLAST SEEN")
		for _, n := range x.Nodes {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", n.Node, n.Connections, dash(n.Version), whenp(n.StartedAt), whenp(n.LastSeen))
		}
		tw.Flush()
		fmt.Fprintf(c.out, "source: %s\n", x.Source)
	default:
		return fmt.Errorf("cannot print %T", v)
	}
	return nil
}

func printSession(tw *tabwriter.Writer, s adminapi.Session) {
	row := func(k string, v any) { fmt.Fprintf(tw, "%s:\t%v\n", k, v) }
	row("client", s.ClientID)
	row("state", s.State)
	row("node", s.Node)
	row("connection", s.ConnID)
	row("epoch", s.Epoch)
	row("protocol", s.Proto)
	row("user", dash(s.Username))
	row("peer", dash(s.Peer))
	row("clean start", s.CleanStart)
	row("keep alive", fmt.Sprintf("%ds", s.Keepalive))
	row("expiry", expiry(s.ExpiryInterval))
	row("expires at", whenp(s.ExpiresAt))
	row("created", when(s.CreatedAt))
	row("connected", when(s.ConnectedAt))
	row("sessions partition", s.SessionsPartition)
	row("offline queue", queue(s.Queue))
	more := ""
	if !s.Backlog.Complete {
		more = " or more"
	}
	row("backlog", fmt.Sprintf("%d%s (%d records read)", s.Backlog.Count, more, s.Backlog.Scanned))
	parts := make([]string, 0, len(s.Cursor))
	for p, o := range s.Cursor {
		parts = append(parts, p+":"+strconv.FormatInt(o, 10))
	}
	sort.Strings(parts)
	row("cursor", dash(strings.Join(parts, " ")))
	fmt.Fprintln(tw, "\nFILTER\tQOS\tNO LOCAL\tRETAIN AS PUBLISHED\tRETAIN HANDLING\tSUB ID")
	for _, sub := range s.Subscriptions {
		fmt.Fprintf(tw, "%s\t%d\t%v\t%v\t%d\t%s\n", sub.Filter, sub.QoS, sub.NoLocal, sub.RetainAsPublished, sub.RetainHandling, subID(sub.SubscriptionID))
	}
	if len(s.Inflight) > 0 {
		fmt.Fprintln(tw, "\nINFLIGHT\tMESSAGE\tQOS\tSTATE")
		for _, in := range s.Inflight {
			fmt.Fprintf(tw, "%d\t%d/%d\t%d\t%s\n", in.PacketID, in.Partition, in.Offset, in.QoS, in.State)
		}
	}
}

func printExplanation(tw *tabwriter.Writer, x adminapi.Explanation) {
	row := func(k string, v any) { fmt.Fprintf(tw, "%s:\t%v\n", k, v) }
	m := x.Message
	row("message", fmt.Sprintf("%d/%d %s (QoS %d, %s)", m.Partition, m.Offset, m.Topic, m.QoS, when(m.Time)))
	row("client", x.ClientID)
	row("verdict", x.Verdict)
	row("detail", x.Detail)
	row("subscriptions then", filters(x.Subscriptions)+" (from "+x.Basis+")")
	row("matched", filters(x.Matched))
	row("acl", x.ACL)
	if x.Event != nil {
		row("event", fmt.Sprintf("%s %s at %s (%d/%d)", x.Event.Type, x.Event.ID, when(x.Event.Time), x.Event.Partition, x.Event.Offset))
	}
	if x.Cursor != nil {
		row("cursor", *x.Cursor)
	}
}

func filters(subs []adminapi.Subscription) string {
	if len(subs) == 0 {
		return "-"
	}
	out := make([]string, len(subs))
	for i, s := range subs {
		out[i] = s.Filter
	}
	return strings.Join(out, " ")
}

func queue(q adminapi.Queue) string {
	if q.Length == 0 {
		return "empty"
	}
	return fmt.Sprintf("%d, oldest %d/%d, newest %d/%d", q.Length, q.Oldest.Partition, q.Oldest.Offset, q.Newest.Partition, q.Newest.Offset)
}

func expiry(s uint32) string {
	switch s {
	case 0:
		return "ends with the connection"
	case 0xFFFFFFFF:
		return "never"
	}
	return (time.Duration(s) * time.Second).String()
}

func subID(id uint32) string {
	if id == 0 {
		return "-"
	}
	return strconv.FormatUint(uint64(id), 10)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05.000")
}

func whenp(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return when(*t)
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
