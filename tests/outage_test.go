package e2e

import (
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/kafkalog/kafkatest"
)

// privateKafka runs a real Kafka of the test's own with scripts/stack.sh,
// so the test can stop and restart it without disturbing other tests. The
// Kafka jars come from the stack's cache (the first `make test` fetched
// them). It returns the broker address and functions to stop the broker
// and to start it again on the same storage.
func privateKafka(t *testing.T) (broker string, stop, restart func()) {
	t.Helper()
	kafkatest.Brokers(t) // the stack's Kafka marks a machine that can run one more
	port, ctrl := freePort(t), freePort(t)
	env := append(os.Environ(),
		"TIDEMARK_STACK_DIR="+t.TempDir(),
		"TIDEMARK_KAFKA_PORT="+strconv.Itoa(port),
		"TIDEMARK_KAFKA_CONTROLLER_PORT="+strconv.Itoa(ctrl),
		"TIDEMARK_KAFKA_HEAP=512m",
		"TIDEMARK_KAFKA_KEEP_DATA=1",
	)
	stack := func(verb string) {
		t.Helper()
		cmd := exec.Command("../scripts/stack.sh", verb, "kafka")
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("stack.sh %s kafka: %v\n%s", verb, err, out)
		}
	}
	stack("up")
	t.Cleanup(func() { stack("down") })
	return "127.0.0.1:" + strconv.Itoa(port), func() { stack("down") }, func() { stack("up") }
}

// freePort returns a loopback port nobody listens on right now, below the
// kernel's ephemeral range (32768 and up), so an outgoing connection cannot
// take it before the broker binds it.
func freePort(t *testing.T) int {
	t.Helper()
	for i := 0; i < 200; i++ {
		port := 20000 + rand.IntN(12000)
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			l.Close()
			return port
		}
	}
	t.Fatal("no free port between 20000 and 32000")
	return 0
}

// TestRealKafkaOutageNoFalseAck is invariant 1 against a real broker: with
// Kafka stopped, a QoS 1 PUBLISH gets no PUBACK; when the same Kafka comes
// back, the held PUBLISH is acknowledged and publishing goes on, without
// restarting anything, and the subscriber misses nothing.
func TestRealKafkaOutageNoFalseAck(t *testing.T) {
	broker, stopKafka, startKafka := privateKafka(t)
	c := newCluster(t, options{frontends: 1, kafka: kafkalog.Plain(broker), publishRetry: 3 * time.Minute})

	sub, _ := c.dial(0, "outage-sub", false)
	sub.subscribe("outage/#", 1)
	pub, _ := c.dial(0, "outage-pub", true)
	pub.publish("outage/a", 1, "before")
	sub.waitMessages(1)

	stopKafka()
	held := pub.paho.Publish("outage/a", 1, false, "during")
	if held.WaitTimeout(5 * time.Second) {
		t.Fatalf("PUBLISH acknowledged (err %v) while Kafka was down: a false acknowledgement", held.Error())
	}

	startKafka()
	if !held.WaitTimeout(2*time.Minute) || held.Error() != nil {
		t.Fatalf("held PUBLISH not acknowledged after Kafka came back: %v", held.Error())
	}
	pub.publish("outage/a", 1, "after")
	checkDelivery(t, sub.waitMessages(3), []message{
		{Topic: "outage/a", Payload: "before", QoS: 1},
		{Topic: "outage/a", Payload: "during", QoS: 1},
		{Topic: "outage/a", Payload: "after", QoS: 1},
	})
}
