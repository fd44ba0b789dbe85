package main

// A container's environment as the kubelet builds it: envFrom, then env (value with $(VAR)
// expansion, fieldRef, resourceFieldRef, configMapKeyRef, secretKeyRef), plus the
// KUBERNETES_SERVICE_* variables pointing at the apiserver. Service link variables of other
// Services are not set (there is no Service networking).

import (
	"context"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

type envList struct {
	order []string
	vals  map[string]string
}

func (e *envList) set(k, v string) {
	if _, ok := e.vals[k]; !ok {
		e.order = append(e.order, k)
	}
	e.vals[k] = v
}

func (w *podWorker) containerEnv(ctx context.Context, c *corev1.Container, mounts []mount) ([]string, error) {
	e := &envList{vals: map[string]string{}}
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/bin:/usr/bin:/bin"
	}
	e.set("PATH", path)
	hostname := w.pod.Name
	if w.pod.Spec.Hostname != "" {
		hostname = w.pod.Spec.Hostname
	}
	e.set("HOSTNAME", hostname)
	e.set("KUBERNETES_SERVICE_HOST", w.n.apiHost)
	e.set("KUBERNETES_SERVICE_PORT", w.n.apiPort)
	e.set("KUBERNETES_SERVICE_PORT_HTTPS", w.n.apiPort)
	for _, m := range mounts {
		if m.path == serviceAccountMount {
			e.set("ESK8S_SERVICE_ACCOUNT_DIR", m.local)
		}
	}
	ns := w.pod.Namespace
	core := w.n.client.CoreV1()
	for _, from := range c.EnvFrom {
		var data map[string]string
		switch {
		case from.ConfigMapRef != nil:
			cm, err := core.ConfigMaps(ns).Get(ctx, from.ConfigMapRef.Name, metav1.GetOptions{})
			if err != nil {
				if apierrors.IsNotFound(err) && from.ConfigMapRef.Optional != nil && *from.ConfigMapRef.Optional {
					continue
				}
				return nil, notFound("configmap", from.ConfigMapRef.Name, err)
			}
			data = cm.Data
		case from.SecretRef != nil:
			s, err := core.Secrets(ns).Get(ctx, from.SecretRef.Name, metav1.GetOptions{})
			if err != nil {
				if apierrors.IsNotFound(err) && from.SecretRef.Optional != nil && *from.SecretRef.Optional {
					continue
				}
				return nil, notFound("secret", from.SecretRef.Name, err)
			}
			data = map[string]string{}
			for k, v := range s.Data {
				data[k] = string(v)
			}
		}
		keys := make([]string, 0, len(data))
		for k := range data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			e.set(from.Prefix+k, data[k])
		}
	}
	for _, ev := range c.Env {
		if ev.ValueFrom == nil {
			e.set(ev.Name, expandVars(ev.Value, e.vals))
			continue
		}
		vf := ev.ValueFrom
		switch {
		case vf.FieldRef != nil:
			v, err := fieldValue(w.pod, vf.FieldRef.FieldPath, w.n.ip.String(), w.ip.String())
			if err != nil {
				return nil, err
			}
			e.set(ev.Name, v)
		case vf.ResourceFieldRef != nil:
			e.set(ev.Name, resourceValue(w.pod, vf.ResourceFieldRef))
		case vf.ConfigMapKeyRef != nil || vf.SecretKeyRef != nil:
			v, ok, err := w.keyRef(ctx, vf)
			if err != nil {
				return nil, err
			}
			if ok {
				e.set(ev.Name, v)
			}
		}
	}
	out := make([]string, 0, len(e.order))
	for _, k := range e.order {
		out = append(out, k+"="+e.vals[k])
	}
	return out, nil
}

// keyRef resolves a configMapKeyRef or secretKeyRef; an optional one that is missing is not set.
func (w *podWorker) keyRef(ctx context.Context, vf *corev1.EnvVarSource) (string, bool, error) {
	ns, core := w.pod.Namespace, w.n.client.CoreV1()
	kind, name, key, optional := "ConfigMap", "", "", false
	var data map[string]string
	var err error
	if ref := vf.ConfigMapKeyRef; ref != nil {
		name, key, optional = ref.Name, ref.Key, ref.Optional != nil && *ref.Optional
		var cm *corev1.ConfigMap
		if cm, err = core.ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{}); err == nil {
			data = cm.Data
		}
	} else {
		ref := vf.SecretKeyRef
		kind, name, key, optional = "Secret", ref.Name, ref.Key, ref.Optional != nil && *ref.Optional
		var s *corev1.Secret
		if s, err = core.Secrets(ns).Get(ctx, name, metav1.GetOptions{}); err == nil {
			data = map[string]string{}
			for k, v := range s.Data {
				data[k] = string(v)
			}
		}
	}
	if err != nil {
		if apierrors.IsNotFound(err) && optional {
			return "", false, nil
		}
		return "", false, notFound(strings.ToLower(kind), name, err)
	}
	v, ok := data[key]
	if !ok && !optional {
		return "", false, fmt.Errorf("couldn't find key %s in %s %s/%s", key, kind, ns, name)
	}
	return v, ok, nil
}

func notFound(kind, name string, err error) error {
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("%s %q not found", kind, name)
	}
	return err
}

// fieldValue resolves a downward-API field path.
func fieldValue(pod *corev1.Pod, path, hostIP, podIP string) (string, error) {
	if podIP == "" {
		podIP = pod.Status.PodIP
	}
	bracket := func(prefix string, m map[string]string) (string, bool) {
		if strings.HasPrefix(path, prefix+"['") && strings.HasSuffix(path, "']") {
			return m[path[len(prefix)+2:len(path)-2]], true
		}
		return "", false
	}
	if v, ok := bracket("metadata.labels", pod.Labels); ok {
		return v, nil
	}
	if v, ok := bracket("metadata.annotations", pod.Annotations); ok {
		return v, nil
	}
	format := func(m map[string]string) string {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		for _, k := range keys {
			fmt.Fprintf(&b, "%s=%q\n", k, m[k])
		}
		return strings.TrimSuffix(b.String(), "\n")
	}
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "metadata.labels":
		return format(pod.Labels), nil
	case "metadata.annotations":
		return format(pod.Annotations), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.hostIP", "status.hostIPs":
		return hostIP, nil
	case "status.podIP", "status.podIPs":
		return podIP, nil
	}
	return "", fmt.Errorf("unsupported fieldPath %q", path)
}

// resourceValue resolves a resourceFieldRef (limits fall back to requests, as a container
// without a limit may use the node's capacity, which is unbounded here).
func resourceValue(pod *corev1.Pod, ref *corev1.ResourceFieldSelector) string {
	var q resource.Quantity
	for _, c := range pod.Spec.Containers {
		if ref.ContainerName != "" && c.Name != ref.ContainerName {
			continue
		}
		kind, name, _ := strings.Cut(ref.Resource, ".")
		list := c.Resources.Limits
		if kind == "requests" {
			list = c.Resources.Requests
		}
		if v, ok := list[corev1.ResourceName(name)]; ok {
			q = v
		} else if v, ok := c.Resources.Requests[corev1.ResourceName(name)]; ok {
			q = v
		}
		break
	}
	divisor := ref.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	return fmt.Sprintf("%d", int64(math.Ceil(float64(q.MilliValue())/float64(divisor.MilliValue()))))
}

// expandVars applies Kubernetes' $(VAR) expansion: defined variables are replaced, $$ escapes a
// dollar, anything else is kept as written.
func expandVars(s string, vars map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := vars[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}
