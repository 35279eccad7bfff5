package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tidemarkmq/tidemark/tools/mqtt-bench/internal/client"
	"github.com/tidemarkmq/tidemark/tools/mqtt-bench/internal/latency"
)

// runStorm opens cfg.Connections persistent sessions as fast as
// cfg.Concurrency allows, for at most cfg.Duration, and reports CONNACKs per
// second. A persistent
// session is what costs a broker work at CONNECT (looking up and creating
// state), so Clean is forced off.
func runStorm(ctx context.Context, cfg *Config, res *Result, errs *errorLog) error {
	cfg.Clean = false
	res.Connections = cfg.Connections
	var mu sync.Mutex
	hist := latency.New()
	start := time.Now()
	stop := progress(cfg, start, [2]string{"connected", "errors"}, func() (uint64, uint64) {
		mu.Lock()
		defer mu.Unlock()
		return uint64(hist.Count()), errs.n.Load()
	})
	cctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	conns := connectAll(cctx, cfg, cfg.Connections, func(k int) client.Options {
		return cfg.clientOptions(pick(cfg.SubAddrs, k), cfg.clientID("c", k))
	}, errs, func(d time.Duration) {
		mu.Lock()
		hist.Record(d)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	stop()
	closeAll(cfg, conns)
	res.Connects = uint64(hist.Count())
	res.ConnectRate = perSecond(res.Connects, elapsed)
	res.ConnectLatency = summary(hist)
	res.Elapsed = elapsed.Seconds()
	return nil
}

// runIdle opens cfg.Connections connections (for at most cfg.Duration),
// holds them for cfg.Hold and, given a process id, reports how much that process's resident memory grew per
// connection. The keep-alive is set beyond the hold so that the broker sees
// no traffic at all from idle clients.
func runIdle(ctx context.Context, cfg *Config, res *Result, errs *errorLog) error {
	res.Connections = cfg.Connections
	cfg.KeepAlive = cfg.Duration + cfg.Hold + time.Minute
	var before int64
	if cfg.PID > 0 {
		var err error
		if before, err = readRSS(cfg.PID); err != nil {
			return err
		}
	}
	start := time.Now()
	var mu sync.Mutex // guards hist
	hist := latency.New()
	stop := progress(cfg, start, [2]string{"connected", "errors"}, func() (uint64, uint64) {
		mu.Lock()
		defer mu.Unlock()
		return uint64(hist.Count()), errs.n.Load()
	})
	defer stop()
	cctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	cfg.say("opening %d connections", cfg.Connections)
	conns := connectAll(cctx, cfg, cfg.Connections, func(k int) client.Options {
		o := cfg.clientOptions(pick(cfg.SubAddrs, k), cfg.clientID("i", k))
		o.KeepAlive = min(cfg.KeepAlive, 65535*time.Second)
		return o
	}, errs, func(d time.Duration) {
		mu.Lock()
		hist.Record(d)
		mu.Unlock()
	})
	defer closeAll(cfg, conns)
	res.Connects = uint64(hist.Count())
	res.ConnectRate = perSecond(res.Connects, time.Since(start))
	res.ConnectLatency = summary(hist)

	cfg.say("holding %d connections for %v", res.Connects, cfg.Hold)
	hold := time.NewTimer(cfg.Hold)
	select {
	case <-hold.C:
	case <-ctx.Done():
		hold.Stop()
	}
	if cfg.Held != nil {
		cfg.Held()
	}
	var open uint64
	for _, c := range conns {
		if c == nil {
			continue
		}
		select {
		case <-c.Done():
			errs.add(fmt.Errorf("idle connection dropped: %w", c.Err()))
		default:
			open++
		}
	}
	if cfg.PID > 0 {
		after, err := readRSS(cfg.PID)
		if err != nil {
			return err
		}
		res.RSSBeforeKiB, res.RSSAfterKiB = before, after
		if open > 0 {
			per := float64(after-before) / float64(open)
			res.KiBPerConn = &per
		}
	}
	res.Elapsed = time.Since(start).Seconds()
	return nil
}

// readRSS reads VmRSS (KiB) from /proc/<pid>/status.
func readRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read rss: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kib, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("read rss: %w", err)
			}
			return kib, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("read rss: %w", err)
	}
	return 0, fmt.Errorf("read rss: no VmRSS in /proc/%d/status", pid)
}
