package events

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

var testTime = time.Date(2026, 3, 4, 5, 6, 7, 891_234_567, time.FixedZone("x", 3600))

const testConn = "5f0c7d2e-8a1b-4c3d-9e4f-0a1b2c3d4e5f"

func intp(v int) *int { return &v }

// samples returns one valid data value per event type, as the session
// service would build them.
func samples() map[Type]any {
	conn := Connection{ClientID: "dev-1", ConnID: testConn, Node: "fe-1", Epoch: 42, Proto: 5}
	sess := Session{ClientID: "dev-1", ConnID: testConn, Node: "fe-1", Epoch: 42, Proto: 4}
	return map[Type]any{
		ClientConnected: &Connected{Connection: conn, CleanStart: false, SessionPresent: true,
			ExpiryInterval: 7200, KeepAlive: 60, Peer: "10.0.0.7:50123", Username: "alice"},
		ClientDisconnected: &Disconnected{Connection: conn, Reason: DisconnectTakenOver,
			MQTTReasonCode: intp(0x8E), DurationMS: 12345},
		ClientConnectRejected: &ConnectRejected{ClientID: "", ConnID: testConn, Node: "fe-1", Epoch: 43,
			Proto: 6, ConnAck: 1, Reason: "unsupported protocol level", Peer: "10.0.0.8:1"},
		SessionCreated:    &Created{Session: sess, CleanStart: true},
		SessionResumed:    &Resumed{Session: sess, ExpiryInterval: 3600},
		SessionTerminated: &Terminated{Session: Session{ClientID: "dev-1", Node: "sd-1", Epoch: 42, Proto: 4}, Reason: TerminateExpired},
		SessionSubscribed: &Subscribed{Session: sess, Subscriptions: []Subscription{
			{Filter: "a/+/c", QoS: 1},
			{Filter: "$share/g/x/#", QoS: 2, NoLocal: true, RetainAsPublished: true, RetainHandling: 2, SubscriptionID: 7},
		}},
		SessionUnsubscribed:   &Unsubscribed{Session: sess, Filters: []string{"a/+/c"}, Reason: UnsubscribeAdministrative, Operator: "ops-alice"},
		SessionMessageDropped: &MessageDropped{Session: Session{ClientID: "dev-1", Node: "sd-1", Epoch: 42, Proto: 4}, Reason: DropQueueFull, Topic: "a/b/c", Partition: 3, From: 100, To: 101, Count: 1},
		SessionWillPublished: &WillPublished{Session: Session{ClientID: "dev-1", ConnID: testConn, Node: "sd-1", Epoch: 42, Proto: 5},
			Topic: "status/dev-1", QoS: 1, Retain: true, WillDelay: 5, Trigger: WillDelayElapsed},
		SessionWillCancelled: &WillCancelled{Session: sess, Topic: "status/dev-1", WillConnID: "4f1b0b2e-2a7c-4d52-9a43-0c1f1d2e3f40", WillDelay: 5},
	}
}

