package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestListenerCertificateExpiryIsWatched: a listener certificate that
// expires while the gateway runs is served on (there is nothing else to
// serve), and nothing told the operator: /metrics had the outbound CA's
// date only and no line warned, so a renewal that silently stopped
// (certbot's timer off) showed first as every browser refusing the
// checkout. /metrics has each listener's date (the earliest NotAfter of
// the chain it serves, updated on a renewal), the start warns when it is
// less than 30 days away, and a handshake past it logs it once.
func TestListenerCertificateExpiryIsWatched(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	soon := now.Add(10 * 24 * time.Hour).UTC().Truncate(time.Second)
	later := now.Add(90 * 24 * time.Hour).UTC().Truncate(time.Second)
	leaf := func(serial int64, notAfter time.Time) *x509.Certificate {
		return &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "127.0.0.1"},
			NotBefore: now.Add(-time.Hour), NotAfter: notAfter, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	}
	certFile, keyFile, _ := writeSelfSigned(t, leaf(1, soon), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
	next := t.TempDir()
	newCert, newKey, _ := writeSelfSigned(t, leaf(2, later), filepath.Join(next, "cert.pem"), filepath.Join(next, "key.pem"))
	g := startGateway(t, testEnv(map[string]string{"ALIASGATE_LISTEN_INBOUND_CERT": certFile, "ALIASGATE_LISTEN_INBOUND_KEY": keyFile}),
		"--data-dir", filepath.Join(dir, "data"))
	gauge := func(at time.Time) string {
		return fmt.Sprintf("aliasgate_listener_cert_not_after_seconds{listener=%q} %g\n", "inbound", float64(at.Unix()))
	}
	if _, m := call(t, "GET", g.admin+"/metrics", "", "", nil); !strings.Contains(string(m), gauge(soon)) {
		t.Errorf("/metrics lacks %q", gauge(soon))
	} else if strings.Contains(string(m), `aliasgate_listener_cert_not_after_seconds{listener="outbound"}`) {
		t.Errorf("/metrics has a date for the outbound listener, which serves no certificate of its own")
	}
	if log := g.stderr.String(); !strings.Contains(log, "inbound listener certificate expires soon") || !strings.Contains(log, soon.Format(time.RFC3339)) || !strings.Contains(log, certFile) {
		t.Errorf("a listener certificate that expires at %s started without a warning naming the file and the date:\n%s", soon.Format(time.RFC3339), log)
	}

	// Renewed on disk: served from the next handshake, and so is its date.
	served := listenerCertificate(t, g.inbound, certFile, newCert)
	for _, mv := range [][2]string{{newKey, keyFile}, {newCert, certFile}} {
		if err := os.Rename(mv[0], mv[1]); err != nil {
			t.Fatal(err)
		}
	}
	served()
	if _, m := call(t, "GET", g.admin+"/metrics", "", "", nil); !strings.Contains(string(m), gauge(later)) {
		t.Errorf("after the renewal /metrics lacks %q", gauge(later))
	}

	// A chain whose intermediate expires before the leaf: the chain's date
	// is the intermediate's (clients refuse the chain from then).
	chainDir := t.TempDir()
	interEnd := now.Add(5 * 24 * time.Hour).UTC().Truncate(time.Second)
	chainFile, chainKey, _, _, _ := writeChain(t, chainDir, now.Add(-time.Hour), interEnd, later)
	lc, err := newListenerCert("inbound", chainFile, chainKey, nil, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	if got := lc.notAfter(); !got.Equal(interEnd) {
		t.Errorf("the chain's date is %s, want the intermediate's %s", got, interEnd)
	}

	// Past the date, the certificate in force is served on and said once.
	var logs syncBuffer
	clock := now // get runs on this goroutine only
	lc, err = newListenerCert("inbound", chainFile, chainKey, slog.New(slog.NewTextHandler(&logs, nil)), func() time.Time { return clock })
	if err != nil {
		t.Fatal(err)
	}
	clock = interEnd.Add(time.Minute)
	for range 3 {
		if c, err := lc.get(nil); err != nil || c == nil {
			t.Fatalf("past its date the certificate in force is not served: %v", err)
		}
	}
	if n := strings.Count(logs.String(), "inbound listener certificate has expired"); n != 1 || !strings.Contains(logs.String(), chainFile) {
		t.Errorf("%d lines about the expired certificate, want 1 naming %s:\n%s", n, chainFile, logs.String())
	}
}

// writeChain writes a leaf valid until leafEnd, signed by an intermediate
// valid from interFrom until interEnd, signed by a root, as fullchain.pem
// (leaf, intermediate) and key.pem in dir; it returns the three too.
func writeChain(t *testing.T, dir string, interFrom, interEnd, leafEnd time.Time) (certFile, keyFile string, root, inter, leaf *x509.Certificate) {
	t.Helper()
	now := time.Now()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	rootKey, interKey, leafKey := key(), key(), key()
	mk := func(tmpl, parent *x509.Certificate, pub *ecdsa.PublicKey, signer *ecdsa.PrivateKey) *x509.Certificate {
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ca := func(serial int64, name string, notBefore, notAfter time.Time) *x509.Certificate {
		return &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: notBefore, NotAfter: notAfter, IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	}
	rootTmpl := ca(1, "root", now.Add(-time.Hour), now.AddDate(2, 0, 0))
	root = mk(rootTmpl, rootTmpl, &rootKey.PublicKey, rootKey)
	inter = mk(ca(2, "intermediate", interFrom, interEnd), root, &interKey.PublicKey, rootKey)
	leaf = mk(&x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: leafEnd, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, inter, &leafKey.PublicKey, interKey)
	certFile, keyFile = filepath.Join(dir, "fullchain.pem"), filepath.Join(dir, "key.pem")
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: inter.Raw})...)
	if err := os.WriteFile(certFile, chain, 0o644); err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(leafKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, root, inter, leaf
}
