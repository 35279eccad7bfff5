package validate_test

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tidemarkmq/tidemark/deployments/validate"
	"github.com/tidemarkmq/tidemark/pkg/kafkalog"
	"github.com/tidemarkmq/tidemark/pkg/telemetry"
	"github.com/tidemarkmq/tidemark/services/frontend"
	"github.com/tidemarkmq/tidemark/services/sessiond"
)

// recorder is a Registerer that notes the name of every metric
// registered through it, labelled vectors included (a scrape shows a vector
// only once a label value was used).
type recorder struct {
	prometheus.Registerer
	names map[string]bool
}

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

func (r *recorder) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc, 64)
	go func() { c.Describe(ch); close(ch) }()
	for d := range ch {
		if m := fqName.FindStringSubmatch(d.String()); m != nil {
			r.names[m[1]] = true
		}
	}
	return r.Registerer.Register(c)
}

func (r *recorder) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

// exportedMetrics reads the metric names the binaries export from their
// code: the collectors the frontend and the session service register as
// they are built (neither connects to anything until it runs), and what
// telemetry's registry and HTTP server add to every binary.
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	rec := &recorder{Registerer: prometheus.NewRegistry(), names: map[string]bool{}}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	nowhere := kafkalog.Plain("127.0.0.1:1")
	if _, err := frontend.New(frontend.Config{Kafka: nowhere, Redis: "127.0.0.1:1", Registry: rec, Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	if _, err := sessiond.New(sessiond.Config{Kafka: nowhere, Redis: "127.0.0.1:1", Registry: rec, Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	reg := telemetry.NewRegistry()
	telemetry.NewHTTPServer("127.0.0.1:0", reg)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		rec.names[mf.GetName()] = true
	}
	for _, want := range []string{"tidemark_frontend_connects_total", "tidemark_sessiond_partitions", "tidemark_ready", "go_goroutines"} {
		if !rec.names[want] {
			t.Fatalf("exported metrics lack %s: the registries were not read (%d names)", want, len(rec.names))
		}
	}
	return rec.names
}

// TestMonitoringQueriesExportedMetrics: every alert rule and dashboard
// query of every overlay names only metrics the binaries export, and the
// prod overlay carries the kit.
func TestMonitoringQueriesExportedMetrics(t *testing.T) {
	crds := loadCRDs(t)
	exported := exportedMetrics(t)
	for _, dir := range kustomizations(t, deployments) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			objs, err := validate.Dir(dir, crds)
			if err != nil {
				t.Fatal(err)
			}
			if err := validate.CheckMonitoring(objs, exported); err != nil {
				t.Fatal(err)
			}
			if filepath.Base(dir) != "prod" {
				return
			}
			for _, kind := range []string{"PrometheusRule", "PodMonitor"} {
				if validate.Find(objs, kind, "tidemark", "tidemark") == nil {
					t.Errorf("prod has no %s", kind)
				}
			}
			if validate.Find(objs, "ConfigMap", "tidemark", "tidemark-dashboard") == nil {
				t.Error("prod has no dashboard ConfigMap")
			}
		})
	}
}

// TestMonitoringUnknownMetricFails breaks a copy of the kit in one place
// per case: a rule or a panel naming a metric nobody exports must fail.
func TestMonitoringUnknownMetricFails(t *testing.T) {
	crds := loadCRDs(t)
	exported := exportedMetrics(t)
	tests := []struct {
		name, file, old, new, wantText string
	}{
		{"alert rule", "components/monitoring/rules.yaml",
			"expr: tidemark_ready == 0", "expr: tidemark_readiness == 0", "tidemark_readiness"},
		{"dashboard panel", "components/monitoring/dashboard.json",
			"tidemark_frontend_connections{", "tidemark_frontend_open_connections{", "tidemark_frontend_open_connections"},
		{"histogram series of a counter-less name", "components/monitoring/rules.yaml",
			"tidemark_frontend_append_seconds_bucket", "tidemark_frontend_append_latency_bucket", "tidemark_frontend_append_latency_bucket"},
		{"dashboard variable", "components/monitoring/dashboard.json",
			"label_values(tidemark_ready,", "label_values(tidemark_up,", "tidemark_up"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := copyTree(t)
			overlay := filepath.Join(root, "overlays", "prod")
			path := filepath.Join(root, tt.file)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(b, []byte(tt.old)) {
				t.Fatalf("%s does not contain %q: update the test with the kit", tt.file, tt.old)
			}
			if err := os.WriteFile(path, bytes.Replace(b, []byte(tt.old), []byte(tt.new), 1), 0o644); err != nil {
				t.Fatal(err)
			}
			objs, err := validate.Dir(overlay, crds)
			if err != nil {
				t.Fatalf("the manifests themselves must still pass: %v", err)
			}
			err = validate.CheckMonitoring(objs, exported)
			if !errors.Is(err, validate.ErrUnknownMetric) || !strings.Contains(err.Error(), tt.wantText) {
				t.Fatalf("got %v, want %v naming %s", err, validate.ErrUnknownMetric, tt.wantText)
			}
		})
	}
}

func TestMetricNames(t *testing.T) {
	tests := []struct {
		expr string
		want []string
	}{
		{`up == 0`, []string{"up"}},
		{`sum by (reason) (rate(tidemark_frontend_drops_total{namespace="$ns", reason!~"a|b"}[$__rate_interval]))`, []string{"tidemark_frontend_drops_total"}},
		{`histogram_quantile(0.99, sum by (le) (rate(x_bucket[5m]))) > 0.5`, []string{"x_bucket"}},
		{`a / on (pod) group_left (node) b offset 5m`, []string{"a", "b"}},
		{`max without (instance) (c) and d unless e or f`, []string{"c", "d", "e", "f"}},
		{`label_replace(g, "dst", "$1", "src", "(.*)")`, []string{"g"}},
		{`count(h > bool 1) * 1e3 + Inf`, []string{"h"}},
		{`{__name__="i"}`, nil},
	}
	for _, tt := range tests {
		if got := validate.MetricNames(tt.expr); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("MetricNames(%q) = %v, want %v", tt.expr, got, tt.want)
		}
	}
}
