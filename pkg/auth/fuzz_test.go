package auth

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tidemarkmq/tidemark/pkg/topic"
)

// render writes a in canonical form: every rule with its access word.
func render(a *ACL) string {
	var b strings.Builder
	line := func(r *Rule) {
		kind := "topic"
		if r.Pattern {
			kind = "pattern"
		}
		fmt.Fprintf(&b, "%s %v %s\n", kind, r.Access, r.Filter)
	}
	for _, r := range a.anonymous {
		line(r)
	}
	users := make([]string, 0, len(a.users))
	for u := range a.users {
		users = append(users, u)
	}
	slices.Sort(users)
	for _, u := range users {
		fmt.Fprintf(&b, "user %s\n", u)
		for _, r := range a.users[u] {
			line(r)
		}
	}
	for _, r := range a.patterns {
		line(r)
	}
	return b.String()
}

func ruleSet(a *ACL) string {
	var b strings.Builder
	dump := func(rs []*Rule) {
		for _, r := range rs {
			fmt.Fprintf(&b, "%v %v %q;", r.Pattern, r.Access, r.Filter)
		}
	}
	dump(a.anonymous)
	users := make([]string, 0, len(a.users))
	for u := range a.users {
		users = append(users, u)
	}
	slices.Sort(users)
	for _, u := range users {
		fmt.Fprintf(&b, "user %q:", u)
		dump(a.users[u])
	}
	dump(a.patterns)
	return b.String()
}

// FuzzACLParse: the parser never panics, fails only with a syntax error
// naming a line, and what it accepts reads back the same from its
// canonical rendering.
func FuzzACLParse(f *testing.F) {
	for _, s := range []string{
		matchACL,
		"topic read\n",
		"topic a b c\n",
		"user  x y \n topic\tdeny\t$SYS/#\n",
		"pattern write dev/%c%u%/x\n",
		"# c\n\n\r\ntopic read a/#/b\n",
		"user\n",
		"topic readwrite \xff\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		a, err := ParseACL([]byte(data))
		if err != nil {
			var le *LineError
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("error %v does not wrap ErrSyntax", err)
			}
			if errors.As(err, &le) && (le.Line < 1 || le.Line > strings.Count(data, "\n")+1) {
				t.Fatalf("error on line %d of a %d-line file", le.Line, strings.Count(data, "\n")+1)
			}
			return
		}
		for _, rs := range append([][]*Rule{a.anonymous, a.patterns}, mapValues(a.users)...) {
			for _, r := range rs {
				if topic.ValidateFilter(r.Filter) != nil || len(r.levels) != strings.Count(r.Filter, "/")+1 {
					t.Fatalf("accepted rule %q is not a valid filter", r.Filter)
				}
			}
		}
		again, err := ParseACL([]byte(render(a)))
		if err != nil {
			t.Fatalf("canonical form does not parse: %v\n%s", err, render(a))
		}
		if ruleSet(again) != ruleSet(a) {
			t.Fatalf("round trip changed the rules:\n%s\n%s", ruleSet(a), ruleSet(again))
		}
	})
}

