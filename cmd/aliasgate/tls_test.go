package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// selfSigned writes a certificate and key for 127.0.0.1 and returns their
// paths and a pool that trusts the certificate.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	certFile, keyFile, cert := writeSelfSigned(t, tmpl, filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// writeSelfSigned signs tmpl with a new ECDSA P-256 key, writes the
// certificate (0644) to certPath and the key (PKCS #8, 0600) to keyPath, and
// returns the paths and the certificate.
func writeSelfSigned(t *testing.T, tmpl *x509.Certificate, certPath, keyPath string) (string, string, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath, cert
}

func TestInboundTLSServesHTTP2(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	g := startGateway(t, testEnv(map[string]string{"ALIASGATE_LISTEN_INBOUND_CERT": certFile, "ALIASGATE_LISTEN_INBOUND_KEY": keyFile}),
		"--data-dir", filepath.Join(dir, "data"))
	url := strings.Replace(g.inbound, "http://", "https://", 1) + "/oauth/token"
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	res, err := client.Post(url, "application/x-www-form-urlencoded", strings.NewReader("grant_type=client_credentials"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.ProtoMajor != 2 || res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("got %s %d, want HTTP/2 401", res.Proto, res.StatusCode)
	}
	if !strings.Contains(g.stderr.String(), `"listener":"inbound"`) || !strings.Contains(g.stderr.String(), `"tls":true`) {
		t.Error("the listening line does not say TLS")
	}
}

func TestInboundTLSNeedsBothFiles(t *testing.T) {
	_, _, err := runCmd(t, testEnv(map[string]string{"ALIASGATE_LISTEN_INBOUND_CERT": "/x/cert.pem"}), "serve", "--data-dir", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "inbound_key") {
		t.Fatalf("err = %v", err)
	}
	_, _, err = runCmd(t, testEnv(map[string]string{"ALIASGATE_LISTEN_INBOUND_CERT": "/nope/cert.pem", "ALIASGATE_LISTEN_INBOUND_KEY": "/nope/key.pem"}), "serve", "--data-dir", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "inbound TLS") {
		t.Fatalf("err = %v", err)
	}
}

// TestShutdownDrainsInFlightRequests signals the gateway while a request
// waits on a slow upstream: the request still completes.
func TestShutdownDrainsInFlightRequests(t *testing.T) {
	var arrived atomic.Bool
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Store(true)
		time.Sleep(500 * time.Millisecond)
		io.WriteString(w, "done")
	}))
	defer upstream.Close()
	dir := t.TempDir()
	routesFile := filepath.Join(dir, "routes.yaml")
	os.WriteFile(routesFile, []byte("routes:\n  - {id: slow, direction: inbound, host: '*', upstream: '"+upstream.URL+"'}\n"), 0o600)
	g := startGateway(t, testEnv(map[string]string{"ALIASGATE_ROUTES_FILE": routesFile}), "--data-dir", filepath.Join(dir, "data"))
	type result struct {
		status int
		body   string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		res, err := http.Get(g.inbound + "/slow")
		if err != nil {
			done <- result{err: err}
			return
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		done <- result{status: res.StatusCode, body: string(b)}
	}()
	for !arrived.Load() {
		time.Sleep(5 * time.Millisecond)
	}
	g.stop(t) // cancels the context as SIGTERM does, and waits for serve to return
	r := <-done
	if r.err != nil || r.status != 200 || r.body != "done" {
		t.Fatalf("in-flight request: %d %q %v", r.status, r.body, r.err)
	}
}

