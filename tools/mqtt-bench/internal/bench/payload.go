package bench

import (
	"encoding/binary"
	"time"
)

// HeaderSize is the fixed part of every payload: magic, publisher number,
// sequence number and send time; the rest is padding up to the payload size.
const HeaderSize = 24

// magic marks payloads written by this tool, so foreign messages on the same
// topics are counted as invalid rather than misread.
var magic = [4]byte{'T', 'M', 'B', '1'}

func putHeader(b []byte, pub uint32, seq uint64, sent time.Time) {
	copy(b, magic[:])
	binary.BigEndian.PutUint32(b[4:], pub)
	binary.BigEndian.PutUint64(b[8:], seq)
	binary.BigEndian.PutUint64(b[16:], uint64(sent.UnixNano()))
}

func parseHeader(b []byte) (pub uint32, seq uint64, sent time.Time, ok bool) {
	if len(b) < HeaderSize || [4]byte(b[:4]) != magic {
		return 0, 0, time.Time{}, false
	}
	pub = binary.BigEndian.Uint32(b[4:])
	seq = binary.BigEndian.Uint64(b[8:])
	sent = time.Unix(0, int64(binary.BigEndian.Uint64(b[16:])))
	return pub, seq, sent, true
}
