package mqtt_test

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/tidemarkmq/tidemark/pkg/mqtt"
)

// A server reads CONNECT before it knows the version, answers in the
// client's version, and derives refusal codes from decode errors.
func Example() {
	in, _ := mqtt.AppendPacket(nil, &mqtt.Connect{Version: mqtt.V311, CleanStart: true, ClientID: "c1"}, 0)
	in, _ = mqtt.AppendPacket(in, &mqtt.Publish{Topic: "a/#"}, mqtt.V311) // wildcard: refused

	r := mqtt.NewReader(bytes.NewReader(in), 64<<10)
	c, err := r.ReadConnect()
	if errors.Is(err, mqtt.UnsupportedProtocolVersion) {
		// Answer in the 3.1.1 form, which every client understands.
		out, _ := mqtt.AppendPacket(nil, &mqtt.Connack{ReasonCode: mqtt.UnsupportedProtocolVersion}, mqtt.V311)
		fmt.Printf("% x\n", out)
		return
	}
	out, _ := mqtt.AppendPacket(nil, &mqtt.Connack{}, c.Version)
	fmt.Printf("%s %s connack % x\n", c.ClientID, c.Version, out)

	_, err = r.ReadPacket(c.Version)
	rc, _ := mqtt.ReasonCodeOf(err)
	fmt.Printf("close: %v (0x%02X)\n", rc, byte(rc))
	// Output:
	// c1 3.1.1 connack 20 02 00 00
	// close: topic name invalid (0x90)
}
