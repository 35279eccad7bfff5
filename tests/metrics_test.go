package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tidemarkmq/tidemark/pkg/telemetry"
	"github.com/tidemarkmq/tidemark/services/frontend"
)

// startMeteredFrontend adds a frontend with its own registry served over
// HTTP on a real listener, as mqtt-frontend serves --http-addr, and
// returns the base URL of that listener.
func (c *cluster) startMeteredFrontend(node string) string {
	c.t.Helper()
	reg := telemetry.NewRegistry()
	srv, err := frontend.New(frontend.Config{
		Node: node, MQTTAddr: "127.0.0.1:0", Kafka: c.kafka, RedisClient: c.rdb, KeyPrefix: c.prefix,
		Topics: c.topics, DefaultExpiry: c.opt.defaultExpiry, ProgressInterval: 50 * time.Millisecond,
		Logger: c.log.With("svc", node), Registry: reg,
	})
	if err != nil {
		c.t.Fatalf("frontend %s: %v", node, err)
	}
	hs := telemetry.NewHTTPServer("127.0.0.1:0", reg, srv.Checks()...)
	if err := hs.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(ctx)
	})
	c.fes = append(c.fes, start(c.t, srv, srv.Run, srv.Ready))
	return "http://" + hs.Addr().String()
}

// scrape GETs /metrics and parses the Prometheus text format into
// "name{label=value,...}" -> value (histograms as name_count).
func scrape(t *testing.T, base string) map[string]float64 {
	t.Helper()
	res, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", res.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			key := name + labelText(m.GetLabel())
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out[key] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[key] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				out[name+"_count"+labelText(m.GetLabel())] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

func labelText(ls []*dto.LabelPair) string {
	if len(ls) == 0 {
		return ""
	}
	parts := make([]string, 0, len(ls))
	for _, l := range ls {
		parts = append(parts, l.GetName()+"="+l.GetValue())
	}
	sort.Strings(parts)
	return "{" + strings.Join(parts, ",") + "}"
}

func httpStatus(t *testing.T, u string) (int, string) {
	t.Helper()
	res, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestMetricsCountTheTraffic sends a known traffic through one frontend
// (two accepted clients and a third taken over from the other frontend, a
// refused CONNECT, 5 QoS 0 and 3 QoS 1 messages to a subscriber, one
// retained message nobody subscribes to) and checks that /metrics, scraped
// over HTTP and parsed as Prometheus text, counts exactly that.
func TestMetricsCountTheTraffic(t *testing.T) {
	c := newCluster(t, options{frontends: 1})
	base := c.startMeteredFrontend("fe-metered")
	const fe = 1

	if code, body := httpStatus(t, base+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	if code, body := httpStatus(t, base+"/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz of a ready frontend: %d %q", code, body)
	}

	sub, _ := c.dial(fe, "metrics-sub", true)
	sub.subscribe("metrics/+", 1)
	pub, _ := c.dial(fe, "metrics-pub", true)
	var want []message
	for i := 0; i < 5; i++ {
		want = append(want, message{Topic: "metrics/a", Payload: fmt.Sprintf("q0-msg-%03d", i), QoS: 0})
	}
	for i := 0; i < 3; i++ {
		want = append(want, message{Topic: "metrics/a", Payload: fmt.Sprintf("q1-msg-%03d", i), QoS: 1})
	}
	pub.publishAll(want)
	tok := pub.paho.Publish("retained/keep", 0, true, "keep-this!")
	if !tok.WaitTimeout(waitFor) || tok.Error() != nil {
		t.Fatalf("publish retained: %v", tok.Error())
	}
	checkDelivery(t, sub.waitMessages(len(want)), want)
	pub.disconnect()

	// A ClientID longer than MQTT 3.1 allows is refused.
	old := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + c.addr(fe)).
		SetClientID("metrics-a-client-id-longer-than-23").SetProtocolVersion(3).
		SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(waitFor))
	if tok := old.Connect(); !tok.WaitTimeout(waitFor) || tok.Error() == nil {
		t.Fatal("3.1 connect with a 34-character ClientID was accepted")
	}

	// The same ClientID on the other frontend takes the session over.
	dup, _ := c.dial(fe, "metrics-dup", true)
	c.dial(0, "metrics-dup", true)
	dup.waitLost()

	payload := float64(5*10 + 3*10)
	wantMetrics := map[string]float64{
		`tidemark_frontend_connects_total{result=accepted}`:                    3,
		`tidemark_frontend_connects_total{result=client identifier not valid}`: 1,
		`tidemark_frontend_messages_in_total{qos=0}`:                           6,
		`tidemark_frontend_messages_in_total{qos=1}`:                           3,
		`tidemark_frontend_payload_bytes_in_total`:                             payload + 10,
		`tidemark_frontend_messages_out_total{qos=0}`:                          5,
		`tidemark_frontend_messages_out_total{qos=1}`:                          3,
		`tidemark_frontend_payload_bytes_out_total`:                            payload,
		`tidemark_frontend_disconnects_total{reason=normal}`:                   1,
		`tidemark_frontend_disconnects_total{reason=takenover}`:                1,
		`tidemark_frontend_takeovers_total`:                                    1,
		`tidemark_frontend_slow_consumers_total`:                               0,
		`tidemark_frontend_connections`:                                        1,
		`tidemark_frontend_sessions`:                                           1,
		`tidemark_frontend_inflight_messages`:                                  0,
		`tidemark_frontend_queued_messages`:                                    0,
		`tidemark_frontend_retained_messages`:                                  1,
		`tidemark_frontend_consumer_lag_records{log=messages}`:                 0,
		`tidemark_frontend_consumer_lag_records{log=retained}`:                 0,
		`tidemark_frontend_consumer_lag_records{log=sessions}`:                 0,
	}
	// Disconnects, takeovers and the follower positions settle a little
	// after the clients see them: poll until the scrape matches.
	var got map[string]float64
	var diff []string
	deadline := time.Now().Add(waitFor)
	for {
		got = scrape(t, base)
		diff = diff[:0]
		for k, w := range wantMetrics {
			if v, ok := got[k]; !ok || v != w {
				diff = append(diff, fmt.Sprintf("%s = %v (present %v), want %v", k, v, ok, w))
			}
		}
		if len(diff) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	sort.Strings(diff)
	for _, d := range diff {
		t.Error(d)
	}
	if n := got[`tidemark_frontend_append_seconds_count`]; n < 1 {
		t.Errorf("append latency histogram has %v observations, want some", n)
	}
	for k := range got {
		if strings.Contains(k, "tidemark_frontend_drops_total") {
			t.Errorf("a drop was counted: %s = %v", k, got[k])
		}
		// Bounded labels only: no ClientID or topic ever becomes a label value.
		for _, unbounded := range []string{"metrics-sub", "metrics-pub", "metrics-dup", "metrics/a", "retained/keep"} {
			if strings.Contains(k, unbounded) {
				t.Errorf("metric %s has an unbounded label value %q", k, unbounded)
			}
		}
	}
}
