package admin

import (
	"context"
	"net/http"
	"sort"

	"github.com/tidemarkmq/tidemark/pkg/adminapi"
	"github.com/tidemarkmq/tidemark/pkg/auth"
	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/session"
)

// NodeLister lists the frontend nodes for GET /nodes.
//
// Frontend liveness (each frontend's incarnation and heartbeats in Kafka)
// is its own piece of work; until a lister built on it is wired in here,
// SessionNodes stands in: it lists the nodes that hold online sessions in
// the view, with their connection counts, and knows nothing of versions,
// start times or nodes without connections.
type NodeLister interface {
	Nodes(ctx context.Context) (adminapi.NodeList, error)
}

// SessionNodes lists the nodes holding online sessions in the view.
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
