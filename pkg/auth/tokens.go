package auth

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strings"
)

// Role is what an admin API token may do.
type Role int

// Roles, each allowing what the ones before it allow.
const (
	// RoleRead reads: sessions, history, explanations, retained
	// messages, nodes.
	RoleRead Role = iota + 1
	// RoleAdmin also acts: disconnects, discards, unsubscribes,
	// publishes and deletes retained messages.
	RoleAdmin
)

// String returns the role as written in a token file.
func (r Role) String() string {
	switch r {
	case RoleRead:
		return "read"
	case RoleAdmin:
		return "admin"
	}
	return fmt.Sprintf("Role(%d)", int(r))
}

// Allows reports whether a token with role r may do what need requires.
func (r Role) Allows(need Role) bool { return r >= need }

// MinTokenLength is the shortest secret a token file accepts, in bytes: a
// bearer token is all an attacker needs, so it must not be guessable.
const MinTokenLength = 16

// Token is one entry of a token file: who holds it and what it may do.
type Token struct {
	// Name identifies the holder in logs and in the audit trail (the
	// admin ops and the events they cause); never the secret.
	Name string
	Role Role
}

type tokenEntry struct {
	Token
	sum [sha256.Size]byte // SHA-256 of the secret
}

// Tokens is a parsed token file. It is immutable, so safe for concurrent
// use.
type Tokens struct{ entries []tokenEntry }

// ParseTokens parses a token file: one "name role secret" per line,
// separated by blanks, role read or admin. The secret is the bearer token
// itself (at least MinTokenLength bytes), or "sha256:" and the hex SHA-256
// of it, so that a file need not hold the secret. Blank lines and lines
// starting with '#' are skipped. Any bad line (or a name or secret listed
// twice) fails the whole file; a reload then keeps the last good version.
func ParseTokens(data []byte) (*Tokens, error) {
	t := &Tokens{}
	names := map[string]bool{}
	sums := map[[sha256.Size]byte]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		bad := func(why string) error { return &LineError{Line: n, Err: fmt.Errorf("%w: %s", ErrSyntax, why)} }
		f := strings.Fields(line)
		if len(f) != 3 {
			return nil, bad("want: name role secret")
		}
		e := tokenEntry{Token: Token{Name: f[0]}}
		switch f[1] {
		case "read":
			e.Role = RoleRead
		case "admin":
			e.Role = RoleAdmin
		default:
			return nil, bad("role must be read or admin")
		}
		if hexSum, ok := strings.CutPrefix(f[2], "sha256:"); ok {
			b, err := hex.DecodeString(hexSum)
			if err != nil || len(b) != sha256.Size {
				return nil, bad("sha256: needs 64 hex digits")
			}
			copy(e.sum[:], b)
		} else {
			if len(f[2]) < MinTokenLength {
				return nil, bad(fmt.Sprintf("secret shorter than %d bytes", MinTokenLength))
			}
			e.sum = sha256.Sum256([]byte(f[2]))
		}
		if names[e.Name] {
			return nil, bad("name listed twice")
		}
		if sums[e.sum] {
			return nil, bad("secret listed twice")
		}
		names[e.Name], sums[e.sum] = true, true
		t.entries = append(t.entries, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	return t, nil
}

// Len returns the number of tokens.
func (t *Tokens) Len() int { return len(t.entries) }

// Lookup returns the token whose secret is secret. It compares with every
// entry in constant time, so the time taken tells nothing about which
// entry, or how much of one, matched.
func (t *Tokens) Lookup(secret string) (Token, bool) {
	sum := sha256.Sum256([]byte(secret))
	var found Token
	ok := 0
	for _, e := range t.entries {
		m := subtle.ConstantTimeCompare(sum[:], e.sum[:])
		if m == 1 {
			found = e.Token
		}
		ok |= m
	}
	return found, ok == 1
}

// TokenFile is a token file that reloads itself when it changes. Safe for
// concurrent use.
type TokenFile struct {
	*watched[Tokens] // Run, Reload, Current
}

// OpenTokenFile reads and parses the token file at path. It fails if the
// file cannot be read or parsed; later failures keep the last good
// version. Call Run to watch the file.
func OpenTokenFile(path string, opt WatchOptions) (*TokenFile, error) {
	w, err := newWatched(path, "token file", opt, ParseTokens)
	if err != nil {
		return nil, err
	}
	return &TokenFile{w}, nil
}

// Lookup applies Tokens.Lookup of the version in force.
func (f *TokenFile) Lookup(secret string) (Token, bool) { return f.Current().Lookup(secret) }
