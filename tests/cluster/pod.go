package main

// A pod worker: one goroutine that owns one pod's processes and status. Everything that happens
// to the pod (a new version of the object, a process exit, a probe result, a back-off timer, a
// volume refresh, the end of a termination) arrives as a message on its loop, so the state has
// one writer; blocking work (hooks, grace periods, API writes) runs in helper goroutines.

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	backoffInitial = 10 * time.Second
	backoffMax     = 5 * time.Minute
	// A container that ran this long without failing starts over at the initial back-off.
	backoffReset = 10 * time.Minute
	// configRetry is how often a pod that cannot start (missing Secret, unbound claim, ...) retries.
	configRetry = 2 * time.Second
	// minGraceAfterHook is the least time SIGTERM gets before SIGKILL, even when preStop used the
	// whole grace period, as the kubelet grants (its minimumGracePeriodInSeconds).
	minGraceAfterHook = 2 * time.Second
)

type containerPhase int

const (
	waiting containerPhase = iota
	running
	terminated
)

type container struct {
	spec     corev1.Container
	phase    containerPhase
	reason   string // waiting reason
	message  string
	process  *os.Process
	started  time.Time
	term     *corev1.ContainerStateTerminated // the current state when terminated
	last     corev1.ContainerState
	restarts int32
	// startupDone: the startup probe succeeded (or there is none) for the current process.
	startupDone bool
	ready       bool
	killing     bool // a kill is in progress for the current process
	probeCancel context.CancelFunc
	backoff     time.Duration // the next restart's delay; 0 before the first failure
	restartAt   time.Time
	env         []string
	remap       func(string) string
	generation  int // counts processes, so stale exit and probe messages are dropped
}

type exitMsg struct {
	idx, generation int
	state           *os.ProcessState
	err             error
}

type probeMsg struct {
	idx, generation int
	kind            string // "startup", "liveness", "readiness"
	ok              bool
	output          string
}

type podWorker struct {
	n       *node
	pod     *corev1.Pod // latest object
	updates chan *corev1.Pod
	exits   chan exitMsg
	probes  chan probeMsg
	gone    chan struct{} // the object was removed from the API
	stop    chan time.Duration
	quit    chan struct{} // closed when the loop ends: senders stop waiting

	ns, name        string // immutable copies for other goroutines (the kubelet API)
	dir             string
	ip              netip.Addr
	volumes         *podVolumes
	containers      []*container
	sandbox         bool // IP and volumes set up
	setupErr        string
	terminating     bool
	finalStatusSent bool
	statusCh        chan corev1.PodStatus
	statusDone      chan struct{}
	startTime       metav1.Time
	conditions      map[corev1.PodConditionType]corev1.PodCondition
}

func newPodWorker(n *node, pod *corev1.Pod) *podWorker {
	w := &podWorker{n: n, pod: pod, updates: make(chan *corev1.Pod, 1), exits: make(chan exitMsg, 8),
		probes: make(chan probeMsg, 32), gone: make(chan struct{}), stop: make(chan time.Duration, 1),
		quit: make(chan struct{}), ns: pod.Namespace, name: pod.Name, dir: n.podDir(pod), statusCh: make(chan corev1.PodStatus, 1),
		statusDone: make(chan struct{}), conditions: map[corev1.PodConditionType]corev1.PodCondition{}}
	for _, c := range pod.Spec.Containers {
		w.containers = append(w.containers, &container{spec: c, reason: "ContainerCreating"})
	}
	return w
}

// update hands the loop the newest version of the pod (older unread ones are dropped).
func (w *podWorker) update(pod *corev1.Pod) {
	for {
		select {
		case w.updates <- pod:
			return
		default:
			select {
			case <-w.updates:
			default:
			}
		}
	}
}

func (w *podWorker) removed() {
	select {
	case <-w.gone:
	default:
		close(w.gone)
	}
}

// shutdown terminates the pod because the cluster stops, and waits for its processes.
func (w *podWorker) shutdown(grace time.Duration) {
	select {
	case w.stop <- grace:
	default:
	}
	<-w.statusDone
}

func (w *podWorker) key() string { return w.pod.Namespace + "/" + w.pod.Name }

