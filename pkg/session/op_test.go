package session

import (
	"reflect"
	"testing"

	"github.com/tidemarkmq/tidemark/pkg/events"
	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
)

func TestOpRoundTrip(t *testing.T) {
	cases := []struct {
		name string
		op   Op
	}{
		{"connect", Op{Kind: OpConnect, ClientID: "c1", Conn: "u1", Epoch: 0, Node: "n", TS: 5, Proto: 5, Clean: true, Expiry: 60, Keepalive: 30,
			Inc: "i1", Will: &Will{Topic: "w", Payload: []byte{0, 1, 2}, QoS: 1, Delay: 5}}},
		{"subscribe", Op{Kind: OpSubscribe, ClientID: "c1", Epoch: 7, Subs: []Subscription{{Filter: "a/+", QoS: 2, NoLocal: true, SubID: 3}}}},
		{"progress at zero", Op{Kind: OpProgress, ClientID: "c1", Epoch: 7, Cursor: map[int]int64{0: 0, 3: 12},
			Inflight: []Inflight{{PacketID: 1, Partition: 0, Offset: 0, QoS: 1, State: InflightSent}}}},
		{"disconnect", Op{Kind: OpDisconnect, ClientID: "c1", Epoch: 7, Reason: string(events.DisconnectKeepAliveTimeout), Code: 0x8D}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := tc.op.Record("sessions")
			if string(rec.Key) != tc.op.ClientID {
				t.Fatalf("key %q", rec.Key)
			}
			if h, _ := rec.Header(HeaderOp); string(h) != tc.op.Kind {
				t.Fatalf("op header %q", h)
			}
			got, err := DecodeOp(rec)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, tc.op) {
				t.Fatalf("got %+v\nwant %+v", *got, tc.op)
			}
		})
	}
}

// TestPartitionRecord: a node_down op names no client and is pinned to the
// partition it concerns.
func TestPartitionRecord(t *testing.T) {
	op := Op{Kind: OpNodeDown, Node: "fe-1", Inc: "i1", TS: 7, Reason: "timeout"}
	rec := op.PartitionRecord("sessions", 3)
	if rec.Key != nil || !rec.Pinned || rec.Partition != 3 {
		t.Fatalf("record key %q pinned %v partition %d", rec.Key, rec.Pinned, rec.Partition)
	}
	got, err := DecodeOp(rec)
	if err != nil || !reflect.DeepEqual(*got, op) {
		t.Fatalf("decoded %+v, %v", got, err)
	}
}

func TestDecodeOpErrors(t *testing.T) {
	cases := []struct {
		name  string
		value string
	}{
		{"not json", "{"},
		{"no kind", `{"cid":"x"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeOp(&kafkalog.Record{Key: []byte("x"), Value: []byte(tc.value)})
			if err == nil {
				t.Fatal("want error")
			}
		})
	}
}

func TestQueueRef(t *testing.T) {
	cases := []struct {
		in   string
		want QueueRef
		ok   bool
	}{
		{"3:1200:1", QueueRef{3, 1200, 1}, true},
		{"0:0:0", QueueRef{0, 0, 0}, true},
		{"1:2", QueueRef{}, false},
		{"1:2:3", QueueRef{}, false},
		{"a:2:1", QueueRef{}, false},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseQueueRef(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("err %v", err)
			}
			if tc.ok && (got != tc.want || got.String() != tc.in) {
				t.Fatalf("got %v (%s)", got, got)
			}
		})
	}
}
