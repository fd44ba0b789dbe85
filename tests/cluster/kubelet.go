package main

// The process kubelet: the one part of the cluster written here. Each Node is a goroutine group
// in the supervisor that authenticates as system:node:NAME (so the Node authorizer and the
// NodeRestriction admission plugin apply to it as to a real kubelet), registers its Node, renews
// its Lease, watches the pods bound to it and runs each as host processes (pod.go), with
// volumes (volumes.go), probes (probes.go), and the kubelet API the apiserver proxies
// `kubectl logs` to (kubeletapi.go). docs/CLUSTER.md says what it does and does not do.

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
)

const (
	kubeletPort      = 10250
	kubeletVersion   = "v1.37.2"
	leaseDuration    = 40 // seconds, as the kubelet's nodeLeaseDurationSeconds
	leaseRenewPeriod = 10 * time.Second
	// nodeStatusReportFrequency: the kubelet reports an unchanged status every 5 minutes; we do
	// every minute (the Lease is the heartbeat).
	nodeStatusPeriod = time.Minute
)

// kubeletOptions are the flags that shape the nodes and their pods.
type kubeletOptions struct {
	nodes        int
	podNetwork   netip.Prefix  // node and pod addresses; must be local (see netns-run)
	backoffScale float64       // multiplies CrashLoopBackOff's 10 s .. 5 min
	volumeSync   time.Duration // how often configMap/secret/projected volumes are refreshed
	podPath      []string      // directories searched first for a container's command
}

// nodeIP is node k's InternalIP: the network's .0.k.
func nodeIP(network netip.Prefix, k int) netip.Addr {
	b := network.Addr().As4()
	b[2], b[3] = 0, byte(k)
	return netip.AddrFrom4(b)
}

func nodeName(k int) string { return "node-" + strconv.Itoa(k) }

// zoneOf spreads nodes over three zones, so topology spread constraints mean something.
func zoneOf(k int) string { return "zone-" + string(rune('a'+(k-1)%3)) }

// checkPodNetwork fails unless addresses of the pod network can be bound here.
func checkPodNetwork(network netip.Prefix) error {
	addr := nodeIP(network, 1)
	l, err := net.Listen("tcp", net.JoinHostPort(addr.String(), "0"))
	if err != nil {
		return fmt.Errorf("pod network %s is not local here (%v): Kubernetes refuses loopback "+
			"addresses in EndpointSlices, so pods get addresses of %s, which must be local routes. "+
			"Run inside the network namespace that tests/cluster/netns-run creates "+
			"(tests/cluster/netns-run build/cluster/esk8s-cluster --state-dir DIR), or pass --nodes 0",
			network, err, network)
	}
	l.Close()
	return nil
}

// ipAllocator hands out pod addresses that are never reused while the state directory lives
// (a recreated pod comes back with a new IP, as on a real cluster).
type ipAllocator struct {
	mu      sync.Mutex
	network netip.Prefix
	file    string
	next    uint32
}

func newIPAllocator(network netip.Prefix, file string) *ipAllocator {
	a := &ipAllocator{network: network, file: file, next: 256} // .0.x are the nodes
	if data, err := os.ReadFile(file); err == nil {
		if n, err := strconv.ParseUint(string(data), 10, 32); err == nil && n > 256 {
			a.next = uint32(n)
		}
	}
	return a
}

func (a *ipAllocator) allocate() (netip.Addr, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	size := uint32(1) << (32 - a.network.Bits())
	for {
		n := a.next
		a.next++
		if n >= size {
			return netip.Addr{}, fmt.Errorf("pod network %s exhausted", a.network)
		}
		if n&0xff == 0 || n&0xff == 0xff {
			continue
		}
		b := a.network.Addr().As4()
		base := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		v := base + n
		_ = os.WriteFile(a.file, []byte(strconv.FormatUint(uint64(a.next), 10)), 0o600)
		return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), nil
	}
}

// node is one kubelet.
type node struct {
	name     string
	zone     string
	ip       netip.Addr
	dir      string // DIR/kubelet/NAME
	opts     kubeletOptions
	client   kubernetes.Interface
	apiHost  string
	apiPort  string
	ips      *ipAllocator
	recorder record.EventRecorder
	events   record.EventBroadcaster
	logf     func(format string, args ...any)

	mu   sync.Mutex
	pods map[types.UID]*podWorker
}

