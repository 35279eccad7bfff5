package main

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary act as the command, so a test can run it
// as a real process and signal it.
func TestMain(m *testing.M) {
	if os.Getenv("TIDEMARK_TEST_AS_MAIN") == "1" {
		os.Exit(run(context.Background(), nil, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func TestSIGTERMShutsDownGracefully(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		"TIDEMARK_TEST_AS_MAIN=1",
		// Flags through the environment, as a container would set them.
		"TIDEMARK_MQTT_ADDR=127.0.0.1:0", "TIDEMARK_WS_ADDR=127.0.0.1:0", "TIDEMARK_HTTP_ADDR=127.0.0.1:0",
		"TIDEMARK_DATA_DIR="+dir,
	)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	defer cmd.Process.Kill() // after a clean exit this is a no-op error

	// The start-up banner names every address and ends with the data dir.
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		exited <- cmd.Wait()
	}()
	addrs := map[string]string{}
	timeout := time.After(60 * time.Second)
	for addrs["data"] == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("exited before the banner; stderr:\n%s", stderr.String())
			}
			if k, v, ok := strings.Cut(strings.TrimSpace(l), ":"); ok {
				addrs[k] = strings.Fields(v)[0]
			}
		case <-timeout:
			t.Fatal("no start-up banner within 60s")
		}
	}
	for _, k := range []string{"mqtt", "ws", "http", "kafka", "redis"} {
		c, err := net.DialTimeout("tcp", addrs[k], 5*time.Second)
		if err != nil {
			t.Fatalf("%s address %q from banner: %v", k, addrs[k], err)
		}
		c.Close()
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	go func() {
		for range lines {
		}
	}()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit: %v; stderr:\n%s", err, stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("still running 60s after SIGTERM; stderr:\n%s", stderr.String())
	}
	// The graceful path ran to its end: Redis wrote its final snapshot.
	if _, err := os.Stat(filepath.Join(dir, "redis.json")); err != nil {
		t.Fatalf("no redis snapshot after shutdown: %v", err)
	}
	if !strings.Contains(stderr.String(), "stopped") {
		t.Fatalf("no stop log; stderr:\n%s", stderr.String())
	}
}
