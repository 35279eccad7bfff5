package auth

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The fixtures: mosquitto-2.0.passwd was written by mosquitto_passwd 2.0.11
// ($7$ and, with -H sha512, $6$); libargon2.passwd by the argon2 reference
// command line (the library Mosquitto 2.1 calls, same encoding):
//
//	echo -n 'correct horse' | argon2 SaltSalt...(x8) -id -t 1 -k 47104 -p 1 -l 64 -e
func TestVerifyFixtures(t *testing.T) {
	data := append(readFixture(t, "mosquitto-2.0.passwd"), readFixture(t, "libargon2.passwd")...)
	p, err := ParsePasswords(data)
	if err != nil {
		t.Fatal(err)
	}
	if p.Len() != 5 {
		t.Fatalf("Len = %d, want 5", p.Len())
	}
	tests := []struct {
		user, password string
		ok             bool
		alg            Algorithm
	}{
		{"alice", "secret", true, SHA512PBKDF2},
		{"alice", "Secret", false, SHA512PBKDF2},
		{"alice", "secret ", false, SHA512PBKDF2},
		{"bob", "hunter2", true, SHA512PBKDF2},
		{"bob", "secret", false, SHA512PBKDF2},
		{"dave", "pa:ss wörd", true, SHA512},
		{"dave", "pa:ss word", false, SHA512},
		{"eve smith", "", true, SHA512PBKDF2},
		{"eve smith", "x", false, SHA512PBKDF2},
		{"carol", "correct horse", true, Argon2id},
		{"carol", "correct horse battery", false, Argon2id},
		{"mallory", "secret", false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.user+"/"+tt.password, func(t *testing.T) {
			err := p.Verify(tt.user, []byte(tt.password), true)
			if tt.ok && err != nil {
				t.Fatalf("Verify = %v, want nil", err)
			}
			if !tt.ok && err != ErrBadCredentials {
				t.Fatalf("Verify = %v, want ErrBadCredentials itself", err)
			}
			if h := p.users[tt.user]; h != nil && h.Algorithm() != tt.alg {
				t.Fatalf("algorithm %v, want %v", h.Algorithm(), tt.alg)
			}
		})
	}
}

// TestMosquittoPasswdLive checks against the installed mosquitto_passwd,
// when there is one, with a password of the test's choosing.
func TestMosquittoPasswdLive(t *testing.T) {
	bin, err := exec.LookPath("mosquitto_passwd")
	if err != nil {
		t.Skip("mosquitto_passwd not installed; the committed fixture covers its format")
	}
	path := filepath.Join(t.TempDir(), "passwd")
	const pw = "Zürich: 42 $7$ \\"
	if out, err := exec.Command(bin, "-c", "-b", path, "live", pw).CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_passwd: %v: %s", err, out)
	}
	f, err := OpenPasswordFile(path, WatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Verify("live", []byte(pw), true); err != nil {
		t.Fatalf("right password: %v", err)
	}
	if err := f.Verify("live", []byte(pw[:len(pw)-1]), true); err != ErrBadCredentials {
		t.Fatalf("wrong password: %v", err)
	}
}

// TestFixtureEncoding: a parsed line re-encodes to exactly what
// mosquitto_passwd and libargon2 wrote, so files this package writes are in
// the same encoding (padded base64 for $6$ and $7$, unpadded for argon2id).
func TestFixtureEncoding(t *testing.T) {
	for _, name := range []string{"mosquitto-2.0.passwd", "libargon2.passwd"} {
		for i, line := range strings.Split(strings.TrimSpace(string(readFixture(t, name))), "\n") {
			t.Run(fmt.Sprintf("%s:%d", name, i+1), func(t *testing.T) {
				_, enc, _ := strings.Cut(line, ":")
				h, err := ParseHash(enc)
				if err != nil {
					t.Fatal(err)
				}
				if h.String() != enc {
					t.Fatalf("re-encoded\n%s\nwant\n%s", h.String(), enc)
				}
			})
		}
	}
}

func TestNewHashRoundTrip(t *testing.T) {
	for _, alg := range []Algorithm{SHA512PBKDF2, Argon2id} {
		t.Run(alg.String(), func(t *testing.T) {
			h, err := NewHash(alg, []byte("pässword"), 0)
			if err != nil {
				t.Fatal(err)
			}
			enc := h.String()
			prefix := map[Algorithm]string{SHA512PBKDF2: "$7$1000$", Argon2id: "$argon2id$v=19$m=47104,t=1,p=1$"}[alg]
			if !strings.HasPrefix(enc, prefix) {
				t.Fatalf("encoded %q, want prefix %q", enc, prefix)
			}
			back, err := ParseHash(enc)
			if err != nil {
				t.Fatal(err)
			}
			if back.String() != enc {
				t.Fatalf("re-encoded %q, want %q", back.String(), enc)
			}
			if !back.Verify([]byte("pässword")) || back.Verify([]byte("password")) {
				t.Fatal("verification does not tell the right password from a wrong one")
			}
		})
	}
	if _, err := NewHash(SHA512, []byte("x"), 0); !errors.Is(err, ErrUnknownHash) {
		t.Fatalf("NewHash(SHA512) = %v, want ErrUnknownHash (verify only)", err)
	}
}