// startNodes registers every node and starts its loops; it returns once all are Ready.
func (c *cluster) startNodes(ctx context.Context, apiPort int) ([]*node, error) {
	o := c.o.kubelet
	if err := checkPodNetwork(o.podNetwork); err != nil {
		return nil, err
	}
	authority, err := loadOrCreateCA(c.l.path("ca.crt"), c.l.pki("ca.key"), "esk8s-cluster-ca")
	if err != nil {
		return nil, err
	}
	ips := newIPAllocator(o.podNetwork, c.l.path("kubelet", "next-pod-ip"))
	var nodes []*node
	for k := 1; k <= o.nodes; k++ {
		n := &node{name: nodeName(k), zone: zoneOf(k), ip: nodeIP(o.podNetwork, k), opts: o,
			dir: c.l.path("kubelet", nodeName(k)), apiHost: "127.0.0.1", apiPort: strconv.Itoa(apiPort),
			ips: ips, pods: map[types.UID]*podWorker{}}
		if err := os.MkdirAll(n.dir, 0o700); err != nil {
			return nil, err
		}
		logPath := c.l.log("kubelet-" + n.name)
		lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, err
		}
		var logMu sync.Mutex
		n.logf = func(format string, args ...any) {
			logMu.Lock()
			defer logMu.Unlock()
			fmt.Fprintf(lf, "%s %s\n", time.Now().UTC().Format("2006-01-02T15:04:05.000Z"), fmt.Sprintf(format, args...))
		}
		// Client and serving certificates from the cluster CA, as TLS bootstrapping would give.
		base := c.l.pki("kubelet-" + n.name)
		if err := authority.issue(base, leaf{commonName: "system:node:" + n.name, organization: []string{"system:nodes"}}); err != nil {
			return nil, err
		}
		if err := authority.issue(base+"-serving", leaf{commonName: "system:node:" + n.name, server: true,
			ips: []net.IP{net.IP(n.ip.AsSlice())}, dnsNames: []string{n.name}}); err != nil {
			return nil, err
		}
		cfg := &rest.Config{Host: c.url, QPS: 50, Burst: 100, UserAgent: "esk8s-kubelet/" + n.name,
			TLSClientConfig: rest.TLSClientConfig{CAFile: c.l.path("ca.crt"), CertFile: base + ".crt", KeyFile: base + ".key"}}
		if n.client, err = kubernetes.NewForConfig(cfg); err != nil {
			return nil, err
		}
		n.events = record.NewBroadcaster()
		n.events.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: n.client.CoreV1().Events("")})
		n.recorder = n.events.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: n.name})
		if err := n.register(ctx); err != nil {
			return nil, fmt.Errorf("node %s: %w", n.name, err)
		}
		if err := n.serveAPI(c.l.path("ca.crt"), base+"-serving.crt", base+"-serving.key"); err != nil {
			return nil, fmt.Errorf("node %s kubelet API: %w", n.name, err)
		}
		go n.heartbeat(ctx)
		n.watchPods(ctx)
		nodes = append(nodes, n)
	}
	return nodes, nil
}

// stopNodes terminates every pod (SIGTERM, then SIGKILL after 5 s: the cluster is going away,
// so grace periods are not waited out) and returns when their processes are gone.
func stopNodes(nodes []*node) {
	var wg sync.WaitGroup
	for _, n := range nodes {
		n.mu.Lock()
		for _, w := range n.pods {
			wg.Add(1)
			go func() { defer wg.Done(); w.shutdown(5 * time.Second) }()
		}
		n.mu.Unlock()
	}
	wg.Wait()
	for _, n := range nodes {
		n.events.Shutdown()
	}
}

func (n *node) nodeObject() *corev1.Node {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse("8"),
		corev1.ResourceMemory:           resource.MustParse("32Gi"),
		corev1.ResourcePods:             resource.MustParse("110"),
		corev1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: n.name, Labels: map[string]string{
			"kubernetes.io/hostname":        n.name,
			"kubernetes.io/os":              "linux",
			"kubernetes.io/arch":            "amd64",
			"topology.kubernetes.io/zone":   n.zone,
			"topology.kubernetes.io/region": "local",
		}},
		Status: corev1.NodeStatus{Capacity: capacity, Allocatable: capacity},
	}
}

func (n *node) status(now metav1.Time) corev1.NodeStatus {
	st := n.nodeObject().Status
	cond := func(t corev1.NodeConditionType, s corev1.ConditionStatus, reason, msg string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: t, Status: s, Reason: reason, Message: msg, LastHeartbeatTime: now, LastTransitionTime: now}
	}
	st.Conditions = []corev1.NodeCondition{
		cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
		cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
		cond(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
		cond(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "esk8s process kubelet is posting ready status"),
	}
	st.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: n.ip.String()}, {Type: corev1.NodeHostName, Address: n.name}}
	st.DaemonEndpoints.KubeletEndpoint.Port = kubeletPort
	st.NodeInfo = corev1.NodeSystemInfo{KubeletVersion: kubeletVersion, OperatingSystem: "linux", Architecture: "amd64",
		ContainerRuntimeVersion: "esk8s-process://1", OSImage: "host processes (esk8s-cluster)", KernelVersion: "host"}
	return st
}

