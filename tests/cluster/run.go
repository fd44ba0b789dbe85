package main

// The supervisor: PKI, embedded etcd, the three components as child processes, readiness,
// timings, and an orderly shutdown on SIGTERM/SIGINT or when a component dies.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

const (
	defaultReadyTimeout = 180 * time.Second
	// stopGrace is how long a component gets between SIGTERM and SIGKILL.
	stopGrace = 20 * time.Second
	// serviceCIDR only numbers Services; no traffic is ever sent to it (there is no kube-proxy).
	serviceCIDR   = "10.96.0.0/16"
	serviceIssuer = "https://kubernetes.default.svc.cluster.local"
)

// controllers are the kube-controller-manager controllers this cluster runs: the ones esk8s
// meets, and those the apiserver's defaults rely on (protection finalizers, role aggregation).
var controllers = []string{
	"statefulset-controller",
	"endpointslice-controller",
	"disruption-controller",
	"garbage-collector-controller",
	"namespace-controller",
	"serviceaccount-controller",
	"serviceaccount-token-controller",
	"root-ca-certificate-publisher-controller",
	"pod-garbage-collector-controller",
	"persistentvolume-binder-controller",
	"persistentvolumeclaim-protection-controller",
	"persistentvolume-protection-controller",
	"clusterrole-aggregation-controller",
	"deployment-controller",
	"replicaset-controller",
	"node-lifecycle-controller",
	"taint-eviction-controller",
	"certificatesigningrequest-signing-controller",
	"certificatesigningrequest-approving-controller",
	"certificatesigningrequest-cleaner-controller",
}

type options struct {
	stateDir     string
	deleteState  bool
	users        []user
	verbosity    int
	fsync        bool
	readyTimeout time.Duration
	extraArgs    struct{ apiserver, controllerManager, scheduler []string }
	kubelet      kubeletOptions
	csrSigner    csrSignerOptions
}

// layout names every file the program writes under the state directory.
type layout struct{ dir string }

func (l layout) path(parts ...string) string {
	return filepath.Join(append([]string{l.dir}, parts...)...)
}
func (l layout) pki(name string) string { return l.path("pki", name) }
func (l layout) log(name string) string { return l.path("logs", name+".log") }

// owned are the top-level entries --delete-state removes.
var owned = []string{"etcd", "pki", "logs", "users", "tokens.csv", "kubeconfig", "ca.crt", "kubelet", "volumes", "csr-signer-ca.crt"}

func say(format string, args ...any) { fmt.Printf("esk8s-cluster: "+format+"\n", args...) }

func sayErr(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "esk8s-cluster: "+format+"\n", args...)
}

func run(o options) int {
	start := time.Now()
	dir, err := filepath.Abs(o.stateDir)
	if err != nil {
		sayErr("%v", err)
		return 1
	}
	l := layout{dir}
	for _, d := range []string{dir, l.path("pki"), l.path("logs"), l.path("users")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			sayErr("%v", err)
			return 1
		}
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)

	c := &cluster{o: o, l: l}
	code := c.start(start, sigs)
	c.stop()
	if o.deleteState {
		for _, name := range owned {
			os.RemoveAll(l.path(name))
		}
		os.Remove(dir) // only if nothing else is left in it
	}
	if code == 0 {
		say("stopped")
	}
	return code
}

type cluster struct {
	o          options
	l          layout
	etcd       *embed.Etcd
	components []*component // in start order
	url        string
	nodes      []*node
	stopNodes  context.CancelFunc
	stopSigner context.CancelFunc
}

type ports struct{ etcdClient, etcdPeer, apiserver, controllerManager, scheduler int }