func (w *podWorker) run(ctx context.Context) {
	go w.pushStatus(ctx, w.gone)
	defer func() {
		close(w.quit)
		close(w.statusCh)
		os.RemoveAll(filepath.Join(w.dir, "volumes"))
	}()
	retry := time.NewTimer(0)
	sync := time.NewTicker(w.n.opts.volumeSync)
	defer sync.Stop()
	var timer <-chan time.Time = retry.C
	removed := false
	for {
		if w.terminating && w.allStopped() && !w.finalStatusSent {
			w.finalStatusSent = true
			st := w.status()
			w.sendStatus(st)
			if !removed {
				w.n.finalDelete(ctx, w.pod)
			}
			return
		}
		select {
		case <-ctx.Done():
			w.killAll(2*time.Second, false)
			w.waitKilled()
			return
		case grace := <-w.stop:
			w.terminating = true
			w.killAll(grace, false) // the cluster goes away: no hooks
			w.waitKilled()
			return
		case pod := <-w.updates:
			w.pod = pod
			if pod.DeletionTimestamp != nil && !w.terminating {
				grace := int64(30)
				if pod.DeletionGracePeriodSeconds != nil {
					grace = *pod.DeletionGracePeriodSeconds
				}
				// As the kubelet's pod workers (calculateEffectiveGracePeriod): never less than
				// 1 s, so a forced delete (grace 0) still gives preStop up to 1 s.
				grace = max(grace, 1)
				w.terminate(time.Duration(grace)*time.Second, true)
			}
		case <-w.gone:
			w.gone = nil
			removed = true
			if !w.terminating {
				// Removed without a deletion we saw (a forced delete is normally seen first as an
				// update with grace 0): stop it as the kubelet does, with its minimum of 1 s.
				w.terminate(time.Second, true)
			}
			w.finalStatusSent = w.allStopped()
			if w.finalStatusSent {
				return
			}
		case <-timer:
			timer = nil
			if next := w.tick(ctx); !next.IsZero() {
				retry.Reset(time.Until(next))
				timer = retry.C
			}
		case <-sync.C:
			if w.sandbox && !w.terminating {
				w.volumes.sync(ctx)
			}
		case m := <-w.exits:
			w.onExit(m)
			retry.Reset(0)
			timer = retry.C
		case m := <-w.probes:
			w.onProbe(m)
		}
		w.sendStatus(w.status())
	}
}

func (w *podWorker) allStopped() bool {
	for _, c := range w.containers {
		if c.phase == running || c.killing {
			return false
		}
	}
	return true
}

// tick does what is due: set up the sandbox, start containers whose back-off ended. It returns
// when it wants to run again (zero: not on a timer).
func (w *podWorker) tick(ctx context.Context) time.Time {
	if w.terminating {
		return time.Time{}
	}
	if !w.sandbox {
		if err := w.setupSandbox(ctx); err != nil {
			if w.setupErr != err.Error() {
				w.n.recorder.Event(w.pod, corev1.EventTypeWarning, "FailedMount", err.Error())
				w.n.logf("pod %s: %v", w.key(), err)
			}
			w.setupErr = err.Error()
			return time.Now().Add(configRetry)
		}
		w.sandbox = true
	}
	var next time.Time
	for i, c := range w.containers {
		if c.phase == running {
			continue
		}
		if c.phase == terminated && !w.shouldRestart(c) {
			continue
		}
		if now := time.Now(); now.Before(c.restartAt) {
			if next.IsZero() || c.restartAt.Before(next) {
				next = c.restartAt
			}
			continue
		}
		if err := w.start(ctx, i); err != nil {
			c.phase, c.reason, c.message = waiting, "CreateContainerConfigError", err.Error()
			w.n.recorder.Eventf(w.pod, corev1.EventTypeWarning, "Failed", "Error: %v", err)
			t := time.Now().Add(configRetry)
			if next.IsZero() || t.Before(next) {
				next = t
			}
		} else if c.phase != running && w.shouldRestart(c) && (next.IsZero() || c.restartAt.Before(next)) {
			next = c.restartAt // it could not start: back-off
		}
	}
	return next
}

func (w *podWorker) shouldRestart(c *container) bool {
	switch w.pod.Spec.RestartPolicy {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return c.term == nil || c.term.ExitCode != 0
	default:
		return true
	}
}

func (w *podWorker) setupSandbox(ctx context.Context) error {
	if !w.ip.IsValid() {
		ip, err := w.n.ips.allocate()
		if err != nil {
			return err
		}
		w.ip = ip
		w.startTime = metav1.Now()
	}
	if err := os.MkdirAll(w.dir, 0o755); err != nil {
		return err
	}
	w.volumes = newPodVolumes(w.n, w.pod, filepath.Join(w.dir, "volumes"))
	return w.volumes.setup(ctx)
}

