package admin

import (
	"context"
	"net/http"
	"sort"

	"github.com/tidemarkmq/tidemark/pkg/adminapi"
	"github.com/tidemarkmq/tidemark/pkg/auth"
	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/session"
	"github.com/tidemarkmq/tidemark/pkg/session/liveness"
)

// NodeLister lists the frontend nodes for GET /nodes. The session service
// and the standalone broker give LivenessNodes; without one, SessionNodes
// answers from the view.
type NodeLister interface {
	Nodes(ctx context.Context) (adminapi.NodeList, error)
}

// LivenessNodes lists the frontends alive from the nodes topic (each
// incarnation's announcement and heartbeats, judged by the session
// service's tracker): their node, connections at the last beat, version,
// start and last beat.
type LivenessNodes func() []liveness.NodeStatus

// Nodes lists the frontend incarnations the tracker holds alive.
func (l LivenessNodes) Nodes(context.Context) (adminapi.NodeList, error) {
	out := adminapi.NodeList{Nodes: []adminapi.Node{}, Source: "liveness"}
	for _, n := range l() {
		if n.Role != liveness.RoleFrontend || n.State != liveness.StateAlive {
			continue
		}
		started, seen := n.Started, n.LastBeat
		out.Nodes = append(out.Nodes, adminapi.Node{Node: n.Node, Connections: n.Conns, Version: n.Version,
			StartedAt: &started, LastSeen: &seen})
	}
	sort.Slice(out.Nodes, func(i, j int) bool { return out.Nodes[i].Node < out.Nodes[j].Node })
	return out, nil
}

// SessionNodes lists the nodes holding online sessions in the view, with
// their connection counts; it knows nothing of versions, start times or
// nodes without connections.
type SessionNodes struct {
	Kafka  kafkalog.Cluster
	Topic  string // sessions topic
	Reader *session.Reader
}

// Nodes reads every session of every sessions partition.
func (n SessionNodes) Nodes(ctx context.Context) (adminapi.NodeList, error) {
	parts, err := kafkalog.Partitions(ctx, n.Kafka, n.Topic)
	if err != nil {
		return adminapi.NodeList{}, err
	}
	counts := map[string]int{}
	for _, p := range parts {
		after := ""
		for {
			ids, err := n.Reader.Page(ctx, p, after, "", pageChunk)
			if err != nil || len(ids) == 0 {
				if err != nil {
					return adminapi.NodeList{}, err
				}
				break
			}
			metas, err := n.Reader.Metas(ctx, p, ids)
			if err != nil {
				return adminapi.NodeList{}, err
			}
			for _, m := range metas {
				if m != nil && m.Online {
					counts[m.Node]++
				}
			}
			after = ids[len(ids)-1]
		}
	}
	out := adminapi.NodeList{Nodes: []adminapi.Node{}, Source: "sessions"}
	for node, c := range counts {
		out.Nodes = append(out.Nodes, adminapi.Node{Node: node, Connections: c})
	}
	sort.Slice(out.Nodes, func(i, j int) bool { return out.Nodes[i].Node < out.Nodes[j].Node })
	return out, nil
}

func (s *Server) listNodes(r *http.Request, _ auth.Token) reply {
	out, err := s.nodes.Nodes(r.Context())
	if err != nil {
		return failErr("list nodes", err)
	}
	return ok(out)
}
