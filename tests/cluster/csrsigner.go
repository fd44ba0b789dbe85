package main

// A signer for one custom CertificateSigningRequest signerName (--csr-signer, e.g. esk8s.io/node),
// as an operator runs one next to esk8s's kubernetes-csr mode: on a real cluster the
// kube-controller-manager signs only the kubernetes.io/* signers, and requests for any other
// name wait until a controller of their own approves and signs them.
//
// Approver (--csr-signer-approve, on by default): a request is approved only when its requester
// is a service account presenting a token bound to a pod (the apiserver copies the token's
// authentication.kubernetes.io/pod-name and pod-uid claims into spec.extra), that pod exists
// with that UID and runs as that service account, and every name in the request is one of that
// pod's own DNS names (HOSTNAME.SUBDOMAIN[.NAMESPACE[.svc[.cluster.local]]]); anything else is
// denied with a reason and a sentence saying why. Approval and denial are conditions written
// through the /approval subresource, as `kubectl certificate approve|deny` writes them; with
// --csr-signer-approve=false requests wait for a person to run that command.
//
// Signer: every approved request (not denied, not failed, no certificate yet) is signed with a
// CA of its own, created in the state directory (DIR/csr-signer-ca.crt, key in DIR/pki), for
// spec.expirationSeconds (a year when unset, never past the CA), and the certificate is written
// to status.certificate through the /status subresource. A request that cannot be signed gets a
// Failed condition.

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listers "k8s.io/client-go/listers/certificates/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

const (
	// The claims of a bound service-account token that the apiserver puts into the user's extra.
	extraPodName = "authentication.kubernetes.io/pod-name"
	extraPodUID  = "authentication.kubernetes.io/pod-uid"
	// What kube-controller-manager's signers use when a request sets no expirationSeconds
	// (--cluster-signing-duration), and how far they backdate notBefore for clock skew.
	defaultSignDuration = 365 * 24 * time.Hour
	signBackdate        = 5 * time.Minute
	clusterDomain       = "cluster.local"
)

type csrSignerOptions struct {
	name    string // the signerName served; empty: no signer
	approve bool   // approve or deny requests; false: only sign what someone else approved
}

// validSignerName refuses names the kube-controller-manager already owns and names that are not
// of the DOMAIN/PATH form the API requires.
func validSignerName(s string) error {
	domain, path, ok := strings.Cut(s, "/")
	if !ok || domain == "" || path == "" || !strings.Contains(domain, ".") {
		return fmt.Errorf("--csr-signer %q: want a signerName such as esk8s.io/node", s)
	}
	if domain == "kubernetes.io" || strings.HasSuffix(domain, ".kubernetes.io") {
		return fmt.Errorf("--csr-signer %q: kubernetes.io signers belong to kube-controller-manager", s)
	}
	return nil
}

type csrSigner struct {
	o      csrSignerOptions
	client kubernetes.Interface
	ca     *ca
	lister listers.CertificateSigningRequestLister
	queue  workqueue.TypedRateLimitingInterface[string]
	logf   func(format string, args ...any)
}

// startCSRSigner creates (or loads) the signer's CA and starts the controller, which runs until
// c.stopSigner. It returns once the informer has synced (or ready ends), so requests made after
// the ready line are seen.
func (c *cluster) startCSRSigner(ready context.Context, adminToken string) error {
	authority, err := loadOrCreateCA(c.l.path("csr-signer-ca.crt"), c.l.pki("csr-signer-ca.key"),
		"esk8s-cluster signer "+c.o.csrSigner.name)
	if err != nil {
		return fmt.Errorf("CSR signer CA: %w", err)
	}
	client, err := adminClient(c.url, adminToken, c.l.path("ca.crt"))
	if err != nil {
		return err
	}
	s := &csrSigner{
		o: c.o.csrSigner, client: client, ca: authority,
		queue: workqueue.NewTypedRateLimitingQueue(workqueue.NewTypedItemExponentialFailureRateLimiter[string](
			100*time.Millisecond, 10*time.Second)),
		logf: func(f string, a ...any) { say("csr-signer: "+f, a...) },
	}
	factory := informers.NewSharedInformerFactory(client, 0)
	inf := factory.Certificates().V1().CertificateSigningRequests()
	s.lister = inf.Lister()
	enqueue := func(obj any) {
		if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
			s.queue.Add(key)
		}
	}
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
	}); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.stopSigner = cancel
	factory.Start(ctx.Done())
	for typ, ok := range factory.WaitForCacheSync(ready.Done()) {
		if !ok {
			return fmt.Errorf("CSR signer: %v informer not synced", typ)
		}
	}
	go func() {
		<-ctx.Done()
		s.queue.ShutDown()
	}()
	go s.work(ctx)
	mode := "approves requests for the requesting pod's own names and signs them"
	if !s.o.approve {
		mode = "signs what is approved (kubectl certificate approve); approves nothing itself"
	}
	s.logf("%s: %s with the CA in %s", s.o.name, mode, c.l.path("csr-signer-ca.crt"))
	return nil
}

