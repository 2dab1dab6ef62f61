package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRevokedProxyCredentialsEndOpenTunnels: proxy credentials that are
// revoked, or whose secret is rotated, through the running gateway are
// refused at once, also inside a CONNECT tunnel the client opened with them
// before: its next request (the same tunnel, kept alive) gets 407 and the
// tunnel is closed; the processor gets no card number after the change.
func TestRevokedProxyCredentialsEndOpenTunnels(t *testing.T) {
	var mu sync.Mutex
	var got []string
	psp := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, string(b))
		mu.Unlock()
		io.WriteString(w, `{"status":"authorized"}`)
	}))
	defer psp.Close()
	received := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(got)
	}
	dir := t.TempDir()
	bundle := filepath.Join(dir, "psp.pem")
	os.WriteFile(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: psp.Certificate().Raw}), 0o600)
	routesFile := filepath.Join(dir, "routes.yaml")
	os.WriteFile(routesFile, []byte(`routes:
  - id: psp
    direction: outbound
    host: 127.0.0.1
    filters:
      - {id: reveal-out, operation: reveal, targets: [{json: card.number}]}
`), 0o600)
	data := filepath.Join(dir, "data")
	env := testEnv(map[string]string{"ALIASGATE_ROUTES_FILE": routesFile, "ALIASGATE_OUTBOUND_CA_BUNDLE": bundle,
		"ALIASGATE_OUTBOUND_ALLOW_PRIVATE_DESTINATIONS": "true",
		"ALIASGATE_ADMIN_TOKEN":                         adminToken, "ALIASGATE_LISTEN_ADMIN": freeAddr(t)})
	revoked := createClient(t, env, data, "--name", "revoked", "--account", "acct_1", "--outbound")
	rotated := createClient(t, env, data, "--name", "rotated", "--account", "acct_1", "--outbound")
	api := createClient(t, env, data, "--name", "api", "--account", "acct_1", "--scopes", "aliases:write")
	caPEM, _, err := runCmd(t, env, "ca", "cert", "--data-dir", data)
	if err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, env, "--data-dir", data, "--enable-vault-api")
	alias := apiAlias(t, g, api, "4111111111111111")
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(caPEM))

	for _, tc := range []struct {
		name   string
		cred   credential
		change func()
	}{
		{"revoke", revoked, func() { revoke(t, env, revoked.ID, "--admin", g.admin) }},
		{"rotate-secret", rotated, func() { rotateSecret(t, env, rotated.ID, "--admin", g.admin) }},
	} {
		proxyURL, _ := url.Parse(g.outbound)
		proxyURL.User = url.UserPassword(tc.cred.ID, tc.cred.Secret)
		tr := &http.Transport{Proxy: http.ProxyURL(proxyURL), TLSClientConfig: &tls.Config{RootCAs: pool}, MaxConnsPerHost: 1}
		client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		defer tr.CloseIdleConnections()
		pay := func() (status int, reused bool) {
			t.Helper()
			req, _ := http.NewRequest(http.MethodPost, psp.URL+"/charges", strings.NewReader(`{"card":{"number":"`+alias+`"}}`))
			req.Header.Set("Content-Type", "application/json")
			req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
				GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused },
			}))
			res, err := client.Do(req)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			return res.StatusCode, reused
		}
		if status, _ := pay(); status != http.StatusOK {
			t.Fatalf("%s: before the change: %d", tc.name, status)
		}
		before := received()
		tc.change()
		status, reused := pay()
		if !reused {
			t.Fatalf("%s: the second request did not go through the open tunnel", tc.name)
		}
		if status != http.StatusProxyAuthRequired {
			t.Errorf("%s: a request in the tunnel opened before: %d, want 407", tc.name, status)
		}
		if n := received() - before; n != 0 {
			t.Errorf("%s: the processor got %d requests after the change", tc.name, n)
		}
		// The tunnel is closed: the next request opens a new one, and
		// its CONNECT is refused.
		if _, err := client.Post(psp.URL+"/charges", "application/json", strings.NewReader(`{}`)); err == nil ||
			!strings.Contains(err.Error(), "Proxy Authentication Required") {
			t.Errorf("%s: a new tunnel: %v", tc.name, err)
		}
	}
}
