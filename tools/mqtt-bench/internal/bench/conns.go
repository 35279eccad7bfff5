package bench

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/tidemarkmq/tidemark/tools/mqtt-bench/internal/client"
)

// connectAll opens n connections, at most cfg.Concurrency at a time, until
// ctx ends.
// Connections that fail are nil in the result and logged in errs; onConnect,
// when set, is called with each successful connect's duration (from any
// goroutine).
func connectAll(ctx context.Context, cfg *Config, n int, opts func(k int) client.Options,
	errs *errorLog, onConnect func(time.Duration)) []*client.Conn {
	conns := make([]*client.Conn, n)
	sem := make(chan struct{}, cfg.Concurrency)
	var wg sync.WaitGroup
	for k := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return conns
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			o := opts(k)
			start := time.Now()
			c, err := client.Dial(ctx, o)
			if err != nil {
				if ctx.Err() == nil { // else the phase's time cap cut it short
					errs.add(fmt.Errorf("connect %s: %w", o.ClientID, err))
				}
				return
			}
			if onConnect != nil {
				onConnect(time.Since(start))
			}
			conns[k] = c
		}()
	}
	wg.Wait()
	return conns
}

// closeAll sends DISCONNECT on every open connection, in parallel.
func closeAll(cfg *Config, conns []*client.Conn) {
	sem := make(chan struct{}, cfg.Concurrency)
	var wg sync.WaitGroup
	for _, c := range conns {
		if c == nil {
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			c.Close()
		}()
	}
	wg.Wait()
}

func pick(addrs []string, k int) string { return addrs[k%len(addrs)] }

// clientOptions gives a session expiry only to persistent sessions: an MQTT 5
// clean start with an expiry would still leave a session behind.
func (cfg *Config) clientOptions(addr, id string) client.Options {
	var expiry uint32
	if !cfg.Clean {
		expiry = cfg.SessionExpiry
	}
	return client.Options{
		Addr:          addr,
		Version:       cfg.Version,
		ClientID:      id,
		Clean:         cfg.Clean,
		KeepAlive:     cfg.KeepAlive,
		SessionExpiry: expiry,
		Inflight:      cfg.Inflight,
	}
}

func (cfg *Config) topic(k int) string {
	return fmt.Sprintf("%s/%s/%d", cfg.TopicPrefix, cfg.RunID, k)
}

func (cfg *Config) clientID(role string, k int) string {
	return fmt.Sprintf("bench-%s-%s%d", cfg.RunID, role, k)
}
