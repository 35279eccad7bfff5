package session

import (
	"strings"
)

// Topics names the Kafka topics every process of a deployment shares; the
// frontend and the session service must agree on them, so they are defined
// once, here, next to the protocol they carry.
type Topics struct {
	Messages, Retained, Sessions, Lifecycle string
	// Nodes carries the liveness of every process incarnation (see package
	// liveness). Empty: the sessions topic's name with its "sessions"
	// suffix replaced by "nodes" ("mqtt.nodes"), or with ".nodes" added,
	// so that a deployment (or a test) with its own sessions topic has its
	// own nodes topic too: node names are only unique within one.
	Nodes string
}

// DefaultTopics returns the topic names of docs/design.md.
func DefaultTopics() Topics {
	return Topics{Messages: "mqtt.messages", Retained: "mqtt.retained", Sessions: "mqtt.sessions", Lifecycle: "mqtt.lifecycle", Nodes: "mqtt.nodes"}
}

// WithPrefix returns the default topic names with prefix in front of each,
// for several deployments (or tests) sharing one Kafka cluster.
func WithPrefix(prefix string) Topics {
	t := DefaultTopics()
	for _, n := range []*string{&t.Messages, &t.Retained, &t.Sessions, &t.Lifecycle, &t.Nodes} {
		*n = prefix + *n
	}
	return t
}

// WithDefaults returns t with every empty name replaced by its default.
func (t Topics) WithDefaults() Topics {
	d := DefaultTopics()
	if t.Messages == "" {
		t.Messages = d.Messages
	}
	if t.Retained == "" {
		t.Retained = d.Retained
	}
	if t.Sessions == "" {
		t.Sessions = d.Sessions
	}
	if t.Lifecycle == "" {
		t.Lifecycle = d.Lifecycle
	}
	if t.Nodes == "" {
		if base, ok := strings.CutSuffix(t.Sessions, "sessions"); ok {
			t.Nodes = base + "nodes"
		} else {
			t.Nodes = t.Sessions + ".nodes"
		}
	}
	return t
}