func adminClient(url, token, caFile string) (*kubernetes.Clientset, error) {
	return kubernetes.NewForConfig(&rest.Config{Host: url, BearerToken: token, QPS: 50, Burst: 100,
		UserAgent: "esk8s-cluster", TLSClientConfig: rest.TLSClientConfig{CAFile: caFile}})
}

func (s *csrSigner) work(ctx context.Context) {
	for {
		name, quit := s.queue.Get()
		if quit {
			return
		}
		if err := s.handle(ctx, name); err != nil {
			s.logf("%s: %v; retrying", name, err)
			s.queue.AddRateLimited(name)
		} else {
			s.queue.Forget(name)
		}
		s.queue.Done(name)
	}
}

// condition reports whether the request carries a condition of that type with status True.
func condition(csr *certificatesv1.CertificateSigningRequest, typ certificatesv1.RequestConditionType) bool {
	for _, c := range csr.Status.Conditions {
		if c.Type == typ && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func (s *csrSigner) handle(ctx context.Context, name string) error {
	cached, err := s.lister.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if cached.Spec.SignerName != s.o.name || len(cached.Status.Certificate) > 0 ||
		condition(cached, certificatesv1.CertificateDenied) || condition(cached, certificatesv1.CertificateFailed) {
		return nil
	}
	csr := cached.DeepCopy()
	if !condition(csr, certificatesv1.CertificateApproved) {
		if !s.o.approve {
			return nil
		}
		c := certificatesv1.CertificateSigningRequestCondition{Status: corev1.ConditionTrue, LastUpdateTime: metav1.Now()}
		reason, why := s.judge(ctx, csr)
		if reason == "" {
			c.Type, c.Reason = certificatesv1.CertificateApproved, "AutoApproved"
			c.Message = "esk8s-cluster signer: every name belongs to the requesting pod " + why
		} else {
			c.Type, c.Reason, c.Message = certificatesv1.CertificateDenied, reason, why
		}
		csr.Status.Conditions = append(csr.Status.Conditions, c)
		updated, err := s.client.CertificatesV1().CertificateSigningRequests().UpdateApproval(ctx, name, csr, metav1.UpdateOptions{})
		if err != nil {
			return fmt.Errorf("writing %s: %w", c.Type, err)
		}
		s.logf("%s (%s): %s: %s", name, csr.Spec.Username, c.Type, c.Message)
		if reason != "" {
			return nil
		}
		csr = updated
	}
	certPEM, err := s.sign(csr)
	if err != nil {
		csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
			Type: certificatesv1.CertificateFailed, Status: corev1.ConditionTrue, Reason: "SigningError",
			Message: err.Error(), LastUpdateTime: metav1.Now(),
		})
		s.logf("%s: cannot sign: %v", name, err)
	} else {
		csr.Status.Certificate = certPEM
	}
	if _, err := s.client.CertificatesV1().CertificateSigningRequests().UpdateStatus(ctx, csr, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("writing the status: %w", err)
	}
	if len(certPEM) > 0 {
		s.logf("%s: signed", name)
	}
	return nil
}

func parseRequest(csr *certificatesv1.CertificateSigningRequest) (*x509.CertificateRequest, error) {
	block, _ := pem.Decode(csr.Spec.Request)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("spec.request is not a PEM CERTIFICATE REQUEST")
	}
	req, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, err
	}
	if err := req.CheckSignature(); err != nil {
		return nil, fmt.Errorf("the request's signature does not verify: %w", err)
	}
	return req, nil
}

var allowedUsages = []certificatesv1.KeyUsage{
	certificatesv1.UsageDigitalSignature, certificatesv1.UsageKeyEncipherment,
	certificatesv1.UsageServerAuth, certificatesv1.UsageClientAuth,
}

