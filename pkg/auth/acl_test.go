package auth

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestParseACL(t *testing.T) {
	file := `# anonymous clients
topic read $SYS/#
topic public/#

user alice
topic readwrite alice/#
	topic deny alice/secret
topic write a topic with spaces/x
pattern read devices/%c/cmd
user bob
topic read
pattern write users/%u/+/state
user alice
topic read shared/#
`
	a, err := ParseACL([]byte(file))
	if err != nil {
		t.Fatal(err)
	}
	str := func(rs []Rule) string {
		var b strings.Builder
		for _, r := range rs {
			kind := "topic"
			if r.Pattern {
				kind = "pattern"
			}
			fmt.Fprintf(&b, "%d %s %v %s|", r.Line, kind, r.Access, r.Filter)
		}
		return b.String()
	}
	tests := []struct{ user, want string }{
		{"", "2 topic read $SYS/#|3 topic readwrite public/#|9 pattern read devices/%c/cmd|12 pattern write users/%u/+/state|"},
		{"alice", "6 topic readwrite alice/#|7 topic deny alice/secret|8 topic write a topic with spaces/x|14 topic read shared/#|" +
			"9 pattern read devices/%c/cmd|12 pattern write users/%u/+/state|"},
		{"bob", "11 topic readwrite read|9 pattern read devices/%c/cmd|12 pattern write users/%u/+/state|"},
		{"carol", "9 pattern read devices/%c/cmd|12 pattern write users/%u/+/state|"},
	}
	for _, tt := range tests {
		t.Run("user="+tt.user, func(t *testing.T) {
			if got := str(a.Rules(tt.user)); got != tt.want {
				t.Fatalf("rules\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestParseACLErrors(t *testing.T) {
	tests := []struct {
		name, file string
		line       int
	}{
		{"unknown keyword", "topic a\nsubscribe b\n", 2},
		{"user without name", "\n\nuser\n", 3},
		{"topic without filter", "# x\ntopic\n", 2},
		{"pattern without filter", "pattern   \n", 1},
		{"misplaced hash", "topic read a/#/b\n", 1},
		{"hash glued", "topic a/b#\n", 1},
		{"plus glued", "user u\ntopic write a+/b\n", 2},
		{"null", "topic a\x00b\n", 1},
		{"bad utf8", "topic \xff\n", 1},
		{"keyword case", "Topic a\n", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseACL([]byte(tt.file))
			var le *LineError
			if !errors.As(err, &le) || le.Line != tt.line || !errors.Is(err, ErrSyntax) {
				t.Fatalf("err = %v, want a syntax error on line %d", err, tt.line)
			}
		})
	}
}

const matchACL = `# anonymous
topic read public/#
topic read $SYS/broker/uptime

user alice
topic readwrite alice/#
topic deny alice/secret
topic deny alice/vault/#
topic read sensors/+/temp
topic write cmd/+
topic read #
topic deny private/#

user admin
topic readwrite #
topic readwrite $SYS/#
topic read $share-like/x

user reader
topic read a/#
topic read b/+

user exact
topic read a/b

pattern readwrite devices/%c/#
pattern read users/%u/inbox
pattern write out/%c-%u
pattern deny devices/%c/locked
`

func TestACLMatch(t *testing.T) {
	a, err := ParseACL([]byte(matchACL))
	if err != nil {
		t.Fatal(err)
	}
	anon := Client{ClientID: "anon1"}
	alice := Client{ClientID: "c1", Username: "alice"}
	admin := Client{ClientID: "adm", Username: "admin"}
	reader := Client{ClientID: "r1", Username: "reader"}
	exact := Client{ClientID: "e1", Username: "exact"}
	nobody := Client{ClientID: "dev7", Username: "nobody"}
	type op int
	const (
		pub op = iota
		sub
		read
	)
	tests := []struct {
		name   string
		c      Client
		op     op
		t      string
		want   bool
		filter bool // for sub: want SubFiltered
	}{
		// Anonymous section only for clients without a user name.
		{"anon reads public", anon, read, "public/news", true, false},
		{"anon subscribes public/#", anon, sub, "public/#", true, false},
		{"anon cannot publish public", anon, pub, "public/news", false, false},
		{"anon not alice", anon, read, "alice/x", false, false},
		{"user without section: no anonymous rules", nobody, read, "public/news", false, false},
		{"anon $SYS literal", anon, read, "$SYS/broker/uptime", true, false},
		{"anon $SYS other", anon, read, "$SYS/broker/load", false, false},

		// Own section, deny precedence.
		{"alice own topic", alice, pub, "alice/x/y", true, false},
		{"alice own parent", alice, pub, "alice", true, false},
		{"deny wins over readwrite", alice, pub, "alice/secret", false, false},
		{"deny wins over read #", alice, read, "alice/secret", false, false},
		{"deny subtree", alice, read, "alice/vault/a/b", false, false},
		{"deny parent of subtree", alice, read, "alice/vault", false, false},
		{"deny is exact", alice, read, "alice/secret/x", true, false},
		{"read not write", alice, pub, "sensors/k/temp", false, false},
		{"write cmd", alice, pub, "cmd/reboot", true, false},
		{"write cmd one level", alice, pub, "cmd/a/b", false, false},
		{"read # everything", alice, read, "x/y/z", true, false},
		{"read # not $SYS", alice, read, "$SYS/broker/uptime", false, false},
		{"deny private", alice, read, "private/k", false, false},

		// SUBSCRIBE: filter within filter.
		{"sub covered by #", alice, sub, "anything/+/#", true, false},
		{"sub # overlaps deny", alice, sub, "#", true, true},
		{"sub alice/# overlaps deny", alice, sub, "alice/#", true, true},
		{"sub alice/+ overlaps deny", alice, sub, "alice/+", true, true},
		{"sub denied exactly", alice, sub, "alice/secret", false, false},
		{"sub inside denied subtree", alice, sub, "alice/vault/+/x", false, false},
		{"sub private/#", alice, sub, "private/#", false, false},
		{"sub alice/secret/+ not denied", alice, sub, "alice/secret/+", true, false},
		{"sub $SYS/# not by #", alice, sub, "$SYS/#", false, false},
		{"sub + by #, overlaps deny private/#", alice, sub, "+", true, true},
		{"sub shared", alice, sub, "$share/g/sensors/+/temp", true, false},
		{"sub shared denied", alice, sub, "$share/g/private/x", false, false},
		{"sub shared bad", alice, sub, "$share/g", false, false},
		{"sub invalid filter", alice, sub, "a/#/b", false, false},
		{"reader a/+ by a/#", reader, sub, "a/+", true, false},
		{"reader a by a/#", reader, sub, "a", true, false},
		{"reader a/# by a/#", reader, sub, "a/#", true, false},
		{"reader b/x by b/+", reader, sub, "b/x", true, false},
		{"reader b/+ by b/+", reader, sub, "b/+", true, false},
		{"reader b/# not by b/+", reader, sub, "b/#", false, false},
		{"reader b not by b/+", reader, sub, "b", false, false},
		{"reader # not", reader, sub, "#", false, false},
		{"exact a/+ not by a/b", exact, sub, "a/+", false, false},
		{"exact a/b", exact, sub, "a/b", true, false},
		{"exact a/b/c", exact, sub, "a/b/c", false, false},

		// $-topics.
		{"admin $SYS/# rule covers $SYS filter", admin, sub, "$SYS/broker/+", true, false},
		{"admin publishes anything", admin, pub, "x/y", true, false},
		{"nobody publishes $SYS", admin, pub, "$SYS/broker/x", false, false},
		{"$share-like literal", admin, read, "$share-like/x", true, false},
		{"nobody publishes $share", admin, pub, "$share-like/x", false, false},
		{"nobody publishes $SYSTEM", admin, pub, "$SYSTEM", false, false},

		// Patterns: %c and %u, deny patterns.
		{"pattern %c", nobody, pub, "devices/dev7/state", true, false},
		{"pattern %c other client", nobody, pub, "devices/dev8/state", false, false},
		{"pattern %c deny", nobody, pub, "devices/dev7/locked", false, false},
		{"pattern %c sub", nobody, sub, "devices/dev7/#", true, true},
		{"pattern %c sub other", nobody, sub, "devices/+/state", false, false},
		{"pattern %u", alice, read, "users/alice/inbox", true, false},
		{"pattern %u other", alice, read, "users/bob/inbox", true, false}, // alice has read #
		{"pattern %u other, no #", reader, read, "users/bob/inbox", false, false},
		{"pattern %u anonymous", anon, read, "users//inbox", false, false},
		{"pattern mixed", reader, pub, "out/r1-reader", true, false},
		{"pattern mixed wrong", reader, pub, "out/r1-alice", false, false},
		{"pattern clientid with slash", Client{ClientID: "a/b", Username: "reader"}, pub, "devices/a/b/x", false, false},

		// Dangerous identities get nothing.
		{"clientid with #", Client{ClientID: "#", Username: "admin"}, pub, "x", false, false},
		{"username with +", Client{ClientID: "x", Username: "ad+min"}, read, "public/x", false, false},
		{"clientid with + sub", Client{ClientID: "+"}, sub, "public/x", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got bool
			switch tt.op {
			case pub:
				got = a.CanPublish(tt.c, tt.t)
			case read:
				got = a.CanRead(tt.c, tt.t)
			case sub:
				v := a.CanSubscribe(tt.c, tt.t)
				got = v != SubDenied
				if got && (v == SubFiltered) != tt.filter {
					t.Fatalf("CanSubscribe = %v, want filtered %v", v, tt.filter)
				}
			}
			if got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func BenchmarkCanPublish(b *testing.B) {
	a, err := ParseACL([]byte(matchACL))
	if err != nil {
		b.Fatal(err)
	}
	c := Client{ClientID: "dev7", Username: "alice"}
	b.ReportAllocs()
	for b.Loop() {
		if !a.CanPublish(c, "devices/dev7/telemetry/temp") {
			b.Fatal("refused")
		}
	}
}