// TestOutboundHTTPSProxy: with listen.outbound_cert and outbound_key the
// outbound listener is an HTTPS proxy. A Go client with an https:// proxy
// URL speaks TLS to it before its CONNECT (the proxy credentials travel
// inside TLS) and its alias reaches the processor as the card number; a
// client speaking plain HTTP to the listener gets no proxy service.
func TestOutboundHTTPSProxy(t *testing.T) {
	var got atomic.Value
	psp := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.Store(string(b))
		io.WriteString(w, `{"status":"authorized"}`)
	}))
	defer psp.Close()
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	bundle := filepath.Join(dir, "psp.pem")
	os.WriteFile(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: psp.Certificate().Raw}), 0o600)
	_, pspPort, _ := net.SplitHostPort(psp.Listener.Addr().String())
	routesFile := filepath.Join(dir, "routes.yaml")
	os.WriteFile(routesFile, []byte(`routes:
  - id: psp
    direction: outbound
    host: 127.0.0.1
    ports: [`+pspPort+`]
    filters:
      - {id: reveal-out, operation: reveal, targets: [{json: card.number}]}
`), 0o600)
	data := filepath.Join(dir, "data")
	env := testEnv(map[string]string{"ALIASGATE_ROUTES_FILE": routesFile, "ALIASGATE_OUTBOUND_CA_BUNDLE": bundle,
		"ALIASGATE_OUTBOUND_ALLOW_PRIVATE_DESTINATIONS": "true",
		"ALIASGATE_LISTEN_OUTBOUND_CERT":                certFile, "ALIASGATE_LISTEN_OUTBOUND_KEY": keyFile})
	cred := createClient(t, env, data, "--name", "backend", "--account", "acct_1", "--outbound")
	apiCred := createClient(t, env, data, "--name", "api", "--account", "acct_1", "--scopes", "aliases:write")
	caPEM, _, err := runCmd(t, env, "ca", "cert", "--data-dir", data)
	if err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, env, "--data-dir", data, "--enable-vault-api")
	if !strings.Contains(g.stderr.String(), `"listener":"outbound","addr":"`+strings.TrimPrefix(g.outbound, "http://")+`","tls":true`) {
		t.Errorf("the outbound listening line does not say TLS:\n%s", g.stderr.String())
	}
	alias := apiAlias(t, g, apiCred, "4111111111111111")

	pool.AppendCertsFromPEM([]byte(caPEM)) // the proxy's certificate and the gateway CA
	proxyURL, _ := url.Parse(strings.Replace(g.outbound, "http://", "https://", 1))
	proxyURL.User = url.UserPassword(cred.ID, cred.Secret)
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL), TLSClientConfig: &tls.Config{RootCAs: pool}}}
	res, err := client.Post(psp.URL+"/charges", "application/json", strings.NewReader(`{"card":{"number":"`+alias+`"}}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if seen, _ := got.Load().(string); res.StatusCode != 200 || seen != `{"card":{"number":"4111111111111111"}}` {
		t.Fatalf("processor got %q (status %d)", seen, res.StatusCode)
	}

	// Plain HTTP to the TLS listener: no tunnel, nothing reaches the processor.
	got.Store("")
	clear := *proxyURL
	clear.Scheme = "http"
	plainClient := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(&clear), TLSClientConfig: &tls.Config{RootCAs: pool}}}
	if res, err := plainClient.Post(psp.URL+"/charges", "application/json", strings.NewReader(`{"card":{"number":"`+alias+`"}}`)); err == nil {
		res.Body.Close()
		t.Fatalf("plain HTTP to the HTTPS proxy: status %d", res.StatusCode)
	}
	if seen, _ := got.Load().(string); seen != "" {
		t.Fatalf("processor got %q through a cleartext proxy connection", seen)
	}
}

// TestListenerTLSKeyIsASecretFile: a listener's private key that its group
// or others may read was loaded, so any local user could pose as the
// gateway to the browsers posting card data to it; a FIFO named as the
// certificate blocked the start. Both are refused, by serve and by config
// check, for both listeners, and the error never quotes the key.
func TestListenerTLSKeyIsASecretFile(t *testing.T) {
	for _, listener := range []string{"INBOUND", "OUTBOUND"} {
		dir := t.TempDir()
		certFile, keyFile, _ := selfSigned(t, dir)
		if err := os.Chmod(keyFile, 0o640); err != nil {
			t.Fatal(err)
		}
		keyPEM, _ := os.ReadFile(keyFile)
		env := testEnv(map[string]string{"ALIASGATE_LISTEN_" + listener + "_CERT": certFile, "ALIASGATE_LISTEN_" + listener + "_KEY": keyFile})
		cfgFile := filepath.Join(dir, "aliasgate.yaml")
		lower := strings.ToLower(listener)
		os.WriteFile(cfgFile, []byte("listen: {"+lower+"_cert: "+certFile+", "+lower+"_key: "+keyFile+"}\n"), 0o600)
		for _, args := range [][]string{{"serve", "--data-dir", filepath.Join(dir, "data")}, {"config", "check", "--config", cfgFile}} {
			stdout, stderr, err := runCmd(t, env, args...)
			if err == nil || !strings.Contains(err.Error(), "chmod 600") {
				t.Errorf("%s %v with a key of mode 0640: err = %v, want a refusal saying chmod 600", listener, args, err)
			}
			keyBody := strings.Split(string(keyPEM), "\n")[1]
			if strings.Contains(stdout+stderr+fmt.Sprint(err), keyBody) {
				t.Errorf("%s %v: the key's content was printed", listener, args)
			}
		}
	}
	dir := t.TempDir()
	_, keyFile, _ := selfSigned(t, dir)
	fifo := filepath.Join(dir, "cert.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, _, err := runCmd(t, testEnv(map[string]string{"ALIASGATE_LISTEN_INBOUND_CERT": fifo, "ALIASGATE_LISTEN_INBOUND_KEY": keyFile}),
			"serve", "--data-dir", filepath.Join(dir, "data"))
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("a FIFO as the certificate: err = %v, want not a regular file", err)
		}
	case <-time.After(30 * time.Second): // a hang, not a speed
		t.Fatal("serve blocked opening a FIFO named as the certificate")
	}
}
