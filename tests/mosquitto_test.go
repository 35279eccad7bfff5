package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// mosquittoTool finds a Debian mosquitto client; the test stack installs
// them. Without them the test skips, or fails under `make test`.
func mosquittoTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		missingStack(t, name+" not found: `make test` installs mosquitto-clients (scripts/install-deps.sh)")
	}
	return p
}

// TestMosquittoClients: third-party clients, a subscriber on one frontend
// and a publisher on the other, talk through the log, at QoS 1 and with
// MQTT 5 and 3.1.1 on each side.
func TestMosquittoClients(t *testing.T) {
	subBin, pubBin := mosquittoTool(t, "mosquitto_sub"), mosquittoTool(t, "mosquitto_pub")
	c := newCluster(t, options{})
	host := func(i int) (string, string) {
		a := c.addr(i)
		i = strings.LastIndexByte(a, ':')
		return a[:i], a[i+1:]
	}
	for _, v := range []string{"mqttv311", "mqttv5"} {
		t.Run(v, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), waitFor)
			defer cancel()
			h, p := host(0)
			topic := "mosq/" + v
			sub := exec.CommandContext(ctx, subBin, "-h", h, "-p", p, "-V", v, "-i", "mosq-sub-"+v,
				"-t", "mosq/#", "-q", "1", "-C", "3", "-v")
			out, err := sub.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			sub.Stderr = os.Stderr
			if err := sub.Start(); err != nil {
				t.Fatal(err)
			}
			defer sub.Wait()
			c.life.waitSteps("mosq-sub-"+v, created, connectedFresh, step{Type: "mqtt.session.subscribed"})

			h, p = host(1)
			for i := 0; i < 3; i++ {
				pub := exec.CommandContext(ctx, pubBin, "-h", h, "-p", p, "-V", v, "-t", topic, "-q", "1",
					"-m", fmt.Sprintf("hi-%d", i))
				if b, err := pub.CombinedOutput(); err != nil {
					t.Fatalf("mosquitto_pub: %v: %s", err, b)
				}
			}
			sc := bufio.NewScanner(out)
			for i := 0; i < 3; i++ {
				if !sc.Scan() {
					t.Fatalf("mosquitto_sub ended after %d lines: %v", i, sc.Err())
				}
				if want := fmt.Sprintf("%s hi-%d", topic, i); sc.Text() != want {
					t.Errorf("line %d: %q, want %q", i, sc.Text(), want)
				}
			}
			done := make(chan error, 1)
			go func() { done <- sub.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("mosquitto_sub: %v", err)
				}
			case <-time.After(waitFor):
				t.Error("mosquitto_sub did not exit after 3 messages")
			}
		})
	}
}