func TestParsePasswordsErrors(t *testing.T) {
	good := strings.TrimSpace(string(readFixture(t, "mosquitto-2.0.passwd")))
	alice := strings.SplitN(good, "\n", 2)[0]
	hash := strings.TrimPrefix(alice, "alice:")
	tests := []struct {
		name, file string
		line       int
		errIs      error
	}{
		{"no colon", "# users\n" + alice + "\nbob\n", 3, ErrSyntax},
		{"empty user", ":" + hash + "\n", 1, ErrSyntax},
		{"empty hash", "alice:\n", 1, ErrSyntax},
		{"plain text", "\nalice:secret\n", 2, ErrSyntax},
		{"unknown scheme", "alice:$9$abc$def\n", 1, ErrUnknownHash},
		{"unknown scheme is syntax", "alice:$9$abc$def\n", 1, ErrSyntax},
		{"pbkdf2 fields", "alice:$7$101$abc\n", 1, ErrSyntax},
		{"pbkdf2 iterations", "alice:$7$0" + hash[len("$7$101"):] + "\n", 1, ErrSyntax},
		{"pbkdf2 huge iterations", "alice:$7$99999999999" + hash[len("$7$101"):] + "\n", 1, ErrSyntax},
		{"pbkdf2 salt length", "alice:$7$101$YWJj$" + hash[len("$7$101$SeY40bOC/h3QsCHT$"):] + "\n", 1, ErrSyntax},
		{"pbkdf2 short hash", "alice:$7$101$SeY40bOC/h3QsCHT$YWJj\n", 1, ErrSyntax},
		{"pbkdf2 bad base64", "alice:$7$101$SeY40bOC/h3QsCHT$!!!!\n", 1, ErrSyntax},
		{"duplicate", alice + "\n" + alice + "\n", 2, ErrSyntax},
		{"argon2 version", "c:$argon2id$v=16$m=47104,t=1,p=1$U2FsdFNhbHRTYWx0U2FsdA$NZqzIUUH433vTE1b\n", 1, ErrSyntax},
		{"argon2 params", "c:$argon2id$v=19$m=47104,t=1$U2FsdFNhbHRTYWx0U2FsdA$NZqzIUUH433vTE1b\n", 1, ErrSyntax},
		{"argon2 memory bomb", "c:$argon2id$v=19$m=99999999,t=1,p=1$U2FsdFNhbHRTYWx0U2FsdA$NZqzIUUH433vTE1b\n", 1, ErrSyntax},
		{"argon2 unknown param", "c:$argon2id$v=19$m=47104,t=1,p=1,x=2$U2FsdFNhbHRTYWx0U2FsdA$NZqzIUUH433vTE1b\n", 1, ErrSyntax},
		{"argon2 fields", "c:$argon2id$v=19$m=47104,t=1,p=1$U2FsdFNhbHRTYWx0U2FsdA\n", 1, ErrSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePasswords([]byte(tt.file))
			var le *LineError
			if !errors.As(err, &le) || le.Line != tt.line {
				t.Fatalf("err = %v, want a LineError on line %d", err, tt.line)
			}
			if !errors.Is(err, tt.errIs) {
				t.Fatalf("err = %v, want it to wrap %v", err, tt.errIs)
			}
			if strings.Contains(err.Error(), "alice") || strings.Contains(err.Error(), "SeY40") {
				t.Fatalf("err %q quotes the file", err)
			}
		})
	}
}

func TestParsePasswordsSkips(t *testing.T) {
	file := "# comment\n\n  \n alice :" + "$6$BHfsiAu162D7Gyrh$upRb0MndxDlZkVs882j5OAlTrFqcaSqa6PZo1Rkb2RcbUgMCcgQn1UpN+KhhKk38450jp4ceuVUMd+WxspFNyw==\r\n"
	p, err := ParsePasswords([]byte(file))
	if err != nil {
		t.Fatal(err)
	}
	if p.Len() != 1 || !p.Has("alice") {
		t.Fatalf("users %v, want alice only", p.users)
	}
	if err := p.Verify("alice", []byte("pa:ss wörd"), true); err != nil {
		t.Fatalf("CRLF line: %v", err)
	}
}

// TestUnknownUserSameError asserts what a client can observe: the same
// error value for an unknown user, a wrong password and a missing one; and
// that an unknown user is verified against a hash as costly as the file's
// (same scheme and parameters), which is what makes the timing similar.
func TestUnknownUserSameError(t *testing.T) {
	for _, fixture := range []string{"mosquitto-2.0.passwd", "libargon2.passwd"} {
		t.Run(fixture, func(t *testing.T) {
			p, err := ParsePasswords(readFixture(t, fixture))
			if err != nil {
				t.Fatal(err)
			}
			user := map[string]string{"mosquitto-2.0.passwd": "alice", "libargon2.passwd": "carol"}[fixture]
			errs := []error{
				p.Verify("nobody", []byte("secret"), true),
				p.Verify(user, []byte("wrong"), true),
				p.Verify(user, nil, false),
				p.Verify("nobody", nil, false),
			}
			for i, err := range errs {
				if err != ErrBadCredentials {
					t.Fatalf("case %d: %v, want ErrBadCredentials itself", i, err)
				}
			}
			real := p.users[user]
			d := p.dummy
			if d.alg != real.alg || d.iterations != real.iterations || d.memory != real.memory ||
				d.threads != real.threads || len(d.salt) != len(real.salt) || len(d.sum) != len(real.sum) {
				t.Fatalf("dummy %+v does not cost what %+v costs", d, real)
			}
		})
	}
	empty, err := ParsePasswords(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := empty.Verify("x", []byte("y"), true); err != ErrBadCredentials {
		t.Fatalf("empty file: %v", err)
	}
}
