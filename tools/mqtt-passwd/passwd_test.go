package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tidemarkmq/tidemark/pkg/auth"
)

// verify asserts that the file at path holds exactly users (user ->
// password) and that each password verifies.
func verify(t *testing.T, path string, users map[string]string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := auth.ParsePasswords(data)
	if err != nil {
		t.Fatalf("written file does not parse: %v\n%s", err, data)
	}
	if p.Len() != len(users) {
		t.Fatalf("%d users, want %d:\n%s", p.Len(), len(users), data)
	}
	for u, pw := range users {
		if err := p.Verify(u, []byte(pw), true); err != nil {
			t.Fatalf("user %s: %v\n%s", u, err, data)
		}
	}
}

func TestCommand(t *testing.T) {
	const existing = "# team A\nalice:$7$101$SeY40bOC/h3QsCHT$7Gi4xx+D4fOYPbcKypFAr6EELmPv+LGHyrIyHDydKETb4xZnlg51YA/C++3vnLUXDsGneLu+/8GkYCzyI+A4Bg==\n\nbob:plain-bob\n"
	tests := []struct {
		name     string
		initial  string // "" = no file
		args     []string
		stdin    string
		wantCode int
		users    map[string]string // after; nil = do not check
		contains []string          // substrings of the file (or stderr on failure)
	}{
		{"create batch", "", []string{"-c", "-b", "F", "alice", "s3cret"}, "", 0,
			map[string]string{"alice": "s3cret"}, []string{"alice:$7$1000$"}},
		{"create overwrites", existing, []string{"-c", "-b", "F", "carol", "x"}, "", 0,
			map[string]string{"carol": "x"}, nil},
		{"create from prompt", "", []string{"-c", "F", "dave"}, "pw one\npw one\n", 0,
			map[string]string{"dave": "pw one"}, nil},
		{"prompt mismatch", "", []string{"-c", "F", "dave"}, "a\nb\n", 1, nil, []string{"do not match"}},
		{"argon2", "", []string{"--argon2", "-c", "-b", "F", "eve", "pw"}, "", 0,
			map[string]string{"eve": "pw"}, []string{"eve:$argon2id$v=19$m=47104,t=1,p=1$"}},
		{"-H argon2id", "", []string{"-H", "argon2id", "-c", "-b", "F", "eve", "pw"}, "", 0,
			map[string]string{"eve": "pw"}, []string{"$argon2id$"}},
		{"iterations", "", []string{"-I", "2000", "-c", "-b", "F", "eve", "pw"}, "", 0,
			map[string]string{"eve": "pw"}, []string{"eve:$7$2000$"}},
		{"update keeps other lines", strings.Replace(existing, "bob:plain-bob\n", "", 1), []string{"-b", "F", "alice", "new"}, "", 0,
			map[string]string{"alice": "new"}, []string{"# team A\nalice:$7$1000$"}},
		{"add appends", strings.Replace(existing, "bob:plain-bob\n", "", 1), []string{"-b", "F", "zed", "z"}, "", 0,
			map[string]string{"alice": "secret", "zed": "z"}, []string{"# team A\nalice:$7$101$SeY40"}},
		{"update needs the file", "", []string{"-b", "F", "alice", "x"}, "", 1, nil, []string{"no such file"}},
		{"delete", existing, []string{"-D", "F", "bob"}, "", 0, nil, []string{"alice:$7$101$SeY40"}},
		{"delete unknown", existing, []string{"-D", "F", "nobody"}, "", 1, nil, []string{"not found"}},
		{"upgrade", existing, []string{"-U", "F"}, "", 0,
			map[string]string{"alice": "secret", "bob": "plain-bob"}, []string{"alice:$7$101$SeY40", "bob:$7$1000$"}},
		{"-c and -D", "", []string{"-c", "-D", "F", "x"}, "", 1, nil, []string{"cannot be used together"}},
		{"-b and -D", existing, []string{"-b", "-D", "F", "x"}, "", 1, nil, []string{"cannot be used together"}},
		{"colon in user", "", []string{"-c", "-b", "F", "a:b", "x"}, "", 1, nil, []string{"':'"}},
		{"control in user", "", []string{"-c", "-b", "F", "a\tb", "x"}, "", 1, nil, []string{"control"}},
		{"missing password", "", []string{"-c", "-b", "F", "alice"}, "", 1, nil, []string{"Usage:"}},
		{"unknown hash", "", []string{"-H", "md5", "-c", "-b", "F", "a", "x"}, "", 1, nil, []string{"unknown hash type"}},
		{"unknown flag", "", []string{"-x", "F", "a"}, "", 1, nil, []string{"Usage:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "passwd")
			if tt.initial != "" {
				if err := os.WriteFile(path, []byte(tt.initial), 0o640); err != nil {
					t.Fatal(err)
				}
			}
			args := make([]string, len(tt.args))
			for i, a := range tt.args {
				if a == "F" {
					a = path
				}
				args[i] = a
			}
			var stdout, stderr bytes.Buffer
			code := run(args, strings.NewReader(tt.stdin), &stdout, &stderr)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tt.wantCode, stderr.String())
			}
			if code != 0 {
				for _, s := range tt.contains {
					if !strings.Contains(stderr.String(), s) {
						t.Fatalf("stderr %q lacks %q", stderr.String(), s)
					}
				}
				return
			}
			if tt.users != nil {
				verify(t, path, tt.users)
			}
			data, _ := os.ReadFile(path)
			for _, s := range tt.contains {
				if !strings.Contains(string(data), s) {
					t.Fatalf("file lacks %q:\n%s", s, data)
				}
			}
			if tt.name == "delete" && strings.Contains(string(data), "bob") {
				t.Fatalf("bob still there:\n%s", data)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			wantMode := os.FileMode(0o600)
			if tt.initial != "" && !contains(args, "-c") {
				wantMode = 0o640
			}
			if fi.Mode().Perm() != wantMode {
				t.Fatalf("mode %v, want %v", fi.Mode().Perm(), wantMode)
			}
		})
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func TestCreateToStdout(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-c", "-b", "-", "alice", "pw"}, strings.NewReader(""), &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	p, err := auth.ParsePasswords(stdout.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Verify("alice", []byte("pw"), true); err != nil {
		t.Fatal(err)
	}
}

// TestMosquittoInterop: mosquitto_passwd, when installed, edits a file
// this command wrote, and both tools' entries verify.
func TestMosquittoInterop(t *testing.T) {
	bin, err := exec.LookPath("mosquitto_passwd")
	if err != nil {
		t.Skip("mosquitto_passwd not installed")
	}
	path := filepath.Join(t.TempDir(), "passwd")
	var stderr bytes.Buffer
	if code := run([]string{"-c", "-b", path, "ours", "pw1"}, strings.NewReader(""), &stderr, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if out, err := exec.Command(bin, "-b", path, "theirs", "pw2").CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_passwd: %v: %s", err, out)
	}
	if code := run([]string{"-b", path, "ours", "pw3"}, strings.NewReader(""), &stderr, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	verify(t, path, map[string]string{"ours": "pw3", "theirs": "pw2"})
}
