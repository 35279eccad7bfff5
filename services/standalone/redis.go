package standalone

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
)

// snapshotFile is the Redis snapshot's name inside the data directory.
const snapshotFile = "redis.json"

// RedisConfig configures the embedded Redis.
type RedisConfig struct {
	// Addr is a loopback host:port; port 0 (the default "127.0.0.1:0")
	// picks a free port.
	Addr string
	// DataDir, when set, holds a snapshot (DataDir/redis.json) loaded at
	// start and written at Close and every SnapshotInterval. miniredis
	// itself is memory-only.
	DataDir string
	// SnapshotInterval is how often the snapshot is written; 0 means only
	// at Close. A snapshot older than the log is safe: the session service
	// rebuilds the view from the ops the snapshot lacks.
	SnapshotInterval time.Duration
	// Logger receives snapshot errors; default slog.Default().
	Logger *slog.Logger
}

// EmbeddedRedis is a miniredis server inside this process, with optional
// snapshots to disk. miniredis does not advance TTLs by itself; a ticker
// moves its clock with the wall clock so EXPIRE works as in Redis.
type EmbeddedRedis struct {
	m    *miniredis.Miniredis
	cfg  RedisConfig
	log  *slog.Logger
	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once

	snapMu sync.Mutex // one snapshot at a time
}

// StartRedis starts the embedded Redis, loading the snapshot from DataDir
// if there is one.
func StartRedis(cfg RedisConfig) (*EmbeddedRedis, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if _, _, err := loopback(cfg.Addr); err != nil {
		return nil, fmt.Errorf("embedded redis: %w", err)
	}
	r := &EmbeddedRedis{m: miniredis.NewMiniRedis(), cfg: cfg, stop: make(chan struct{})}
	r.log = cfg.Logger
	if r.log == nil {
		r.log = slog.Default()
	}
	r.log = r.log.With("component", "embedded-redis")
	if cfg.DataDir != "" {
		if err := r.load(); err != nil {
			return nil, err
		}
	}
	if err := r.m.StartAddr(cfg.Addr); err != nil {
		return nil, fmt.Errorf("embedded redis on %s: %w", cfg.Addr, err)
	}
	r.wg.Go(r.tick)
	return r, nil
}

// Addr is the host:port Redis listens on.
func (r *EmbeddedRedis) Addr() string { return r.m.Addr() }

// Miniredis gives tests direct access to the server.
func (r *EmbeddedRedis) Miniredis() *miniredis.Miniredis { return r.m }

func (r *EmbeddedRedis) tick() {
	clock := time.NewTicker(time.Second)
	defer clock.Stop()
	var snap <-chan time.Time
	if r.cfg.DataDir != "" && r.cfg.SnapshotInterval > 0 {
		t := time.NewTicker(r.cfg.SnapshotInterval)
		defer t.Stop()
		snap = t.C
	}
	last := time.Now()
	for {
		select {
		case <-r.stop:
			return
		case now := <-clock.C:
			r.m.FastForward(now.Sub(last))
			last = now
		case <-snap:
			if err := r.Snapshot(); err != nil {
				r.log.Warn("redis snapshot failed", "err", err)
			}
		}
	}
}

// Close stops the server and writes a final snapshot when DataDir is set.
func (r *EmbeddedRedis) Close() error {
	var err error
	r.once.Do(func() {
		close(r.stop)
		r.wg.Wait()
		r.m.Close() // no more clients: the snapshot is final
		if r.cfg.DataDir != "" {
			err = r.Snapshot()
		}
	})
	return err
}

// snapshot is the on-disk form: the keys of database 0 by type. TTLs are
// kept as remaining milliseconds.
type snapshot struct {
	Strings map[string]string             `json:"strings,omitempty"`
	Hashes  map[string]map[string]string  `json:"hashes,omitempty"`
	Sets    map[string][]string           `json:"sets,omitempty"`
	Lists   map[string][]string           `json:"lists,omitempty"`
	ZSets   map[string]map[string]float64 `json:"zsets,omitempty"`
	TTLms   map[string]int64              `json:"ttl_ms,omitempty"`
	Skipped []string                      `json:"skipped,omitempty"`
}

