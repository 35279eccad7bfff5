package auth

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultInterval is how often a watched file is checked for changes.
const DefaultInterval = 5 * time.Second

// WatchOptions configures the reloading of a watched file.
type WatchOptions struct {
	// Interval between checks of the file's size, modification time and
	// identity (default DefaultInterval). Polling, rather than inotify,
	// sees a Kubernetes Secret update, which swaps a symlink to a new
	// directory and never writes the file in place.
	Interval time.Duration
	// Logger receives reloads and failed reloads (default slog.Default()).
	Logger *slog.Logger
	// OnReload, if set, is called after every reload attempt triggered by
	// a change: err nil means the new version is in force, otherwise the
	// previous one still is. It runs on the watching goroutine.
	OnReload func(err error)
}

// watched holds the current parsed version of a file and replaces it when
// the file changes and the new content parses.
type watched[T any] struct {
	path  string
	kind  string // for logs: "password file", "ACL file"
	opt   WatchOptions
	parse func([]byte) (*T, error)
	cur   atomic.Pointer[T]

	mu      sync.Mutex // serialises checks
	stat    os.FileInfo
	content [sha256.Size]byte // of the last content tried, good or bad
}

func newWatched[T any](path, kind string, opt WatchOptions, parse func([]byte) (*T, error)) (*watched[T], error) {
	if opt.Interval <= 0 {
		opt.Interval = DefaultInterval
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	w := &watched[T]{path: path, kind: kind, opt: opt, parse: parse}
	fi, data, err := w.read()
	if err != nil {
		return nil, err
	}
	v, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("parse %s %s: %w", kind, path, err)
	}
	w.cur.Store(v)
	w.stat, w.content = fi, sha256.Sum256(data)
	return w, nil
}

func (w *watched[T]) read() (os.FileInfo, []byte, error) {
	// Stat before reading: if the file changes in between, the next check
	// sees a newer stat than the one recorded and reads again.
	fi, err := os.Stat(w.path)
	if err != nil {
		return nil, nil, fmt.Errorf("stat %s: %w", w.kind, err)
	}
	data, err := os.ReadFile(w.path)
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", w.kind, err)
	}
	return fi, data, nil
}

func sameStat(a, b os.FileInfo) bool {
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// check reloads the file if it changed. It reports whether a new version
// was tried and the error that kept the old one in force.
func (w *watched[T]) check() (bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	fi, err := os.Stat(w.path)
	if err != nil {
		// A missing file during a Secret swap or an editor's save: keep
		// the version in force and look again next time; report it once.
		if w.stat != nil {
			w.stat = nil
			w.opt.Logger.Warn("auth file unreadable, keeping the last good version", "file", w.kind, "path", w.path, "err", err)
		}
		return false, nil
	}
	if w.stat != nil && sameStat(w.stat, fi) {
		return false, nil
	}
	// fi was taken before the read: if the file changes in between, the
	// next check sees a newer stat than the one recorded and reads again.
	data, err := os.ReadFile(w.path)
	if err != nil {
		return false, nil // as above; the next check retries
	}
	w.stat = fi
	sum := sha256.Sum256(data)
	if sum == w.content {
		return false, nil // touched or re-linked, same content
	}
	w.content = sum
	v, err := w.parse(data)
	if err != nil {
		err = fmt.Errorf("parse %s %s: %w", w.kind, w.path, err)
		w.opt.Logger.Error("auth file reload failed, keeping the last good version", "file", w.kind, "path", w.path, "err", err)
		return true, err
	}
	w.cur.Store(v)
	w.opt.Logger.Info("auth file reloaded", "file", w.kind, "path", w.path)
	return true, nil
}

// Run checks the file for changes every interval until ctx ends; it
// returns nil then.
func (w *watched[T]) Run(ctx context.Context) error {
	t := time.NewTicker(w.opt.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			_ = w.Reload()
		}
	}
}

// Reload checks the file now (for a SIGHUP handler or a test). It returns
// the parse error of a changed file that was not taken (the previous
// version stays in force).
func (w *watched[T]) Reload() error {
	tried, err := w.check()
	if tried && w.opt.OnReload != nil {
		w.opt.OnReload(err)
	}
	return err
}

// Current returns the version in force.
func (w *watched[T]) Current() *T { return w.cur.Load() }
