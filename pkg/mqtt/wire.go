package mqtt

import (
	"bytes"
	"fmt"
	"unicode/utf8"
)

// Static decode errors: they wrap a ReasonCode and are wrapped again with the
// packet and field that failed, only on the failure path.
var (
	errTruncated    = fmt.Errorf("truncated: %w", MalformedPacket)
	errTrailing     = fmt.Errorf("trailing bytes: %w", MalformedPacket)
	errVarint       = fmt.Errorf("variable byte integer longer than 4 bytes: %w", MalformedPacket)
	errVarintLong   = fmt.Errorf("variable byte integer not minimal [MQTT-1.5.5-1]: %w", MalformedPacket)
	errUTF8         = fmt.Errorf("ill-formed utf-8 [MQTT-1.5.4-1]: %w", MalformedPacket)
	errNullChar     = fmt.Errorf("string contains U+0000 [MQTT-1.5.4-2]: %w", MalformedPacket)
	errStringLen    = fmt.Errorf("string or binary longer than 65535 bytes: %w", MalformedPacket)
	errQoS          = fmt.Errorf("qos 3 [MQTT-3.3.1-4]: %w", MalformedPacket)
	errPacketIDZero = fmt.Errorf("packet identifier 0 [MQTT-2.2.1-3]: %w", MalformedPacket)
)

// maxVarint is the largest value of a variable byte integer (MQTT 5.0
// section 1.5.5).
const maxVarint = MaxRemainingLength

// varintSize is the encoded length of a variable byte integer.
func varintSize(n int) int {
	switch {
	case n < 128:
		return 1
	case n < 16384:
		return 2
	case n < 2097152:
		return 3
	default:
		return 4
	}
}

func appendVarint(dst []byte, n uint32) []byte {
	for {
		b := byte(n & 0x7f)
		n >>= 7
		if n == 0 {
			return append(dst, b)
		}
		dst = append(dst, b|0x80)
	}
}

func appendUint16(dst []byte, n uint16) []byte { return append(dst, byte(n>>8), byte(n)) }

func appendUint32(dst []byte, n uint32) []byte {
	return append(dst, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// appendString writes a two-byte length and the bytes; the caller has
// checked the length with checkLen.
func appendString(dst []byte, s string) []byte {
	dst = appendUint16(dst, uint16(len(s)))
	return append(dst, s...)
}

func appendBinary(dst []byte, b []byte) []byte {
	dst = appendUint16(dst, uint16(len(b)))
	return append(dst, b...)
}

// checkLen rejects strings and binary data that a two-byte length cannot
// describe.
func checkLen(field string, n int) error {
	if n > 0xffff {
		return fmt.Errorf("%s: %w", field, errStringLen)
	}
	return nil
}

// validUTF8 applies [MQTT-1.5.4-1] (well-formed UTF-8, no surrogates, which
// utf8.Valid already rejects) and [MQTT-1.5.4-2] (no U+0000). A BOM is kept
// as is ([MQTT-1.5.4-3]).
func validUTF8(b []byte) error {
	for i, c := range b {
		if c == 0 {
			return errNullChar
		}
		if c >= utf8.RuneSelf {
			if !utf8.Valid(b[i:]) {
				return errUTF8
			}
			if bytes.IndexByte(b[i:], 0) >= 0 {
				return errNullChar
			}
			return nil
		}
	}
	return nil
}

// decoder reads the body of one packet. Errors are sticky, so decoding code
// reads like the specification and checks d.err once at the end.
type decoder struct {
	b   []byte
	i   int
	err error
	// owned means b is not reused after decoding, so binary fields may alias
	// it instead of being copied.
	owned bool
}

func (d *decoder) fail(field string, err error) {
	if d.err == nil {
		d.err = fmt.Errorf("%s: %w", field, err)
	}
}

func (d *decoder) left() int { return len(d.b) - d.i }

func (d *decoder) take(field string, n int) []byte {
	if d.err != nil {
		return nil
	}
	if n > len(d.b)-d.i {
		d.fail(field, errTruncated)
		return nil
	}
	s := d.b[d.i : d.i+n : d.i+n]
	d.i += n
	return s
}

func (d *decoder) u8(field string) byte {
	b := d.take(field, 1)
	if b == nil {
		return 0
	}
	return b[0]
}

func (d *decoder) u16(field string) uint16 {
	b := d.take(field, 2)
	if b == nil {
		return 0
	}
	return uint16(b[0])<<8 | uint16(b[1])
}

func (d *decoder) u32(field string) uint32 {
	b := d.take(field, 4)
	if b == nil {
		return 0
	}
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// varint reads a variable byte integer: at most four bytes, minimally
// encoded ([MQTT-1.5.5-1]).
func (d *decoder) varint(field string) uint32 {
	if d.err != nil {
		return 0
	}
	v, n, err := parseVarint(d.b[d.i:])
	if err != nil {
		d.fail(field, err)
		return 0
	}
	d.i += n
	return v
}

// parseVarint decodes a variable byte integer from the start of b.
func parseVarint(b []byte) (v uint32, n int, err error) {
	var shift uint
	for i := 0; i < 4; i++ {
		if i >= len(b) {
			return 0, 0, errTruncated
		}
		c := b[i]
		if i > 0 && c == 0 {
			return 0, 0, errVarintLong
		}
		v |= uint32(c&0x7f) << shift
		if c&0x80 == 0 {
			return v, i + 1, nil
		}
		shift += 7
	}
	return 0, 0, errVarint
}

// binary reads two-byte-length binary data. The result is never nil, so a
// present but empty value stays distinguishable from an absent one.
func (d *decoder) binary(field string) []byte {
	n := int(d.u16(field))
	b := d.take(field, n)
	if d.err != nil {
		return nil
	}
	if d.owned {
		return b
	}
	return append(make([]byte, 0, len(b)), b...)
}

// str reads a UTF-8 encoded string and validates it.
func (d *decoder) str(field string) string {
	n := int(d.u16(field))
	b := d.take(field, n)
	if d.err != nil {
		return ""
	}
	if err := validUTF8(b); err != nil {
		d.fail(field, err)
		return ""
	}
	return string(b)
}

// rest returns the remaining bytes (the PUBLISH payload); nil when empty.
func (d *decoder) rest() []byte {
	if d.err != nil || d.i == len(d.b) {
		return nil
	}
	b := d.b[d.i:]
	d.i = len(d.b)
	if d.owned {
		return b
	}
	return append(make([]byte, 0, len(b)), b...)
}

// end fails with MalformedPacket when bytes are left over.
func (d *decoder) end(field string) {
	if d.err == nil && d.i != len(d.b) {
		d.fail(field, errTrailing)
	}
}
