package validate_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tidemarkmq/tidemark/deployments/validate"
)

// deployments is the directory holding base/, components/ and overlays/.
const deployments = ".."

func loadCRDs(t *testing.T) *validate.CRDSchemas {
	t.Helper()
	crds, err := validate.LoadCRDs(filepath.Join("testdata", "strimzi"))
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"Kafka", "KafkaNodePool", "KafkaTopic"} {
		found := false
		for _, gvk := range crds.Kinds() {
			if gvk.Group == "kafka.strimzi.io" && gvk.Version == "v1" && gvk.Kind == kind {
				found = true
			}
		}
		if !found {
			t.Fatalf("no kafka.strimzi.io/v1 %s schema in testdata/strimzi (got %v)", kind, crds.Kinds())
		}
	}
	return crds
}

// kustomizations lists base and every overlay: each must build and pass.
func kustomizations(t *testing.T, root string) []string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(root, "overlays", "*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) < 2 {
		t.Fatalf("want at least the dev and prod overlays, found %v", dirs)
	}
	return append([]string{filepath.Join(root, "base")}, dirs...)
}

// builtImages runs `scripts/images.sh --list`: the image repositories that
// `make images` produces.
func builtImages(t *testing.T) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(deployments, "..", "scripts", "images.sh"), "--list")
	cmd.Env = append(os.Environ(), "IMAGE_REPO=") // the default repository, whatever the shell has
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("scripts/images.sh --list: %v\n%s", err, stderr.String())
	}
	list := strings.Fields(string(out))
	if len(list) == 0 {
		t.Fatal("scripts/images.sh --list printed no image")
	}
	return list
}

func TestOverlaysValidate(t *testing.T) {
	crds := loadCRDs(t)
	built := builtImages(t)
	for _, dir := range kustomizations(t, deployments) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			objs, err := validate.Dir(dir, crds)
			if err != nil {
				t.Fatal(err)
			}
			kinds := map[string]int{}
			for _, o := range objs {
				kinds[o.GVK.Kind]++
			}
			for _, k := range []string{"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget",
				"ConfigMap", "Kafka", "KafkaNodePool", "KafkaTopic"} {
				if kinds[k] == 0 {
					t.Errorf("no %s in the build (kinds: %v)", k, kinds)
				}
			}
			var ours []string
			for _, img := range validate.Images(objs) {
				repo := validate.ImageRepository(img)
				if !strings.HasPrefix(repo, "ghcr.io/tidemarkmq/") {
					continue // third-party images (Redis, Jaeger)
				}
				ours = append(ours, repo)
				if !slices.Contains(built, repo) {
					t.Errorf("image %s is not one that scripts/images.sh builds (%v)", img, built)
				}
			}
			for _, want := range []string{"ghcr.io/tidemarkmq/mqtt-frontend", "ghcr.io/tidemarkmq/mqtt-sessiond"} {
				if !slices.Contains(ours, want) {
					t.Errorf("no workload runs %s (images: %v)", want, ours)
				}
			}
		})
	}
}

