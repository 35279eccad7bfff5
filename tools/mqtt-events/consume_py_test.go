package main

import (
	"context"
	"encoding/json"
	"os/exec"
	"reflect"
	"testing"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/events"
	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/kafkalog/kafkatest"
)

// consumePy is the consumer example published with the schemas.
const consumePy = "../../schemas/examples/consume.py"

// TestPythonConsumerExample runs the published Python consumer against the
// real Kafka with a takeover, a duplicate, an unknown event type and an
// unknown enum value, and checks its summary. It needs python3 with
// kafka-python (pip install kafka-python==3.0.12).
func TestPythonConsumerExample(t *testing.T) {
	brokers := kafkatest.Cluster(t)
	if err := exec.Command("python3", "-c", "import kafka").Run(); err != nil {
		t.Skipf("python3 with kafka-python not available (%v): pip install kafka-python==3.0.12", err)
	}
	topic := kafkatest.NewTopic(t, 4)
	now := time.Now()
	conn := func(client, id string) events.Connection {
		return events.Connection{ClientID: client, ConnID: id, Node: "fe-1", Epoch: 1, Proto: 4}
	}
	sess := func(client string) events.Session {
		return events.Session{ClientID: client, Node: "fe-1", Epoch: 1, Proto: 4}
	}
	const (
		c1 = "00000001-0000-4000-8000-000000000000"
		c2 = "00000002-0000-4000-8000-000000000000"
		c3 = "00000003-0000-4000-8000-000000000000"
		c4 = "00000004-0000-4000-8000-000000000000"
	)
	bConnected := events.New(events.ClientConnected, "fe-1", "b", &events.Connected{Connection: conn("b", c3), CleanStart: true}, now)
	envs := []events.Envelope{
		// a: persistent session taken over by a second connection.
		events.New(events.SessionCreated, "fe-1", "a", &events.Created{Session: sess("a"), ExpiryInterval: 60}, now),
		events.New(events.ClientConnected, "fe-1", "a", &events.Connected{Connection: conn("a", c1), ExpiryInterval: 60}, now),
		events.New(events.ClientDisconnected, "fe-2", "a", &events.Disconnected{Connection: conn("a", c1), Reason: events.DisconnectTakenOver, DurationMS: 1000}, now),
		events.New(events.SessionResumed, "fe-2", "a", &events.Resumed{Session: sess("a"), ExpiryInterval: 60}, now),
		events.New(events.ClientConnected, "fe-2", "a", &events.Connected{Connection: conn("a", c2), SessionPresent: true, ExpiryInterval: 60}, now),
		// b: clean session, connected twice in the log (a replay duplicate).
		events.New(events.SessionCreated, "fe-1", "b", &events.Created{Session: sess("b"), CleanStart: true}, now),
		bConnected,
		bConnected,
		events.New(events.ClientDisconnected, "fe-1", "b", &events.Disconnected{Connection: conn("b", c3), Reason: events.DisconnectNormal, DurationMS: 500}, now),
		events.New(events.SessionTerminated, "fe-1", "b", &events.Terminated{Session: sess("b"), Reason: events.TerminateNormal}, now),
		// d: a disconnect reason from a newer producer.
		events.New(events.ClientConnected, "fe-1", "d", &events.Connected{Connection: conn("d", c4)}, now),
		events.New(events.ClientDisconnected, "fe-1", "d", &events.Disconnected{Connection: conn("d", c4), Reason: "banned", DurationMS: 10}, now),
	}
	appendEvents(t, brokers, topic, envs)
	extra := [][]byte{
		[]byte(`{"specversion":"1.0","id":"9b0e6a3c-1c2d-4e5f-8a9b-0c1d2e3f4a5b","source":"tidemark://node/fe-9","type":"mqtt.client.teleported","time":"2026-01-01T00:00:00.000Z","subject":"a","data":{"client_id":"a","where":"moon"}}`),
		[]byte(`not json`),
	}
	a := kafkalog.NewAppender(brokers, kafkalog.AppenderOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	for _, v := range extra {
		if err := a.Append(ctx, &kafkalog.Record{Topic: topic, Key: []byte("a"), Value: v}); err != nil {
			t.Fatal(err)
		}
	}
	a.Close()

	cmd := exec.CommandContext(ctx, "python3", consumePy, "--bootstrap", brokers.Brokers[0], "--topic", topic, "--from-beginning", "--idle-ms", "5000")
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("consume.py: %v\n%s", err, stderr)
	}
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("summary is not JSON: %v\n%s", err, out)
	}
	want := map[string]any{
		"events":              11.0,
		"duplicates":          1.0,
		"unknown_types":       1.0,
		"online_clients":      []any{"a"},
		"online_ms":           map[string]any{"a": 1000.0, "b": 500.0, "d": 10.0},
		"live_sessions":       []any{"a"},
		"sessions_created":    2.0,
		"sessions_resumed":    1.0,
		"sessions_terminated": map[string]any{"normal": 1.0},
		"disconnect_reasons":  map[string]any{"takenover": 1.0, "normal": 1.0, "other": 1.0},
		"rejected":            0.0,
		"dropped":             0.0,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("summary\n got %v\nwant %v", got, want)
	}
}
