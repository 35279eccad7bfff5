package auth

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"strings"
)

// LineError is a parse error on one line of a password or ACL file. It
// never quotes the line: a password file line holds a hash and an ACL
// line a user name, and errors end up in logs.
type LineError struct {
	Line int // 1-based
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

// Unwrap returns the cause, which wraps ErrSyntax or ErrUnknownHash.
func (e *LineError) Unwrap() error { return e.Err }

// Passwords is a parsed password file: user name to hash. It is immutable,
// so safe for concurrent use.
type Passwords struct {
	users map[string]*Hash
	// dummy is verified for unknown users so that they cost what a known
	// user costs: same scheme and parameters as the file's first entry.
	dummy *Hash
}

// verifySlots bounds concurrent hash verifications: an argon2id line with
// Mosquitto's parameters takes 46 MiB per verification, and a CONNECT flood
// must not turn into a memory flood.
var verifySlots = make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))

// defaultDummy is the dummy of a file without entries.
var defaultDummy = func() *Hash {
	h, _ := NewHash(SHA512PBKDF2, randomBytes(16), DefaultIterations)
	return h
}()

// ParsePasswords parses a password file in the format mosquitto_passwd
// writes: one "user:hash" per line. Blank lines and lines starting with '#'
// are skipped. Unlike Mosquitto, which drops a bad line and carries on, any
// bad line (no ':', an unhashed password, an unknown or malformed hash, a
// user listed twice) fails the whole file: a half-read file would lock
// users out without a word, and a reload keeps the last good file instead.
func ParsePasswords(data []byte) (*Passwords, error) {
	p := &Passwords{users: make(map[string]*Hash)}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimRight(sc.Text(), " \t\r")
		if strings.TrimSpace(line) == "" || line[0] == '#' {
			continue
		}
		user, enc, ok := strings.Cut(line, ":")
		// Mosquitto trims blanks around both fields.
		user, enc = strings.TrimSpace(user), strings.TrimSpace(enc)
		if !ok || user == "" || enc == "" {
			return nil, &LineError{n, fmt.Errorf("%w: want user:hash", ErrSyntax)}
		}
		if !strings.HasPrefix(enc, "$") {
			return nil, &LineError{n, fmt.Errorf("%w: password is not hashed (hash the file with mqtt-passwd -U)", ErrSyntax)}
		}
		h, err := ParseHash(enc)
		if errors.Is(err, ErrUnknownHash) {
			err = fmt.Errorf("%w: %w", ErrSyntax, err)
		}
		if err != nil {
			return nil, &LineError{n, err}
		}
		if _, dup := p.users[user]; dup {
			return nil, &LineError{n, fmt.Errorf("%w: user listed twice", ErrSyntax)}
		}
		p.users[user] = h
		if p.dummy == nil {
			p.dummy = h.sibling()
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: line %d: %w", ErrSyntax, n+1, err)
	}
	if p.dummy == nil {
		p.dummy = defaultDummy
	}
	return p, nil
}

// Len returns the number of users.
func (p *Passwords) Len() int { return len(p.users) }

// Has reports whether user has an entry. For tools and tests: a broker
// must not tell clients.
func (p *Passwords) Has(user string) bool {
	_, ok := p.users[user]
	return ok
}

// Verify returns nil if user exists and password matches its hash, else
// ErrBadCredentials. An unknown user is verified against a dummy hash of
// the same cost, so the answer takes about as long either way; hasPassword
// false (a CONNECT without a password) is a mismatch too, after the same
// work.
func (p *Passwords) Verify(user string, password []byte, hasPassword bool) error {
	h, ok := p.users[user]
	if !ok {
		h = p.dummy
	}
	verifySlots <- struct{}{}
	match := h.Verify(password)
	<-verifySlots
	if !ok || !hasPassword || !match {
		return ErrBadCredentials
	}
	return nil
}
