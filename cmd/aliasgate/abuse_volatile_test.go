package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// loopbackDialer dials from the loopback address ip (127.0.0.2,
// 127.0.0.3…: on Linux every 127.0.0.0/8 address reaches the gateway on
// 127.0.0.1), so that a test can be several senders as the gateway sees
// them, by their TCP peer.
func loopbackDialer(ip string) *net.Dialer {
	return &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
}

// loopbackClient returns an HTTP client whose connections leave from the
// loopback address ip (loopbackDialer).
func loopbackClient(t *testing.T, ip string) *http.Client {
	t.Helper()
	tr := &http.Transport{DialContext: loopbackDialer(ip).DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// TestAnonymousSenderCannotFlushOthersCVCs: an anonymous sender (no client,
// its own address) floods an inbound route with messages of CVCs, each
// within limits.max_volatile_per_message. Before, nothing bounded what one
// source could put in the volatile store (source_new_values counts
// persistent values only), so its flood evicted every other customer's CVC
// before the merchant could use it (the store evicts the oldest first).
// Now a source has limits.source_volatile_values new volatile values a
// minute (bursts of source_volatile_burst): past it 429 with Retry-After,
// nothing stored or forwarded; other senders, and a message over the
// burst once the bucket is full, are served; the customer's CVC still
// reveals. The store is scaled down (volatile_max_records 300) so that a
// short flood is a full one.
func TestAnonymousSenderCannotFlushOthersCVCs(t *testing.T) {
	upstreamCalls := 0
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upstreamCalls++
		b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		w.Write(b) // echoes the aliases
	}))
	defer app.Close()
	dir := t.TempDir()
	routesFile := cvcRoute(t, dir, app.URL, "")
	data := filepath.Join(dir, "data")
	env := testEnv(map[string]string{"ALIASGATE_ROUTES_FILE": routesFile,
		"ALIASGATE_VAULT_VOLATILE_MAX_RECORDS": "300", "ALIASGATE_LIMITS_MAX_VOLATILE_PER_MESSAGE": "100",
		"ALIASGATE_LIMITS_SOURCE_VOLATILE_VALUES": "20", "ALIASGATE_LIMITS_SOURCE_VOLATILE_BURST": "50"})
	c := createClient(t, env, data, "--name", "reveal", "--account", "acct_1", "--scopes", "aliases:reveal")
	g := startGateway(t, env, "--data-dir", data, "--enable-vault-api")
	body := cvcItems
	post := func(from *http.Client, body string) (int, string, http.Header) {
		t.Helper()
		res, err := from.Post(g.inbound+"/checkout", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b), res.Header
	}
	customer, attacker, other := loopbackClient(t, "127.0.0.2"), loopbackClient(t, "127.0.0.3"), loopbackClient(t, "127.0.0.4")

	status, echoed, _ := post(customer, `{"items":[{"cvc":"737"}]}`)
	var doc struct{ Items []struct{ CVC string } }
	if status != 200 || json.Unmarshal([]byte(echoed), &doc) != nil || len(doc.Items) != 1 || doc.Items[0].CVC == "737" {
		t.Fatalf("the customer's checkout: %d %s", status, echoed)
	}
	cvcAlias := doc.Items[0].CVC

	// The flood: 10 messages of 100 CVCs, three times the store.
	before := upstreamCalls
	admitted, refused := 0, 0
	for i := range 10 {
		status, got, h := post(attacker, body(100))
		switch status {
		case 200:
			admitted++
		case http.StatusTooManyRequests:
			refused++
			if h.Get("Retry-After") == "" || strings.Contains(got, "\"cvc\"") {
				t.Fatalf("flood message %d: 429 without Retry-After, or echoing the body: %s", i, got)
			}
		default:
			t.Fatalf("flood message %d: %d %s", i, status, got)
		}
	}
	// The first message is over the burst of 50 but finds the bucket full:
	// it passes and leaves the bucket 50 in debt (a big message is slow,
	// not impossible); every later one is refused.
	if admitted != 1 || refused != 9 || upstreamCalls-before != 1 {
		t.Errorf("flood of 10 messages of 100 CVCs: %d admitted, %d refused, %d forwarded; want 1, 9, 1",
			admitted, refused, upstreamCalls-before)
	}
	// Another sender is not limited by the first one's flood.
	if status, got, _ := post(other, body(40)); status != 200 {
		t.Errorf("another sender's message of 40 CVCs: %d %s", status, got)
	}
	// The customer's CVC is still there for the merchant.
	status, revealed := call(t, "GET", g.inbound+"/aliases/"+cvcAlias, "", "", func(r *http.Request) { r.SetBasicAuth(c.ID, c.Secret) })
	if status != 200 || !strings.Contains(string(revealed), `"value":"737"`) {
		t.Fatalf("the customer's CVC after an anonymous flood: %d %s", status, revealed)
	}
	_, metrics := call(t, "GET", g.admin+"/metrics", "", "", nil)
	if want := `aliasgate_abuse_refused_total{limit="source_volatile_values"} 9`; !strings.Contains(string(metrics), want) {
		t.Errorf("metrics lack %s", want)
	}
}
