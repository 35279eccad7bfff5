package mqtt

// AppendPacket appends the wire form of p for protocol version v to dst.
// For *Connect, v may be 0 to use the packet's own Version. Errors wrap a
// ReasonCode: UnsupportedProtocolVersion for an unknown v, ProtocolError for
// a packet that does not exist in v (AUTH before 5.0), PacketTooLarge when
// the remaining length exceeds the protocol limit, MalformedPacket for values
// that cannot be represented.
func AppendPacket(dst []byte, p Packet, v Version) ([]byte, error) {
	// TODO
	return dst, nil
}

// PacketSize returns the number of bytes AppendPacket would append, for
// checks against a peer's Maximum Packet Size.
func PacketSize(p Packet, v Version) int {
	// TODO
	return 0
}