// copyTree copies the kustomize sources into a temporary directory, so a
// test can break one file without touching the real ones.
func copyTree(t *testing.T) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "deployments")
	for _, sub := range []string{"base", "components", "overlays"} {
		err := filepath.WalkDir(filepath.Join(deployments, sub), func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(deployments, path)
			if err != nil {
				return err
			}
			target := filepath.Join(dst, rel)
			if d.IsDir() {
				return os.MkdirAll(target, 0o755)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			return os.WriteFile(target, b, 0o644)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func TestBrokenCopyFails(t *testing.T) {
	crds := loadCRDs(t)
	tests := []struct {
		name     string
		file     string // relative to deployments/
		old, new string // first occurrence replaced
		overlay  string
		want     error  // errors.Is target, or nil to match only the text
		wantText string // substring of the error
	}{
		{"misspelled Kubernetes field", "base/frontend/deployment.yaml",
			"readinessProbe:", "readynessProbe:", "dev", nil, `unknown field "spec.template.spec.containers[0].readynessProbe"`},
		{"wrong Kubernetes value type", "base/frontend/hpa.yaml",
			"averageUtilization: 70", "averageUtilization: seventy", "dev", nil, "averageUtilization"},
		{"misspelled Strimzi field", "base/kafka/topics.yaml",
			"partitions: 12", "partition: 12", "prod", nil, "partition"},
		{"Strimzi enum value", "base/kafka/kafka.yaml",
			"type: internal", "type: intern", "prod", nil, "intern"},
		{"misspelled Strimzi metadata", "base/kafka/kafka.yaml",
			"name: dual-role\n  labels:", "name: dual-role\n  labls:", "dev", nil, `unknown field "labls"`},
		{"unknown kind", "base/frontend/pdb.yaml",
			"kind: PodDisruptionBudget", "kind: PodDisruptionBudgets", "dev", validate.ErrUnknownKind, ""},
		{"service targets a port no container opens", "base/frontend/service.yaml",
			"targetPort: mqtts", "targetPort: mqttz", "prod", validate.ErrReference, "mqttz"},
		{"service selector matches no pod", "base/frontend/service.yaml",
			"  selector:\n    app.kubernetes.io/name: mqtt-frontend", "  selector:\n    app.kubernetes.io/name: mqtt-frontends",
			"dev", validate.ErrReference, "matches no pod template"},
		{"probe on a missing port", "base/sessiond/deployment.yaml",
			"path: /readyz\n              port: http", "path: /readyz\n              port: metrics",
			"dev", validate.ErrReference, "readiness probe uses port metrics"},
		{"missing ConfigMap", "base/frontend/deployment.yaml",
			"name: tidemark-frontend\n", "name: tidemark-frontnd\n", "dev", validate.ErrReference, "tidemark-frontnd"},
		{"missing Secret", "overlays/prod/frontend.yaml",
			"tidemark.io/external-secrets: tidemark-frontend-tls", "tidemark.io/external-secrets: other",
			"prod", validate.ErrReference, `Secret "tidemark-frontend-tls"`},
		{"messages retention below the session expiry cap", "base/kafka/topics.yaml",
			"retention.ms: 691200000", "retention.ms: 3600000", "dev", validate.ErrRule, "mqtt.messages retention.ms"},
		{"retained topic not compacted", "base/kafka/topics.yaml",
			"cleanup.policy: compact", "cleanup.policy: delete", "prod", validate.ErrRule, "mqtt.retained must be compacted"},
		{"no nodes topic", "base/kafka/topics.yaml",
			"topicName: mqtt.nodes", "topicName: mqtt.node", "dev", validate.ErrRule, "no KafkaTopic for mqtt.nodes"},
		{"nodes topic partitioned", "base/kafka/topics.yaml",
			"(keyed by role/node).\n  partitions: 1", "(keyed by role/node).\n  partitions: 3", "dev", validate.ErrRule, "mqtt.nodes must have one partition"},
		{"more session services than partitions", "overlays/prod/sessiond.yaml",
			"replicas: 4", "replicas: 9", "prod", validate.ErrRule, "would idle"},
		{"grace period too short for the drain", "base/frontend/deployment.yaml",
			"terminationGracePeriodSeconds: 60", "terminationGracePeriodSeconds: 15", "dev", validate.ErrRule, "shorter than preStop"},
		{"topic of another Kafka cluster", "base/kafka/topics.yaml",
			"strimzi.io/cluster: tidemark", "strimzi.io/cluster: other", "dev", validate.ErrRule, "names no Kafka"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := copyTree(t)
			overlay := filepath.Join(root, "overlays", tt.overlay)
			if _, err := validate.Dir(overlay, crds); err != nil {
				t.Fatalf("the unbroken copy must pass: %v", err)
			}
			path := filepath.Join(root, tt.file)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(b, []byte(tt.old)) {
				t.Fatalf("%s does not contain %q: update the test with the manifest", tt.file, tt.old)
			}
			b = bytes.Replace(b, []byte(tt.old), []byte(tt.new), 1)
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err = validate.Dir(overlay, crds)
			if err == nil {
				t.Fatal("validation passed on a broken manifest")
			}
			t.Logf("rejected as expected: %v", err)
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("error is not %v: %v", tt.want, err)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error does not mention %q: %v", tt.wantText, err)
			}
		})
	}
}

func TestToJSONSchema(t *testing.T) {
	obj := func(props map[string]any, extra map[string]any) map[string]any {
		m := map[string]any{"type": "object", "properties": props}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	str := map[string]any{"type": "string"}
	tests := []struct {
		name   string
		schema map[string]any
		doc    string
		valid  bool
	}{
		{"known field", obj(map[string]any{"a": str}, nil), `{"a":"x"}`, true},
		{"unknown field rejected", obj(map[string]any{"a": str}, nil), `{"b":"x"}`, false},
		{"nested unknown field rejected", obj(map[string]any{"a": obj(map[string]any{"b": str}, nil)}, nil), `{"a":{"c":"x"}}`, false},
		{"preserve-unknown-fields keeps them", obj(map[string]any{"a": str}, map[string]any{"x-kubernetes-preserve-unknown-fields": true}), `{"b":1}`, true},
		{"map values typed", map[string]any{"type": "object", "additionalProperties": str}, `{"k":1}`, false},
		{"int-or-string int", obj(map[string]any{"p": map[string]any{"x-kubernetes-int-or-string": true}}, nil), `{"p":8080}`, true},
		{"int-or-string string", obj(map[string]any{"p": map[string]any{"x-kubernetes-int-or-string": true}}, nil), `{"p":"http"}`, true},
		{"int-or-string bool", obj(map[string]any{"p": map[string]any{"x-kubernetes-int-or-string": true}}, nil), `{"p":true}`, false},
		{"nullable", obj(map[string]any{"a": map[string]any{"type": "string", "nullable": true}}, nil), `{"a":null}`, true},
		{"not nullable", obj(map[string]any{"a": str}, nil), `{"a":null}`, false},
		{"items", obj(map[string]any{"l": map[string]any{"type": "array", "items": obj(map[string]any{"a": str}, nil)}}, nil), `{"l":[{"z":"x"}]}`, false},
		{"enum", obj(map[string]any{"e": map[string]any{"type": "string", "enum": []any{"a", "b"}}}, nil), `{"e":"c"}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := validate.ValidateJSON(validate.ToJSONSchema(tt.schema), []byte(tt.doc))
			if (err == nil) != tt.valid {
				t.Errorf("valid = %v, want %v (err %v)", err == nil, tt.valid, err)
			}
		})
	}
}

func TestImageRepository(t *testing.T) {
	tests := []struct{ in, want string }{
		{"ghcr.io/tidemarkmq/mqtt-frontend", "ghcr.io/tidemarkmq/mqtt-frontend"},
		{"ghcr.io/tidemarkmq/mqtt-frontend:v1", "ghcr.io/tidemarkmq/mqtt-frontend"},
		{"ghcr.io/tidemarkmq/mqtt-frontend@sha256:abc", "ghcr.io/tidemarkmq/mqtt-frontend"},
		{"registry.local:5000/x/y:tag", "registry.local:5000/x/y"},
		{"registry.local:5000/x/y", "registry.local:5000/x/y"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := validate.ImageRepository(tt.in); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
