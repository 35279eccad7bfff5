package mqtt

import (
	"errors"
	"fmt"
	"io"
	"sync"
)

// DefaultMaxPacketSize bounds packets when NewReader is given no limit.
const DefaultMaxPacketSize = 1 << 20

// MaxRemainingLength is the largest remaining length the four-byte variable
// byte integer can express (268,435,455).
const MaxRemainingLength = 268435455

// readBufSize is the size of the pooled read buffers. Packets that do not
// fit get a buffer of their own, which their decoded fields then share.
const readBufSize = 4096

var bufPool = sync.Pool{New: func() any { return new([readBufSize]byte) }}

var errNoProgress = errors.New("reader made no progress")

// Reader decodes packets from a byte stream. It is not safe for concurrent
// use; a connection has one read loop. While it waits for the first byte of
// a packet it holds no buffer: a pooled one is taken only while bytes are
// buffered, so idle connections cost a few dozen bytes. After any error
// other than io.EOF the stream position is undefined and the connection must
// be closed.
type Reader struct {
	r       io.Reader
	maxSize int
	buf     *[readBufSize]byte // nil while nothing is buffered
	pos     int
	end     int
	first   [1]byte
}

// NewReader returns a Reader over r that rejects packets larger than
// maxSize bytes (the whole packet, fixed header included, as MQTT 5 Maximum
// Packet Size counts). maxSize <= 0 means DefaultMaxPacketSize.
func NewReader(r io.Reader, maxSize int) *Reader {
	rd := &Reader{r: r}
	rd.SetMaxPacketSize(maxSize)
	return rd
}

// SetMaxPacketSize changes the limit for the following packets; <= 0 means
// DefaultMaxPacketSize, and the limit never exceeds what the protocol can
// express.
func (r *Reader) SetMaxPacketSize(n int) {
	if n <= 0 {
		n = DefaultMaxPacketSize
	}
	r.maxSize = min(n, 1+4+MaxRemainingLength)
}

// ReadPacket reads and decodes the next packet in the wire form of v. With v
// 0 the version is not known yet: the packet must be CONNECT
// ([MQTT-3.1.0-1], ProtocolError otherwise) and its Version field reports
// the level it carries; with v set, a CONNECT is a ProtocolError
// ([MQTT-3.1.0-2]). io.EOF is returned only when the stream ends cleanly
// between packets; a stream that ends inside a packet gives an error
// wrapping io.ErrUnexpectedEOF. Decode errors wrap a ReasonCode. A packet
// over the size limit is refused with PacketTooLarge before its body is
// read or allocated.
func (r *Reader) ReadPacket(v Version) (Packet, error) {
	if v != 0 && !v.valid() {
		return nil, fmt.Errorf("read packet: version %d: %w", v, UnsupportedProtocolVersion)
	}
	if err := r.Await(); err != nil {
		return nil, err
	}
	hdr := r.buf[r.pos]
	// Remaining length: at most four bytes, minimally encoded.
	var rem int
	var hlen int
	for i := 1; ; i++ {
		if err := r.fill(i + 1); err != nil {
			return nil, fmt.Errorf("read fixed header: %w", err)
		}
		n, used, err := parseVarint(r.buf[r.pos+1 : r.end])
		if err == nil {
			rem, hlen = int(n), 1+used
			break
		}
		if err != errTruncated || i == 4 {
			return nil, fmt.Errorf("read remaining length: %w", err)
		}
	}
	total := hlen + rem
	if total > r.maxSize {
		return nil, fmt.Errorf("read %s: %d bytes, limit %d: %w", PacketType(hdr>>4), total, r.maxSize, PacketTooLarge)
	}
	if total <= readBufSize {
		if err := r.fill(total); err != nil {
			return nil, fmt.Errorf("read %s: %w", PacketType(hdr>>4), err)
		}
		body := r.buf[r.pos+hlen : r.pos+total]
		r.pos += total
		p, err := decodePacket(hdr, body, v, false)
		if r.pos == r.end {
			r.release()
		}
		return p, err
	}
	// Large packet: a buffer of its own, which the decoded packet keeps.
	body := make([]byte, rem)
	n := copy(body, r.buf[r.pos+hlen:r.end])
	r.pos, r.end = 0, 0
	r.release()
	if _, err := io.ReadFull(r.r, body[n:]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("read %s: %w", PacketType(hdr>>4), err)
	}
	return decodePacket(hdr, body, v, true)
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

// Await returns when the first byte of the next packet has been read (at
// once when it is buffered already), with the error of the read otherwise,
// as ReadPacket would report it. It blocks on a one-byte read, so that an
// idle connection holds no buffer (the rest of a packet usually follows in
// one read), and in a small stack frame: a server that calls it before
// ReadPacket idles with ReadPacket's larger frame off its stack.
func (r *Reader) Await() error {
	if r.pos < r.end {
		return nil
	}
	r.release()
	if _, err := io.ReadFull(r.r, r.first[:]); err != nil {
		return err
	}
	r.buf = bufPool.Get().(*[readBufSize]byte)
	r.buf[0] = r.first[0]
	r.pos, r.end = 0, 1
	return nil
}

// Buffered reports how many bytes are read ahead of the next packet.
func (r *Reader) Buffered() int { return r.end - r.pos }

// fill reads until at least n bytes (n <= readBufSize) are buffered from
// r.pos on.
func (r *Reader) fill(n int) error {
	if r.end-r.pos >= n {
		return nil
	}
	if r.pos+n > readBufSize {
		r.end = copy(r.buf[:], r.buf[r.pos:r.end])
		r.pos = 0
	}
	for empty := 0; r.end-r.pos < n; {
		m, err := r.r.Read(r.buf[r.end:])
		r.end += m
		if r.end-r.pos >= n {
			return nil
		}
		if err != nil {
			if err == io.EOF {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		if m == 0 {
			if empty++; empty > 100 {
				return errNoProgress
			}
		}
	}
	return nil
}

// release returns the buffer to the pool once nothing is buffered.
func (r *Reader) release() {
	if r.buf != nil {
		bufPool.Put(r.buf)
		r.buf = nil
		r.pos, r.end = 0, 0
	}
}