// freePorts holds every listener open until all are chosen, so the five ports differ.
func freePorts() (ports, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var p [5]int
	for i := range p {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return ports{}, err
		}
		ls = append(ls, l)
		p[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports{p[0], p[1], p[2], p[3], p[4]}, nil
}

func (c *cluster) setupPKI(p ports) error {
	l := c.l
	authority, err := loadOrCreateCA(l.path("ca.crt"), l.pki("ca.key"), "esk8s-cluster-ca")
	if err != nil {
		return fmt.Errorf("CA: %w", err)
	}
	// The aggregation layer's front proxy, as kubeadm sets it up: its own CA, and the client
	// certificate the apiserver presents to aggregated API servers. The controller manager and
	// scheduler read this CA (extension-apiserver-authentication) for their delegated auth.
	frontProxy, err := loadOrCreateCA(l.pki("front-proxy-ca.crt"), l.pki("front-proxy-ca.key"), "esk8s-cluster-front-proxy-ca")
	if err != nil {
		return fmt.Errorf("front-proxy CA: %w", err)
	}
	if err := frontProxy.issue(l.pki("front-proxy-client"), leaf{commonName: "front-proxy-client"}); err != nil {
		return fmt.Errorf("certificate front-proxy-client: %w", err)
	}
	loopback := []net.IP{net.ParseIP("127.0.0.1")}
	serviceIP := net.ParseIP("10.96.0.1") // the first address of serviceCIDR: the kubernetes Service
	leaves := map[string]leaf{
		"apiserver": {commonName: "kube-apiserver", server: true, ips: append(loopback, serviceIP), dnsNames: []string{
			"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}},
		"controller-manager-serving": {commonName: "kube-controller-manager", server: true, ips: loopback, dnsNames: []string{"localhost"}},
		"scheduler-serving":          {commonName: "kube-scheduler", server: true, ips: loopback, dnsNames: []string{"localhost"}},
		"controller-manager":         {commonName: "system:kube-controller-manager"},
		"scheduler":                  {commonName: "system:kube-scheduler"},
		// The apiserver's client certificate towards kubelets (logs, exec, port-forward).
		"apiserver-kubelet-client": {commonName: "kube-apiserver-kubelet-client", organization: []string{"system:masters"}},
	}
	for name, lf := range leaves {
		if err := authority.issue(l.pki(name), lf); err != nil {
			return fmt.Errorf("certificate %s: %w", name, err)
		}
	}
	if err := ensureServiceAccountKey(l.pki("sa.key"), l.pki("sa.pub")); err != nil {
		return fmt.Errorf("service-account key: %w", err)
	}

	// Static tokens: admin always, plus --user; a token already in the file is kept.
	issued := readTokenFile(l.path("tokens.csv"))
	users := append([]user{{name: "admin", groups: []string{"system:masters"}}}, c.o.users...)
	seen := map[string]bool{}
	var final []user
	for _, u := range users {
		if seen[u.name] {
			continue
		}
		seen[u.name] = true
		if u.token = issued[u.name]; u.token == "" {
			if u.token, err = randomToken(); err != nil {
				return err
			}
		}
		final = append(final, u)
	}
	if err := writeTokenFile(l.path("tokens.csv"), final); err != nil {
		return err
	}
	c.o.users = final

	url := fmt.Sprintf("https://127.0.0.1:%d", p.apiserver)
	ca := l.path("ca.crt")
	for _, u := range final[1:] {
		if err := writeKubeconfig(l.path("users", u.name+".kubeconfig"), url, ca, u.name, kubeconfigAuth{token: u.token}); err != nil {
			return err
		}
	}
	for _, name := range []string{"controller-manager", "scheduler"} {
		err := writeKubeconfig(l.pki(name+".kubeconfig"), url, ca, "system:kube-"+name,
			kubeconfigAuth{certFile: l.pki(name + ".crt"), keyFile: l.pki(name + ".key")})
		if err != nil {
			return err
		}
	}
	return nil
}

func (c *cluster) startEtcd(p ports) error {
	cfg := embed.NewConfig()
	cfg.Name = "esk8s"
	cfg.Dir = c.l.path("etcd")
	client := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", p.etcdClient)}
	peer := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", p.etcdPeer)}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	cfg.InitialCluster = cfg.Name + "=" + peer.String()
	cfg.Logger = "zap"
	cfg.LogLevel = "warn"
	cfg.LogOutputs = []string{c.l.log("etcd")}
	cfg.UnsafeNoFsync = !c.o.fsync
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return fmt.Errorf("etcd: %w (log: %s)", err, c.l.log("etcd"))
	}
	c.etcd = e
	select {
	case <-e.Server.ReadyNotify():
		return nil
	case err := <-e.Err():
		return fmt.Errorf("etcd: %w", err)
	case <-time.After(60 * time.Second):
		return fmt.Errorf("etcd not ready after 60 s (log: %s)", c.l.log("etcd"))
	}
}

func (c *cluster) apiserverArgs(p ports) []string {
	l := c.l
	v := strconv.Itoa(c.o.verbosity)
	args := []string{
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(p.apiserver),
		"--etcd-servers=" + fmt.Sprintf("http://127.0.0.1:%d", p.etcdClient),
		"--tls-cert-file=" + l.pki("apiserver.crt"),
		"--tls-private-key-file=" + l.pki("apiserver.key"),
		"--cert-dir=" + l.path("pki"),
		"--client-ca-file=" + l.path("ca.crt"),
		"--token-auth-file=" + l.path("tokens.csv"),
		"--authorization-mode=Node,RBAC",
		// The default plugins (NamespaceLifecycle, LimitRanger, ServiceAccount, DefaultStorageClass,
		// ResourceQuota, PodSecurity, Priority, StorageObjectInUseProtection, the webhooks and the
		// policy plugins, ...) plus NodeRestriction, as kubeadm configures it.
		"--enable-admission-plugins=NodeRestriction",
		"--service-account-issuer=" + serviceIssuer,
		"--service-account-key-file=" + l.pki("sa.pub"),
		"--service-account-signing-key-file=" + l.pki("sa.key"),
		"--service-cluster-ip-range=" + serviceCIDR,
		// Endpoints and EndpointSlices refuse loopback addresses, so the "kubernetes" Service
		// gets none: in-cluster clients are given the apiserver's address directly.
		"--endpoint-reconciler-type=none",
		"--kubelet-client-certificate=" + l.pki("apiserver-kubelet-client.crt"),
		"--kubelet-client-key=" + l.pki("apiserver-kubelet-client.key"),
		"--kubelet-preferred-address-types=InternalIP",
		"--requestheader-client-ca-file=" + l.pki("front-proxy-ca.crt"),
		"--requestheader-allowed-names=front-proxy-client",
		"--requestheader-username-headers=X-Remote-User",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--proxy-client-cert-file=" + l.pki("front-proxy-client.crt"),
		"--proxy-client-key-file=" + l.pki("front-proxy-client.key"),
		"--allow-privileged=true",
		"--profiling=false",
		"--v=" + v,
	}
	// A list flag that upstream refuses to see twice: an --apiserver-arg replaces ours (e.g. to add
	// Webhook for a test's authorization webhook).
	for _, a := range c.o.extraArgs.apiserver {
		if strings.HasPrefix(a, "--authorization-mode=") {
			args = slices.DeleteFunc(args, func(s string) bool { return strings.HasPrefix(s, "--authorization-mode=") })
		}
	}
	return append(args, c.o.extraArgs.apiserver...)
}

// componentArgs are the flags the controller manager and the scheduler share: their client
// certificate kubeconfig (also for delegated authentication and authorization of their own HTTPS
// endpoint) and that endpoint on 127.0.0.1 with a serving certificate from the cluster CA.
func (c *cluster) componentArgs(name string, port int) []string {
	l := c.l
	kubeconfig := l.pki(name + ".kubeconfig")
	return []string{
		"--kubeconfig=" + kubeconfig,
		"--authentication-kubeconfig=" + kubeconfig,
		"--authorization-kubeconfig=" + kubeconfig,
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--tls-cert-file=" + l.pki(name+"-serving.crt"),
		"--tls-private-key-file=" + l.pki(name+"-serving.key"),
		"--client-ca-file=" + l.path("ca.crt"),
		// One instance: no lease to wait for, and none left behind to wait out on a restart.
		"--leader-elect=false",
		"--v=" + strconv.Itoa(c.o.verbosity),
	}
}

func (c *cluster) controllerManagerArgs(p ports) []string {
	l := c.l
	args := append(c.componentArgs("controller-manager", p.controllerManager),
		"--root-ca-file="+l.path("ca.crt"),
		"--service-account-private-key-file="+l.pki("sa.key"),
		"--cluster-signing-cert-file="+l.path("ca.crt"),
		"--cluster-signing-key-file="+l.pki("ca.key"),
		"--use-service-account-credentials=true",
		"--controllers="+strings.Join(controllers, ","),
		"--cluster-name=esk8s",
		"--profiling=false",
	)
	return append(args, c.o.extraArgs.controllerManager...)
}

func (c *cluster) schedulerArgs(p ports) []string {
	return append(c.componentArgs("scheduler", p.scheduler), c.o.extraArgs.scheduler...)
}

// component is one child process: this binary run as an upstream command.
type component struct {
	name string
	log  string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error
}

func startComponent(name string, args []string, logPath string) (*component, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	out, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer out.Close()
	cmd := exec.Command(self, append([]string{name}, args...)...)
	cmd.Stdin = nil
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Killed with us if we are killed; our own process group so a terminal's Ctrl-C
		// reaches only us, and we stop the components in order.
		Pdeathsig: syscall.SIGKILL,
		Setpgid:   true,
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	comp := &component{name: name, log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		comp.err = cmd.Wait()
		close(comp.done)
	}()
	return comp, nil
}

func (comp *component) exited() bool {
	select {
	case <-comp.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, then SIGKILL after stopGrace.
func (comp *component) stop() {
	if comp.exited() {
		return
	}
	comp.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-comp.done:
	case <-time.After(stopGrace):
		sayErr("%s did not stop within %s of SIGTERM: SIGKILL", comp.name, stopGrace)
		comp.cmd.Process.Kill()
		<-comp.done
	}
}

// tail returns the last n lines of a log, for error messages.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// healthClient speaks HTTPS to the components, trusting only the cluster CA.
func healthClient(caFile string) (*http.Client, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no certificate", caFile)
	}
	return &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true},
	}, nil
}

