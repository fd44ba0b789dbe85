package main

// Pod volumes, materialised under the pod's directory because pods are host processes and cannot
// mount: emptyDir, hostPath, persistentVolumeClaim (the bound PersistentVolume's local path, so
// data outlives the pod), and configMap, secret, downwardAPI and projected volumes (with
// serviceAccountToken from the TokenRequest API) written the way the kubelet's atomic writer
// does: files in a timestamped directory, a `..data` symlink swapped in one rename, and one
// symlink per top-level entry. Those are re-read every --volume-sync-period and swapped when they
// changed; tokens are renewed at 80% of their lifetime (or after 24 h).

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// serviceAccountMount is where Kubernetes mounts the service-account token. A process cannot see
// it there, so the kubelet also passes its directory as ESK8S_SERVICE_ACCOUNT_DIR.
const serviceAccountMount = "/var/run/secrets/kubernetes.io/serviceaccount"

type mount struct{ path, local string }

type fileData struct {
	data []byte
	mode os.FileMode
}

type token struct {
	value    string
	issued   time.Time
	lifetime time.Duration
}

type podVolumes struct {
	n      *node
	pod    *corev1.Pod
	dir    string
	local  map[string]string // volume name -> directory
	digest map[string]string // volume name -> digest of what is written
	tokens map[string]*token // volume name + "/" + path
}

func newPodVolumes(n *node, pod *corev1.Pod, dir string) *podVolumes {
	return &podVolumes{n: n, pod: pod, dir: dir, local: map[string]string{}, digest: map[string]string{}, tokens: map[string]*token{}}
}

func (v *podVolumes) setup(ctx context.Context) error {
	for i := range v.pod.Spec.Volumes {
		vol := &v.pod.Spec.Volumes[i]
		if _, done := v.local[vol.Name]; done {
			continue
		}
		dir := filepath.Join(v.dir, vol.Name)
		switch {
		case vol.EmptyDir != nil:
			if err := os.MkdirAll(dir, 0o777); err != nil {
				return err
			}
		case vol.HostPath != nil:
			dir = vol.HostPath.Path
			if t := vol.HostPath.Type; t != nil && (*t == corev1.HostPathDirectoryOrCreate) {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					return err
				}
			}
		case vol.PersistentVolumeClaim != nil:
			path, err := v.claimPath(ctx, vol.PersistentVolumeClaim.ClaimName)
			if err != nil {
				return fmt.Errorf("MountVolume.SetUp failed for volume %q : %v", vol.Name, err)
			}
			dir = path
		case vol.ConfigMap != nil || vol.Secret != nil || vol.DownwardAPI != nil || vol.Projected != nil:
			files, err := v.render(ctx, vol)
			if err != nil {
				return fmt.Errorf("MountVolume.SetUp failed for volume %q : %v", vol.Name, err)
			}
			if err := v.write(vol.Name, dir, files); err != nil {
				return err
			}
		default:
			return fmt.Errorf("volume %q: this kubelet supports emptyDir, hostPath, persistentVolumeClaim, configMap, secret, downwardAPI and projected volumes", vol.Name)
		}
		v.local[vol.Name] = dir
	}
	return nil
}

// sync re-renders the API-backed volumes and swaps those whose content changed.
func (v *podVolumes) sync(ctx context.Context) {
	for i := range v.pod.Spec.Volumes {
		vol := &v.pod.Spec.Volumes[i]
		if vol.ConfigMap == nil && vol.Secret == nil && vol.DownwardAPI == nil && vol.Projected == nil {
			continue
		}
		files, err := v.render(ctx, vol)
		if err != nil {
			if ctx.Err() == nil {
				v.n.logf("pod %s/%s volume %s: %v (kept the previous content)", v.pod.Namespace, v.pod.Name, vol.Name, err)
			}
			continue
		}
		if err := v.write(vol.Name, filepath.Join(v.dir, vol.Name), files); err != nil {
			v.n.logf("pod %s/%s volume %s: %v", v.pod.Namespace, v.pod.Name, vol.Name, err)
		}
	}
}