func TestEnvelopeRoundTrip(t *testing.T) {
	for kind, data := range samples() {
		t.Run(string(kind), func(t *testing.T) {
			client := "dev-1"
			if kind == ClientConnectRejected {
				client = ""
			}
			e := New(kind, "fe-1", client, data, testTime)
			b, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), `"time":"2026-03-04T04:06:07.891Z"`) {
				t.Fatalf("time not RFC 3339 UTC with ms: %s", b)
			}
			if strings.Contains(string(b), `"subject"`) != (client != "") {
				t.Fatalf("subject present = %v for client %q: %s", !(client != ""), client, b)
			}
			got, err := Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Data, data) {
				t.Fatalf("data = %#v, want %#v", got.Data, data)
			}
			want := e
			want.Data = data
			got.Data = data
			if !reflect.DeepEqual(*got, want) {
				t.Fatalf("envelope = %#v, want %#v", *got, want)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"not json", `{`, nil},
		{"wrong spec version", `{"specversion":"0.3","id":"x","source":"s","type":"mqtt.client.connected","time":"2026-01-01T00:00:00.000Z","data":{}}`, ErrNotLifecycle},
		{"no id", `{"specversion":"1.0","source":"s","type":"mqtt.client.connected","time":"2026-01-01T00:00:00.000Z","data":{}}`, ErrNotLifecycle},
		{"unknown type", `{"specversion":"1.0","id":"x","source":"s","type":"mqtt.client.teleported","time":"2026-01-01T00:00:00.000Z","data":{"a":1}}`, ErrUnknownType},
		{"bad time", `{"specversion":"1.0","id":"x","source":"s","type":"mqtt.client.connected","time":"yesterday","data":{}}`, nil},
		{"data of wrong shape", `{"specversion":"1.0","id":"x","source":"s","type":"mqtt.client.connected","time":"2026-01-01T00:00:00.000Z","data":[]}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(tt.in))
			if err == nil {
				t.Fatal("Decode succeeded, want an error")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestHeaders(t *testing.T) {
	tests := []struct {
		name    string
		client  string
		want    map[string]string
		without []string
	}{
		{
			name:   "with subject",
			client: "dev-1",
			want: map[string]string{
				"content-type":   "application/cloudevents+json; charset=UTF-8",
				"ce_specversion": "1.0",
				"ce_id":          "0b7e7a43-3b0b-4e57-8d3c-4f25c8f8f6a1",
				"ce_type":        "mqtt.client.connected",
				"ce_source":      "tidemark://node/fe%2F1",
				"ce_subject":     "dev-1",
				"ce_time":        "2026-03-04T04:06:07.891Z",
			},
		},
		{
			name:    "empty client id has no subject",
			client:  "",
			want:    map[string]string{"ce_id": "0b7e7a43-3b0b-4e57-8d3c-4f25c8f8f6a1"},
			without: []string{"ce_subject"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := NewWithID("0b7e7a43-3b0b-4e57-8d3c-4f25c8f8f6a1", ClientConnected, "fe/1", tt.client, nil, testTime)
			got := map[string]string{}
			for _, h := range e.Headers() {
				if _, dup := got[h.Key]; dup {
					t.Fatalf("duplicate header %q", h.Key)
				}
				got[h.Key] = string(h.Value)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("header %s = %q, want %q", k, got[k], v)
				}
			}
			for _, k := range tt.without {
				if _, ok := got[k]; ok {
					t.Errorf("header %s present, want absent", k)
				}
			}
			if string(e.Key()) != tt.client {
				t.Errorf("Key() = %q, want %q", e.Key(), tt.client)
			}
		})
	}
}

func TestSource(t *testing.T) {
	for _, node := range []string{"fe-1", "fe/1", "node with space", "ü"} {
		t.Run(node, func(t *testing.T) {
			src := Source(node)
			if got := NodeOf(src); got != node {
				t.Fatalf("NodeOf(Source(%q)) = %q (source %q)", node, got, src)
			}
		})
	}
	if got := NodeOf("/other/source"); got != "" {
		t.Fatalf("NodeOf of a foreign source = %q, want empty", got)
	}
}

func TestDeterministicID(t *testing.T) {
	a := DeterministicID("mqtt.sessions", 3, 1000, 0)
	tests := []struct {
		name  string
		id    string
		equal bool
	}{
		{"same position", DeterministicID("mqtt.sessions", 3, 1000, 0), true},
		{"other index", DeterministicID("mqtt.sessions", 3, 1000, 1), false},
		{"other offset", DeterministicID("mqtt.sessions", 3, 1001, 0), false},
		{"other partition", DeterministicID("mqtt.sessions", 4, 1000, 0), false},
		{"other topic", DeterministicID("test.sessions", 3, 1000, 0), false},
		{"no ambiguity between fields", DeterministicID("mqtt.sessions", 31, 0, 0), false},
	}
	u, err := uuid.Parse(a)
	if err != nil || u.Version() != 5 {
		t.Fatalf("id %q is not a UUIDv5 (%v)", a, err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if (tt.id == a) != tt.equal {
				t.Fatalf("id %s vs %s: equal = %v, want %v", tt.id, a, tt.id == a, tt.equal)
			}
		})
	}
}

func TestSchemaURL(t *testing.T) {
	if got, want := SchemaURL(ClientConnected), "https://schemas.tidemark.dev/lifecycle/v1/client.connected.json"; got != want {
		t.Fatalf("SchemaURL = %q, want %q", got, want)
	}
}
