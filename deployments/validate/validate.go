// Package validate checks the Kubernetes manifests offline, the way a cluster
// would reject them: it builds a kustomize overlay, decodes every built object
// strictly into the Kubernetes API types (an unknown or misspelled field is
// an error, as with kubectl's strict field validation), validates the Strimzi
// custom resources against the openAPIV3Schema of their published
// CustomResourceDefinitions, and checks the references between objects that
// no schema sees (Service selectors, probe ports, ConfigMaps and Secrets,
// images). There is no cluster and no network access at test time.
package validate

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// ErrUnknownKind reports an object whose apiVersion and kind are neither a
// registered Kubernetes type nor a custom resource with a known schema: a
// typo in either is otherwise invisible until kubectl apply.
var ErrUnknownKind = errors.New("unknown kind")

// Object is one built manifest: its raw YAML, its identity and, for built-in
// kinds, the strictly decoded typed object (nil for custom resources).
type Object struct {
	GVK       schema.GroupVersionKind
	Namespace string
	Name      string
	YAML      []byte
	Typed     runtime.Object
}

// String names the object the way kubectl does, for error messages.
func (o *Object) String() string {
	ns := o.Namespace
	if ns != "" {
		ns += "/"
	}
	return fmt.Sprintf("%s %s%s", o.GVK.Kind, ns, o.Name)
}

// Build runs kustomize on the directory (an overlay or the base) from disk,
// exactly as `kubectl apply -k dir` would build it.
func Build(dir string) ([]*Object, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	var objs []*Object
	for _, r := range rm.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			return nil, fmt.Errorf("render %s: %w", r.CurId(), err)
		}
		gv, err := schema.ParseGroupVersion(r.GetApiVersion())
		if err != nil {
			return nil, fmt.Errorf("%s: apiVersion: %w", r.CurId(), err)
		}
		objs = append(objs, &Object{
			GVK:       gv.WithKind(r.GetKind()),
			Namespace: r.GetNamespace(),
			Name:      r.GetName(),
			YAML:      y,
		})
	}
	return objs, nil
}

// Validator decodes built objects: built-in kinds strictly into k8s.io/api
// types, custom resources against their CRD schemas.
type Validator struct {
	scheme *runtime.Scheme
	codec  runtime.Decoder
	crds   *CRDSchemas
}

// NewValidator registers the built-in API groups the manifests may use; a
// kind outside them fails with ErrUnknownKind rather than passing unchecked.
func NewValidator(crds *CRDSchemas) (*Validator, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, autoscalingv2.AddToScheme,
		policyv1.AddToScheme, networkingv1.AddToScheme,
		// The Prometheus Operator's PodMonitor and PrometheusRule of the
		// monitoring component, with the operator's own Go types.
		monitoringv1.AddToScheme,
	} {
		if err := add(s); err != nil {
			return nil, fmt.Errorf("register api types: %w", err)
		}
	}
	codec := kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, s, s,
		kjson.SerializerOptions{Yaml: true, Strict: true})
	return &Validator{scheme: s, codec: codec, crds: crds}, nil
}

// Check validates one object and, for built-in kinds, sets o.Typed. Strict
// decoding rejects unknown fields, duplicate fields and wrong value types.
func (v *Validator) Check(o *Object) error {
	if v.scheme.Recognizes(o.GVK) {
		typed, _, err := v.codec.Decode(o.YAML, nil, nil)
		if err != nil {
			return fmt.Errorf("%s: %w", o, err)
		}
		o.Typed = typed
		return nil
	}
	if v.crds != nil && v.crds.Knows(o.GVK) {
		if err := v.crds.Validate(o); err != nil {
			return fmt.Errorf("%s: %w", o, err)
		}
		return nil
	}
	return fmt.Errorf("%s: %w %s", o, ErrUnknownKind, o.GVK)
}

// CheckAll validates every object and returns every failure, so one run
// shows all the broken fields at once.
func (v *Validator) CheckAll(objs []*Object) error {
	var errs []error
	for _, o := range objs {
		errs = append(errs, v.Check(o))
	}
	return errors.Join(errs...)
}

// strictMeta decodes the metadata of a custom resource into ObjectMeta,
// strictly: CRD schemas leave metadata open, the API server does not.
func strictMeta(raw []byte) error {
	var u struct {
		Metadata map[string]any `json:"metadata"`
	}
	if err := yaml.Unmarshal(raw, &u); err != nil {
		return fmt.Errorf("decode metadata: %w", err)
	}
	b, err := yaml.Marshal(u.Metadata)
	if err != nil {
		return fmt.Errorf("encode metadata: %w", err)
	}
	var m metav1.ObjectMeta
	if err := yaml.UnmarshalStrict(b, &m); err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	return nil
}

// Find returns the object of that kind, namespace and name, or nil.
func Find(objs []*Object, kind, namespace, name string) *Object {
	for _, o := range objs {
		if o.GVK.Kind == kind && o.Namespace == namespace && o.Name == name {
			return o
		}
	}
	return nil
}

// Images lists every container image (init containers too) of the built-in
// workloads, sorted and without duplicates; Check must have run.
func Images(objs []*Object) []string {
	seen := map[string]bool{}
	for _, w := range workloads(objs) {
		for _, c := range append(w.spec.InitContainers, w.spec.Containers...) {
			seen[c.Image] = true
		}
	}
	out := make([]string, 0, len(seen))
	for img := range seen {
		out = append(out, img)
	}
	sort.Strings(out)
	return out
}

// ImageRepository strips the tag or digest from an image reference.
func ImageRepository(image string) string {
	if i := strings.Index(image, "@"); i >= 0 {
		image = image[:i]
	}
	// A colon after the last slash starts the tag (one before it is a
	// registry port).
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		image = image[:i]
	}
	return image
}

// Dir builds a kustomization directory and runs every check on it: strict
// decoding and CRD schemas, references between objects, and the Tidemark
// rules. It returns the built objects with every failure joined.
func Dir(dir string, crds *CRDSchemas) ([]*Object, error) {
	objs, err := Build(dir)
	if err != nil {
		return nil, err
	}
	v, err := NewValidator(crds)
	if err != nil {
		return nil, err
	}
	if err := v.CheckAll(objs); err != nil {
		// References need typed objects; report the decoding errors alone.
		return objs, err
	}
	return objs, errors.Join(CheckReferences(objs), CheckTidemark(objs))
}