func mapValues(m map[string][]*Rule) [][]*Rule {
	var out [][]*Rule
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// refNames enumerates topic names that witness any difference between
// filters a and b: every level either one of their literal levels or a
// fresh one (with and without '$'), up to one level longer than the longer
// filter. Matching treats every other level like the fresh one, and a
// longer name matters only through a '#', which the extra level exercises.
func refNames(a, b []string, fn func(name string) bool) {
	alpha := []string{"zz9", "$zz9"}
	for _, l := range append(slices.Clone(a), b...) {
		if l != "+" && l != "#" && !slices.Contains(alpha, l) {
			alpha = append(alpha, l)
		}
	}
	maxLen := max(len(a), len(b)) + 1
	var walk func(prefix string, depth int) bool
	walk = func(prefix string, depth int) bool {
		for _, l := range alpha {
			name := l
			if depth > 0 {
				name = prefix + "/" + l
			}
			if !fn(name) {
				return false
			}
			if depth+1 < maxLen && !walk(name, depth+1) {
				return false
			}
		}
		return true
	}
	walk("", 0)
}

func refCovers(rule, filter string) bool {
	covered := true
	refNames(strings.Split(rule, "/"), strings.Split(filter, "/"), func(n string) bool {
		if topic.Match(filter, n) && !topic.Match(rule, n) {
			covered = false
		}
		return covered
	})
	return covered
}

func refIntersects(rule, filter string) bool {
	found := false
	refNames(strings.Split(rule, "/"), strings.Split(filter, "/"), func(n string) bool {
		found = topic.Match(filter, n) && topic.Match(rule, n)
		return !found
	})
	return found
}

// FuzzACLMatch checks the matcher (substitution, names, filter coverage
// and overlap, and an ACL's verdicts) against a simple reference: %c and
// %u replaced in the text, pkg/topic's Match, and brute-force enumeration
// of topic names.
func FuzzACLMatch(f *testing.F) {
	for _, s := range [][4]string{
		{"a/#", "a/+", "c1", "u"},
		{"a/#", "a", "c1", "u"},
		{"a/b", "a/+", "c1", "u"},
		{"#", "$SYS/x", "c1", ""},
		{"+/#", "#", "c1", ""},
		{"$SYS/#", "$SYS/+", "c1", ""},
		{"devices/%c/#", "devices/c1/x", "c1", "u"},
		{"users/%u/in", "users/bob/in", "c", "bob"},
		{"out/%c-%u", "out/c-u", "c", "u"},
		{"%c", "+", "$c", ""},
		{"a/+/c", "a/#", "x", "y"},
		{"a//b", "a/+/b", "x", "y"},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	f.Fuzz(func(t *testing.T, rule, other, cid, user string) {
		if topic.ValidateFilter(rule) != nil || topic.ValidateFilter(other) != nil ||
			strings.TrimSpace(rule) != rule || strings.ContainsAny(rule, "\r\n") ||
			strings.Count(rule, "/") > 2 || strings.Count(other, "/") > 2 ||
			!utf8.ValidString(cid) || !utf8.ValidString(user) || strings.ContainsRune(cid+user, 0) ||
			len(cid) > 64 || len(user) > 64 {
			return
		}
		if distinct := len(slices.Compact(slices.Sorted(slices.Values(append(strings.Split(rule, "/"), strings.Split(other, "/")...))))); distinct > 4 {
			// Keeps the enumeration of the reference small: under 2,000
			// names, so that an execution takes well under a millisecond
			// and the baseline run over a grown corpus stays short.
		}
		c := Client{ClientID: cid, Username: user}
		otherLv := strings.Split(other, "/")
		isName := !strings.ContainsAny(other, "+#")
		for _, pattern := range []bool{false, true} {
			r, err := parseRule(1, pattern, "readwrite "+rule)
			if err != nil {
				t.Fatalf("parseRule(%q): %v", rule, err)
			}
			expanded := rule
			if pattern {
				expanded = strings.NewReplacer("%c", cid, "%u", user).Replace(rule)
				usesC, usesU := strings.Contains(rule, "%c"), strings.Contains(rule, "%u")
				wantApplies := !(usesC && (cid == "" || strings.Contains(cid, "/"))) &&
					!(usesU && (user == "" || strings.Contains(user, "/")))
				if r.applies(c) != wantApplies {
					t.Fatalf("applies = %v, want %v", r.applies(c), wantApplies)
				}
				if !wantApplies || strings.ContainsAny(cid+user, "+#") {
					continue
				}
			}
			if isName {
				if got, want := r.matchName(other, c), topic.Match(expanded, other); got != want {
					t.Fatalf("%q (pattern %v) matchName(%q) = %v, reference %v", rule, pattern, other, got, want)
				}
			}
			if got, want := r.covers(otherLv, c), refCovers(expanded, other); got != want {
				t.Fatalf("%q (pattern %v) covers(%q) = %v, reference %v", rule, pattern, other, got, want)
			}
			if got, want := r.intersects(otherLv, c), refIntersects(expanded, other); got != want {
				t.Fatalf("%q (pattern %v) intersects(%q) = %v, reference %v", rule, pattern, other, got, want)
			}
		}
		// An ACL of one grant and one deny, for an anonymous client.
		if user != "" || strings.ContainsAny(cid, "+#") || !strings.Contains(rule, "/") {
			return
		}
		deny := rule[:strings.LastIndexByte(rule, '/')] + "/x"
		if topic.ValidateFilter(deny) != nil {
			return
		}
		a, err := ParseACL([]byte("topic readwrite " + rule + "\ntopic deny " + deny + "\n"))
		if err != nil {
			t.Fatal(err)
		}
		if isName && !strings.HasPrefix(other, "$SYS") && !strings.HasPrefix(other, "$share") {
			want := topic.Match(rule, other) && !topic.Match(deny, other)
			if got := a.CanPublish(c, other); got != want {
				t.Fatalf("CanPublish(%q) = %v, want %v (grant %q, deny %q)", other, got, want, rule, deny)
			}
		}
		want := SubDenied
		switch {
		case refCovers(deny, other) || !refCovers(rule, other):
		case refIntersects(deny, other):
			want = SubFiltered
		default:
			want = SubGranted
		}
		if got := a.CanSubscribe(c, other); got != want {
			t.Fatalf("CanSubscribe(%q) = %v, want %v (grant %q, deny %q)", other, got, want, rule, deny)
		}
	})
}
