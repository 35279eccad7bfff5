package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	paho5 "github.com/eclipse/paho.golang/paho"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/kafkalog/kafkatest"
	"github.com/tidemarkmq/tidemark/pkg/session"
	"github.com/tidemarkmq/tidemark/pkg/session/redistest"
	"github.com/tidemarkmq/tidemark/pkg/startup"
)

// The process tests run the real binaries. They are built once per test
// run into a shared directory (linking one takes seconds on a loaded
// machine), which TestMain removes at the end.
var bins struct {
	mu   sync.Mutex
	dir  string
	done map[string]string
}

// TestMain removes the shared binaries after the run.
func TestMain(m *testing.M) {
	code := m.Run()
	if bins.dir != "" {
		os.RemoveAll(bins.dir)
	}
	os.Exit(code)
}

// binary builds the command in pkg (relative to the repository root) once
// per test run and returns its path.
func binary(t *testing.T, pkg string) string {
	t.Helper()
	bins.mu.Lock()
	defer bins.mu.Unlock()
	if p, ok := bins.done[pkg]; ok {
		return p
	}
	if bins.dir == "" {
		dir, err := os.MkdirTemp("", "tidemark-e2e-bin-")
		if err != nil {
			t.Fatal(err)
		}
		bins.dir, bins.done = dir, map[string]string{}
	}
	p := buildBinary(t, bins.dir, pkg, filepath.Base(pkg))
	bins.done[pkg] = p
	return p
}

// procCluster runs the services as processes on the test stack, on topics
// and Redis keys of their own (--topic-prefix, --key-prefix).
type procCluster struct {
	t       *testing.T
	brokers kafkalog.Cluster
	redis   string
	prefix  string
	topics  session.Topics
	logs    string
	life    *lifecycle
}

func newProcCluster(t *testing.T, repeatable bool) *procCluster {
	t.Helper()
	brokers := kafkatest.Cluster(t)
	rdb := redistest.Client(t)
	// One random prefix for topics, Redis keys (flushed at the end) and
	// the consumer group.
	c := &procCluster{t: t, brokers: brokers, redis: redistest.Addr(t), prefix: redistest.Prefix(t, rdb), logs: t.TempDir()}
	c.topics = session.WithPrefix(c.prefix)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := startup.EnsureTopics(ctx, brokers, c.topics, testPartitions, 0); err != nil {
		t.Fatalf("create topics: %v", err)
	}
	if repeatable {
		c.life = followLifecycleRepeats(t, brokers, c.topics.Lifecycle)
	} else {
		c.life = followLifecycle(t, brokers, c.topics.Lifecycle)
	}
	t.Cleanup(func() { c.life.checkPairs() })
	return c
}

func (c *procCluster) common() []string {
	return []string{"--kafka", strings.Join(c.brokers.Brokers, ","), "--redis", c.redis, "--partitions", strconv.Itoa(testPartitions),
		"--topic-prefix", c.prefix, "--key-prefix", c.prefix, "--log-level", "info"}
}

// svc is one service process and its addresses.
type svc struct {
	*process
	node, mqtt string
	args       []string
	bin, log   string
}

// sessiond starts a session service process named node.
func (c *procCluster) sessiond(node string, extra ...string) *svc {
	c.t.Helper()
	httpAddr := "127.0.0.1:" + strconv.Itoa(freePort(c.t))
	args := append([]string{"--http-addr", httpAddr, "--node", node, "--group-id", c.prefix + "sessiond", "--expiry-check", "200ms"}, c.common()...)
	s := &svc{node: node, bin: binary(c.t, "services/sessiond/cmd/mqtt-sessiond"), args: append(args, extra...), log: filepath.Join(c.logs, node+".log")}
	s.start(c.t, httpAddr)
	return s
}

