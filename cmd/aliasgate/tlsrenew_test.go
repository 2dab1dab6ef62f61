package main

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/proxy"
)

// TestRenewedListenerCertificateIsServed: the inbound listener's
// certificate and key were read once at start, so a certificate renewed
// on disk (certbot, cert-manager: every 60 to 90 days) was not served
// until a restart, and the gateway went on serving the old one past its
// expiry, refused by every browser posting card data. The files are
// looked at again at each handshake: a renewed pair, renamed into place,
// is served from the next connection on; a replacement that does not load
// (here a certificate that is not PEM) keeps the pair in force served and
// is logged once, naming the file.
func TestRenewedListenerCertificateIsServed(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, _ := selfSigned(t, dir)
	next := t.TempDir()
	newCert, newKey, _ := selfSigned(t, next)
	g := startGateway(t, testEnv(map[string]string{"ALIASGATE_LISTEN_INBOUND_CERT": certFile, "ALIASGATE_LISTEN_INBOUND_KEY": keyFile}),
		"--data-dir", filepath.Join(dir, "data"))
	served := listenerCertificate(t, g.inbound, certFile, newCert)
	first, renewed := certificateDER(t, certFile), certificateDER(t, newCert)
	if served() != first {
		t.Fatal("the listener does not serve its certificate")
	}

	// Renewed: a new pair written beside, renamed into place (key first).
	for _, mv := range [][2]string{{newKey, keyFile}, {newCert, certFile}} {
		if err := os.Rename(mv[0], mv[1]); err != nil {
			t.Fatal(err)
		}
	}
	if served() != renewed {
		t.Fatal("the renewed certificate is not served: the listener still serves the one it read at start")
	}

	// A replacement that does not load: the renewed pair stays in force.
	broken := filepath.Join(next, "broken.pem")
	if err := os.WriteFile(broken, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(broken, certFile); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if served() != renewed {
			t.Fatal("after a replacement that does not load, the listener does not serve the pair in force")
		}
	}
	if n := strings.Count(g.stderr.String(), "TLS certificate not reloaded"); n != 1 {
		t.Errorf("%d log lines about the replacement that did not load, want 1:\n%s", n, g.stderr.String())
	}
	if !strings.Contains(g.stderr.String(), certFile) {
		t.Errorf("the log does not name %s", certFile)
	}
}

// TestRenewedListenerKeyIsServedOnceItsModeIsFixed: a renewed key that
// group or others may read is refused ("run chmod 600 on it") and the pair
// in force kept; the operator ran the chmod, and the listener went on
// serving the old certificate, to its expiry: it read the pair again only
// when a file's time, size or identity changed, and a chmod changes none.
// The files' modes are part of what the listener looks at.
func TestRenewedListenerKeyIsServedOnceItsModeIsFixed(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, _ := selfSigned(t, dir)
	next := t.TempDir()
	newCert, newKey, _ := selfSigned(t, next)
	g := startGateway(t, testEnv(map[string]string{"ALIASGATE_LISTEN_INBOUND_CERT": certFile, "ALIASGATE_LISTEN_INBOUND_KEY": keyFile}),
		"--data-dir", filepath.Join(dir, "data"))
	served := listenerCertificate(t, g.inbound, certFile, newCert)
	first, renewed := certificateDER(t, certFile), certificateDER(t, newCert)
	if served() != first {
		t.Fatal("the listener does not serve its certificate")
	}
	if err := os.Chmod(newKey, 0o644); err != nil { // a renewal hook's umask
		t.Fatal(err)
	}
	for _, mv := range [][2]string{{newKey, keyFile}, {newCert, certFile}} {
		if err := os.Rename(mv[0], mv[1]); err != nil {
			t.Fatal(err)
		}
	}
	if served() != first {
		t.Fatal("a key others may read was loaded")
	}
	if !strings.Contains(g.stderr.String(), "chmod 600") {
		t.Fatalf("the refusal does not say to run chmod 600:\n%s", g.stderr.String())
	}
	if err := os.Chmod(keyFile, 0o600); err != nil {
		t.Fatal(err)
	}
	if served() != renewed {
		t.Fatal("after chmod 600 on the renewed key the listener still serves the old certificate")
	}
}

// listenerCertificate returns a function that opens a TLS connection to
// the listener at base (its http:// URL) and returns the certificate it
// served (DER), verified against the certificates in files (PEM), the
// ones the test may see served.
func listenerCertificate(t *testing.T, base string, files ...string) func() string {
	t.Helper()
	roots := x509.NewCertPool()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !roots.AppendCertsFromPEM(b) {
			t.Fatalf("%s: no certificate", f)
		}
	}
	addr := strings.TrimPrefix(base, "http://")
	return func() string {
		t.Helper()
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return string(conn.ConnectionState().PeerCertificates[0].Raw)
	}
}

