package validate

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// Topic names and the Deployment that consumes mqtt.sessions, as
// docs/design.md defines them.
const (
	TopicMessages    = "mqtt.messages"
	TopicRetained    = "mqtt.retained"
	TopicSessions    = "mqtt.sessions"
	TopicLifecycle   = "mqtt.lifecycle"
	TopicNodes       = "mqtt.nodes"
	SessionsWorkload = "mqtt-sessiond"
	FrontendWorkload = "mqtt-frontend"

	// FrontendDrain bounds the frontend's graceful end of its connections
	// (drainTimeout in services/frontend) plus closing its Kafka writer and
	// HTTP server: the grace period must cover it after the preStop hook, or
	// the kubelet kills a frontend that still owes Kafka its last ops.
	FrontendDrain = 20 * time.Second
)

// ErrRule is wrapped by every failed Tidemark-specific rule.
var ErrRule = errors.New("tidemark rule")

// kafkaTopic is the part of a Strimzi KafkaTopic the rules read.
type kafkaTopic struct {
	Metadata struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		TopicName  string         `json:"topicName"`
		Partitions int            `json:"partitions"`
		Config     map[string]any `json:"config"`
	} `json:"spec"`
}

// name is the Kafka topic name: spec.topicName, else metadata.name.
func (t *kafkaTopic) name() string {
	if t.Spec.TopicName != "" {
		return t.Spec.TopicName
	}
	return t.Metadata.Name
}

// CheckTidemark checks the rules that tie the manifests to the broker's
// design: the five topics exist with the cleanup each needs, the message and
// session logs outlive the longest session, the session service has no more
// replicas than the partitions it consumes, and every Strimzi resource and
// the Kafka bootstrap address name a Kafka cluster of the overlay.
func CheckTidemark(objs []*Object) error {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s", ErrRule, fmt.Sprintf(format, args...)))
	}
	clusters := map[string]bool{} // namespace/name of Kafka resources
	for _, o := range objs {
		if o.GVK.Group == "kafka.strimzi.io" && o.GVK.Kind == "Kafka" {
			clusters[o.Namespace+"/"+o.Name] = true
		}
	}
	topics := map[string]*kafkaTopic{}
	for _, o := range objs {
		if o.GVK.Group != "kafka.strimzi.io" || (o.GVK.Kind != "KafkaTopic" && o.GVK.Kind != "KafkaNodePool") {
			continue
		}
		var t kafkaTopic
		if err := yaml.Unmarshal(o.YAML, &t); err != nil {
			fail("%s: %v", o, err)
			continue
		}
		if c := t.Metadata.Labels["strimzi.io/cluster"]; !clusters[o.Namespace+"/"+c] {
			fail("%s: label strimzi.io/cluster=%q names no Kafka in %s", o, c, o.Namespace)
		}
		if o.GVK.Kind == "KafkaTopic" {
			topics[t.name()] = &t
		}
	}
	if len(clusters) == 0 {
		return errors.Join(errs...) // Kafka is external: nothing below applies
	}
	for _, n := range []string{TopicMessages, TopicRetained, TopicSessions, TopicLifecycle, TopicNodes} {
		if topics[n] == nil {
			fail("no KafkaTopic for %s", n)
		}
	}
	for _, n := range []string{TopicRetained, TopicNodes} {
		if t := topics[n]; t != nil && t.Spec.Config["cleanup.policy"] != "compact" {
			fail("%s must be compacted (cleanup.policy: compact), has %v", n, t.Spec.Config["cleanup.policy"])
		}
	}
	if t := topics[TopicNodes]; t != nil && t.Spec.Partitions != 1 {
		fail("%s must have one partition (one order for every process's beats), has %d", TopicNodes, t.Spec.Partitions)
	}

	env := configEnv(objs)
	maxExpiry, err := time.ParseDuration(env["TIDEMARK_MAX_EXPIRY"])
	if err != nil || maxExpiry <= 0 {
		fail("TIDEMARK_MAX_EXPIRY must cap session expiry (so the logs can outlive it), got %q", env["TIDEMARK_MAX_EXPIRY"])
	}
	for _, n := range []string{TopicMessages, TopicSessions} {
		t := topics[n]
		if t == nil || maxExpiry <= 0 {
			continue
		}
		if p, _ := t.Spec.Config["cleanup.policy"].(string); strings.Contains(p, "compact") {
			fail("%s must not be compacted (cleanup.policy %q)", n, p)
		}
		ms, ok := configInt(t.Spec.Config["retention.ms"])
		if !ok || ms < 0 || time.Duration(ms)*time.Millisecond < maxExpiry {
			fail("%s retention.ms %v is shorter than TIDEMARK_MAX_EXPIRY %s", n, retention(t.Spec.Config["retention.ms"]), maxExpiry)
		}
	}
	for _, o := range objs {
		d, ok := o.Typed.(*appsv1.Deployment)
		if !ok || o.Name != SessionsWorkload || d.Spec.Replicas == nil {
			continue
		}
		for _, n := range []string{TopicSessions, TopicLifecycle} {
			if t := topics[n]; t != nil && int(*d.Spec.Replicas) > t.Spec.Partitions {
				fail("%s has %d replicas but %s only %d partitions: the extra replicas would idle",
					o, *d.Spec.Replicas, n, t.Spec.Partitions)
			}
		}
	}
	for _, w := range workloads(objs) {
		if w.obj.Name == FrontendWorkload {
			checkDrainBudget(w, fail)
		}
	}
	if addr := env["TIDEMARK_KAFKA"]; addr != "" {
		for b := range strings.SplitSeq(addr, ",") {
			host, _, _ := strings.Cut(strings.TrimSpace(b), ":")
			name, isBootstrap := strings.CutSuffix(host, "-kafka-bootstrap")
			if !isBootstrap {
				continue // an external cluster by address
			}
			found := false
			for c := range clusters {
				if strings.HasSuffix(c, "/"+name) {
					found = true
				}
			}
			if !found {
				fail("TIDEMARK_KAFKA %q names the bootstrap of a Kafka cluster %q that the overlay does not define", addr, name)
			}
		}
	}
	return errors.Join(errs...)
}

