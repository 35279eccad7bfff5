package auth

import (
	"strings"

	"github.com/tidemarkmq/tidemark/pkg/topic"
)

// SubAccess is the verdict on a SUBSCRIBE filter.
type SubAccess uint8

// Verdicts on a SUBSCRIBE filter.
const (
	// SubDenied: no read rule covers the filter, or a deny rule does.
	SubDenied SubAccess = iota
	// SubGranted: one read rule covers every topic the filter matches and
	// no deny rule touches any of them.
	SubGranted
	// SubFiltered: granted, but a deny rule covers part of what the
	// filter matches (a subscription to "a/#" with "topic deny a/secret"):
	// the broker must check CanRead for each message it delivers on this
	// subscription, as Mosquitto does.
	SubFiltered
)

// String names the verdict.
func (s SubAccess) String() string {
	switch s {
	case SubDenied:
		return "denied"
	case SubGranted:
		return "granted"
	case SubFiltered:
		return "filtered"
	}
	return "SubAccess(?)"
}

// dangerous reports a ClientID or user name with a wildcard character: like
// Mosquitto, such a client gets no access at all, so that no rule can be
// turned into a wildcard by substitution.
func dangerous(c Client) bool {
	return strings.ContainsAny(c.ClientID, "+#") || strings.ContainsAny(c.Username, "+#")
}

// applies reports whether a pattern rule can be used for c: %c needs a
// ClientID and %u a user name, each without '/', so that a substitution
// is always exactly one level.
func (r *Rule) applies(c Client) bool {
	if !r.subst {
		return true
	}
	for _, l := range r.levels {
		for _, p := range l.pieces {
			if p.v == 0 {
				continue
			}
			if v := p.value(c); v == "" || strings.IndexByte(v, '/') >= 0 {
				return false
			}
		}
	}
	return true
}

// rules calls fn for every rule that applies to c until fn returns false:
// the client's own section (the anonymous one without a user name), then
// the patterns.
func (a *ACL) rules(c Client, fn func(*Rule) bool) {
	own := a.anonymous
	if c.Username != "" {
		own = a.users[c.Username]
	}
	for _, r := range own {
		if !fn(r) {
			return
		}
	}
	for _, r := range a.patterns {
		if r.applies(c) && !fn(r) {
			return
		}
	}
}

// CanPublish reports whether c may publish to the topic name: a write rule
// matches it and no deny rule does. Like Mosquitto, nobody publishes to
// topics starting with $SYS or $share.
func (a *ACL) CanPublish(c Client, name string) bool {
	if strings.HasPrefix(name, "$SYS") || strings.HasPrefix(name, "$share") {
		return false
	}
	return a.check(c, name, Write)
}

// CanRead reports whether a message on the topic name may be delivered to
// c (live, queued or retained): a read rule matches it and no deny rule
// does.
func (a *ACL) CanRead(c Client, name string) bool { return a.check(c, name, Read) }

func (a *ACL) check(c Client, name string, want Access) bool {
	if dangerous(c) {
		return false
	}
	granted, denied := false, false
	a.rules(c, func(r *Rule) bool {
		if !r.matchName(name, c) {
			return true
		}
		if r.Access == Deny {
			denied = true
			return false
		}
		granted = granted || r.Access&want != 0
		return true
	})
	return granted && !denied
}

