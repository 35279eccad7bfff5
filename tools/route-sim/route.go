package main

import (
	"fmt"
	"slices"

	"github.com/tidemarkmq/tidemark/pkg/topic"
)

// topicName is the MQTT topic of simulated topic t. The fixed width keeps
// every record key the same size, so the byte counts of the two modes
// compare record for record.
func topicName(t int) string { return fmt.Sprintf("sim/t%05d", t) }

// plan returns, per node, the topics its sessions subscribe to. The
// subscriptions are dealt round-robin, topic t's j-th to node
// (t*interest + j) mod nodes: interest consecutive slots are distinct nodes,
// so every topic has exactly interest subscribers, and no node holds more
// than one subscription above another.
func plan(nodes, topics, interest int) [][]int {
	interest = min(max(interest, 1), nodes)
	subs := make([][]int, nodes)
	for t := range topics {
		for j := range interest {
			n := (t*interest + j) % nodes
			subs[n] = append(subs[n], t)
		}
	}
	return subs
}

// routes is the publisher's view of the cluster's subscriptions, filter to
// node, as the proposal's mqtt.routes topic would build it. A node appears
// once per distinct filter, however many of its sessions hold it.
type routes struct {
	ix *topic.Index[int, struct{}]
}

// newRoutes indexes the filters each node announced.
func newRoutes(filters [][]string) *routes {
	r := &routes{ix: topic.NewIndex[int, struct{}]()}
	for n, fs := range filters {
		for _, f := range fs {
			r.ix.Subscribe(n, f, struct{}{})
		}
	}
	return r
}

// nodes appends to dst the nodes that want a message on name, each once and
// in ascending order: a node whose filters overlap (a/+ and a/#) must still
// get one copy, and a fixed order keeps a batch's appends deterministic.
// The index is only read here, so publishers may call it concurrently.
func (r *routes) nodes(name string, dst []int) []int {
	start := len(dst)
	r.ix.Match(name, func(n int, _ string, _ struct{}) {
		if !slices.Contains(dst[start:], n) {
			dst = append(dst, n)
		}
	})
	slices.Sort(dst[start:])
	return dst
}