var errInterrupted = errors.New("interrupted")

// waitHealthy polls url (GET, with token if set) until it answers 200 or something ends the wait.
func (c *cluster) waitHealthy(ctx context.Context, client *http.Client, url, token string, sigs <-chan os.Signal, watch ...*component) error {
	last := ""
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(body)))
		} else {
			last = err.Error()
		}
		for _, comp := range watch {
			if comp.exited() {
				return fmt.Errorf("%s exited (%v); last lines of %s:\n%s", comp.name, comp.err, comp.log, tail(comp.log, 30))
			}
		}
		select {
		case s := <-sigs:
			sayErr("%v before ready: stopping", s)
			return errInterrupted
		case err := <-c.etcd.Err():
			return fmt.Errorf("etcd: %w", err)
		case <-ctx.Done():
			return fmt.Errorf("%s not healthy (last answer: %s)", url, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// start brings the cluster up, prints the ready line, and serves until a signal or a failure.
// It returns the exit code; stop() runs after it in every case.
func (c *cluster) start(t0 time.Time, sigs <-chan os.Signal) int {
	fail := func(err error) int {
		if errors.Is(err, errInterrupted) {
			return 0
		}
		sayErr("%v", err)
		return 1
	}
	p, err := freePorts()
	if err != nil {
		return fail(err)
	}
	if err := c.setupPKI(p); err != nil {
		return fail(err)
	}
	tPKI := time.Now()

	if err := c.startEtcd(p); err != nil {
		return fail(err)
	}
	tEtcd := time.Now()
	say("etcd ready on 127.0.0.1:%d (%.1fs)", p.etcdClient, tEtcd.Sub(t0).Seconds())

	ctx, cancel := context.WithDeadline(context.Background(), t0.Add(c.o.readyTimeout))
	defer cancel()
	client, err := healthClient(c.l.path("ca.crt"))
	if err != nil {
		return fail(err)
	}
	api, err := startComponent("kube-apiserver", c.apiserverArgs(p), c.l.log("kube-apiserver"))
	if err != nil {
		return fail(err)
	}
	c.components = append(c.components, api)
	c.url = fmt.Sprintf("https://127.0.0.1:%d", p.apiserver)
	admin := c.o.users[0].token
	if err := c.waitHealthy(ctx, client, c.url+"/readyz", admin, sigs, api); err != nil {
		return fail(err)
	}
	tAPI := time.Now()
	say("kube-apiserver ready on %s (%.1fs)", c.url, tAPI.Sub(tEtcd).Seconds())

	kcm, err := startComponent("kube-controller-manager", c.controllerManagerArgs(p), c.l.log("kube-controller-manager"))
	if err != nil {
		return fail(err)
	}
	c.components = append(c.components, kcm)
	sched, err := startComponent("kube-scheduler", c.schedulerArgs(p), c.l.log("kube-scheduler"))
	if err != nil {
		return fail(err)
	}
	c.components = append(c.components, sched)
	all := []*component{api, kcm, sched}
	if err := c.waitHealthy(ctx, client, fmt.Sprintf("https://127.0.0.1:%d/healthz", p.controllerManager), "", sigs, all...); err != nil {
		return fail(err)
	}
	if err := c.waitHealthy(ctx, client, fmt.Sprintf("https://127.0.0.1:%d/readyz", p.scheduler), "", sigs, all...); err != nil {
		return fail(err)
	}
	tCtl := time.Now()

	if err := writeKubeconfig(c.l.path("kubeconfig"), c.url, c.l.path("ca.crt"), "admin", kubeconfigAuth{token: admin}); err != nil {
		return fail(err)
	}
	if c.o.csrSigner.name != "" {
		if err := c.startCSRSigner(ctx, admin); err != nil {
			return fail(err)
		}
	}
	if c.o.kubelet.nodes > 0 {
		if err := c.startWorkers(ctx, p, admin); err != nil {
			return fail(err)
		}
	}
	tNodes := time.Now()
	say("started in %.1fs (PKI %.1fs, etcd %.1fs, kube-apiserver %.1fs, controller manager and scheduler %.1fs, %d nodes %.1fs); kubeconfig %s",
		time.Since(t0).Seconds(), tPKI.Sub(t0).Seconds(), tEtcd.Sub(tPKI).Seconds(), tAPI.Sub(tEtcd).Seconds(),
		tCtl.Sub(tAPI).Seconds(), len(c.nodes), tNodes.Sub(tCtl).Seconds(), c.l.path("kubeconfig"))
	say("ready %s", c.url)

	for {
		select {
		case s := <-sigs:
			say("%v: stopping", s)
			return 0
		case err := <-c.etcd.Err():
			return fail(fmt.Errorf("etcd: %w", err))
		case <-api.done:
			return fail(fmt.Errorf("kube-apiserver exited (%v); last lines of %s:\n%s", api.err, api.log, tail(api.log, 30)))
		case <-kcm.done:
			return fail(fmt.Errorf("kube-controller-manager exited (%v); last lines of %s:\n%s", kcm.err, kcm.log, tail(kcm.log, 30)))
		case <-sched.done:
			return fail(fmt.Errorf("kube-scheduler exited (%v); last lines of %s:\n%s", sched.err, sched.log, tail(sched.log, 30)))
		}
	}
}

// stop stops the components in reverse start order (the clients of the apiserver first), then
// etcd. Every child is gone when it returns.
func (c *cluster) stop() {
	t := time.Now()
	if len(c.nodes) > 0 {
		stopNodes(c.nodes)
		say("pods stopped in %.1fs", time.Since(t).Seconds())
	}
	if c.stopNodes != nil {
		c.stopNodes()
	}
	if c.stopSigner != nil {
		c.stopSigner()
	}
	var clients []*component
	for _, comp := range c.components {
		if comp.name != "kube-apiserver" {
			clients = append(clients, comp)
		}
	}
	done := make(chan struct{})
	for _, comp := range clients {
		go func() { comp.stop(); done <- struct{}{} }()
	}
	for range clients {
		<-done
	}
	for _, comp := range c.components {
		if comp.name == "kube-apiserver" {
			comp.stop()
		}
	}
	if c.etcd != nil {
		c.etcd.Close()
	}
	if len(c.components) > 0 {
		say("components and etcd stopped in %.1fs", time.Since(t).Seconds())
	}
}
