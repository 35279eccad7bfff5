package kafkalog

// Record headers of the messages and retained topics (docs/design.md):
// what a frontend writes with a PUBLISH and every reader of those topics
// (frontends delivering or replaying, the session service queueing) reads
// back. Values are strings unless said otherwise.
const (
	// HeaderQoS is the publish QoS: "0", "1" or "2".
	HeaderQoS = "mqtt-qos"
	// HeaderRetain is "1" when the PUBLISH had RETAIN set (absent otherwise).
	HeaderRetain = "mqtt-retain"
	// HeaderClient is the publisher's ClientID (for No Local).
	HeaderClient = "mqtt-client"
	// HeaderProps holds the MQTT 5 PUBLISH properties as the codec encodes
	// a property block (binary, no length prefix); absent when empty.
	HeaderProps = "mqtt-props"
	// HeaderExpires is the unix time in milliseconds when the message
	// expires (Message Expiry Interval); absent when it never does.
	HeaderExpires = "mqtt-expires"
	// HeaderWill marks a will published by the session service: the id of
	// its mqtt.session.will_published event, which also lets a recovering
	// session service find out whether it was appended.
	HeaderWill = "mqtt-will"
	// HeaderTraceparent and HeaderTracestate carry the W3C trace context
	// of the publish span.
	HeaderTraceparent = "traceparent"
	HeaderTracestate  = "tracestate"
)
