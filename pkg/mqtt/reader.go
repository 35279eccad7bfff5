package mqtt

import "io"

// DefaultMaxPacketSize bounds packets when NewReader is given no limit.
const DefaultMaxPacketSize = 1 << 20

// MaxRemainingLength is the largest remaining length the four-byte variable
// byte integer can express (268,435,455).
const MaxRemainingLength = 268435455

// Reader decodes packets from a byte stream. It is not safe for concurrent
// use; a connection has one read loop. After any error other than io.EOF
// between packets the stream position is undefined and the connection must
// be closed.
type Reader struct {
	r       io.Reader
	maxSize int
}

// NewReader returns a Reader over r that rejects packets larger than
// maxSize bytes (the whole packet, fixed header included, as MQTT 5 Maximum
// Packet Size counts). maxSize <= 0 means DefaultMaxPacketSize.
func NewReader(r io.Reader, maxSize int) *Reader {
	if maxSize <= 0 {
		maxSize = DefaultMaxPacketSize
	}
	return &Reader{r: r, maxSize: maxSize}
}

// SetMaxPacketSize changes the limit for the following packets.
func (r *Reader) SetMaxPacketSize(n int) {
	if n <= 0 {
		n = DefaultMaxPacketSize
	}
	r.maxSize = n
}

// ReadPacket reads and decodes the next packet in the wire form of v. With v
// 0 the version is not known yet: the packet must be CONNECT
// ([MQTT-3.1.0-1], ProtocolError otherwise) and its Version field reports
// the level it carries. io.EOF is returned only when the stream ends cleanly
// between packets.
func (r *Reader) ReadPacket(v Version) (Packet, error) {
	// TODO
	return nil, io.EOF
}

// ReadConnect reads the first packet of a connection, which must be
// CONNECT. An error wrapping UnsupportedProtocolVersion means the protocol
// name or level is not one this codec speaks: answer with a 3.1.1 CONNACK
// return code 0x01 ([MQTT-3.1.2-2]).
func (r *Reader) ReadConnect() (*Connect, error) {
	p, err := r.ReadPacket(0)
	if err != nil {
		return nil, err
	}
	return p.(*Connect), nil
}
