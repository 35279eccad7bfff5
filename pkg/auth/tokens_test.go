package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestParseTokens(t *testing.T) {
	sum := sha256.Sum256([]byte("hashed-secret-0123456789"))
	good := "# operators\nalice admin alice-secret-0123456789\n\nci   read  sha256:" + hex.EncodeToString(sum[:]) + "\n"
	toks, err := ParseTokens([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	lookups := []struct {
		secret string
		want   Token
		ok     bool
	}{
		{"alice-secret-0123456789", Token{Name: "alice", Role: RoleAdmin}, true},
		{"hashed-secret-0123456789", Token{Name: "ci", Role: RoleRead}, true},
		{"alice-secret-012345678", Token{}, false},
		{"", Token{}, false},
		{"sha256:" + hex.EncodeToString(sum[:]), Token{}, false},
	}
	for _, l := range lookups {
		got, ok := toks.Lookup(l.secret)
		if ok != l.ok || got != l.want {
			t.Errorf("Lookup(%q) = %+v %v, want %+v %v", l.secret, got, ok, l.want, l.ok)
		}
	}
	bad := []struct{ name, file string }{
		{"two fields", "alice admin\n"},
		{"unknown role", "alice root alice-secret-0123456789\n"},
		{"short secret", "alice admin short\n"},
		{"bad digest", "alice admin sha256:abcd\n"},
		{"name twice", "a read alice-secret-0123456789\na admin other-secret-0123456789\n"},
		{"secret twice", "a read alice-secret-0123456789\nb admin alice-secret-0123456789\n"},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			_, err := ParseTokens([]byte(b.file))
			var le *LineError
			if !errors.Is(err, ErrSyntax) || !errors.As(err, &le) {
				t.Fatalf("err %v, want a line error wrapping ErrSyntax", err)
			}
		})
	}
}

func TestRoleAllows(t *testing.T) {
	cases := []struct {
		have, need Role
		want       bool
	}{
		{RoleRead, RoleRead, true},
		{RoleRead, RoleAdmin, false},
		{RoleAdmin, RoleRead, true},
		{RoleAdmin, RoleAdmin, true},
		{0, RoleRead, false},
	}
	for _, c := range cases {
		if got := c.have.Allows(c.need); got != c.want {
			t.Errorf("%v.Allows(%v) = %v", c.have, c.need, got)
		}
	}
}

// TestTokenFileReloads replaces the file the way a Secret update does and
// checks that the new tokens are in force and the old ones are not.
func TestTokenFileReloads(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tokens")
	write := func(s string) {
		t.Helper()
		tmp := filepath.Join(dir, "tmp")
		if err := os.WriteFile(tmp, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	write("a admin first-secret-0123456789\n")
	f, err := OpenTokenFile(path, WatchOptions{Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := f.Lookup("first-secret-0123456789"); !ok {
		t.Fatal("first token not accepted")
	}
	write("b read second-secret-0123456789\n")
	if err := f.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.Lookup("first-secret-0123456789"); ok {
		t.Fatal("removed token still accepted")
	}
	if tok, ok := f.Lookup("second-secret-0123456789"); !ok || tok.Name != "b" || tok.Role != RoleRead {
		t.Fatalf("new token: %+v %v", tok, ok)
	}
	write("b superuser x\n")
	if err := f.Reload(); err == nil {
		t.Fatal("bad file accepted")
	}
	if _, ok := f.Lookup("second-secret-0123456789"); !ok {
		t.Fatal("a bad file must keep the last good version")
	}
}
