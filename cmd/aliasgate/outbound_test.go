package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// apiAlias makes an alias of value through the gateway's vault API with
// cred (scope aliases:write) and returns it.
func apiAlias(t *testing.T, g *gatewayProc, cred credential, value string) string {
	t.Helper()
	status, body := call(t, "POST", g.inbound+"/aliases", "application/json", `{"data":[{"value":"`+value+`"}]}`,
		func(r *http.Request) { r.SetBasicAuth(cred.ID, cred.Secret) })
	var created struct {
		Data []struct{ Aliases []struct{ Alias string } }
	}
	if status != 201 || json.Unmarshal(body, &created) != nil || len(created.Data) != 1 || len(created.Data[0].Aliases) == 0 {
		t.Fatalf("create alias: %d %s", status, body)
	}
	return created.Data[0].Aliases[0].Alias
}

// TestOutboundProxyRevealsToTheProcessor runs serve with an outbound route to
// a TLS processor: a merchant client going through the proxy with outbound
// credentials and the gateway CA sends an alias, the processor receives the
// card number.
func TestOutboundProxyRevealsToTheProcessor(t *testing.T) {
	var mu sync.Mutex
	var got string
	psp := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = string(b)
		mu.Unlock()
		io.WriteString(w, `{"status":"authorized"}`)
	}))
	defer psp.Close()
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
		"ALIASGATE_OUTBOUND_ALLOW_PRIVATE_DESTINATIONS": "true"})
	cred := createClient(t, env, data, "--name", "backend", "--account", "acct_1", "--outbound")
	apiCred := createClient(t, env, data, "--name", "api", "--account", "acct_1", "--scopes", "aliases:write")
	caPEM, _, err := runCmd(t, env, "ca", "cert", "--data-dir", data)
	if err != nil || !strings.Contains(caPEM, "BEGIN CERTIFICATE") {
		t.Fatalf("ca cert: %v %q", err, caPEM)
	}

	g := startGateway(t, env, "--data-dir", data, "--enable-vault-api")
	alias := apiAlias(t, g, apiCred, "4111111111111111")

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(caPEM))
	proxyURL, _ := url.Parse(g.outbound)
	proxyURL.User = url.UserPassword(cred.ID, cred.Secret)
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL), TLSClientConfig: &tls.Config{RootCAs: pool}}}
	res, err := client.Post(psp.URL+"/charges", "application/json", strings.NewReader(`{"card":{"number":"`+alias+`"},"amount":100}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	mu.Lock()
	seen := got
	mu.Unlock()
	if res.StatusCode != 200 || seen != `{"card":{"number":"4111111111111111"},"amount":100}` {
		t.Fatalf("processor got %q (status %d)", seen, res.StatusCode)
	}

	// The same call with curl as the merchant's client.
	caFile := filepath.Join(dir, "gateway-ca.pem")
	os.WriteFile(caFile, []byte(caPEM), 0o600)
	mu.Lock()
	got = ""
	mu.Unlock()
	cmd := exec.Command("curl", "-sS", "--fail-with-body", "-x", proxyURL.String(), "--cacert", caFile,
		"-H", "Content-Type: application/json", "-d", `{"card":{"number":"`+alias+`"}}`, psp.URL+"/charges")
	if cout, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(cout), "authorized") {
		t.Fatalf("curl through the proxy: %v\n%s", err, cout)
	}
	mu.Lock()
	seen = got
	mu.Unlock()
	if seen != `{"card":{"number":"4111111111111111"}}` {
		t.Fatalf("processor got %q from curl", seen)
	}

	// Without credentials: 407.
	noAuth := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(&url.URL{Scheme: "http", Host: proxyURL.Host}), TLSClientConfig: &tls.Config{RootCAs: pool}}}
	if _, err := noAuth.Get(psp.URL + "/x"); err == nil || !strings.Contains(err.Error(), "Proxy Authentication Required") {
		t.Fatalf("without credentials: %v", err)
	}
}

func TestConfiguredCAFilesAreUsedAndNeverCreated(t *testing.T) {
	dir := t.TempDir()
	made, _, err := runCmd(t, testEnv(nil), "ca", "cert", "--data-dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	env := testEnv(map[string]string{"ALIASGATE_OUTBOUND_CA_CERT": filepath.Join(dir, caCertFile), "ALIASGATE_OUTBOUND_CA_KEY": filepath.Join(dir, caKeyFile)})
	again, _, err := runCmd(t, env, "ca", "cert", "--data-dir", t.TempDir())
	if err != nil || again != made {
		t.Fatalf("configured CA: %v, same PEM %v", err, again == made)
	}
	missing := testEnv(map[string]string{"ALIASGATE_OUTBOUND_CA_CERT": filepath.Join(dir, "nope.pem"), "ALIASGATE_OUTBOUND_CA_KEY": filepath.Join(dir, "nope.key")})
	if _, _, err := runCmd(t, missing, "ca", "cert", "--data-dir", dir); err == nil {
		t.Fatal("missing configured CA files were accepted")
	}
	if _, err := os.Stat(filepath.Join(dir, "nope.pem")); err == nil {
		t.Fatal("a configured CA file was created")
	}
}