// start resolves the container's environment and command and starts its process.
func (w *podWorker) start(ctx context.Context, idx int) error {
	c := w.containers[idx]
	mounts, err := w.volumes.mountsFor(&c.spec)
	if err != nil {
		return err
	}
	remap := func(v string) string {
		for _, m := range mounts {
			if v == m.path || strings.HasPrefix(v, m.path+"/") {
				return m.local + v[len(m.path):]
			}
		}
		return v
	}
	env, err := w.containerEnv(ctx, &c.spec, mounts)
	if err != nil {
		return err
	}
	vars := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	var argv []string
	for _, s := range append(append([]string{}, c.spec.Command...), c.spec.Args...) {
		argv = append(argv, remap(expandVars(s, vars)))
	}
	if len(argv) == 0 {
		return fmt.Errorf("container %q has no command: this kubelet runs host commands, not images (set `command`)", c.spec.Name)
	}
	for i, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		env[i] = k + "=" + remap(v)
	}
	c.env, c.remap = env, remap
	c.generation++
	gen := c.generation
	// restartCount counts the containers created after the first, as the kubelet's does (each new
	// container gets the previous one's count + 1): while a crashed one waits in back-off, the
	// count is still that of the container that crashed.
	if c.term != nil {
		c.restarts++
	}

	logPath := w.logPath(c.spec.Name, c.restarts)
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	// Not exec.Command: it resolves the name on our own PATH and remembers a failure.
	cmd := &exec.Cmd{Path: lookPath(argv[0], w.n.opts.podPath, vars["PATH"]), Args: argv}
	cmd.Env = env
	cmd.Dir = w.dir
	if c.spec.WorkingDir != "" {
		cmd.Dir = remap(c.spec.WorkingDir)
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	now := time.Now()
	if err := cmd.Start(); err != nil {
		// As a container runtime reports an entrypoint that cannot run: a terminated container
		// (StartError, exit 128) that the restart policy and back-off then handle.
		c.last = w.currentState(c)
		c.phase = terminated
		c.term = &corev1.ContainerStateTerminated{ExitCode: 128, Reason: "StartError", Message: err.Error(),
			StartedAt: metav1.NewTime(now), FinishedAt: metav1.NewTime(now)}
		w.n.recorder.Eventf(w.pod, corev1.EventTypeWarning, "Failed", "Error: failed to start container %q: %v", c.spec.Name, err)
		w.scheduleRestart(c, now, now)
		return nil
	}
	if c.restarts > 0 || c.term != nil {
		c.last = w.currentState(c)
	}
	c.phase, c.process, c.started, c.reason, c.message = running, cmd.Process, now, "", ""
	c.term, c.killing = nil, false
	c.startupDone = c.spec.StartupProbe == nil
	c.ready = false
	w.n.recorder.Eventf(w.pod, corev1.EventTypeNormal, "Created", "Created container: %s", c.spec.Name)
	w.n.recorder.Eventf(w.pod, corev1.EventTypeNormal, "Started", "Started container %s", c.spec.Name)
	go func() {
		err := cmd.Wait()
		select {
		case w.exits <- exitMsg{idx, gen, cmd.ProcessState, err}:
		case <-w.quit:
		}
	}()
	pctx, cancel := context.WithCancel(ctx)
	c.probeCancel = cancel
	w.startProbes(pctx, idx, gen, c)
	return nil
}

func (w *podWorker) logPath(name string, restart int32) string {
	return filepath.Join(w.dir, "logs", name, strconv.Itoa(int(restart))+".log")
}

// lookPath finds a command in the kubelet's pod path, then the container's PATH.
func lookPath(cmd string, podPath []string, path string) string {
	if strings.Contains(cmd, "/") {
		return cmd
	}
	for _, d := range append(append([]string{}, podPath...), filepath.SplitList(path)...) {
		p := filepath.Join(d, cmd)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	return cmd // exec reports "no such file"
}

func (w *podWorker) currentState(c *container) corev1.ContainerState {
	switch c.phase {
	case running:
		return corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(c.started)}}
	case terminated:
		if c.term != nil {
			return corev1.ContainerState{Terminated: c.term.DeepCopy()}
		}
	}
	return corev1.ContainerState{}
}

