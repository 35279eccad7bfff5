package auth

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"

	"github.com/tidemarkmq/tidemark/pkg/topic"
)

// Access is what a rule grants.
type Access uint8

// Access values. ReadWrite is a rule without an access word. Deny refuses
// both and wins over every grant.
const (
	Read Access = 1 << iota
	Write
	Deny
	ReadWrite = Read | Write
)

// String returns the ACL file keyword.
func (a Access) String() string {
	switch a {
	case Read:
		return "read"
	case Write:
		return "write"
	case ReadWrite:
		return "readwrite"
	case Deny:
		return "deny"
	}
	return fmt.Sprintf("Access(%d)", uint8(a))
}

// Client is who a rule is checked for. An empty Username is an anonymous
// client (MQTT 5 allows an empty user name; it gets the anonymous rules).
type Client struct {
	ClientID string
	Username string
}

// Rule is one topic or pattern line.
type Rule struct {
	Line    int    // where it is in the file
	Access  Access // Read, Write, ReadWrite or Deny
	Filter  string // as written, %c and %u included
	Pattern bool   // a pattern line: applies to every client, with substitution
	levels  []level
	subst   bool // has %c or %u
}

// level is one level of a rule's filter. A literal level may hold %c and
// %u anywhere (Mosquitto documents them as a whole level but substitutes
// them anywhere); pieces then alternate text and variables.
type level struct {
	kind   levelKind
	text   string  // literal without variables
	pieces []piece // literal with variables
}

type levelKind uint8

const (
	literal levelKind = iota
	plus
	hash
)

type piece struct {
	text string
	v    byte // 0: text; 'c': ClientID; 'u': Username
}

// value is the piece with c substituted.
func (p piece) value(c Client) string {
	switch p.v {
	case 'c':
		return c.ClientID
	case 'u':
		return c.Username
	}
	return p.text
}

// ACL is a parsed ACL file. It is immutable, so safe for concurrent use.
type ACL struct {
	anonymous []*Rule            // topic lines before any user line
	users     map[string][]*Rule // topic lines per user section
	patterns  []*Rule            // pattern lines, wherever they are
}

// ParseACL parses an ACL file in Mosquitto's format:
//
//	# comment
//	topic [read|write|readwrite|deny] <filter>
//	user <name>
//	pattern [read|write|readwrite|deny] <filter>
//
// Topic lines before any user line are for anonymous clients; after a
// user line, for that user (sections of one user add up). Pattern lines
// apply to every client wherever they are, with %c replaced by the
// ClientID and %u by the user name. Without an access word a rule is
// readwrite; the filter is the rest of the line and may hold spaces when
// the access word is given. A line Mosquitto would not understand is an
// error naming its line.
func ParseACL(data []byte) (*ACL, error) {
	a := &ACL{users: make(map[string][]*Rule)}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	n := 0
	var user *string // current user section; nil before any
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		word, rest := cutSpace(line)
		switch word {
		case "user":
			if rest == "" {
				return nil, &LineError{n, fmt.Errorf("%w: user without a name", ErrSyntax)}
			}
			u := rest
			user = &u
		case "topic", "pattern":
			r, err := parseRule(n, word == "pattern", rest)
			if err != nil {
				return nil, &LineError{n, err}
			}
			switch {
			case r.Pattern:
				a.patterns = append(a.patterns, r)
			case user == nil:
				a.anonymous = append(a.anonymous, r)
			default:
				a.users[*user] = append(a.users[*user], r)
			}
		default:
			return nil, &LineError{n, fmt.Errorf("%w: unknown keyword (want topic, pattern or user)", ErrSyntax)}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: line %d: %w", ErrSyntax, n+1, err)
	}
	return a, nil
}

func parseRule(line int, pattern bool, rest string) (*Rule, error) {
	r := &Rule{Line: line, Access: ReadWrite, Pattern: pattern}
	word, filter := cutSpace(rest)
	switch word {
	case "read":
		r.Access = Read
	case "write":
		r.Access = Write
	case "readwrite":
		r.Access = ReadWrite
	case "deny":
		r.Access = Deny
	default:
		// No access word: the whole rest is the filter, as in Mosquitto,
		// where a filter with a space needs the word.
		filter = rest
	}
	if filter == "" {
		// "topic read": a single word is the filter, as in Mosquitto.
		r.Access, filter = ReadWrite, rest
	}
	filter = strings.TrimSpace(filter)
	if filter == "" {
		return nil, fmt.Errorf("%w: rule without a topic filter", ErrSyntax)
	}
	if err := topic.ValidateFilter(filter); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSyntax, err)
	}
	r.Filter = filter
	for l := range strings.SplitSeq(filter, "/") {
		lv, subst := parseLevel(l, pattern)
		r.levels = append(r.levels, lv)
		r.subst = r.subst || subst
	}
	return r, nil
}

// cutSpace splits s at its first run of blanks.
func cutSpace(s string) (word, rest string) {
	i := strings.IndexAny(s, " \t")
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimLeft(s[i+1:], " \t")
}

func parseLevel(l string, pattern bool) (level, bool) {
	switch {
	case l == "+":
		return level{kind: plus}, false
	case l == "#":
		return level{kind: hash}, false
	case !pattern || (!strings.Contains(l, "%c") && !strings.Contains(l, "%u")):
		return level{text: l}, false
	}
	var ps []piece
	start := 0
	for i := 0; i+1 < len(l); i++ {
		if l[i] == '%' && (l[i+1] == 'c' || l[i+1] == 'u') {
			if i > start {
				ps = append(ps, piece{text: l[start:i]})
			}
			ps = append(ps, piece{v: l[i+1]})
			i++
			start = i + 1
		}
	}
	if start < len(l) {
		ps = append(ps, piece{text: l[start:]})
	}
	return level{pieces: ps}, true
}

// Rules returns the rules that apply to user ("" = anonymous), in file
// order, then the patterns. For diagnostics and tests.
func (a *ACL) Rules(user string) []Rule {
	var out []Rule
	src := a.anonymous
	if user != "" {
		src = a.users[user]
	}
	for _, r := range src {
		out = append(out, *r)
	}
	for _, r := range a.patterns {
		out = append(out, *r)
	}
	return out
}
