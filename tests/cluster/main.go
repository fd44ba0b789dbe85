// esk8s-cluster runs a real Kubernetes control plane on 127.0.0.1 for esk8s's tests and demo:
// etcd embedded in this process, and kube-apiserver, kube-controller-manager and kube-scheduler
// from k8s.io/kubernetes, each run as a child process of this same binary
// (`esk8s-cluster kube-apiserver ...` is the upstream command with its upstream flags).
//
//	esk8s-cluster --state-dir DIR      # prints "esk8s-cluster: ready https://127.0.0.1:PORT"
//	kubectl --kubeconfig DIR/kubeconfig get --raw /readyz
//
// Only the kubelet is ours (kubelet.go): it registers --nodes Nodes and runs their pods as host
// processes with addresses of --pod-network, which must be local (tests/cluster/netns-run).
// See docs/CLUSTER.md.
package main

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/component-base/cli"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
)

const usage = `esk8s-cluster: a real Kubernetes control plane on 127.0.0.1 for esk8s's tests.

  esk8s-cluster --state-dir DIR [flags]

etcd (embedded), kube-apiserver, kube-controller-manager and kube-scheduler v1.37 start on free
ports of 127.0.0.1; then the process kubelet registers --nodes Nodes (10.244.0.N) and runs the
pods bound to them as local processes (addresses 10.244.x.y: run inside the network namespace
of tests/cluster/netns-run). When the API answers /readyz, the controller manager and scheduler
are healthy and the nodes are Ready, it writes DIR/kubeconfig (admin, system:masters) and prints

  esk8s-cluster: ready https://127.0.0.1:PORT

SIGTERM or SIGINT stops the components (scheduler and controller manager, then the apiserver,
then etcd) and exits 0. DIR keeps etcd's data, the CA and keys, and the tokens, so a second run
on the same DIR finds the objects again (unless --delete-state). Component logs: DIR/logs/.

The upstream commands are in this binary too, with their own --help:
  esk8s-cluster kube-apiserver|kube-controller-manager|kube-scheduler [upstream flags]

Flags:
`

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "kube-apiserver":
			cmd := apiserver.NewAPIServerCommand()
			cmd.SetArgs(os.Args[2:])
			os.Exit(cli.Run(cmd))
		case "kube-controller-manager":
			cmd := controllermanager.NewControllerManagerCommand()
			cmd.SetArgs(os.Args[2:])
			os.Exit(cli.Run(cmd))
		case "kube-scheduler":
			cmd := scheduler.NewSchedulerCommand()
			cmd.SetArgs(os.Args[2:])
			os.Exit(cli.Run(cmd))
		}
	}

	var o options
	fs := flag.NewFlagSet("esk8s-cluster", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.stateDir, "state-dir", "", "directory for etcd's data, the CA, keys, tokens, kubeconfigs and logs (required)")
	fs.BoolVar(&o.deleteState, "delete-state", false, "on exit, delete what this program wrote in the state directory (etcd data, PKI, tokens, kubeconfigs, logs)")
	fs.Func("user", "NAME[:GROUP,GROUP...]: a static-token user (kube-apiserver --token-auth-file); writes DIR/users/NAME.kubeconfig; repeatable", func(s string) error {
		u, err := parseUser(s)
		if err == nil {
			o.users = append(o.users, u)
		}
		return err
	})
	fs.IntVar(&o.verbosity, "v", 1, "log verbosity of the components (their --v)")
	fs.BoolVar(&o.fsync, "etcd-fsync", false, "let etcd fsync its WAL and database (off by default: a test cluster trades durability on power loss for speed)")
	fs.DurationVar(&o.readyTimeout, "ready-timeout", defaultReadyTimeout, "give up when the control plane is not ready after this long")
	fs.Func("apiserver-arg", "an extra kube-apiserver flag, e.g. --apiserver-arg=--max-requests-inflight=10; repeatable", func(s string) error {
		o.extraArgs.apiserver = append(o.extraArgs.apiserver, s)
		return nil
	})
	fs.Func("controller-manager-arg", "an extra kube-controller-manager flag; repeatable", func(s string) error {
		o.extraArgs.controllerManager = append(o.extraArgs.controllerManager, s)
		return nil
	})
	fs.Func("scheduler-arg", "an extra kube-scheduler flag; repeatable", func(s string) error {
		o.extraArgs.scheduler = append(o.extraArgs.scheduler, s)
		return nil
	})
	fs.IntVar(&o.kubelet.nodes, "nodes", 3, "how many Nodes the process kubelet registers and runs pods on (0: none, pods stay Pending)")
	o.kubelet.podNetwork = netip.MustParsePrefix("10.244.0.0/16")
	fs.Func("pod-network", "the /16 that node (.0.N) and pod addresses come from; must be local routes, as tests/cluster/netns-run sets up (default 10.244.0.0/16)", func(s string) error {
		p, err := netip.ParsePrefix(s)
		if err != nil || !p.Addr().Is4() || p.Bits() != 16 || p.Masked() != p {
			return fmt.Errorf("want an IPv4 /16 such as 10.244.0.0/16, got %q", s)
		}
		o.kubelet.podNetwork = p
		return nil
	})
	fs.Float64Var(&o.kubelet.backoffScale, "crashloop-backoff-scale", 1, "multiplies CrashLoopBackOff's delays (10 s doubling to 5 min, reset after 10 min of running); e.g. 0.1 for tests")
	fs.DurationVar(&o.kubelet.volumeSync, "volume-sync-period", 5*time.Second, "how often configMap, secret, downwardAPI and projected volumes are re-read and updated in running pods")
	fs.Func("pod-path", "a directory searched first for container commands; repeatable", func(s string) error {
		abs, err := filepath.Abs(s)
		if err == nil {
			o.kubelet.podPath = append(o.kubelet.podPath, abs)
		}
		return err
	})
	fs.StringVar(&o.csrSigner.name, "csr-signer", "", "a custom CertificateSigningRequest signerName (e.g. esk8s.io/node) this cluster approves and signs with a CA of its own, DIR/csr-signer-ca.crt (csrsigner.go; off by default)")
	fs.BoolVar(&o.csrSigner.approve, "csr-signer-approve", true, "with --csr-signer: approve requests for the requesting pod's own names and deny others; false: sign only what someone approved (kubectl certificate approve)")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if err == flag.ErrHelp {
			os.Exit(0)
		}
		os.Exit(2)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "esk8s-cluster: unexpected argument %q (see --help)\n", fs.Arg(0))
		os.Exit(2)
	}
	if o.kubelet.nodes < 0 || o.kubelet.nodes > 250 {
		fmt.Fprintf(os.Stderr, "esk8s-cluster: --nodes %d: want 0 to 250\n", o.kubelet.nodes)
		os.Exit(2)
	}
	if o.kubelet.backoffScale <= 0 || o.kubelet.volumeSync <= 0 {
		fmt.Fprintln(os.Stderr, "esk8s-cluster: --crashloop-backoff-scale and --volume-sync-period must be positive")
		os.Exit(2)
	}
	if o.csrSigner.name != "" {
		if err := validSignerName(o.csrSigner.name); err != nil {
			fmt.Fprintln(os.Stderr, "esk8s-cluster:", err)
			os.Exit(2)
		}
	}
	if strings.TrimSpace(o.stateDir) == "" {
		fmt.Fprintln(os.Stderr, "esk8s-cluster: --state-dir is required (see --help)")
		os.Exit(2)
	}
	os.Exit(run(o))
}