// register creates the Node (or takes over the one a previous run left) and marks it Ready.
func (n *node) register(ctx context.Context) error {
	obj := n.nodeObject()
	created, err := n.client.CoreV1().Nodes().Create(ctx, obj, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		created, err = n.client.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{})
	}
	if err != nil {
		return err
	}
	return n.postStatus(ctx, created)
}

func (n *node) postStatus(ctx context.Context, current *corev1.Node) error {
	now := metav1.Now()
	st := n.status(now)
	// Keep transition times of conditions that did not change.
	for i, c := range st.Conditions {
		for _, old := range current.Status.Conditions {
			if old.Type == c.Type && old.Status == c.Status {
				st.Conditions[i].LastTransitionTime = old.LastTransitionTime
			}
		}
	}
	current = current.DeepCopy()
	current.Status = st
	_, err := n.client.CoreV1().Nodes().UpdateStatus(ctx, current, metav1.UpdateOptions{})
	return err
}

// heartbeat renews the node Lease every 10 s and posts the Node status every minute.
func (n *node) heartbeat(ctx context.Context) {
	leases := n.client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	lastStatus := time.Now()
	for {
		now := metav1.NewMicroTime(time.Now())
		lease, err := leases.Get(ctx, n.name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			holder, duration := n.name, int32(leaseDuration)
			lease = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: n.name, Namespace: corev1.NamespaceNodeLease},
				Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &duration, RenewTime: &now}}
			if nd, err := n.client.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{}); err == nil {
				lease.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: n.name, UID: nd.UID}}
			}
			_, err = leases.Create(ctx, lease, metav1.CreateOptions{})
			if err != nil && ctx.Err() == nil {
				n.logf("lease create: %v", err)
			}
		} else if err == nil {
			lease.Spec.RenewTime = &now
			if _, err := leases.Update(ctx, lease, metav1.UpdateOptions{}); err != nil && ctx.Err() == nil {
				n.logf("lease renew: %v", err)
			}
		} else if ctx.Err() == nil {
			n.logf("lease get: %v", err)
		}
		if time.Since(lastStatus) >= nodeStatusPeriod {
			if cur, err := n.client.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{}); err == nil {
				if err := n.postStatus(ctx, cur); err != nil && ctx.Err() == nil {
					n.logf("node status: %v", err)
				}
				lastStatus = time.Now()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(leaseRenewPeriod):
		}
	}
}

// watchPods runs a pod worker for every pod bound to this node.
func (n *node) watchPods(ctx context.Context) {
	factory := informers.NewSharedInformerFactoryWithOptions(n.client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = "spec.nodeName=" + n.name }))
	inf := factory.Core().V1().Pods().Informer()
	handle := func(obj any) {
		pod, ok := obj.(*corev1.Pod)
		if !ok {
			return
		}
		n.mu.Lock()
		w := n.pods[pod.UID]
		if w == nil {
			if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
				if pod.DeletionTimestamp != nil {
					go n.finalDelete(ctx, pod)
				}
				n.mu.Unlock()
				return
			}
			w = newPodWorker(n, pod)
			n.pods[pod.UID] = w
			go func() {
				w.run(ctx)
				n.mu.Lock()
				delete(n.pods, pod.UID)
				n.mu.Unlock()
			}()
		}
		n.mu.Unlock()
		w.update(pod)
	}
	inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    handle,
		UpdateFunc: func(_, obj any) { handle(obj) },
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if pod, ok := obj.(*corev1.Pod); ok {
				n.mu.Lock()
				w := n.pods[pod.UID]
				n.mu.Unlock()
				if w != nil {
					w.removed()
				}
			}
		},
	})
	factory.Start(ctx.Done())
}

// finalDelete removes a terminated pod object once its deletion was requested.
func (n *node) finalDelete(ctx context.Context, pod *corev1.Pod) {
	zero := int64(0)
	uid := pod.UID
	err := n.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name,
		metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) && ctx.Err() == nil {
		n.logf("delete pod %s/%s: %v", pod.Namespace, pod.Name, err)
	}
}

// podDir is where a pod's volumes and logs live.
func (n *node) podDir(pod *corev1.Pod) string {
	return filepath.Join(n.dir, "pods", pod.Namespace+"_"+pod.Name+"_"+string(pod.UID))
}
