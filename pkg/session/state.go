package session

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Meta is the session hash: who owns the session and how it ends.
type Meta struct {
	Epoch     int64
	Conn      string
	Node      string
	Online    bool
	Clean     bool
	Proto     byte
	Expiry    uint32 // seconds
	ExpiresAt int64  // unix ms while offline and expiring, else 0
	Present   bool   // the connect at Epoch resumed an existing session
	Applied   int64  // offset of the last op applied for this client
	Created   int64  // unix ms when the session began
	Since     int64  // unix ms when the connection at Epoch connected
	Partition int    // sessions partition whose ops build this session
	// From the connect at Epoch, for operators (the admin API).
	Username  string
	Peer      string
	Keepalive uint16 // seconds
	Inc       string // frontend incarnation of the connection at Epoch
	// Will is the will of the connection at Epoch: armed while it is
	// online, pending while it waits out its delay offline (WillDue > 0);
	// nil when there is none or it was published, cancelled or discarded.
	Will    *Will
	WillDue int64 // unix ms when a pending will is published; 0 otherwise
	// WillParent and WillState are the W3C trace context (traceparent,
	// tracestate) of the connect that carried the will: its publication,
	// possibly by another process much later, joins that trace.
	WillParent, WillState string
	// Superseded are the no-delay wills of earlier connections taken over
	// while online, before their end was known: a connection superseded
	// before its CONNACK owes no will, and only its own frontend can say
	// whether it sent that CONNACK.
	Superseded []SupersededWill
}

// SupersededWill is the will of a connection taken over while online,
// waiting for word of that connection's end: its disconnect op publishes
// it, or drops it when the op says the connection was never accepted; the
// node_down of its frontend incarnation publishes it, and so does Due
// when neither came.
type SupersededWill struct {
	Epoch  int64  `json:"epoch"`
	Conn   string `json:"conn"`
	Node   string `json:"node"`
	Inc    string `json:"inc,omitempty"`
	Proto  byte   `json:"proto"`
	Will   *Will  `json:"will"`
	Parent string `json:"parent,omitempty"`
	State  string `json:"state,omitempty"`
	Due    int64  `json:"due"` // unix ms
}

// Holder returns the session of the connection that held w, as far as a
// will's publication needs it.
func (w *SupersededWill) Holder() *Meta {
	return &Meta{Epoch: w.Epoch, Conn: w.Conn, Node: w.Node, Inc: w.Inc, Proto: w.Proto,
		Will: w.Will, WillParent: w.Parent, WillState: w.State}
}

// NextWill is when the session's next will falls due (unix ms): its own
// delayed will while offline, or a superseded one's deadline; 0: none.
func (m *Meta) NextWill() int64 {
	var next int64
	if !m.Online && m.Will != nil && m.WillDue > 0 {
		next = m.WillDue
	}
	for _, w := range m.Superseded {
		if next == 0 || w.Due < next {
			next = w.Due
		}
	}
	return next
}

// Holds reports whether the session still has something on frontend
// incarnation inc: its connection, or a superseded will whose end only
// inc can tell.
func (m *Meta) Holds(inc string) bool {
	if m == nil || inc == "" {
		return false
	}
	if m.Online && m.Inc == inc {
		return true
	}
	for _, w := range m.Superseded {
		if w.Inc == inc {
			return true
		}
	}
	return false
}

// Resumable reports whether a new connection may take the session over
// rather than discard it: a session that ends with its connection (clean
// and expiry 0, the MQTT 3.1.1 CleanSession=1 case) is not.
func (m *Meta) Resumable() bool { return !m.Clean || m.Expiry > 0 }

func (m *Meta) fields() map[string]any {
	return map[string]any{
		"epoch": m.Epoch, "conn": m.Conn, "node": m.Node, "online": b01(m.Online),
		"clean": b01(m.Clean), "proto": int(m.Proto), "expiry": int64(m.Expiry),
		"expires_at": m.ExpiresAt, "present": b01(m.Present), "applied": m.Applied,
		"created": m.Created, "since": m.Since, "partition": m.Partition,
		"username": m.Username, "peer": m.Peer, "keepalive": int(m.Keepalive),
		"inc": m.Inc, "will": willJSON(m.Will), "will_due": m.WillDue,
		"will_parent": m.WillParent, "will_state": m.WillState,
		"superseded": supersededJSON(m.Superseded),
	}
}

func willJSON(w *Will) string {
	if w == nil {
		return ""
	}
	return mustJSON(w)
}

func supersededJSON(s []SupersededWill) string {
	if len(s) == 0 {
		return ""
	}
	return mustJSON(s)
}

// mustJSON encodes wills, which hold only marshalable types.
func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("marshal will: %v", err))
	}
	return string(b)
}

