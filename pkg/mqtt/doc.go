// Package mqtt is the MQTT packet model and wire codec shared by the broker
// and its tools. One set of packet types covers MQTT 3.1 ("MQIsdp", level 3),
// 3.1.1 (level 4) and 5.0 (level 5): the Version passed to the encoder and
// the decoder decides the wire form, so connection code is written once.
//
// Encoding appends to a caller's buffer (AppendPacket) so writers can batch
// packets without intermediate allocations. Decoding (Reader) checks the
// remaining length against a maximum packet size before allocating anything,
// and borrows its read buffer from a pool only while bytes are buffered, so an
// idle connection holds no large buffer.
//
// Every decode error is, or wraps, a ReasonCode (MalformedPacket,
// ProtocolError, UnsupportedProtocolVersion, PacketTooLarge, ...), so callers
// can answer with the right CONNACK or DISCONNECT through errors.As. Comments
// cite the normative statements of the specifications ([MQTT-x.y.z-n]) that a
// rule comes from.
package mqtt
