package main

import (
	"slices"
	"testing"
)

func TestRoutesNodes(t *testing.T) {
	filters := [][]string{
		0: {"sim/t00001", "sim/t00002"},
		1: {"sim/t00002", "sim/+"},   // overlapping: still one copy
		2: {"other/#"},               // wants nothing under sim/
		3: {"sim/#", "sim/t00003/+"}, // every sim/ topic, and one deeper
	}
	r := newRoutes(filters)
	for _, tc := range []struct {
		name string
		want []int
	}{
		{"sim/t00001", []int{0, 1, 3}},
		{"sim/t00002", []int{0, 1, 3}},
		{"sim/t00009", []int{1, 3}},
		{"sim/t00003/x", []int{3}},
		{"other/a/b", []int{2}},
		{"nobody", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prefix := []int{99} // nodes appends: what dst held stays
			got := r.nodes(tc.name, prefix)
			if !slices.Equal(got[:1], prefix) || !slices.Equal(got[1:], tc.want) {
				t.Errorf("nodes(%q) = %v, want [99] then %v", tc.name, got, tc.want)
			}
		})
	}
}

// TestPlanRoutes checks the simulation's own routing end to end without
// Kafka: the routes built from the plan send each topic to exactly the
// nodes that subscribed to it.
func TestPlanRoutes(t *testing.T) {
	for _, tc := range []struct {
		nodes, topics, interest int
	}{
		{10, 100, 1},
		{30, 100, 1},
		{4, 10, 2},
		{3, 5, 7}, // more interest than nodes: every node
	} {
		subs := plan(tc.nodes, tc.topics, tc.interest)
		filters := make([][]string, tc.nodes)
		wantNodes := make([][]int, tc.topics)
		for n, ts := range subs {
			for _, tp := range ts {
				filters[n] = append(filters[n], topicName(tp))
				wantNodes[tp] = append(wantNodes[tp], n)
			}
		}
		r := newRoutes(filters)
		k := min(tc.interest, tc.nodes)
		for tp := range tc.topics {
			got := r.nodes(topicName(tp), nil)
			if len(got) != k || !slices.Equal(got, wantNodes[tp]) {
				t.Errorf("%d nodes, %d topics, interest %d: topic %d routed to %v, subscribed on %v (want %d nodes)",
					tc.nodes, tc.topics, tc.interest, tp, got, wantNodes[tp], k)
			}
		}
		// Even shares: no node holds more than one topic above another.
		lo, hi := tc.topics, 0
		for _, ts := range subs {
			lo, hi = min(lo, len(ts)), max(hi, len(ts))
		}
		if hi-lo > 1 {
			t.Errorf("%d nodes, %d topics, interest %d: node shares from %d to %d topics", tc.nodes, tc.topics, tc.interest, lo, hi)
		}
	}
}