func (v *podVolumes) claimPath(ctx context.Context, claim string) (string, error) {
	pvc, err := v.n.client.CoreV1().PersistentVolumeClaims(v.pod.Namespace).Get(ctx, claim, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	if pvc.Status.Phase != corev1.ClaimBound || pvc.Spec.VolumeName == "" {
		return "", fmt.Errorf("persistentvolumeclaim %q is not bound", claim)
	}
	pv, err := v.n.client.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	switch {
	case pv.Spec.Local != nil:
		return pv.Spec.Local.Path, nil
	case pv.Spec.HostPath != nil:
		return pv.Spec.HostPath.Path, nil
	}
	return "", fmt.Errorf("persistentvolume %q is neither local nor hostPath", pv.Name)
}

// mountsFor maps the container's mount paths to directories, longest path first.
func (v *podVolumes) mountsFor(c *corev1.Container) ([]mount, error) {
	var out []mount
	for _, vm := range c.VolumeMounts {
		local, ok := v.local[vm.Name]
		if !ok {
			return nil, fmt.Errorf("volumeMount %q names no volume of the pod", vm.Name)
		}
		if vm.SubPath != "" {
			local = filepath.Join(local, vm.SubPath)
		}
		out = append(out, mount{path: strings.TrimRight(vm.MountPath, "/"), local: local})
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i].path) > len(out[j].path) })
	return out, nil
}

func mode(m *int32, def *int32) os.FileMode {
	switch {
	case m != nil:
		return os.FileMode(*m) & 0o777
	case def != nil:
		return os.FileMode(*def) & 0o777
	}
	return 0o644
}

// keyFiles turns a ConfigMap's or Secret's data into files (all keys, or the listed items).
func keyFiles(data map[string][]byte, items []corev1.KeyToPath, def *int32, what string, optional bool, out map[string]fileData) error {
	if len(items) == 0 {
		for k, d := range data {
			out[k] = fileData{d, mode(nil, def)}
		}
		return nil
	}
	for _, it := range items {
		d, ok := data[it.Key]
		if !ok {
			if optional {
				continue
			}
			return fmt.Errorf("configuration key %q not found in %s", it.Key, what)
		}
		out[it.Path] = fileData{d, mode(it.Mode, def)}
	}
	return nil
}

func (v *podVolumes) configMapFiles(ctx context.Context, name string, items []corev1.KeyToPath, def *int32, optional *bool, out map[string]fileData) error {
	cm, err := v.n.client.CoreV1().ConfigMaps(v.pod.Namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) && optional != nil && *optional {
		return nil
	}
	if err != nil {
		return fmt.Errorf("configmap %q not found: %v", name, err)
	}
	data := map[string][]byte{}
	for k, s := range cm.Data {
		data[k] = []byte(s)
	}
	for k, b := range cm.BinaryData {
		data[k] = b
	}
	return keyFiles(data, items, def, "ConfigMap "+v.pod.Namespace+"/"+name, optional != nil && *optional, out)
}

func (v *podVolumes) secretFiles(ctx context.Context, name string, items []corev1.KeyToPath, def *int32, optional *bool, out map[string]fileData) error {
	s, err := v.n.client.CoreV1().Secrets(v.pod.Namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) && optional != nil && *optional {
		return nil
	}
	if err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("secret %q not found", name)
		}
		return err
	}
	return keyFiles(s.Data, items, def, "Secret "+v.pod.Namespace+"/"+name, optional != nil && *optional, out)
}

func (v *podVolumes) downwardFiles(items []corev1.DownwardAPIVolumeFile, def *int32, out map[string]fileData) error {
	for _, it := range items {
		var val string
		switch {
		case it.FieldRef != nil:
			var err error
			if val, err = fieldValue(v.pod, it.FieldRef.FieldPath, v.n.ip.String(), ""); err != nil {
				return err
			}
		case it.ResourceFieldRef != nil:
			val = resourceValue(v.pod, it.ResourceFieldRef)
		}
		out[it.Path] = fileData{[]byte(val), mode(it.Mode, def)}
	}
	return nil
}