// certificateDER returns the DER of the PEM certificate in path.
func certificateDER(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: no PEM", path)
	}
	return string(blk.Bytes)
}

// TestStagedListenerCertificateIsServedFromItsTime: a renewal staged early
// (its NotBefore ahead) is not served while every client would refuse it:
// the pair in force is kept, logged once; from the time it is valid the
// next handshake serves it, though its files did not change since.
func TestStagedListenerCertificateIsServedFromItsTime(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, _ := selfSigned(t, dir)
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	logs := &syncBuffer{}
	lc, err := newListenerCert("inbound", certFile, keyFile, slog.New(slog.NewTextHandler(logs, nil)), clock)
	if err != nil {
		t.Fatal(err)
	}
	first := certificateDER(t, certFile)
	served := func() string {
		c, err := lc.get(nil)
		if err != nil {
			t.Fatal(err)
		}
		return string(c.Certificate[0])
	}
	if served() != first {
		t.Fatal("the listener does not serve its certificate")
	}
	from := now.Add(24 * time.Hour)
	next := t.TempDir()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: from, NotAfter: from.Add(90 * 24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	newCert, newKey, _ := writeSelfSigned(t, tmpl, filepath.Join(next, "cert.pem"), filepath.Join(next, "key.pem"))
	staged := certificateDER(t, newCert)
	for _, mv := range [][2]string{{newKey, keyFile}, {newCert, certFile}} {
		if err := os.Rename(mv[0], mv[1]); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		if served() != first {
			t.Fatal("a certificate not valid yet is served")
		}
	}
	if n := strings.Count(logs.String(), "TLS certificate not reloaded"); n != 1 || !strings.Contains(logs.String(), "not yet valid") {
		t.Errorf("%d log lines about the staged certificate, want 1 saying not yet valid:\n%s", n, logs.String())
	}
	mu.Lock()
	now = from // its NotBefore: no clock skew for a renewal (TestStagedListenerCertificateIsNotServedBeforeItsTime)
	mu.Unlock()
	if served() != staged {
		t.Fatal("the staged certificate is not served from the time it is valid")
	}
}

// TestStagedListenerCertificateIsNotServedBeforeItsTime: the clock skew
// allowed at start (proxy.ClockSkew: a start is not refused over this
// machine's clock running a little behind the issuer's) is no reason to
// put a staged renewal in force early while the pair in force is valid:
// the clients' clocks judge it, this machine's is the best guess of
// theirs, and from its NotBefore less the skew up to its NotBefore every
// client with a right clock refused the renewal the listener had switched
// to, five minutes of failed handshakes with a valid certificate on disk.
// Now a renewal is served from its NotBefore (of the latest certificate of
// its chain), by this machine's clock.
func TestStagedListenerCertificateIsNotServedBeforeItsTime(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, _ := selfSigned(t, dir) // valid for another hour
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	setClock := func(c time.Time) { mu.Lock(); now = c; mu.Unlock() }
	lc, err := newListenerCert("inbound", certFile, keyFile, nil, clock)
	if err != nil {
		t.Fatal(err)
	}
	first := certificateDER(t, certFile)
	served := func() string {
		c, err := lc.get(nil)
		if err != nil {
			t.Fatal(err)
		}
		return string(c.Certificate[0])
	}
	for _, tc := range []struct {
		name  string
		ahead time.Duration // of the renewal's NotBefore, when it is put on disk
	}{{"staged early", 30 * time.Minute}, {"within the skew", proxy.ClockSkew / 2}} {
		t.Run(tc.name, func(t *testing.T) {
			setClock(time.Now())
			from := clock().Add(tc.ahead).Truncate(time.Second)
			next := t.TempDir()
			tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "127.0.0.1"},
				NotBefore: from, NotAfter: from.Add(90 * 24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
				ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
			newCert, newKey, _ := writeSelfSigned(t, tmpl, filepath.Join(next, "cert.pem"), filepath.Join(next, "key.pem"))
			staged := certificateDER(t, newCert)
			for _, mv := range [][2]string{{newKey, keyFile}, {newCert, certFile}} {
				if err := os.Rename(mv[0], mv[1]); err != nil {
					t.Fatal(err)
				}
			}
			if got := served(); got != first {
				t.Fatalf("a renewal valid from %s served at %s, the certificate in force valid", from, clock())
			}
			setClock(from.Add(-time.Second))
			if got := served(); got != first {
				t.Fatalf("a renewal valid from %s served at %s, the certificate in force valid", from, clock())
			}
			setClock(from)
			if served() != staged {
				t.Fatal("the staged certificate is not served from its NotBefore")
			}
			first = staged
		})
	}
}
