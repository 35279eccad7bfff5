package tracing

import (
	"context"
	"errors"
	"net"
	"testing"

	"go.opentelemetry.io/otel"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
)

// collector is an OTLP/gRPC trace receiver that reports the service name
// of each resource it is sent.
type collector struct {
	coltracepb.UnimplementedTraceServiceServer
	got chan string
}

func (c *collector) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	for _, rs := range req.GetResourceSpans() {
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.GetKey() == "service.name" {
				c.got <- kv.GetValue().GetStringValue()
			}
		}
	}
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

// TestSetupOverGRPC: OTEL_EXPORTER_OTLP_PROTOCOL=grpc exports to an
// OTLP/gRPC receiver at OTEL_EXPORTER_OTLP_ENDPOINT (how the Kubernetes
// manifests point at Jaeger's port 4317), under OTEL_SERVICE_NAME.
func TestSetupOverGRPC(t *testing.T) {
	prev := otel.GetTracerProvider()
	t.Cleanup(func() { otel.SetTracerProvider(prev) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	col := &collector{got: make(chan string, 16)}
	srv := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(srv, col)
	go func() { _ = srv.Serve(ln) }()
	defer srv.Stop()

	t.Setenv(envEndpoint, "http://"+ln.Addr().String())
	t.Setenv(envProtocol, "grpc")
	t.Setenv(envServiceName, "edge-frontend")
	exportOneSpan(t, Config{Service: "mqtt-frontend"})
	select {
	case name := <-col.got:
		if name != "edge-frontend" {
			t.Fatalf("service.name %q, want OTEL_SERVICE_NAME's", name)
		}
	default:
		t.Fatal("nothing reached the gRPC receiver by shutdown")
	}
}

func TestSetupRejectsBadProtocol(t *testing.T) {
	t.Setenv(envEndpoint, "http://127.0.0.1:4318")
	t.Setenv(envProtocol, "http/json")
	if _, err := Setup(context.Background(), Config{}); !errors.Is(err, ErrBadProtocol) {
		t.Fatalf("err %v, want ErrBadProtocol", err)
	}
}