func (w *podWorker) onExit(m exitMsg) {
	c := w.containers[m.idx]
	if m.generation != c.generation || c.phase != running {
		return
	}
	if c.probeCancel != nil {
		c.probeCancel()
	}
	now := time.Now()
	code, reason := int32(0), "Completed"
	signal := ""
	if m.state != nil {
		if ws, ok := m.state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int32(ws.Signal())
			signal = ws.Signal().String()
		} else {
			code = int32(m.state.ExitCode())
		}
	}
	if code != 0 {
		reason = "Error"
	}
	msg := ""
	if signal != "" {
		msg = "killed by " + signal
	}
	c.phase, c.process, c.ready, c.killing = terminated, nil, false, false
	c.term = &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason, Message: msg,
		StartedAt: metav1.NewTime(c.started), FinishedAt: metav1.NewTime(now), ContainerID: w.containerID(c)}
	if w.terminating {
		return
	}
	if w.shouldRestart(c) {
		w.scheduleRestart(c, c.started, now)
	}
}

// scheduleRestart applies CrashLoopBackOff: the first restart is immediate, then 10 s doubling
// to 5 min (times --crashloop-backoff-scale); a container that ran 10 min starts over.
func (w *podWorker) scheduleRestart(c *container, startedAt, now time.Time) {
	scale := w.n.opts.backoffScale
	if now.Sub(startedAt) >= time.Duration(float64(backoffReset)*scale) {
		c.backoff = 0
	}
	delay := c.backoff
	if c.backoff == 0 {
		c.backoff = time.Duration(float64(backoffInitial) * scale)
	} else {
		c.backoff = min(2*c.backoff, time.Duration(float64(backoffMax)*scale))
	}
	c.restartAt = now.Add(delay)
	if delay > 0 {
		c.last = w.currentState(c)
		c.phase, c.reason = waiting, "CrashLoopBackOff"
		c.message = fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)",
			delay.Round(time.Second), c.spec.Name, w.pod.Name, w.pod.Namespace, w.pod.UID)
		w.n.recorder.Eventf(w.pod, corev1.EventTypeWarning, "BackOff", "Back-off restarting failed container %s in pod %s_%s(%s)",
			c.spec.Name, w.pod.Name, w.pod.Namespace, w.pod.UID)
	}
}

func (w *podWorker) containerID(c *container) string {
	return fmt.Sprintf("process://%s-%s-%d", w.pod.UID, c.spec.Name, c.generation)
}

func (w *podWorker) onProbe(m probeMsg) {
	c := w.containers[m.idx]
	if m.generation != c.generation || c.phase != running {
		return
	}
	switch m.kind {
	case "startup":
		if m.ok {
			c.startupDone = true
			return
		}
		w.n.recorder.Eventf(w.pod, corev1.EventTypeNormal, "Killing", "Container %s failed startup probe, will be restarted", c.spec.Name)
		w.killContainer(m.idx, w.probeGrace(c.spec.StartupProbe), true)
	case "liveness":
		w.n.recorder.Eventf(w.pod, corev1.EventTypeNormal, "Killing", "Container %s failed liveness probe, will be restarted", c.spec.Name)
		w.killContainer(m.idx, w.probeGrace(c.spec.LivenessProbe), true)
	case "readiness":
		c.ready = m.ok
	}
}

// probeGrace is the grace period of a kill for a failed liveness or startup probe: the probe's own
// terminationGracePeriodSeconds when set, else the pod's (the kubelet's setTerminationGracePeriod).
func (w *podWorker) probeGrace(p *corev1.Probe) time.Duration {
	if p != nil && p.TerminationGracePeriodSeconds != nil {
		return time.Duration(*p.TerminationGracePeriodSeconds) * time.Second
	}
	return w.podGrace()
}

func (w *podWorker) podGrace() time.Duration {
	g := int64(30)
	if w.pod.Spec.TerminationGracePeriodSeconds != nil {
		g = *w.pod.Spec.TerminationGracePeriodSeconds
	}
	return time.Duration(g) * time.Second
}

// terminate stops the pod for good: no more restarts.
func (w *podWorker) terminate(grace time.Duration, hooks bool) {
	w.terminating = true
	for _, c := range w.containers {
		if c.phase != running && c.phase != terminated {
			c.phase, c.reason = terminated, ""
			if c.term == nil {
				now := metav1.Now()
				c.term = &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "ContainerStatusUnknown",
					Message: "The container could not be located when the pod was terminated", StartedAt: now, FinishedAt: now}
			}
		}
	}
	w.killAll(grace, hooks)
}

func (w *podWorker) killAll(grace time.Duration, hooks bool) {
	for i, c := range w.containers {
		if c.phase == running && !c.killing {
			w.n.recorder.Eventf(w.pod, corev1.EventTypeNormal, "Killing", "Stopping container %s", c.spec.Name)
			w.killContainer(i, grace, hooks)
		}
	}
}