// CanSubscribe judges a SUBSCRIBE filter. A shared subscription
// "$share/group/f" is judged on f. The filter is granted when one read
// rule covers it: every topic the filter can match, the rule matches too
// ("a/+" is covered by "a/#" but not by "a/b"). It is denied when a deny
// rule covers it, and filtered when a deny rule covers only part of it.
// An invalid filter is denied.
func (a *ACL) CanSubscribe(c Client, filter string) SubAccess {
	if dangerous(c) {
		return SubDenied
	}
	if _, f, ok, err := topic.ParseShared(filter); err != nil {
		return SubDenied
	} else if ok {
		filter = f
	}
	if topic.ValidateFilter(filter) != nil {
		return SubDenied
	}
	fl := strings.Split(filter, "/")
	granted, denied, overlap := false, false, false
	a.rules(c, func(r *Rule) bool {
		if r.Access == Deny {
			if r.covers(fl, c) {
				denied = true
				return false
			}
			overlap = overlap || r.intersects(fl, c)
			return true
		}
		granted = granted || (r.Access&Read != 0 && r.covers(fl, c))
		return true
	})
	switch {
	case denied || !granted:
		return SubDenied
	case overlap:
		return SubFiltered
	}
	return SubGranted
}

// literalIs reports whether the literal level l, with c substituted,
// equals s.
func (l *level) literalIs(s string, c Client) bool {
	if l.pieces == nil {
		return l.text == s
	}
	for _, p := range l.pieces {
		v := p.value(c)
		if !strings.HasPrefix(s, v) {
			return false
		}
		s = s[len(v):]
	}
	return s == ""
}

// dollar reports whether the literal level l, substituted, starts with '$'.
func (l *level) dollar(c Client) bool {
	if l.pieces == nil {
		return strings.HasPrefix(l.text, "$")
	}
	for _, p := range l.pieces {
		v := p.value(c)
		if v != "" {
			return v[0] == '$'
		}
	}
	return false
}

// matchName reports whether the topic name matches the rule's filter with
// c substituted, by MQTT's rules: a wildcard in the first level does not
// match a name starting with '$' [MQTT-4.7.2-1]. It does not allocate: it
// runs for every PUBLISH.
func (r *Rule) matchName(name string, c Client) bool {
	if strings.HasPrefix(name, "$") && r.levels[0].kind != literal {
		return false
	}
	pos, done := 0, false
	for i := range r.levels {
		l := &r.levels[i]
		if l.kind == hash {
			return true // the parent level and everything below
		}
		if done {
			return false
		}
		var seg string
		if j := strings.IndexByte(name[pos:], '/'); j < 0 {
			seg, done = name[pos:], true
		} else {
			seg, pos = name[pos:pos+j], pos+j+1
		}
		if l.kind == literal && !l.literalIs(seg, c) {
			return false
		}
	}
	return done
}

// covers reports whether every topic name that filter f (split in levels)
// matches is matched by the rule.
func (r *Rule) covers(f []string, c Client) bool {
	if len(f) == 1 && f[0] == "#" {
		// Names are never empty, so "#" matches what "+/#" matches.
		f = []string{"+", "#"}
	}
	if strings.HasPrefix(f[0], "$") && r.levels[0].kind != literal {
		return false
	}
	for i := range r.levels {
		l := &r.levels[i]
		if l.kind == hash {
			return true
		}
		if i >= len(f) || f[i] == "#" {
			return false
		}
		if l.kind == literal && (f[i] == "+" || !l.literalIs(f[i], c)) {
			return false
		}
	}
	return len(f) == len(r.levels)
}

// intersects reports whether some topic name matches both the rule and
// filter f.
func (r *Rule) intersects(f []string, c Client) bool {
	// A first-level wildcard matches no name starting with '$'.
	l0 := &r.levels[0]
	rWild, fWild := l0.kind != literal, f[0] == "+" || f[0] == "#"
	if (rWild && !fWild && strings.HasPrefix(f[0], "$")) || (fWild && !rWild && l0.dollar(c)) {
		return false
	}
	for i := 0; ; i++ {
		rEnd, fEnd := i >= len(r.levels), i >= len(f)
		switch {
		case rEnd && fEnd:
			return true
		case !rEnd && r.levels[i].kind == hash, !fEnd && f[i] == "#":
			return true
		case rEnd || fEnd:
			return false
		}
		l := &r.levels[i]
		if l.kind == literal && f[i] != "+" && !l.literalIs(f[i], c) {
			return false
		}
	}
}
