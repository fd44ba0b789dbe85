package main

// The cluster's credentials, generated once per state directory and reused on restart:
// a CA (serving certificates, client certificates, CSR signing), the apiserver's serving
// certificate, client certificates for the controller manager, the scheduler and the
// apiserver's kubelet client, the service-account signing key, and the static token file.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

const certValidity = 10 * 365 * 24 * time.Hour

type ca struct {
	cert *x509.Certificate
	key  crypto.Signer
}

func newKey() (*ecdsa.PrivateKey, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }

func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	data := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	return writePEM(path, "EC PRIVATE KEY", der, 0o600)
}

func readPEM(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	return block.Bytes, nil
}

func serial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
}

// loadOrCreateCA reads certPath and keyPath, or creates a CA named commonName there.
func loadOrCreateCA(certPath, keyPath, commonName string) (*ca, error) {
	if certDER, err := readPEM(certPath); err == nil {
		keyDER, err := readPEM(keyPath)
		if err != nil {
			return nil, err
		}
		cert, err := x509.ParseCertificate(certDER)
		if err != nil {
			return nil, err
		}
		key, err := x509.ParseECPrivateKey(keyDER)
		if err != nil {
			return nil, err
		}
		return &ca{cert, key}, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	sn, err := serial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(certValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	if err := writeKey(keyPath, key); err != nil {
		return nil, err
	}
	if err := writePEM(certPath, "CERTIFICATE", der, 0o644); err != nil {
		return nil, err
	}
	return &ca{cert, key}, nil
}

type leaf struct {
	commonName   string
	organization []string
	dnsNames     []string
	ips          []net.IP
	server       bool
}

// issue writes base.crt and base.key signed by the CA unless both exist.
func (c *ca) issue(base string, l leaf) error {
	if _, err := os.Stat(base + ".crt"); err == nil {
		if _, err := os.Stat(base + ".key"); err == nil {
			return nil
		}
	}
	key, err := newKey()
	if err != nil {
		return err
	}
	sn, err := serial()
	if err != nil {
		return err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: l.commonName, Organization: l.organization},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(certValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		DNSNames:     l.dnsNames,
		IPAddresses:  l.ips,
	}
	if l.server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, key.Public(), c.key)
	if err != nil {
		return err
	}
	if err := writeKey(base+".key", key); err != nil {
		return err
	}
	return writePEM(base+".crt", "CERTIFICATE", der, 0o644)
}

// ensureServiceAccountKey writes pki/sa.key and pki/sa.pub (the bound-token signing pair).
func ensureServiceAccountKey(keyPath, pubPath string) error {
	if _, err := os.Stat(keyPath); err == nil {
		if _, err := os.Stat(pubPath); err == nil {
			return nil
		}
	}
	key, err := newKey()
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return err
	}
	if err := writeKey(keyPath, key); err != nil {
		return err
	}
	return writePEM(pubPath, "PUBLIC KEY", pub, 0o644)
}

func randomToken() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// user is a line of the static token file (kube-apiserver --token-auth-file).
type user struct {
	name   string
	groups []string
	token  string
}

// parseUser reads NAME[:GROUP,GROUP...].
func parseUser(spec string) (user, error) {
	name, groups, _ := strings.Cut(spec, ":")
	if name == "" || strings.ContainsAny(name, ",\"/ ") {
		return user{}, fmt.Errorf("--user %q: want NAME[:GROUP,GROUP...] with a name free of , \" / and spaces", spec)
	}
	u := user{name: name}
	if groups != "" {
		u.groups = strings.Split(groups, ",")
	}
	return u, nil
}

// readTokenFile returns the tokens already issued, by user name, so a reused state directory
// keeps its kubeconfigs valid.
func readTokenFile(path string) map[string]string {
	out := map[string]string{}
	data, err := os.ReadFile(path)
	if err != nil {
		return out
	}
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.SplitN(line, ",", 4)
		if len(fields) >= 2 {
			out[fields[1]] = fields[0]
		}
	}
	return out
}

// writeTokenFile writes token,user,uid,"group1,group2" lines.
func writeTokenFile(path string, users []user) error {
	var b strings.Builder
	for _, u := range users {
		fmt.Fprintf(&b, "%s,%s,%s", u.token, u.name, u.name)
		if len(u.groups) > 0 {
			fmt.Fprintf(&b, ",\"%s\"", strings.Join(u.groups, ","))
		}
		b.WriteString("\n")
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

type kubeconfigAuth struct {
	token    string
	certFile string
	keyFile  string
}

// writeKubeconfig writes a kubeconfig for one user of the cluster at url, with the CA and any
// client certificate embedded so the file stands alone.
func writeKubeconfig(path, url, caFile, userName string, auth kubeconfigAuth) error {
	caData, err := os.ReadFile(caFile)
	if err != nil {
		return err
	}
	info := &clientcmdapi.AuthInfo{Token: auth.token}
	if auth.certFile != "" {
		if info.ClientCertificateData, err = os.ReadFile(auth.certFile); err != nil {
			return err
		}
		if info.ClientKeyData, err = os.ReadFile(auth.keyFile); err != nil {
			return err
		}
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["esk8s-cluster"] = &clientcmdapi.Cluster{Server: url, CertificateAuthorityData: caData}
	cfg.AuthInfos[userName] = info
	cfg.Contexts[userName] = &clientcmdapi.Context{Cluster: "esk8s-cluster", AuthInfo: userName, Namespace: "default"}
	cfg.CurrentContext = userName
	tmp := path + ".tmp"
	if err := clientcmd.WriteToFile(*cfg, tmp); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Clean(path))
}
