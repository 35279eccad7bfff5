package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog/kafkatest"
	"github.com/tidemarkmq/tidemark/pkg/session/redistest"
)

// buildBinary builds one of the project's commands into dir.
func buildBinary(t *testing.T, dir, pkg, name string) string {
	t.Helper()
	out := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", out, ".")
	cmd.Dir = filepath.Join("..", pkg)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", name, err, b)
	}
	return out
}

// process is one running binary.
type process struct {
	cmd  *exec.Cmd
	done chan error
	http string
}

// startProcess runs bin with args and waits until its /readyz answers 200.
func startProcess(t *testing.T, bin, logPath, httpAddr string, args ...string) *process {
	t.Helper()
	p := launchProcess(t, bin, logPath, httpAddr, args...)
	deadline := time.Now().Add(waitFor)
	for {
		if r, err := http.Get("http://" + httpAddr + "/readyz"); err == nil {
			r.Body.Close()
			if r.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case err := <-p.done:
			b, _ := os.ReadFile(logPath)
			t.Fatalf("%s exited before ready: %v\n%s", filepath.Base(bin), err, b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready on %s", filepath.Base(bin), httpAddr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// launchProcess runs bin with args, its output in logPath, and stops it
// (SIGTERM) when the test ends.
func launchProcess(t *testing.T, bin, logPath, httpAddr string, args ...string) *process {
	t.Helper()
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// The binaries read TIDEMARK_* as flags: keep only what the args say.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, done: make(chan error, 1), http: httpAddr}
	go func() { p.done <- cmd.Wait(); logf.Close() }()
	t.Cleanup(func() { p.terminate(t) })
	return p
}

// terminate sends SIGTERM, as Kubernetes does, and waits for the exit.
func (p *process) terminate(t *testing.T) {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("%s exited with %v after SIGTERM", filepath.Base(p.cmd.Path), err)
		}
	case <-time.After(waitFor):
		_ = p.cmd.Process.Kill()
		t.Errorf("%s did not exit within %v of SIGTERM", filepath.Base(p.cmd.Path), waitFor)
	}
}

// TestRollingRestartProcesses is the rolling update with the real binaries:
// a session service and three frontends as processes on the test stack,
// clients behind a round-robin balancer; each frontend in turn gets SIGTERM
// (it drains) and a new process takes its place. Every client ends
// connected and no acknowledged message is lost.
func TestRollingRestartProcesses(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	redisAddr := redistest.Addr(t)
	frontendBin := binary(t, "services/frontend/cmd/mqtt-frontend")
	sessiondBin := binary(t, "services/sessiond/cmd/mqtt-sessiond")
	logs := t.TempDir()
	common := []string{"--kafka", strings.Join(brokers, ","), "--redis", redisAddr, "--partitions", "4", "--log-level", "warn"}
	// The binaries use the default topic names and consumer group: this is
	// the one test that owns them on the test stack.
	sdHTTP := "127.0.0.1:" + strconv.Itoa(freePort(t))
	startProcess(t, sessiondBin, filepath.Join(logs, "sessiond.log"), sdHTTP,
		append([]string{"--http-addr", sdHTTP, "--node", "sessiond"}, common...)...)

	var mu sync.RWMutex
	fes := make([]*process, 3)
	addrs := make([]string, 3)
	startFE := func(i int) {
		mqttAddr := "127.0.0.1:" + strconv.Itoa(freePort(t))
		httpAddr := "127.0.0.1:" + strconv.Itoa(freePort(t))
		p := startProcess(t, frontendBin, filepath.Join(logs, fmt.Sprintf("frontend-%d.log", i)), httpAddr,
			append([]string{"--mqtt-addr", mqttAddr, "--ws-addr", "", "--http-addr", httpAddr,
				"--node", fmt.Sprintf("frontend-%d", i), "--allow-anonymous"}, common...)...)
		mu.Lock()
		fes[i], addrs[i] = p, mqttAddr
		mu.Unlock()
	}
	for i := range fes {
		startFE(i)
	}
	rr := newRoundRobin(t, func() []string {
		mu.RLock()
		defer mu.RUnlock()
		var out []string
		for _, a := range addrs {
			if a != "" {
				out = append(out, a)
			}
		}
		return out
	})
	rollWhileClientsRun(t, "tcp://"+rr.ln.Addr().String(), len(fes), func(i int) {
		mu.Lock()
		old := fes[i]
		addrs[i] = "" // the Service stops sending it new connections
		mu.Unlock()
		old.terminate(t)
		startFE(i)
	})
}
