package mqtt

import (
	"bytes"
	"testing"
)

// TestReaderReleasesBuffer checks the pooled buffer is held only while
// bytes are buffered, so idle connections do not pin it.
func TestReaderReleasesBuffer(t *testing.T) {
	var stream []byte
	for range 2 {
		stream, _ = AppendPacket(stream, &Pingreq{}, V311)
	}
	r := NewReader(bytes.NewReader(stream), 0)
	if _, err := r.ReadPacket(V311); err != nil {
		t.Fatal(err)
	}
	if r.buf == nil || r.Buffered() != 2 {
		t.Fatalf("after the first packet: buf=%v buffered=%d, want the second packet buffered", r.buf != nil, r.Buffered())
	}
	if _, err := r.ReadPacket(V311); err != nil {
		t.Fatal(err)
	}
	if r.buf != nil {
		t.Fatal("buffer still held with nothing buffered")
	}
}