// killContainer runs the preStop hook (within the grace period), sends SIGTERM to the process
// group, and SIGKILL when the grace period is over. The exit arrives as an exitMsg.
func (w *podWorker) killContainer(idx int, grace time.Duration, hooks bool) {
	c := w.containers[idx]
	if c.phase != running || c.killing {
		return
	}
	c.killing = true
	proc := c.process
	var hook *corev1.LifecycleHandler
	if hooks && c.spec.Lifecycle != nil && c.spec.Lifecycle.PreStop != nil {
		hook = c.spec.Lifecycle.PreStop
	}
	env, remap, name := c.env, c.remap, c.spec.Name
	ports := c.spec.Ports
	go func() {
		deadline := time.Now().Add(grace)
		if hook != nil {
			if err := w.runHandler(hook, env, remap, ports, grace); err != nil {
				w.n.recorder.Eventf(w.pod, corev1.EventTypeWarning, "FailedPreStopHook", "PreStopHook failed: %v", err)
			}
		}
		if proc == nil {
			return
		}
		syscall.Kill(-proc.Pid, syscall.SIGTERM)
		// The kubelet never gives SIGTERM less than minimumGracePeriodInSeconds (2 s), with or
		// without a hook (kuberuntime killContainer): terminationGracePeriodSeconds: 1 means 2 s.
		wait := time.Until(deadline)
		if wait < minGraceAfterHook {
			wait = minGraceAfterHook
		}
		for end := time.Now().Add(wait); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
			// The exit goroutine reaps the process at once, so "no such process" means it is gone.
			if err := syscall.Kill(proc.Pid, 0); errors.Is(err, syscall.ESRCH) {
				return
			}
		}
		w.n.logf("pod %s container %s: grace period over, SIGKILL", w.key(), name)
		syscall.Kill(-proc.Pid, syscall.SIGKILL)
	}()
}

// waitKilled waits for every process to exit (used when the worker stops without its loop).
func (w *podWorker) waitKilled() {
	for !w.allStopped() {
		select {
		case m := <-w.exits:
			w.onExit(m)
		case <-time.After(30 * time.Second):
			return
		}
	}
	st := w.status()
	w.sendStatus(st)
}

// runHandler runs a lifecycle handler (exec or httpGet) with a deadline.
func (w *podWorker) runHandler(h *corev1.LifecycleHandler, env []string, remap func(string) string, ports []corev1.ContainerPort, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	switch {
	case h.Exec != nil:
		_, err := runExec(ctx, h.Exec.Command, env, remap, w.n.opts.podPath, w.dir)
		return err
	case h.HTTPGet != nil:
		// The kubelet's lifecycle handler ignores the status code (lifecycle/handlers.go
		// runHTTPHandler): only a request that gets no answer fails the hook. Probes differ.
		_, err := httpGet(ctx, h.HTTPGet, w.ip.String(), ports)
		var status *httpStatusError
		if errors.As(err, &status) {
			return nil
		}
		return err
	case h.Sleep != nil:
		select {
		case <-time.After(time.Duration(h.Sleep.Seconds) * time.Second):
		case <-ctx.Done():
		}
		return nil
	}
	return fmt.Errorf("unsupported lifecycle handler")
}

