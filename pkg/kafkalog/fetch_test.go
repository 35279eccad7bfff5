package kafkalog

import (
	"context"
	"net"
	"slices"
	"testing"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	fetchAPI "github.com/segmentio/kafka-go/protocol/fetch"
)

// fakeFetch answers every request with one fetch response, so fetchOnce's
// handling of unusual responses can be tested without a broker that
// produces them on demand.
type fakeFetch struct {
	hwm     int64
	offsets []int64
}

func (f fakeFetch) RoundTrip(_ context.Context, _ net.Addr, _ protocol.Message) (protocol.Message, error) {
	recs := make([]protocol.Record, len(f.offsets))
	for i, o := range f.offsets {
		recs[i] = protocol.Record{Offset: o, Key: protocol.NewBytes([]byte("k")), Value: protocol.NewBytes([]byte("v"))}
	}
	return &fetchAPI.Response{Topics: []fetchAPI.ResponseTopic{{
		Topic: "t",
		Partitions: []fetchAPI.ResponsePartition{{
			HighWatermark: f.hwm,
			RecordSet:     protocol.RecordSet{Version: 2, Records: protocol.NewRecordReader(recs...)},
		}},
	}}}, nil
}

func TestFetchOnce(t *testing.T) {
	tests := []struct {
		name     string
		resp     fakeFetch
		offset   int64
		wantOffs []int64
		wantNext int64
	}{
		{"records", fakeFetch{hwm: 3, offsets: []int64{1, 2}}, 1, []int64{1, 2}, 3},
		{"batch starts before offset", fakeFetch{hwm: 3, offsets: []int64{0, 1, 2}}, 1, []int64{1, 2}, 3},
		{"compacted hole in the middle", fakeFetch{hwm: 9, offsets: []int64{7, 8}}, 2, []int64{7, 8}, 9},
		{"compacted hole at the end", fakeFetch{hwm: 5}, 2, nil, 5},
		{"only older records, hole to the end", fakeFetch{hwm: 5, offsets: []int64{0, 1}}, 2, nil, 5},
		{"at the end", fakeFetch{hwm: 5}, 5, nil, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &kafka.Client{Addr: kafka.TCP("127.0.0.1:1"), Transport: tt.resp}
			res, err := fetchOnce(context.Background(), c, "t", 0, tt.offset, 0)
			if err != nil {
				t.Fatal(err)
			}
			var offs []int64
			for _, r := range res.recs {
				offs = append(offs, r.Offset)
			}
			if !slices.Equal(offs, tt.wantOffs) || res.next != tt.wantNext {
				t.Fatalf("offsets %v next %d, want %v next %d", offs, res.next, tt.wantOffs, tt.wantNext)
			}
		})
	}
}
