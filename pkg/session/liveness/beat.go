// Package liveness is how the cluster knows which processes are alive.
// Every process incarnation (one start of a frontend or of a session
// service) announces itself on the nodes topic and then beats there
// (Heart); the session service follows that topic and judges which
// incarnations are dead (Tracker). Being records in the log, liveness is
// ordered and replayable like everything else: a restarted session
// service reads the same history and reaches the same verdicts.
//
// The topic has one partition (one order for everyone) and is compacted by
// role and node name (it keeps each process's latest word). Silence is measured on the
// reader's clock, and only while the reader hears its own beats come back:
// a reader that cannot read the topic, or was itself paused, declares
// nobody dead.
package liveness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
)

// Record kinds on the nodes topic.
const (
	// KindAnnounce is the first record of an incarnation: it supersedes
	// any earlier incarnation of the same node name.
	KindAnnounce = "announce"
	// KindBeat says the incarnation is still alive.
	KindBeat = "beat"
	// KindDown says the incarnation is gone: it signed off at shutdown, or
	// a session service declared it dead. Later beats of it are ignored.
	KindDown = "down"
)

// Roles of the processes that beat.
const (
	RoleFrontend = "frontend"
	RoleSessiond = "sessiond"
)

// Why an incarnation is down (Beat.Reason of a KindDown record, and the
// reason of the node_down ops that end its connections).
const (
	// DownTimeout: it was silent longer than the node timeout.
	DownTimeout = "timeout"
	// DownRestarted: a newer incarnation of the same node name announced
	// itself (the process restarted, perhaps after a crash).
	DownRestarted = "restarted"
	// DownStopped: it signed off at a graceful shutdown.
	DownStopped = "stopped"
)

// ErrBadBeat is wrapped by Decode errors: the record is not a nodes-topic
// record.
var ErrBadBeat = errors.New("bad nodes record")

// Beat is one record of the nodes topic, keyed by role and node name.
type Beat struct {
	Kind string `json:"kind"`
	Node string `json:"node"`
	// Inc names the incarnation: unique per process start.
	Inc  string `json:"inc"`
	Role string `json:"role,omitempty"`
	// Started is when the process started (unix ms).
	Started int64 `json:"started,omitempty"`
	// Gen counts the process's renewals of its incarnation (0 for the
	// first): of two incarnations of one process, the higher is the newer,
	// whichever record arrives last.
	Gen int `json:"gen,omitempty"`
	// TS is when the record was written (unix ms); for a down record, when
	// the incarnation was last known alive.
	TS      int64  `json:"ts"`
	Version string `json:"version,omitempty"`
	// Conns is the number of client sessions connected (frontends).
	Conns int `json:"conns,omitempty"`
	// Reason (down records) is DownTimeout, DownRestarted or DownStopped.
	Reason string `json:"reason,omitempty"`
	// By (down records) names the node that wrote it.
	By string `json:"by,omitempty"`
}

// Record encodes the beat for the nodes topic: key = role/node, so that
// compaction keeps each process's latest record. A frontend and a session
// service may share a node name (the standalone broker, one host): they
// are different processes.
func (b *Beat) Record(topic string) *kafkalog.Record {
	v, err := json.Marshal(b)
	if err != nil {
		// Beat holds only marshalable types; this cannot happen.
		panic(fmt.Sprintf("marshal beat: %v", err))
	}
	return &kafkalog.Record{Topic: topic, Key: []byte(b.Role + "/" + b.Node), Value: v, Time: time.UnixMilli(b.TS)}
}

// Decode reads a nodes-topic record.
func Decode(rec *kafkalog.Record) (*Beat, error) {
	var b Beat
	if err := json.Unmarshal(rec.Value, &b); err != nil {
		return nil, fmt.Errorf("decode nodes record at %d/%d: %w: %v", rec.Partition, rec.Offset, ErrBadBeat, err)
	}
	if b.Node == "" || b.Inc == "" {
		return nil, fmt.Errorf("decode nodes record at %d/%d: %w: no node or incarnation", rec.Partition, rec.Offset, ErrBadBeat)
	}
	return &b, nil
}

// TopicSpec is the layout of the nodes topic: one partition, so every
// record of every process is in one order; compacted by role and node.
func TopicSpec(name string) kafkalog.TopicSpec {
	return kafkalog.TopicSpec{Name: name, Partitions: 1, Compact: true}
}

// EnsureTopic creates the nodes topic when it does not exist; an existing
// topic is only looked up, so no create permission is needed for it.
func EnsureTopic(ctx context.Context, brokers kafkalog.Cluster, topic string) error {
	_, err := kafkalog.Partitions(ctx, brokers, topic)
	if err == nil {
		return nil
	}
	if !errors.Is(err, kafkalog.ErrNoTopic) {
		return fmt.Errorf("look up nodes topic: %w", err)
	}
	if err := kafkalog.EnsureTopics(ctx, brokers, TopicSpec(topic)); err != nil {
		return fmt.Errorf("create nodes topic: %w", err)
	}
	return nil
}

// Version names the running build: the main module's version, else its
// VCS revision, else "devel".
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	rev, dirty := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "devel"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
}