// tokenFor returns a bound service-account token for the pod, renewing it when due.
func (v *podVolumes) tokenFor(ctx context.Context, key string, src *corev1.ServiceAccountTokenProjection) (string, error) {
	t := v.tokens[key]
	if t != nil && time.Since(t.issued) < t.lifetime*8/10 && time.Since(t.issued) < 24*time.Hour {
		return t.value, nil
	}
	expiration := int64(3600)
	if src.ExpirationSeconds != nil {
		expiration = *src.ExpirationSeconds
	}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: &expiration,
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: v.pod.Name, UID: v.pod.UID},
	}}
	if src.Audience != "" {
		req.Spec.Audiences = []string{src.Audience}
	}
	sa := v.pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	res, err := v.n.client.CoreV1().ServiceAccounts(v.pod.Namespace).CreateToken(ctx, sa, req, metav1.CreateOptions{})
	if err != nil {
		if t != nil {
			return t.value, nil // keep serving the old one until it works again
		}
		return "", fmt.Errorf("failed to fetch token: %v", err)
	}
	v.tokens[key] = &token{value: res.Status.Token, issued: time.Now(), lifetime: time.Duration(expiration) * time.Second}
	return res.Status.Token, nil
}

func (v *podVolumes) render(ctx context.Context, vol *corev1.Volume) (map[string]fileData, error) {
	out := map[string]fileData{}
	switch {
	case vol.ConfigMap != nil:
		s := vol.ConfigMap
		return out, v.configMapFiles(ctx, s.Name, s.Items, s.DefaultMode, s.Optional, out)
	case vol.Secret != nil:
		s := vol.Secret
		return out, v.secretFiles(ctx, s.SecretName, s.Items, s.DefaultMode, s.Optional, out)
	case vol.DownwardAPI != nil:
		return out, v.downwardFiles(vol.DownwardAPI.Items, vol.DownwardAPI.DefaultMode, out)
	case vol.Projected != nil:
		def := vol.Projected.DefaultMode
		for _, src := range vol.Projected.Sources {
			var err error
			switch {
			case src.ConfigMap != nil:
				err = v.configMapFiles(ctx, src.ConfigMap.Name, src.ConfigMap.Items, def, src.ConfigMap.Optional, out)
			case src.Secret != nil:
				err = v.secretFiles(ctx, src.Secret.Name, src.Secret.Items, def, src.Secret.Optional, out)
			case src.DownwardAPI != nil:
				err = v.downwardFiles(src.DownwardAPI.Items, def, out)
			case src.ServiceAccountToken != nil:
				var tok string
				tok, err = v.tokenFor(ctx, vol.Name+"/"+src.ServiceAccountToken.Path, src.ServiceAccountToken)
				out[src.ServiceAccountToken.Path] = fileData{[]byte(tok), mode(nil, def)}
			default:
				err = fmt.Errorf("projected source not supported by this kubelet (clusterTrustBundle, podCertificate)")
			}
			if err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// write swaps the volume's content in atomically when it differs from what is there.
func (v *podVolumes) write(name, dir string, files map[string]fileData) error {
	h := sha256.New()
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		fmt.Fprintf(h, "%s\x00%o\x00%d\x00", p, files[p].mode, len(files[p].data))
		h.Write(files[p].data)
	}
	digest := fmt.Sprintf("%x", h.Sum(nil))
	if v.digest[name] == digest {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	ts := filepath.Join(dir, ".."+time.Now().UTC().Format("2006_01_02_15_04_05.")+strconv.FormatInt(time.Now().UnixNano()%1e9, 10))
	if err := os.MkdirAll(ts, 0o755); err != nil {
		return err
	}
	tops := map[string]bool{}
	for _, p := range paths {
		full := filepath.Join(ts, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, files[p].data, files[p].mode); err != nil {
			return err
		}
		if err := os.Chmod(full, files[p].mode); err != nil {
			return err
		}
		tops[strings.SplitN(p, "/", 2)[0]] = true
	}
	old, _ := os.Readlink(filepath.Join(dir, "..data"))
	tmp := filepath.Join(dir, "..data_tmp")
	os.Remove(tmp)
	if err := os.Symlink(filepath.Base(ts), tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		return err
	}
	for top := range tops {
		link := filepath.Join(dir, top)
		if _, err := os.Lstat(link); os.IsNotExist(err) {
			if err := os.Symlink(filepath.Join("..data", top), link); err != nil {
				return err
			}
		}
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "..") || tops[e.Name()] {
			continue
		}
		if target, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && strings.HasPrefix(target, "..data/") {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
	if old != "" && old != filepath.Base(ts) {
		os.RemoveAll(filepath.Join(dir, old))
	}
	v.digest[name] = digest
	return nil
}
