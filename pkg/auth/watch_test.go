package auth

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// secretDir lays out a file the way a Kubernetes Secret volume does:
// dir/name -> ..data/name, ..data -> a timestamped directory. An update
// writes a new directory and swaps the ..data link atomically.
type secretDir struct {
	t    *testing.T
	dir  string
	name string
	n    int
}

func newSecretDir(t *testing.T, name, content string) *secretDir {
	s := &secretDir{t: t, dir: t.TempDir(), name: name}
	s.update(content)
	if err := os.Symlink(filepath.Join("..data", name), filepath.Join(s.dir, name)); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *secretDir) path() string { return filepath.Join(s.dir, s.name) }

func (s *secretDir) update(content string) {
	s.n++
	ts := filepath.Join(s.dir, "..v"+string(rune('0'+s.n)))
	if err := os.Mkdir(ts, 0o755); err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ts, s.name), []byte(content), 0o600); err != nil {
		s.t.Fatal(err)
	}
	tmp := filepath.Join(s.dir, "..data_tmp")
	if err := os.Symlink(filepath.Base(ts), tmp); err != nil {
		s.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, "..data")); err != nil {
		s.t.Fatal(err)
	}
}

func waitReload(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("no reload within 10s")
		return nil
	}
}

func TestACLFileReload(t *testing.T) {
	sd := newSecretDir(t, "acl", "topic read old/#\n")
	reloads := make(chan error, 16)
	f, err := OpenACLFile(sd.path(), WatchOptions{Interval: 5 * time.Millisecond, Logger: quiet,
		OnReload: func(err error) { reloads <- err }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	}()

	anon := Client{ClientID: "c"}
	steps := []struct {
		name    string
		change  func()
		wantErr bool
		allowed []string
		refused []string
	}{
		{"secret swap", func() { sd.update("topic read new/#\n") }, false, []string{"new/x"}, []string{"old/x"}},
		{"broken file keeps last good", func() { sd.update("topic read new/#\ntopic read a/#/b\n") }, true, []string{"new/x"}, []string{"old/x", "a/x/b"}},
		{"in-place write", func() {
			target, err := filepath.EvalSymlinks(sd.path())
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(target, []byte("topic read third/#\ntopic read more/#\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, false, []string{"third/x", "more/y"}, []string{"new/x"}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			st.change()
			err := waitReload(t, reloads)
			// An in-place write is not atomic: a check may catch the file
			// truncated (an empty ACL, which parses). Wait for the end.
			for err == nil && !f.CanRead(anon, st.allowed[0]) {
				err = waitReload(t, reloads)
			}
			if st.wantErr != (err != nil) || (err != nil && !errors.Is(err, ErrSyntax)) {
				t.Fatalf("reload err = %v, want error %v", err, st.wantErr)
			}
			for _, name := range st.allowed {
				if !f.CanRead(anon, name) {
					t.Errorf("%s refused", name)
				}
			}
			for _, name := range st.refused {
				if f.CanRead(anon, name) {
					t.Errorf("%s allowed", name)
				}
			}
		})
	}
}

func TestPasswordFileReload(t *testing.T) {
	fixture := string(readFixture(t, "mosquitto-2.0.passwd"))
	dir := t.TempDir()
	path := filepath.Join(dir, "passwd")
	if err := os.WriteFile(path, []byte(fixture), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := OpenPasswordFile(path, WatchOptions{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	replace := func(content string) {
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Verify("alice", []byte("secret"), true); err != nil {
		t.Fatal(err)
	}
	// Reload (what a SIGHUP handler calls) rather than Run: same check.
	replace("alice:not-hashed\n")
	if err := f.Reload(); !errors.Is(err, ErrSyntax) {
		t.Fatalf("broken file: Reload = %v, want ErrSyntax", err)
	}
	if err := f.Verify("alice", []byte("secret"), true); err != nil {
		t.Fatalf("last good version lost: %v", err)
	}
	argon := string(readFixture(t, "libargon2.passwd"))
	replace(argon)
	if err := f.Reload(); err != nil {
		t.Fatal(err)
	}
	if err := f.Verify("alice", []byte("secret"), true); err != ErrBadCredentials {
		t.Fatalf("removed user still accepted: %v", err)
	}
	if err := f.Verify("carol", []byte("correct horse"), true); err != nil {
		t.Fatalf("new user: %v", err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := f.Reload(); err != nil {
		t.Fatalf("missing file: Reload = %v, want nil (keeps the version)", err)
	}
	if err := f.Verify("carol", []byte("correct horse"), true); err != nil {
		t.Fatalf("missing file dropped the version: %v", err)
	}
	if _, err := OpenPasswordFile(path, WatchOptions{}); err == nil {
		t.Fatal("opening a missing file succeeded")
	}
}

// TestTouchDoesNotReload: a new modification time with the same content
// (a touch, or a Secret re-projected unchanged) is not a reload.
func TestTouchDoesNotReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "acl")
	if err := os.WriteFile(path, []byte("topic read a/#\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	calls := 0
	f, err := OpenACLFile(path, WatchOptions{Logger: quiet, OnReload: func(error) { calls++ }})
	if err != nil {
		t.Fatal(err)
	}
	before := f.Current()
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	if err := f.Reload(); err != nil {
		t.Fatal(err)
	}
	if calls != 0 || f.Current() != before {
		t.Fatalf("touch reloaded: %d OnReload calls, version replaced %v", calls, f.Current() != before)
	}
	if err := os.WriteFile(path, []byte("topic read b/#\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := f.Reload(); err != nil {
		t.Fatal(err)
	}
	if calls != 1 || f.Current() == before {
		t.Fatalf("change not reloaded: %d OnReload calls", calls)
	}
}