// configEnv merges the data of every ConfigMap the services read with
// envFrom, as the containers see it.
func configEnv(objs []*Object) map[string]string {
	env := map[string]string{}
	for _, w := range workloads(objs) {
		for _, c := range w.spec.Containers {
			for _, e := range c.EnvFrom {
				if e.ConfigMapRef == nil {
					continue
				}
				if cm, ok := findTyped(objs, "ConfigMap", w.obj.Namespace, e.ConfigMapRef.Name).(*corev1.ConfigMap); ok {
					for k, v := range cm.Data {
						env[k] = v
					}
				}
			}
		}
	}
	return env
}

// findTyped is Find returning the typed object (nil when absent).
func findTyped(objs []*Object, kind, ns, name string) any {
	if o := Find(objs, kind, ns, name); o != nil {
		return o.Typed
	}
	return nil
}

// configInt reads a numeric topic setting written either as a YAML number
// or as a string.
func configInt(v any) (int64, bool) {
	switch n := v.(type) {
	case float64:
		return int64(n), n == float64(int64(n))
	case string:
		i, err := strconv.ParseInt(n, 10, 64)
		return i, err == nil
	}
	return 0, false
}

// retention formats a retention.ms setting for messages.
func retention(v any) string {
	if ms, ok := configInt(v); ok {
		return (time.Duration(ms) * time.Millisecond).String()
	}
	return fmt.Sprintf("%v", v)
}

// checkDrainBudget requires the frontend's grace period to hold its preStop
// pause and the drain, with a preStop that needs no shell in the image.
func checkDrainBudget(w workload, fail func(string, ...any)) {
	grace := 30 * time.Second // the Kubernetes default
	if g := w.spec.TerminationGracePeriodSeconds; g != nil {
		grace = time.Duration(*g) * time.Second
	}
	var preStop time.Duration
	for _, c := range w.spec.Containers {
		if c.Lifecycle == nil || c.Lifecycle.PreStop == nil {
			continue
		}
		switch h := c.Lifecycle.PreStop; {
		case h.Sleep != nil:
			preStop = max(preStop, time.Duration(h.Sleep.Seconds)*time.Second)
		case h.Exec != nil:
			fail("%s: container %s preStop runs a command, but the image has no shell or tools: use the sleep action", w.obj, c.Name)
		}
	}
	if grace < preStop+FrontendDrain {
		fail("%s: terminationGracePeriodSeconds %s is shorter than preStop %s + drain %s",
			w.obj, grace, preStop, FrontendDrain)
	}
}