// status computes the pod status from the containers.
func (w *podWorker) status() corev1.PodStatus {
	now := metav1.Now()
	st := corev1.PodStatus{QOSClass: w.pod.Status.QOSClass}
	if w.ip.IsValid() {
		st.PodIP = w.ip.String()
		st.PodIPs = []corev1.PodIP{{IP: st.PodIP}}
	}
	st.HostIP = w.n.ip.String()
	st.HostIPs = []corev1.HostIP{{IP: st.HostIP}}
	if !w.startTime.IsZero() {
		st.StartTime = &w.startTime
	}
	allReady, anyRunning, allDone, allSucceeded, everStarted := true, false, true, true, true
	for _, c := range w.containers {
		cs := corev1.ContainerStatus{Name: c.spec.Name, Image: c.spec.Image, ImageID: "process://" + c.spec.Image,
			RestartCount: c.restarts, LastTerminationState: c.last}
		started := false
		switch c.phase {
		case running:
			cs.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(c.started)}
			cs.ContainerID = w.containerID(c)
			started = c.startupDone
			cs.Ready = c.ready || (c.spec.ReadinessProbe == nil && c.startupDone)
			anyRunning = true
			allDone = false
		case terminated:
			if c.term != nil {
				cs.State.Terminated = c.term.DeepCopy()
				cs.ContainerID = c.term.ContainerID
				if c.term.ExitCode != 0 {
					allSucceeded = false
				}
			}
			if !w.terminating && w.shouldRestart(c) {
				allDone = false
			}
		default:
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: c.reason, Message: c.message}
			allDone = false
			if c.restarts == 0 && c.term == nil {
				everStarted = false
			}
		}
		cs.Started = &started
		if !cs.Ready {
			allReady = false
		}
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
	}
	switch {
	case allDone && allSucceeded:
		st.Phase = corev1.PodSucceeded
	case allDone:
		st.Phase = corev1.PodFailed
	case anyRunning || everStarted && w.sandbox:
		st.Phase = corev1.PodRunning
	default:
		st.Phase = corev1.PodPending
	}
	if w.terminating && allDone {
		allReady = false
	}
	b := func(v bool) corev1.ConditionStatus {
		if v {
			return corev1.ConditionTrue
		}
		return corev1.ConditionFalse
	}
	reason := ""
	if !allReady {
		reason = "ContainersNotReady"
	}
	w.setCondition(corev1.PodReadyToStartContainers, b(w.sandbox && !(w.terminating && allDone)), "", now)
	w.setCondition(corev1.PodInitialized, corev1.ConditionTrue, "", now)
	w.setCondition(corev1.ContainersReady, b(allReady), reason, now)
	w.setCondition(corev1.PodReady, b(allReady), reason, now)
	// Conditions others own (PodScheduled, DisruptionTarget, readiness gates) are kept.
	for _, old := range w.pod.Status.Conditions {
		if _, ours := w.conditions[old.Type]; !ours {
			st.Conditions = append(st.Conditions, old)
		}
	}
	for _, t := range []corev1.PodConditionType{corev1.PodReadyToStartContainers, corev1.PodInitialized, corev1.PodReady, corev1.ContainersReady} {
		st.Conditions = append(st.Conditions, w.conditions[t])
	}
	return st
}

// setCondition changes a condition's lastTransitionTime only when its status changes.
func (w *podWorker) setCondition(t corev1.PodConditionType, s corev1.ConditionStatus, reason string, now metav1.Time) {
	old, ok := w.conditions[t]
	if !ok {
		for _, c := range w.pod.Status.Conditions {
			if c.Type == t {
				old, ok = c, true
			}
		}
	}
	c := corev1.PodCondition{Type: t, Status: s, Reason: reason, LastTransitionTime: now}
	if ok && old.Status == s {
		c.LastTransitionTime = old.LastTransitionTime
	}
	w.conditions[t] = c
}

// sendStatus hands the newest status to the writer (an unsent older one is replaced).
func (w *podWorker) sendStatus(st corev1.PodStatus) {
	for {
		select {
		case w.statusCh <- st:
			return
		default:
			select {
			case <-w.statusCh:
			default:
			}
		}
	}
}

// pushStatus writes statuses to the API, skipping ones equal to the last written.
// gone is closed when the object is removed from the API.
func (w *podWorker) pushStatus(ctx context.Context, gone <-chan struct{}) {
	defer close(w.statusDone)
	pods := w.n.client.CoreV1().Pods(w.pod.Namespace)
	var last *corev1.PodStatus
	for st := range w.statusCh {
		if last != nil && statusEqual(last, &st) {
			continue
		}
		for attempt := 0; attempt < 10; attempt++ {
			cur, err := pods.Get(ctx, w.pod.Name, metav1.GetOptions{})
			if err != nil {
				// The Node authorizer answers a removed pod with 403 ("no relationship found"),
				// not 404: once the object is known to be gone, stop (retrying held up the
				// cluster's stop for 5 s after a deletion).
				if apierrors.IsNotFound(err) || ctx.Err() != nil || apierrors.IsForbidden(err) && isClosed(gone) {
					break
				}
				time.Sleep(500 * time.Millisecond)
				continue
			}
			if cur.UID != w.pod.UID {
				break
			}
			cur.Status = st
			_, err = pods.UpdateStatus(ctx, cur, metav1.UpdateOptions{})
			if err == nil {
				s := st
				last = &s
				break
			}
			if !apierrors.IsConflict(err) {
				w.n.logf("pod %s status: %v", w.key(), err)
				time.Sleep(500 * time.Millisecond)
			}
		}
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func statusEqual(a, b *corev1.PodStatus) bool {
	return a.String() == b.String()
}
