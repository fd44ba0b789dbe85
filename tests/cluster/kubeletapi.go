package main

// The kubelet API, as far as the apiserver needs it for `kubectl logs`: HTTPS on the node's
// InternalIP:10250 with a serving certificate from the cluster CA, client certificates required
// and only the apiserver's kubelet client (or system:masters) admitted. GET
// /containerLogs/NAMESPACE/POD/CONTAINER with follow, previous, tailLines and limitBytes.
// exec, attach, port-forward and the stats endpoints are not served.

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

func (n *node) serveAPI(caFile, certFile, keyFile string) error {
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return err
	}
	ln, err := tls.Listen("tcp", net.JoinHostPort(n.ip.String(), strconv.Itoa(kubeletPort)), &tls.Config{
		Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool, MinVersion: tls.VersionTLS12})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
	mux.HandleFunc("/containerLogs/", n.serveLogs)
	srv := &http.Server{Handler: authorizeKubeletClient(mux), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return nil
}

// authorizeKubeletClient admits the apiserver's kubelet client certificate and system:masters.
func authorizeKubeletClient(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		subject := r.TLS.PeerCertificates[0].Subject
		if subject.CommonName != "kube-apiserver-kubelet-client" && !slices.Contains(subject.Organization, "system:masters") {
			http.Error(w, fmt.Sprintf("Forbidden (user=%s, verb=get, resource=nodes, subresource=proxy)", subject.CommonName), http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (n *node) serveLogs(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/containerLogs/"), "/")
	if len(parts) != 3 {
		http.Error(w, "expected /containerLogs/NAMESPACE/POD/CONTAINER", http.StatusBadRequest)
		return
	}
	ns, pod, container := parts[0], parts[1], parts[2]
	var worker *podWorker
	n.mu.Lock()
	for _, pw := range n.pods {
		if pw.ns == ns && pw.name == pod {
			worker = pw
		}
	}
	n.mu.Unlock()
	if worker == nil {
		http.Error(w, fmt.Sprintf("pod %s/%s is not running on node %s", ns, pod, n.name), http.StatusNotFound)
		return
	}
	files, _ := filepath.Glob(filepath.Join(worker.dir, "logs", container, "*.log"))
	sort.Slice(files, func(i, j int) bool { return logNumber(files[i]) < logNumber(files[j]) })
	q := r.URL.Query()
	pick := len(files) - 1
	if q.Get("previous") == "true" {
		pick--
	}
	if pick < 0 {
		msg := fmt.Sprintf("container %q in pod %q is waiting to start", container, pod)
		if q.Get("previous") == "true" {
			msg = fmt.Sprintf("previous terminated container %q in pod %q not found", container, pod)
		}
		http.Error(w, msg, http.StatusBadRequest)
		return
	}
	path := files[pick]
	data, err := os.ReadFile(path)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if s := q.Get("tailLines"); s != "" {
		if k, err := strconv.Atoi(s); err == nil && k >= 0 {
			data = lastLines(data, k)
		}
	}
	limit := int64(-1)
	if s := q.Get("limitBytes"); s != "" {
		limit, _ = strconv.ParseInt(s, 10, 64)
	}
	w.Header().Set("Content-Type", "text/plain")
	write := func(b []byte) bool {
		if limit >= 0 {
			if int64(len(b)) > limit {
				b = b[:limit]
			}
			limit -= int64(len(b))
		}
		if _, err := w.Write(b); err != nil {
			return false
		}
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		return limit != 0
	}
	if !write(data) || q.Get("follow") != "true" || q.Get("previous") == "true" {
		return
	}
	// Follow: stream what the process appends until the client goes, the container restarts
	// (a newer log file) or the pod's worker ends.
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	offset, _ := f.Seek(0, io.SeekEnd)
	_ = offset
	reader := bufio.NewReader(f)
	buf := make([]byte, 32*1024)
	for {
		k, _ := reader.Read(buf)
		if k > 0 {
			if !write(buf[:k]) {
				return
			}
			continue
		}
		select {
		case <-r.Context().Done():
			return
		case <-worker.quit:
			return
		case <-time.After(200 * time.Millisecond):
		}
		if newer, _ := filepath.Glob(filepath.Join(worker.dir, "logs", container, "*.log")); len(newer) > len(files) {
			return
		}
	}
}

func logNumber(path string) int {
	k, _ := strconv.Atoi(strings.TrimSuffix(filepath.Base(path), ".log"))
	return k
}

func lastLines(data []byte, k int) []byte {
	if k == 0 {
		return nil
	}
	trimmed := bytes.TrimSuffix(data, []byte("\n"))
	idx := len(trimmed)
	for i := 0; i < k; i++ {
		j := bytes.LastIndexByte(trimmed[:idx], '\n')
		if j < 0 {
			return data
		}
		idx = j
	}
	return data[idx+1:]
}
