package session

import (
	"strconv"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
)

// Options configure Readers and Writers.
type Options struct {
	// Prefix is prepended to every key, so several deployments (or tests)
	// can share one Redis. Default empty. It must not contain '{' or '}',
	// which would change the keys' hash tag.
	Prefix string
}

// Keys names the Redis keys of the layout in docs/design.md.
//
// Every key carries the hash tag of its sessions partition, "{n}": the
// session service applies a run of ops of one partition in one MULTI/EXEC
// that WATCHes owner:{n} and writes applied:{n}, part:{n}, expiry:{n} and
// the keys of every client in the run, and Redis Cluster runs a
// transaction only when all its keys live in one slot. So the keys of a
// client are found by its sessions partition (Partition) and its ClientID,
// which comes last, after a fixed kind, so no two clients' keys collide.
type Keys struct{ Prefix string }

// tag is the hash tag of sessions partition n.
func tag(n int) string { return "{" + strconv.Itoa(n) + "}" }

func (k Keys) client(kind string, n int, cid string) string {
	return k.Prefix + kind + ":" + tag(n) + ":" + cid
}

// Session is the session hash.
func (k Keys) Session(n int, cid string) string { return k.client("sess", n, cid) }

// Subs is the subscriptions hash: filter -> JSON options.
func (k Keys) Subs(n int, cid string) string { return k.client("subs", n, cid) }

// Cursor is the cursor hash: partition -> first incomplete offset.
func (k Keys) Cursor(n int, cid string) string { return k.client("cursor", n, cid) }

// Inflight is the inflight hash: packet id -> JSON Inflight.
func (k Keys) Inflight(n int, cid string) string { return k.client("inflight", n, cid) }

// QoS2In is the set of inbound QoS 2 packet ids awaiting PUBREL.
func (k Keys) QoS2In(n int, cid string) string { return k.client("q2in", n, cid) }

// Queue is the offline queue list of "p:o:qos" refs.
func (k Keys) Queue(n int, cid string) string { return k.client("queue", n, cid) }

// QueueFrom is the hash partition -> next offset the session service will
// evaluate for the offline queue.
func (k Keys) QueueFrom(n int, cid string) string { return k.client("qfrom", n, cid) }

// Part is the set of ClientIDs whose ops live in sessions partition n.
func (k Keys) Part(n int) string { return k.Prefix + "part:" + tag(n) }

// Index is the sorted set (all scores 0, so ordered by ClientID) of the
// ClientIDs of sessions partition n: the same members as Part, in an order
// that pages stably while sessions come and go (see Reader.Page).
func (k Keys) Index(n int) string { return k.Prefix + "index:" + tag(n) }

// Applied holds the offset of the last op applied from sessions partition n.
func (k Keys) Applied(n int) string { return k.Prefix + "applied:" + tag(n) }

// Owner holds the token of the session-service instance that owns sessions
// partition n (see Writer.Claim).
func (k Keys) Owner(n int) string { return k.Prefix + "owner:" + tag(n) }

// Expiry is the sorted set (score = expires_at, unix ms) of the offline
// sessions of sessions partition n that will expire.
func (k Keys) Expiry(n int) string { return k.Prefix + "expiry:" + tag(n) }

// Held is the set of ClientIDs of sessions partition n whose session is
// online on frontend incarnation inc: what a node_down op for inc ends.
func (k Keys) Held(n int, inc string) string {
	return k.Prefix + "held:" + tag(n) + ":" + inc
}

// Incarnations is the hash inc -> node name of the frontend incarnations
// that have had sessions of partition n online and were not declared down
// there yet: what the partition's owner judges alive or dead.
func (k Keys) Incarnations(n int) string { return k.Prefix + "incs:" + tag(n) }

// Down is the sorted set (score = when it was last known alive, unix ms)
// of the incarnations declared down in sessions partition n.
func (k Keys) Down(n int) string { return k.Prefix + "down:" + tag(n) }

// AppliedChannel is the pub/sub channel on which the session service
// announces applied runs (see Writer.Announce).
func (k Keys) AppliedChannel() string { return k.Prefix + "applied" }

// Wills is the sorted set (score = due, unix ms) of the sessions of
// sessions partition n with a will waiting: out its Will Delay Interval
// while offline, or for word of a superseded connection's end.
func (k Keys) Wills(n int) string { return k.Prefix + "wills:" + tag(n) }

// WillMarks is the hash will id -> "p:o" of the wills of sessions
// partition n being published: p is the will's messages partition, o its
// end offset before the append (see Writer.MarkWills).
func (k Keys) WillMarks(n int) string { return k.Prefix + "willmarks:" + tag(n) }

// all returns every per-client key, for deletion.
func (k Keys) all(n int, cid string) []string {
	return append(k.state(n, cid), k.Session(n, cid))
}

// state returns the per-client keys other than the session hash: what a
// discarded session loses.
func (k Keys) state(n int, cid string) []string {
	return []string{k.Subs(n, cid), k.Cursor(n, cid), k.Inflight(n, cid), k.QoS2In(n, cid), k.Queue(n, cid), k.QueueFrom(n, cid)}
}

// Partition returns the sessions partition of clientID's ops when the
// sessions topic has the given number of partitions: the partition the
// murmur2 partitioner of every producer sends the ClientID key to.
func Partition(clientID string, partitions int) int {
	return kafkalog.PartitionFor([]byte(clientID), partitions)
}