// Snapshot writes the data set to DataDir/redis.json atomically (write a
// temporary file, then rename), so a crash leaves the previous snapshot.
// Each key is read on its own; the session service's MULTI/EXEC updates
// touch one client's keys, so a snapshot taken while it runs may mix
// states, which the rebuild at start-up repairs.
func (r *EmbeddedRedis) Snapshot() error {
	if r.cfg.DataDir == "" {
		return nil
	}
	r.snapMu.Lock()
	defer r.snapMu.Unlock()
	s := snapshot{
		Strings: map[string]string{}, Hashes: map[string]map[string]string{}, Sets: map[string][]string{},
		Lists: map[string][]string{}, ZSets: map[string]map[string]float64{}, TTLms: map[string]int64{},
	}
	for _, k := range r.m.Keys() {
		var err error
		switch r.m.Type(k) {
		case "string":
			s.Strings[k], err = r.m.Get(k)
		case "hash":
			var fields []string
			if fields, err = r.m.HKeys(k); err == nil {
				h := make(map[string]string, len(fields))
				for _, f := range fields {
					h[f] = r.m.HGet(k, f)
				}
				s.Hashes[k] = h
			}
		case "set":
			s.Sets[k], err = r.m.Members(k)
		case "list":
			s.Lists[k], err = r.m.List(k)
		case "zset":
			s.ZSets[k], err = r.m.SortedSet(k)
		case "":
			continue // deleted since Keys
		default:
			s.Skipped = append(s.Skipped, k)
			continue
		}
		if err != nil {
			continue // changed type or deleted since Keys
		}
		if ttl := r.m.TTL(k); ttl > 0 {
			s.TTLms[k] = ttl.Milliseconds()
		}
	}
	b, err := json.Marshal(&s)
	if err != nil {
		return fmt.Errorf("redis snapshot: %w", err)
	}
	path := filepath.Join(r.cfg.DataDir, snapshotFile)
	tmp, err := os.CreateTemp(r.cfg.DataDir, snapshotFile+".*")
	if err != nil {
		return fmt.Errorf("redis snapshot: %w", err)
	}
	_, werr := tmp.Write(b)
	serr := tmp.Sync()
	cerr := tmp.Close()
	if err := firstErr(werr, serr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("redis snapshot: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("redis snapshot: %w", err)
	}
	return nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// load restores the snapshot into the not yet started server.
func (r *EmbeddedRedis) load() error {
	b, err := os.ReadFile(filepath.Join(r.cfg.DataDir, snapshotFile))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("load redis snapshot: %w", err)
	}
	var s snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("load redis snapshot: %w", err)
	}
	for k, v := range s.Strings {
		if err := r.m.Set(k, v); err != nil {
			return fmt.Errorf("load redis snapshot %s: %w", k, err)
		}
	}
	for k, h := range s.Hashes {
		fv := make([]string, 0, 2*len(h))
		for f, v := range h {
			fv = append(fv, f, v)
		}
		r.m.HSet(k, fv...)
	}
	for k, members := range s.Sets {
		if _, err := r.m.SetAdd(k, members...); err != nil {
			return fmt.Errorf("load redis snapshot %s: %w", k, err)
		}
	}
	for k, l := range s.Lists {
		if _, err := r.m.Push(k, l...); err != nil {
			return fmt.Errorf("load redis snapshot %s: %w", k, err)
		}
	}
	for k, z := range s.ZSets {
		for m, score := range z {
			if _, err := r.m.ZAdd(k, score, m); err != nil {
				return fmt.Errorf("load redis snapshot %s: %w", k, err)
			}
		}
	}
	for k, ms := range s.TTLms {
		r.m.SetTTL(k, time.Duration(ms)*time.Millisecond)
	}
	if len(s.Skipped) > 0 {
		r.log.Warn("redis snapshot skipped keys of unsupported types", "keys", s.Skipped)
	}
	return nil
}