// frontend starts a frontend process named node.
func (c *procCluster) frontend(node string, extra ...string) *svc {
	c.t.Helper()
	mqttAddr := "127.0.0.1:" + strconv.Itoa(freePort(c.t))
	httpAddr := "127.0.0.1:" + strconv.Itoa(freePort(c.t))
	args := append([]string{"--mqtt-addr", mqttAddr, "--ws-addr", "", "--http-addr", httpAddr, "--node", node,
		"--allow-anonymous", "--heartbeat-interval", "500ms"}, c.common()...)
	s := &svc{node: node, mqtt: mqttAddr, bin: binary(c.t, "services/frontend/cmd/mqtt-frontend"), args: append(args, extra...),
		log: filepath.Join(c.logs, node+".log")}
	s.start(c.t, httpAddr)
	return s
}

// start runs the service's binary (again, with the same arguments) and
// waits until it is ready; each run logs to its own file.
func (s *svc) start(t *testing.T, httpAddr string) {
	t.Helper()
	log := s.log
	for i := 1; ; i++ {
		if _, err := os.Stat(log); err != nil {
			break
		}
		log = fmt.Sprintf("%s.%d", s.log, i)
	}
	s.process = startProcess(t, s.bin, log, httpAddr, s.args...)
}

// signal sends sig to the process.
func (s *svc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v to %s: %v", sig, s.node, err)
	}
}

// kill ends the process with SIGKILL and waits for it.
func (s *svc) kill(t *testing.T) {
	t.Helper()
	s.signal(t, syscall.SIGKILL)
	select {
	case <-s.done:
	case <-time.After(waitFor):
		t.Fatalf("%s did not die", s.node)
	}
}

// v5 is an MQTT 5 client (paho.golang) that records what it receives and
// notices when the server ends the connection.
type v5 struct {
	*paho5.Client
	id   string
	nc   net.Conn
	mu   sync.Mutex
	msgs []*paho5.Publish
	gone chan struct{} // closed when the connection ended from the server side
	once sync.Once
}

// dialV5 connects an MQTT 5 client and fails the test unless accepted.
func dialV5(t *testing.T, addr string, cp *paho5.Connect) *v5 {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, waitFor)
	if err != nil {
		t.Fatalf("%s: dial %s: %v", cp.ClientID, addr, err)
	}
	c := &v5{id: cp.ClientID, nc: nc, gone: make(chan struct{})}
	end := func() { c.once.Do(func() { close(c.gone) }) }
	c.Client = paho5.NewClient(paho5.ClientConfig{
		Conn: nc,
		OnPublishReceived: []func(paho5.PublishReceived) (bool, error){func(pr paho5.PublishReceived) (bool, error) {
			c.mu.Lock()
			c.msgs = append(c.msgs, pr.Packet)
			c.mu.Unlock()
			return true, nil
		}},
		OnServerDisconnect: func(*paho5.Disconnect) { end() },
		OnClientError:      func(error) { end() },
		PacketTimeout:      waitFor,
	})
	if cp.KeepAlive == 0 {
		cp.KeepAlive = 60
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	ack, err := c.Connect(ctx, cp)
	if err != nil {
		t.Fatalf("%s: connect: %v", cp.ClientID, err)
	}
	if ack.ReasonCode != 0 {
		t.Fatalf("%s: CONNACK 0x%02x", cp.ClientID, ack.ReasonCode)
	}
	t.Cleanup(func() { nc.Close() })
	return c
}

// willConnect is a CONNECT with a will on wills/<id> (QoS 1) of the given
// Will Delay Interval and a session expiry.
func willConnect(id string, delay, expiry uint32) *paho5.Connect {
	return &paho5.Connect{ClientID: id, CleanStart: true,
		Properties:     &paho5.ConnectProperties{SessionExpiryInterval: &expiry},
		WillMessage:    &paho5.WillMessage{Topic: "wills/" + id, QoS: 1, Payload: []byte(id + " gone")},
		WillProperties: &paho5.WillProperties{WillDelayInterval: &delay}}
}

// willsLogged counts the will records per topic on a messages topic.
func willsLogged(t *testing.T, brokers kafkalog.Cluster, topic string) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	bounds, err := kafkalog.TopicBounds(ctx, brokers, topic)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for p, b := range bounds {
		err := kafkalog.ReadRange(ctx, brokers, topic, p, b.First, b.Next, func(r *kafkalog.Record) error {
			if _, ok := r.Header(kafkalog.HeaderWill); ok {
				out[string(r.Key)]++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}
