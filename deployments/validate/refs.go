package validate

import (
	"errors"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// ExternalSecretsAnnotation on a workload lists (comma separated) Secrets its
// pods use that the overlay deliberately does not create, such as a TLS
// certificate made by cert-manager. They are prerequisites of `kubectl apply`,
// documented in the README, and exempt from the existence check.
const ExternalSecretsAnnotation = "tidemark.io/external-secrets"

// ErrReference is wrapped by every failed cross-reference check.
var ErrReference = errors.New("broken reference")

// workload is a pod template with the object that owns it.
type workload struct {
	obj      *Object
	meta     metav1.ObjectMeta
	selector *metav1.LabelSelector
	labels   map[string]string
	spec     *corev1.PodSpec
}

// workloads collects the pod templates of Deployments and StatefulSets.
func workloads(objs []*Object) []workload {
	var out []workload
	for _, o := range objs {
		switch t := o.Typed.(type) {
		case *appsv1.Deployment:
			out = append(out, workload{o, t.ObjectMeta, t.Spec.Selector, t.Spec.Template.Labels, &t.Spec.Template.Spec})
		case *appsv1.StatefulSet:
			out = append(out, workload{o, t.ObjectMeta, t.Spec.Selector, t.Spec.Template.Labels, &t.Spec.Template.Spec})
		}
	}
	return out
}

// CheckReferences checks what the API server accepts but a running system
// trips over: selectors that match no pods, ports that no container opens,
// ConfigMaps and Secrets that do not exist, scale targets that are missing.
// Check must have run on every object.
func CheckReferences(objs []*Object) error {
	var errs []error
	fail := func(o *Object, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %w: %s", o, ErrReference, fmt.Sprintf(format, args...)))
	}
	ws := workloads(objs)
	for _, w := range ws {
		sel, err := metav1.LabelSelectorAsSelector(w.selector)
		if err != nil {
			fail(w.obj, "selector: %v", err)
		} else if !sel.Matches(labels.Set(w.labels)) {
			fail(w.obj, "selector %s does not match the pod template labels %v", sel, w.labels)
		}
		checkPodSpec(objs, w, fail)
	}
	for _, o := range objs {
		switch t := o.Typed.(type) {
		case *corev1.Service:
			checkService(ws, o, t, fail)
		case *policyv1.PodDisruptionBudget:
			if !selectsAny(ws, o.Namespace, t.Spec.Selector) {
				fail(o, "selector matches no pod template")
			}
		case *autoscalingv2.HorizontalPodAutoscaler:
			ref := t.Spec.ScaleTargetRef
			if Find(objs, ref.Kind, o.Namespace, ref.Name) == nil {
				fail(o, "scale target %s %s does not exist", ref.Kind, ref.Name)
			}
		}
	}
	return errors.Join(errs...)
}

// selectsAny reports whether the selector matches a pod template in ns.
func selectsAny(ws []workload, ns string, ls *metav1.LabelSelector) bool {
	sel, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil || sel.Empty() {
		return false
	}
	for _, w := range ws {
		if w.obj.Namespace == ns && sel.Matches(labels.Set(w.labels)) {
			return true
		}
	}
	return false
}

// checkService requires the selector to match pod templates and every
// targetPort to be a port of a container in each of them.
func checkService(ws []workload, o *Object, svc *corev1.Service, fail func(*Object, string, ...any)) {
	if len(svc.Spec.Selector) == 0 {
		return // endpoints managed by hand, e.g. an external service
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	var matched []workload
	for _, w := range ws {
		if w.obj.Namespace == o.Namespace && sel.Matches(labels.Set(w.labels)) {
			matched = append(matched, w)
		}
	}
	if len(matched) == 0 {
		fail(o, "selector %s matches no pod template", sel)
		return
	}
	for _, p := range svc.Spec.Ports {
		target := p.TargetPort
		if target.Type == intstr.Int && target.IntVal == 0 {
			target = intstr.FromInt32(p.Port) // unset: same as port
		}
		for _, w := range matched {
			if !podHasPort(w.spec.Containers, target) {
				fail(o, "port %q targets %s, which no container of %s opens", p.Name, target.String(), w.obj)
			}
		}
	}
}

// podHasPort reports whether any container declares the port (by name or
// number).
func podHasPort(cs []corev1.Container, port intstr.IntOrString) bool {
	for i := range cs {
		if containerHasPort(&cs[i], port) {
			return true
		}
	}
	return false
}

func containerHasPort(c *corev1.Container, port intstr.IntOrString) bool {
	for _, p := range c.Ports {
		if port.Type == intstr.String && p.Name == port.StrVal {
			return true
		}
		if port.Type == intstr.Int && p.ContainerPort == port.IntVal {
			return true
		}
	}
	return false
}

// checkPodSpec checks probe ports and ConfigMap and Secret references.
func checkPodSpec(objs []*Object, w workload, fail func(*Object, string, ...any)) {
	ns := w.obj.Namespace
	external := map[string]bool{}
	for s := range strings.SplitSeq(w.meta.Annotations[ExternalSecretsAnnotation], ",") {
		if s = strings.TrimSpace(s); s != "" {
			external[s] = true
		}
	}
	configMap := func(name string, optional *bool, where string) {
		if (optional == nil || !*optional) && Find(objs, "ConfigMap", ns, name) == nil {
			fail(w.obj, "%s: ConfigMap %q does not exist", where, name)
		}
	}
	secret := func(name string, optional *bool, where string) {
		if (optional == nil || !*optional) && !external[name] && Find(objs, "Secret", ns, name) == nil {
			fail(w.obj, "%s: Secret %q does not exist (list it in %s if it is made outside the overlay)",
				where, name, ExternalSecretsAnnotation)
		}
	}
	for _, v := range w.spec.Volumes {
		if v.ConfigMap != nil {
			configMap(v.ConfigMap.Name, v.ConfigMap.Optional, "volume "+v.Name)
		}
		if v.Secret != nil {
			secret(v.Secret.SecretName, v.Secret.Optional, "volume "+v.Name)
		}
	}
	for _, c := range append(w.spec.InitContainers, w.spec.Containers...) {
		where := "container " + c.Name
		for _, e := range c.EnvFrom {
			if e.ConfigMapRef != nil {
				configMap(e.ConfigMapRef.Name, e.ConfigMapRef.Optional, where+" envFrom")
			}
			if e.SecretRef != nil {
				secret(e.SecretRef.Name, e.SecretRef.Optional, where+" envFrom")
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom == nil {
				continue
			}
			if r := e.ValueFrom.ConfigMapKeyRef; r != nil {
				configMap(r.Name, r.Optional, where+" env "+e.Name)
			}
			if r := e.ValueFrom.SecretKeyRef; r != nil {
				secret(r.Name, r.Optional, where+" env "+e.Name)
			}
		}
		for _, vm := range c.VolumeMounts {
			if !hasVolume(w, vm.Name) {
				fail(w.obj, "%s mounts volume %q, which is not declared", where, vm.Name)
			}
		}
		for name, p := range map[string]*corev1.Probe{"startup": c.StartupProbe, "readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
			if port, ok := probePort(p); ok && !containerHasPort(&c, port) {
				fail(w.obj, "%s %s probe uses port %s, which the container does not open", where, name, port.String())
			}
		}
	}
}

// hasVolume reports whether the pod declares the volume, counting the
// volume claim templates of a StatefulSet.
func hasVolume(w workload, name string) bool {
	for _, v := range w.spec.Volumes {
		if v.Name == name {
			return true
		}
	}
	if ss, ok := w.obj.Typed.(*appsv1.StatefulSet); ok {
		for _, t := range ss.Spec.VolumeClaimTemplates {
			if t.Name == name {
				return true
			}
		}
	}
	return false
}

// probePort is the port a network probe connects to (false for exec probes
// and absent ones).
func probePort(p *corev1.Probe) (intstr.IntOrString, bool) {
	switch {
	case p == nil:
	case p.HTTPGet != nil:
		return p.HTTPGet.Port, true
	case p.TCPSocket != nil:
		return p.TCPSocket.Port, true
	case p.GRPC != nil:
		return intstr.FromInt32(p.GRPC.Port), true
	}
	return intstr.IntOrString{}, false
}
