package main

// Probes and handlers as the kubelet runs them: httpGet (2xx/3xx succeed), tcpSocket, exec, with
// initialDelaySeconds, periodSeconds, timeoutSeconds, successThreshold and failureThreshold and
// the real defaults (10 s, 1 s, 1, 3). The startup probe gates the other two; a readiness
// result is reported when it changes, liveness and startup when they decide.

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// startProbes starts one goroutine per probe of the container's current process.
func (w *podWorker) startProbes(ctx context.Context, idx, gen int, c *container) {
	var startupDone atomic.Bool
	startupDone.Store(c.spec.StartupProbe == nil)
	env, remap, ports := c.env, c.remap, c.spec.Ports
	send := func(m probeMsg) {
		select {
		case w.probes <- m:
		case <-ctx.Done():
		case <-w.quit:
		}
	}
	run := func(kind string, p *corev1.Probe) {
		period := seconds(p.PeriodSeconds, 10)
		timeout := seconds(p.TimeoutSeconds, 1)
		successes, failures := int32(0), int32(0)
		succ, fail := max(p.SuccessThreshold, 1), p.FailureThreshold
		if fail <= 0 {
			fail = 3
		}
		reported := false // readiness: what was last sent (a process starts not ready)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Duration(p.InitialDelaySeconds) * time.Second):
		}
		for {
			if kind == "startup" || startupDone.Load() {
				ok, out := w.probe(ctx, p, timeout, env, remap, ports)
				if ctx.Err() != nil {
					return
				}
				if ok {
					successes, failures = successes+1, 0
				} else {
					successes, failures = 0, failures+1
					w.n.recorder.Eventf(w.pod, corev1.EventTypeWarning, "Unhealthy", "%s probe failed: %s",
						strings.ToUpper(kind[:1])+kind[1:], out)
				}
				switch kind {
				case "startup":
					if successes >= succ {
						startupDone.Store(true)
						send(probeMsg{idx, gen, kind, true, out})
						return
					}
					if failures >= fail {
						send(probeMsg{idx, gen, kind, false, out})
						return
					}
				case "liveness":
					if failures >= fail {
						send(probeMsg{idx, gen, kind, false, out})
						return
					}
				case "readiness":
					if successes >= succ && !reported {
						reported = true
						send(probeMsg{idx, gen, kind, true, out})
					} else if failures >= fail && reported {
						reported = false
						send(probeMsg{idx, gen, kind, false, out})
					}
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(period):
			}
		}
	}
	if p := c.spec.StartupProbe; p != nil {
		go run("startup", p)
	}
	if p := c.spec.LivenessProbe; p != nil {
		go run("liveness", p)
	}
	if p := c.spec.ReadinessProbe; p != nil {
		go run("readiness", p)
	}
}

func seconds(v int32, def int) time.Duration {
	if v <= 0 {
		return time.Duration(def) * time.Second
	}
	return time.Duration(v) * time.Second
}

// probe runs one probe; the output explains a failure.
func (w *podWorker) probe(ctx context.Context, p *corev1.Probe, timeout time.Duration, env []string,
	remap func(string) string, ports []corev1.ContainerPort) (bool, string) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch {
	case p.HTTPGet != nil:
		out, err := httpGet(ctx, p.HTTPGet, w.ip.String(), ports)
		if err != nil {
			return false, err.Error()
		}
		return true, out
	case p.TCPSocket != nil:
		host := p.TCPSocket.Host
		if host == "" {
			host = w.ip.String()
		}
		port, err := resolvePort(p.TCPSocket.Port, ports)
		if err != nil {
			return false, err.Error()
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return false, fmt.Sprintf("dial tcp %s:%d: %v", host, port, err)
		}
		conn.Close()
		return true, ""
	case p.Exec != nil:
		out, err := runExec(ctx, p.Exec.Command, env, remap, w.n.opts.podPath, w.dir)
		if err != nil {
			return false, strings.TrimSpace(out + " " + err.Error())
		}
		return true, out
	case p.GRPC != nil:
		return false, "grpc probes are not supported by the esk8s process kubelet"
	}
	return false, "probe has no handler"
}

func resolvePort(port intstr.IntOrString, ports []corev1.ContainerPort) (int, error) {
	if port.Type == intstr.Int {
		return port.IntValue(), nil
	}
	for _, p := range ports {
		if p.Name == port.StrVal {
			return int(p.ContainerPort), nil
		}
	}
	return 0, fmt.Errorf("port %q is not a named port of the container", port.StrVal)
}

// httpGet performs an HTTP(S) GET as the kubelet's prober does (HTTPS without verification);
// 200-399 is success.
func httpGet(ctx context.Context, g *corev1.HTTPGetAction, podIP string, ports []corev1.ContainerPort) (string, error) {
	host := g.Host
	if host == "" {
		host = podIP
	}
	port, err := resolvePort(g.Port, ports)
	if err != nil {
		return "", err
	}
	scheme := "http"
	if g.Scheme == corev1.URISchemeHTTPS {
		scheme = "https"
	}
	path := g.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	url := fmt.Sprintf("%s://%s%s", scheme, net.JoinHostPort(host, strconv.Itoa(port)), path)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("User-Agent", "kube-probe/1.37")
	req.Header.Set("Accept", "*/*")
	for _, h := range g.HTTPHeaders {
		req.Header.Set(h.Name, h.Value)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		return "", err // names the URL already
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 10*1024))
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return "", &httpStatusError{resp.StatusCode}
	}
	return string(body), nil
}

// httpStatusError is an answer outside 200-399: a failed probe, but not a failed lifecycle hook.
type httpStatusError struct{ code int }

func (e *httpStatusError) Error() string {
	return fmt.Sprintf("HTTP probe failed with statuscode: %d", e.code)
}

// runExec runs a command with the container's environment in the pod's directory.
func runExec(ctx context.Context, command []string, env []string, remap func(string) string, podPath []string, dir string) (string, error) {
	if len(command) == 0 {
		return "", fmt.Errorf("empty command")
	}
	argv := make([]string, len(command))
	path := ""
	for _, kv := range env {
		if strings.HasPrefix(kv, "PATH=") {
			path = kv[5:]
		}
	}
	for i, a := range command {
		argv[i] = remap(a)
	}
	cmd := &exec.Cmd{Path: lookPath(argv[0], podPath, path), Args: argv}
	cmd.Env, cmd.Dir = env, dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		s := out.String()
		if len(s) > 10*1024 {
			s = s[:10*1024]
		}
		return s, err
	case <-ctx.Done():
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		return "", fmt.Errorf("command timed out")
	}
}
