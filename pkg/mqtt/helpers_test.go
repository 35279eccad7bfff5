package mqtt_test

import (
	"encoding/json"
	"fmt"
	"regexp"
)

var nullField = regexp.MustCompile(`"[A-Za-z]+":null,?`)

// show renders a packet with pointers followed, so failure messages show
// property values instead of addresses.
func show(p any) string {
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Sprintf("%#v", p)
	}
	return fmt.Sprintf("%T%s", p, nullField.ReplaceAll(b, nil))
}