// judge decides whether a request may be approved: an empty reason, and the pod it was judged
// for; or the denial's reason and a sentence naming what is wrong.
func (s *csrSigner) judge(ctx context.Context, csr *certificatesv1.CertificateSigningRequest) (reason, why string) {
	user := csr.Spec.Username
	rest, ok := strings.CutPrefix(user, "system:serviceaccount:")
	ns, sa, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 || ns == "" || sa == "" {
		return "RequesterNotAllowed", "requester " + user + " is not a service account; only pods' service accounts may request " + s.o.name + " certificates"
	}
	podNames, podUIDs := csr.Spec.Extra[extraPodName], csr.Spec.Extra[extraPodUID]
	if len(podNames) != 1 {
		return "RequesterNotAllowed", "requester " + user + " did not present a token bound to a pod (no " + extraPodName +
			"); use the pod's projected service-account token"
	}
	podName := podNames[0]
	pod, err := s.client.CoreV1().Pods(ns).Get(ctx, podName, metav1.GetOptions{})
	if err != nil {
		return "RequesterNotAllowed", fmt.Sprintf("the requester's pod %s/%s cannot be read: %v", ns, podName, err)
	}
	if len(podUIDs) == 1 && pod.UID != types.UID(podUIDs[0]) {
		return "RequesterNotAllowed", fmt.Sprintf("the requester's token is bound to pod %s/%s with UID %s, which no longer exists", ns, podName, podUIDs[0])
	}
	if pod.Spec.ServiceAccountName != sa {
		return "RequesterNotAllowed", fmt.Sprintf("pod %s/%s runs as service account %s, not %s", ns, podName, pod.Spec.ServiceAccountName, sa)
	}
	for _, u := range csr.Spec.Usages {
		if !slices.Contains(allowedUsages, u) {
			return "UsagesNotAllowed", fmt.Sprintf("usage %q is not allowed (only digital signature, key encipherment, server auth, client auth)", u)
		}
	}
	if !slices.Contains(csr.Spec.Usages, certificatesv1.UsageServerAuth) && !slices.Contains(csr.Spec.Usages, certificatesv1.UsageClientAuth) {
		return "UsagesNotAllowed", "the request asks for neither server auth nor client auth"
	}
	req, err := parseRequest(csr)
	if err != nil {
		return "InvalidRequest", err.Error()
	}
	if len(req.EmailAddresses) > 0 || len(req.URIs) > 0 {
		return "NamesNotAllowed", "e-mail and URI names are not allowed"
	}
	for _, ip := range req.IPAddresses {
		if !ip.IsLoopback() {
			return "NamesNotAllowed", "IP SAN " + ip.String() + " is not allowed (pod IPs change; only loopback addresses are)"
		}
	}
	if len(req.DNSNames) == 0 {
		return "NamesNotAllowed", "the request has no DNS names"
	}
	for _, name := range req.DNSNames {
		if problem := podDNSName(pod, name); problem != "" {
			return "NamesNotAllowed", "DNS SAN " + name + " " + problem + " (the requester's token is bound to pod " + ns + "/" + podName + ")"
		}
	}
	if cn := req.Subject.CommonName; cn != "" && !slices.Contains(req.DNSNames, cn) {
		return "NamesNotAllowed", "the common name " + cn + " is not one of the request's DNS names"
	}
	return "", ns + "/" + podName + " (service account " + sa + ")"
}

// podDNSName is empty when name is one of the pod's own DNS names (or localhost), otherwise what
// is wrong with it.
func podDNSName(pod *corev1.Pod, name string) string {
	if name == "localhost" {
		return ""
	}
	host := pod.Spec.Hostname
	if host == "" {
		host = pod.Name
	}
	want := []string{host, pod.Spec.Subdomain, pod.Namespace, "svc"}
	want = append(want, strings.Split(clusterDomain, ".")...)
	labels := strings.Split(name, ".")
	if labels[0] != host {
		return "names pod " + labels[0]
	}
	if pod.Spec.Subdomain == "" {
		return "needs a subdomain, and the pod has none"
	}
	if len(labels) < 2 || len(labels) > len(want) || !slices.Equal(labels, want[:len(labels)]) ||
		len(labels) == 5 {
		return "is not one of " + strings.Join(want[:2], ".") + "[." + pod.Namespace + "[.svc[." + clusterDomain + "]]]"
	}
	return ""
}

// sign issues the certificate for an approved request: the request's subject and names, usages
// as requested, valid from signBackdate ago for expirationSeconds (or defaultSignDuration), never
// past the CA.
func (s *csrSigner) sign(csr *certificatesv1.CertificateSigningRequest) ([]byte, error) {
	req, err := parseRequest(csr)
	if err != nil {
		return nil, err
	}
	duration := defaultSignDuration
	if csr.Spec.ExpirationSeconds != nil {
		duration = time.Duration(*csr.Spec.ExpirationSeconds) * time.Second
	}
	now := time.Now()
	notAfter := now.Add(duration)
	if notAfter.After(s.ca.cert.NotAfter) {
		notAfter = s.ca.cert.NotAfter
	}
	sn, err := serial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               req.Subject,
		DNSNames:              req.DNSNames,
		IPAddresses:           slices.Clone(req.IPAddresses),
		NotBefore:             now.Add(-signBackdate),
		NotAfter:              notAfter,
		BasicConstraintsValid: true,
	}
	for _, u := range csr.Spec.Usages {
		switch u {
		case certificatesv1.UsageDigitalSignature:
			tmpl.KeyUsage |= x509.KeyUsageDigitalSignature
		case certificatesv1.UsageKeyEncipherment:
			tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
		case certificatesv1.UsageServerAuth:
			tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
		case certificatesv1.UsageClientAuth:
			tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
		default:
			return nil, fmt.Errorf("usage %q cannot be signed", u)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, s.ca.cert, req.PublicKey, s.ca.key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}
