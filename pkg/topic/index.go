package topic

import "strings"

// Index maps topic filters to subscribers for local delivery: a trie with
// one node per filter level, so matching a name visits only the branches its
// levels (and the '+' and '#' branches) lead to, whatever the number of
// subscriptions that cannot match.
//
// K identifies a subscriber (e.g. a connection); V is what it subscribed
// with (e.g. its options). One subscriber holds at most one entry per
// filter. Filters should be valid (ValidateFilter) and already stripped of
// any $share/{group}/ prefix: shared subscriptions are keyed by the caller.
//
// The zero Index is empty and ready to use. An Index is not safe for
// concurrent use: callers serialise access (a sync.RWMutex fits, Match being
// read-only).
type Index[K comparable, V any] struct {
	root  *node[K, V]
	byKey map[K]map[string]struct{}
	n     int
}

// node is one level of the trie. filter is the full filter that ends here,
// so Match can report it without rebuilding it.
type node[K comparable, V any] struct {
	filter   string
	children map[string]*node[K, V]
	plus     *node[K, V]
	hash     *node[K, V]
	subs     map[K]V
}

// NewIndex returns an empty index (the same as new(Index[K, V])).
func NewIndex[K comparable, V any]() *Index[K, V] {
	return &Index[K, V]{}
}

// Len returns the number of (subscriber, filter) entries.
func (ix *Index[K, V]) Len() int { return ix.n }

// child returns the child of n for level, creating it when create is set.
func (n *node[K, V]) child(level string, create bool) *node[K, V] {
	var slot **node[K, V]
	switch level {
	case "+":
		slot = &n.plus
	case "#":
		slot = &n.hash
	default:
		if c := n.children[level]; c != nil || !create {
			return c
		}
		if n.children == nil {
			n.children = make(map[string]*node[K, V])
		}
		c := &node[K, V]{}
		n.children[level] = c
		return c
	}
	if *slot == nil && create {
		*slot = &node[K, V]{}
	}
	return *slot
}

// empty reports whether n holds nothing and can be pruned.
func (n *node[K, V]) empty() bool {
	return len(n.subs) == 0 && len(n.children) == 0 && n.plus == nil && n.hash == nil
}

// Subscribe adds or replaces k's entry for filter and reports whether one
// existed (MQTT: a SUBSCRIBE to an existing filter replaces it
// [MQTT-3.8.4-3]).
func (ix *Index[K, V]) Subscribe(k K, filter string, v V) (replaced bool) {
	if ix.root == nil {
		ix.root = &node[K, V]{}
		ix.byKey = make(map[K]map[string]struct{})
	}
	n := ix.root
	rest := filter
	for {
		level, tail, more := strings.Cut(rest, "/")
		n = n.child(level, true)
		if !more {
			break
		}
		rest = tail
	}
	n.filter = filter
	if n.subs == nil {
		n.subs = make(map[K]V)
	}
	_, replaced = n.subs[k]
	n.subs[k] = v
	if !replaced {
		ix.n++
		fs := ix.byKey[k]
		if fs == nil {
			fs = make(map[string]struct{})
			ix.byKey[k] = fs
		}
		fs[filter] = struct{}{}
	}
	return replaced
}

// Unsubscribe removes k's entry for filter and reports whether it existed.
// Nodes left empty are pruned so the trie does not grow with churn.
func (ix *Index[K, V]) Unsubscribe(k K, filter string) bool {
	fs, ok := ix.byKey[k]
	if !ok {
		return false
	}
	if _, ok := fs[filter]; !ok {
		return false
	}
	delete(fs, filter)
	if len(fs) == 0 {
		delete(ix.byKey, k)
	}
	ix.remove(k, filter)
	ix.n--
	return true
}

// remove deletes k from the node of filter and prunes empty nodes.
func (ix *Index[K, V]) remove(k K, filter string) {
	type step struct {
		parent *node[K, V]
		level  string
	}
	path := make([]step, 0, 8)
	n := ix.root
	rest := filter
	for {
		level, tail, more := strings.Cut(rest, "/")
		path = append(path, step{n, level})
		n = n.child(level, false)
		if n == nil {
			return
		}
		if !more {
			break
		}
		rest = tail
	}
	delete(n.subs, k)
	for i := len(path) - 1; i >= 0 && n.empty(); i-- {
		p := path[i]
		switch p.level {
		case "+":
			p.parent.plus = nil
		case "#":
			p.parent.hash = nil
		default:
			delete(p.parent.children, p.level)
		}
		n = p.parent
	}
}

// Remove deletes every entry of k (a subscriber that went away) and returns
// how many there were.
func (ix *Index[K, V]) Remove(k K) int {
	fs := ix.byKey[k]
	for f := range fs {
		ix.remove(k, f)
	}
	delete(ix.byKey, k)
	ix.n -= len(fs)
	return len(fs)
}

// Filters calls fn for every filter k is subscribed to, in no set order.
func (ix *Index[K, V]) Filters(k K, fn func(filter string)) {
	for f := range ix.byKey[k] {
		fn(f)
	}
}

// Match calls fn once for every (subscriber, filter) entry whose filter
// matches the topic name, in no set order. A subscriber with several
// matching filters is reported once per filter: MQTT leaves it to the
// server to deliver once with the highest QoS or once per subscription
// [MQTT-3.3.4-2], so callers aggregate. fn must not change the index.
func (ix *Index[K, V]) Match(name string, fn func(k K, filter string, v V)) {
	root := ix.root
	if root == nil {
		return
	}
	if name != "" && name[0] == '$' {
		// Wildcards at the first level do not match $ names [MQTT-4.7.2-1].
		if c := root.children[levelOf(name)]; c != nil {
			_, rest, more := strings.Cut(name, "/")
			match(c, rest, !more, fn)
		}
		return
	}
	match(root, name, false, fn)
}

// levelOf returns the first level of name.
func levelOf(name string) string {
	level, _, _ := strings.Cut(name, "/")
	return level
}

// match reports the entries under n for the levels left in name; done is
// set once every level of the name has been consumed.
func match[K comparable, V any](n *node[K, V], name string, done bool, fn func(K, string, V)) {
	// "#" matches the remaining levels, including none: "a/#" matches "a".
	if h := n.hash; h != nil {
		for k, v := range h.subs {
			fn(k, h.filter, v)
		}
	}
	if done {
		for k, v := range n.subs {
			fn(k, n.filter, v)
		}
		return
	}
	level, rest, more := strings.Cut(name, "/")
	if c := n.children[level]; c != nil {
		match(c, rest, !more, fn)
	}
	if n.plus != nil {
		match(n.plus, rest, !more, fn)
	}
}
