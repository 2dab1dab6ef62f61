package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
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
		"ALIASGATE_LIMITS_SOURCE_VOLATILE_VALUES": "20", "ALIASGATE_LIMITS_SOURCE_VOLATILE_BURST": "50",
		// The customer and the flood share the route's account: its share
		// (TestOneAccountCannotEvictAnotherAccountsCVCs) would refuse the
		// flood first.
		"ALIASGATE_LIMITS_ACCOUNT_VOLATILE_SHARE": "0"})
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

// TestOneAccountCannotEvictAnotherAccountsCVCs: one account floods the
// volatile store with CVCs, through a logged-in API client of the vault API
// (messages of 20, its most) or through an inbound route of its own from
// many anonymous senders (each within limits.source_volatile_values). The
// per-source bucket does not apply to a client nor see a distributed
// sender, and the volatile store, full, evicted its oldest values: another
// account's CVC, stored just before, no longer revealed (404). Now an
// account holds at most limits.account_volatile_share of
// vault.volatile_max_records: past it its new volatile values are refused
// (429 with Retry-After, nothing stored or forwarded, counted as
// aliasgate_vault_operations_total{result="share_full"}), the other
// account's CVC stays and the other account is still served. The store is
// scaled down (300 values, shares of 150) so that a short flood is a full
// one.
func TestOneAccountCannotEvictAnotherAccountsCVCs(t *testing.T) {
	for _, path := range []string{"vault API client", "inbound route"} {
		t.Run(path, func(t *testing.T) {
			var forwarded atomic.Int32
			app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { forwarded.Add(1) }))
			defer app.Close()
			dir := t.TempDir()
			data := filepath.Join(dir, "data")
			env := testEnv(map[string]string{"ALIASGATE_VAULT_VOLATILE_MAX_RECORDS": "300",
				"ALIASGATE_LIMITS_MAX_VOLATILE_PER_MESSAGE": "100", "ALIASGATE_LIMITS_ACCOUNT_VOLATILE_SHARE": "50",
				"ALIASGATE_ROUTES_FILE": cvcRoute(t, dir, app.URL, "/shop-b", "account: acct_b")})
			victim := createClient(t, env, data, "--name", "victim", "--account", "acct_a", "--scopes", "aliases:write,aliases:reveal")
			flooder := createClient(t, env, data, "--name", "flooder", "--account", "acct_b", "--scopes", "aliases:write")
			g := startGateway(t, env, "--data-dir", data, "--enable-vault-api")
			// send posts n CVCs as acct_b, or as acct_a's client when victim.
			send := func(n int, asVictim bool, i int) (*http.Response, []byte) {
				t.Helper()
				var req *http.Request
				switch {
				case asVictim || path == "vault API client":
					items := make([]string, n)
					for k := range items {
						items[k] = fmt.Sprintf(`{"value":"%03d","storage":"VOLATILE"}`, k)
					}
					req, _ = http.NewRequest("POST", g.inbound+"/aliases", strings.NewReader(`{"data":[`+strings.Join(items, ",")+`]}`))
					c := flooder
					if asVictim {
						c = victim
					}
					req.SetBasicAuth(c.ID, c.Secret)
				default: // a sender of its own for each message
					req, _ = http.NewRequest("POST", g.inbound+"/shop-b", strings.NewReader(cvcItems(n)))
				}
				req.Header.Set("Content-Type", "application/json")
				res, err := loopbackClient(t, fmt.Sprintf("127.0.1.%d", i+1)).Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				b, _ := io.ReadAll(res.Body)
				return res, b
			}
			res, body := send(1, true, 200)
			var doc struct {
				Data []struct{ Aliases []struct{ Alias string } }
			}
			if res.StatusCode != 201 || json.Unmarshal(body, &doc) != nil || len(doc.Data) != 1 {
				t.Fatalf("acct_a's CVC: %d %s", res.StatusCode, body)
			}
			cvcAlias := doc.Data[0].Aliases[0].Alias

			// acct_b's flood: 20 messages of 20 CVCs, more than the
			// store. Its share is 150: seven messages pass.
			admitted, refused := 0, 0
			for i := range 20 {
				res, body := send(20, false, i)
				switch res.StatusCode {
				case 200, 201:
					admitted++
				case http.StatusTooManyRequests:
					refused++
					if res.Header.Get("Retry-After") == "" {
						t.Errorf("flood message %d: 429 without Retry-After", i)
					}
				default:
					t.Fatalf("flood message %d: %d %s", i, res.StatusCode, body)
				}
			}
			status, revealed := call(t, "GET", g.inbound+"/aliases/"+cvcAlias, "", "", basicAuth(victim))
			if status != 200 || !strings.Contains(string(revealed), `"value":"000"`) {
				t.Fatalf("acct_a's CVC after acct_b's flood (%d admitted, %d refused): %d %s", admitted, refused, status, revealed)
			}
			if admitted != 7 || refused != 13 {
				t.Errorf("acct_b's flood of 20 messages of 20 CVCs: %d admitted, %d refused; want 7 and 13", admitted, refused)
			}
			if path == "inbound route" && forwarded.Load() != 7 {
				t.Errorf("%d flood messages forwarded, want the 7 admitted", forwarded.Load())
			}
			// acct_a is still served.
			if res, body := send(20, true, 201); res.StatusCode != 201 {
				t.Errorf("acct_a after acct_b's flood: %d %s", res.StatusCode, body)
			}
			_, metrics := call(t, "GET", g.admin+"/metrics", "", "", nil)
			if want := `aliasgate_vault_operations_total{op="redact",result="share_full",store="-"} 13`; !strings.Contains(string(metrics), want) {
				t.Errorf("metrics lack %s", want)
			}
		})
	}
}
