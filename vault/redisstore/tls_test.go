package redisstore

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/redistest"
)

// TestRedissNeverSkipsVerification: go-redis reads a skip_verify=true query
// parameter of a rediss:// URL as "do not verify the server's certificate"
// (tls.Config.InsecureSkipVerify), and Open took it: the gateway sent CVCs
// and the Redis password to a server presenting a self-signed certificate
// that no trusted CA issued — anyone on the path. Open refuses such a URL
// now, before connecting, without showing the password; a rediss:// URL
// without it is verified as before (the self-signed server is refused).
func TestRedissNeverSkipsVerification(t *testing.T) {
	dir := t.TempDir()
	cert, key := selfSignedLoopbackCert(t, dir)
	plain, tlsAddr := freeLoopbackAddr(t), freeLoopbackAddr(t)
	_, tlsPort, _ := net.SplitHostPort(tlsAddr)
	redistest.Run(t, plain, dir, "--tls-port", tlsPort, "--tls-cert-file", cert, "--tls-key-file", key,
		"--tls-ca-cert-file", cert, "--tls-auth-clients", "no")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const secret = "s3cretPW"
	for _, c := range []struct {
		name, url string
		refused   bool // before connecting, naming skip_verify
	}{
		{"verified", "rediss://:" + secret + "@" + tlsAddr + "/0", false},
		{"skip_verify=true", "rediss://:" + secret + "@" + tlsAddr + "/0?skip_verify=true", true},
		{"skip_verify=1", "rediss://:" + secret + "@" + tlsAddr + "/0?skip_verify=1", true},
		{"skip_verify=True", "rediss://" + tlsAddr + "/0?skip_verify=True", false},
	} {
		s, err := Open(ctx, c.url, Options{})
		if err == nil {
			s.Close()
			t.Errorf("%s: Open of a server with a self-signed certificate succeeded", c.name)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%s: the error shows the password: %v", c.name, err)
		}
		if c.refused && !strings.Contains(err.Error(), "skip_verify is not accepted") {
			t.Errorf("%s: %v, want the URL refused for its skip_verify", c.name, err)
		}
	}
	// skip_verify=false asks for what is done anyway: verification.
	if s, err := Open(ctx, "rediss://"+tlsAddr+"/0?skip_verify=false", Options{}); err == nil {
		s.Close()
		t.Error("skip_verify=false: Open of a server with a self-signed certificate succeeded")
	} else if strings.Contains(err.Error(), "skip_verify") {
		t.Errorf("skip_verify=false is refused as a way to turn verification off: %v", err)
	}
}

// freeLoopbackAddr returns a loopback address whose port was free a moment ago.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// selfSignedLoopbackCert writes a self-signed certificate for 127.0.0.1 and
// its key to dir and returns their paths.
func selfSignedLoopbackCert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "redis.crt"), filepath.Join(dir, "redis.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
