package session

import "strconv"

// Options configure Readers and Writers.
type Options struct {
	// Prefix is prepended to every key, so several deployments (or tests)
	// can share one Redis. Default empty.
	Prefix string
}

// Keys names the Redis keys of the layout in docs/design.md. All keys of
// one client share the hash tag {cid}, so they live in one Redis Cluster
// slot.
type Keys struct{ Prefix string }

// Session is the session hash.
func (k Keys) Session(cid string) string { return k.Prefix + "sess:{" + cid + "}" }

// Subs is the subscriptions hash: filter -> JSON options.
func (k Keys) Subs(cid string) string { return k.Session(cid) + ":subs" }

// Cursor is the cursor hash: partition -> first incomplete offset.
func (k Keys) Cursor(cid string) string { return k.Session(cid) + ":cursor" }

// Inflight is the inflight hash: packet id -> JSON Inflight.
func (k Keys) Inflight(cid string) string { return k.Session(cid) + ":inflight" }

// QoS2In is the set of inbound QoS 2 packet ids awaiting PUBREL.
func (k Keys) QoS2In(cid string) string { return k.Session(cid) + ":q2in" }

// Queue is the offline queue list of "p:o:qos" refs.
func (k Keys) Queue(cid string) string { return k.Session(cid) + ":queue" }

// QueueFrom is the hash partition -> next offset the session service will
// evaluate for the offline queue.
func (k Keys) QueueFrom(cid string) string { return k.Session(cid) + ":qfrom" }

// Part is the set of ClientIDs whose ops live in sessions partition n.
func (k Keys) Part(n int) string { return k.Prefix + "part:" + strconv.Itoa(n) }

// Applied holds the offset of the last op applied from sessions partition n.
func (k Keys) Applied(n int) string { return k.Prefix + "applied:" + strconv.Itoa(n) }

// Owner holds the token of the session-service instance that owns sessions
// partition n (see Writer.Claim).
func (k Keys) Owner(n int) string { return k.Prefix + "owner:" + strconv.Itoa(n) }

// Expiry is the sorted set (score = expires_at, unix ms) of the offline
// sessions of sessions partition n that will expire.
func (k Keys) Expiry(n int) string { return k.Prefix + "expiry:" + strconv.Itoa(n) }

// Held is the set of ClientIDs of sessions partition n whose session is
// online on frontend incarnation inc: what a node_down op for inc ends.
func (k Keys) Held(n int, inc string) string {
	return k.Prefix + "held:" + strconv.Itoa(n) + ":" + inc
}

// Incarnations is the hash inc -> node name of the frontend incarnations
// that have had sessions of partition n online and were not declared down
// there yet: what the partition's owner judges alive or dead.
func (k Keys) Incarnations(n int) string { return k.Prefix + "incs:" + strconv.Itoa(n) }

// Down is the sorted set (score = when it was last known alive, unix ms)
// of the incarnations declared down in sessions partition n.
func (k Keys) Down(n int) string { return k.Prefix + "down:" + strconv.Itoa(n) }

// Wills is the sorted set (score = due, unix ms) of the offline sessions of
// sessions partition n whose will waits out its Will Delay Interval.
func (k Keys) Wills(n int) string { return k.Prefix + "wills:" + strconv.Itoa(n) }

// WillMarks is the hash will id -> "p:o" of the wills of sessions
// partition n being published: p is the will's messages partition, o its
// end offset before the append (see Writer.MarkWills).
func (k Keys) WillMarks(n int) string { return k.Prefix + "willmarks:" + strconv.Itoa(n) }

// all returns every per-client key, for deletion.
func (k Keys) all(cid string) []string {
	return []string{k.Session(cid), k.Subs(cid), k.Cursor(cid), k.Inflight(cid), k.QoS2In(cid), k.Queue(cid), k.QueueFrom(cid)}
}

// state returns the per-client keys other than the session hash: what a
// discarded session loses.
func (k Keys) state(cid string) []string {
	return []string{k.Subs(cid), k.Cursor(cid), k.Inflight(cid), k.QoS2In(cid), k.Queue(cid), k.QueueFrom(cid)}
}