func parseMeta(h map[string]string) (*Meta, error) {
	if len(h) == 0 {
		return nil, nil
	}
	var m Meta
	var err error
	i64 := func(k string) int64 {
		if err != nil {
			return 0
		}
		s, ok := h[k]
		if !ok || s == "" {
			return 0
		}
		var v int64
		v, err = strconv.ParseInt(s, 10, 64)
		if err != nil {
			err = fmt.Errorf("field %s: %w", k, err)
		}
		return v
	}
	m.Epoch = i64("epoch")
	m.Conn = h["conn"]
	m.Node = h["node"]
	m.Online = i64("online") == 1
	m.Clean = i64("clean") == 1
	m.Proto = byte(i64("proto"))
	m.Expiry = uint32(i64("expiry"))
	m.ExpiresAt = i64("expires_at")
	m.Present = i64("present") == 1
	m.Applied = i64("applied")
	m.Created = i64("created")
	m.Since = i64("since")
	m.Partition = int(i64("partition"))
	m.Username = h["username"]
	m.Peer = h["peer"]
	m.Keepalive = uint16(i64("keepalive"))
	m.Inc = h["inc"]
	m.WillDue = i64("will_due")
	m.WillParent, m.WillState = h["will_parent"], h["will_state"]
	if w := h["will"]; w != "" && err == nil {
		m.Will = new(Will)
		if jerr := json.Unmarshal([]byte(w), m.Will); jerr != nil {
			err = fmt.Errorf("field will: %w", jerr)
		}
	}
	if w := h["superseded"]; w != "" && err == nil {
		if jerr := json.Unmarshal([]byte(w), &m.Superseded); jerr != nil {
			err = fmt.Errorf("field superseded: %w", jerr)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("parse session hash: %w", err)
	}
	return &m, nil
}

func b01(b bool) int {
	if b {
		return 1
	}
	return 0
}

// QueueRef is one offline-queue entry: a record of the messages topic and
// the QoS to deliver it with.
type QueueRef struct {
	Partition int
	Offset    int64
	QoS       byte
}

// String encodes the ref as stored in Redis: "p:o:qos".
func (q QueueRef) String() string {
	return strconv.Itoa(q.Partition) + ":" + strconv.FormatInt(q.Offset, 10) + ":" + strconv.Itoa(int(q.QoS))
}

// ParseQueueRef parses "p:o:qos".
func ParseQueueRef(s string) (QueueRef, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return QueueRef{}, fmt.Errorf("parse queue ref %q: want p:o:qos", s)
	}
	p, err1 := strconv.Atoi(parts[0])
	o, err2 := strconv.ParseInt(parts[1], 10, 64)
	q, err3 := strconv.Atoi(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || q < 0 || q > 2 {
		return QueueRef{}, fmt.Errorf("parse queue ref %q: bad number", s)
	}
	return QueueRef{Partition: p, Offset: o, QoS: byte(q)}, nil
}

// State is everything a frontend needs to resume a session at CONNECT.
type State struct {
	// Exists reports whether a session hash was found at all.
	Exists bool
	// Present is the CONNACK Session Present flag for the connect at Epoch.
	Present       bool
	Epoch         int64
	Subscriptions []Subscription
	Cursor        map[int]int64
	Inflight      []Inflight
	QoS2In        []uint16
	Queue         []QueueRef
	QueueFrom     map[int]int64
	// Meta is the whole session hash.
	Meta Meta
}

func parseSubs(h map[string]string) ([]Subscription, error) {
	subs := make([]Subscription, 0, len(h))
	for f, v := range h {
		var s Subscription
		if err := json.Unmarshal([]byte(v), &s); err != nil {
			return nil, fmt.Errorf("parse subscription %q: %w", f, err)
		}
		s.Filter = f
		subs = append(subs, s)
	}
	sort.Slice(subs, func(i, j int) bool { return subs[i].Filter < subs[j].Filter })
	return subs, nil
}

func parseOffsets(h map[string]string) (map[int]int64, error) {
	m := make(map[int]int64, len(h))
	for k, v := range h {
		p, err := strconv.Atoi(k)
		if err != nil {
			return nil, fmt.Errorf("parse partition %q: %w", k, err)
		}
		o, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("parse offset %q: %w", v, err)
		}
		m[p] = o
	}
	return m, nil
}

func parseInflight(h map[string]string) ([]Inflight, error) {
	out := make([]Inflight, 0, len(h))
	for k, v := range h {
		var in Inflight
		if err := json.Unmarshal([]byte(v), &in); err != nil {
			return nil, fmt.Errorf("parse inflight %s: %w", k, err)
		}
		out = append(out, in)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Partition != out[j].Partition {
			return out[i].Partition < out[j].Partition
		}
		return out[i].Offset < out[j].Offset
	})
	return out, nil
}
