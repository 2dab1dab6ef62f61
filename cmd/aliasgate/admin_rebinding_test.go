package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/config"
	"github.com/aliasgate/aliasgate/internal/hostguard"
)

// adminRaw sends one request to the admin listener with the given Host and
// headers (the TCP peer stays 127.0.0.1) and returns its status and body.
func adminRaw(t *testing.T, g *gatewayProc, method, path, host, body string, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, g.admin+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestAdminListenerRefusesRebindingHosts: a page whose name the attacker
// rebinds to 127.0.0.1 sends the operator's browser's requests to the
// admin listener with its own name in Host (and, for its own posts, a
// matching Origin, as same-origin requests carry). Before, the listener
// answered them all: the page read /metrics and /readyz, the inspector's
// API with a token it guessed, and its wrong tokens at /ui/login locked
// out 127.0.0.1, the operator's own address (the operator's correct token
// then got 429). Now every Host that is not an address, localhost or an
// admin.allowed_hosts entry (or, for an entry with a port, at another
// port) is answered 421 before any handler (the lockout is not charged); the
// listener's own spellings still work. Failed before: every rebinding Host
// got 200 (401 at /ui/login), and the operator was locked out.
func TestAdminListenerRefusesRebindingHosts(t *testing.T) {
	g, _ := inspectorGateway(t, "routes: []\n", map[string]string{"ALIASGATE_ADMIN_ALLOWED_HOSTS": "gw-admin.internal,forwarded.example:19090"})
	u, err := url.Parse(g.admin)
	if err != nil {
		t.Fatal(err)
	}
	port := u.Port()
	bearer := map[string]string{"Authorization": "Bearer " + testAdminToken}

	rebinding := []string{
		"evil.example", "evil.example:" + port, "EVIL.example:" + port, "127.0.0.1.nip.io:" + port,
		"7f000001.rbndr.us:" + port, "localhost.:" + port, "localhost.evil.example:" + port,
		"gw-admin.internal.:" + port, "sub.gw-admin.internal:" + port, "forwarded.example:" + port,
		"forwarded.example:1", "localhost:" + port + "0", "[127.0.0.1]:" + port, "127.0.0.1:" + port + ":" + port,
	}
	for _, host := range rebinding {
		for _, c := range []struct {
			method, path string
			header       map[string]string
		}{
			{"GET", "/metrics", nil},
			{"GET", "/readyz", nil},
			{"GET", "/healthz", nil},
			{"GET", "/ui/login", nil},
			{"GET", "/ui/api/captures", bearer},
			{"GET", "/admin/keys/status", bearer},
		} {
			status, body := adminRaw(t, g, c.method, c.path, host, "", c.header)
			if status != http.StatusMisdirectedRequest && status != http.StatusBadRequest {
				t.Errorf("Host %q: %s %s answered %d (want 421): %.120s", host, c.method, c.path, status, body)
			}
			if strings.Contains(body, "aliasgate_") || strings.Contains(body, "captures") {
				t.Errorf("Host %q: %s %s answered what it serves: %.120s", host, c.method, c.path, body)
			}
		}
	}

	// The rebinding page guesses tokens at the login form, its post
	// same-origin from the browser's view: not one is counted.
	evil := "evil.example:" + port
	for range 15 {
		status, _ := adminRaw(t, g, "POST", "/ui/login", evil, "token=wrong-guess-0123456789",
			map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Origin": "http://" + evil, "Sec-Fetch-Site": "same-origin"})
		if status != http.StatusMisdirectedRequest {
			t.Fatalf("rebinding login post answered %d (want 421)", status)
		}
	}

	// The listener's own names keep working, the operator's token first
	// (not locked out by the guesses above).
	for _, host := range []string{"", "127.0.0.1:" + port, "localhost:" + port, "LocalHost:" + port, "localhost",
		"[::1]:" + port, "[::ffff:127.0.0.1]:" + port, "10.1.2.3:" + port, "gw-admin.internal:" + port,
		"GW-Admin.Internal", "forwarded.example:19090",
		// Another port: a container's mapped port, a port forward.
		"127.0.0.1:1", "localhost:1", "[::1]:1", "gw-admin.internal:1"} {
		status, body := adminRaw(t, g, "GET", "/ui/api/captures", host, "", bearer)
		if status != http.StatusOK {
			t.Errorf("Host %q: the inspector API answered %d (want 200): %.120s", host, status, body)
		}
		if status, _ := adminRaw(t, g, "GET", "/metrics", host, "", nil); status != http.StatusOK {
			t.Errorf("Host %q: /metrics answered %d (want 200)", host, status)
		}
	}
}

// TestAdminListenerRefusesCrossOriginPosts: a state-changing request a
// browser marks as from another origin is refused 403 anywhere on the
// admin listener, before the token is compared, so that a cross-site page
// cannot spend the operator's address's free failures either. Failed
// before for the /admin/ endpoints (their wrong bearer tokens from a
// cross-site page were compared and counted: the operator got 429); the
// inspector's own posts were already refused (regression cover there).
func TestAdminListenerRefusesCrossOriginPosts(t *testing.T) {
	g, _ := inspectorGateway(t, "routes: []\n", nil)
	wrong := map[string]string{"Authorization": "Bearer wrong-token-0123456789abcdef"}
	with := func(h map[string]string, k, v string) map[string]string {
		out := map[string]string{k: v}
		for a, b := range h {
			out[a] = b
		}
		return out
	}
	cases := []struct {
		path   string
		header map[string]string
	}{
		{"/admin/keys/rotate", with(wrong, "Origin", "https://evil.example")},
		{"/admin/keys/rotate", with(wrong, "Origin", "null")},
		{"/admin/keys/rotate", with(wrong, "Sec-Fetch-Site", "cross-site")},
		{"/admin/keys/rotate", with(wrong, "Sec-Fetch-Site", "same-site")},
		{"/admin/clients/x/revoke", with(wrong, "Origin", "http://localhost:1")},
		{"/admin/tsp/simulate", with(wrong, "Origin", "http://127.0.0.1.nip.io")},
		{"/ui/login", map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Origin": "https://evil.example"}},
		{"/ui/api/apply", with(wrong, "Origin", "https://evil.example")},
	}
	for range 2 {
		for _, c := range cases {
			status, body := adminRaw(t, g, "POST", c.path, "", "token=wrong-guess-0123456789", c.header)
			if status != http.StatusForbidden {
				t.Errorf("POST %s with %v answered %d (want 403): %.120s", c.path, c.header, status, body)
			}
		}
	}
	// Sixteen refused guesses later the operator's token still works.
	status, body := adminRaw(t, g, "GET", "/admin/keys/status", "", "", map[string]string{"Authorization": "Bearer " + testAdminToken})
	if status != http.StatusOK {
		t.Fatalf("the operator's token answered %d after the cross-site posts (want 200): %.120s", status, body)
	}
	// Same-origin posts still pass the guard.
	status, _ = adminRaw(t, g, "POST", "/admin/keys/rotate", "", "", map[string]string{"Authorization": "Bearer " + testAdminToken,
		"Origin": g.admin, "Sec-Fetch-Site": "same-origin"})
	if status != http.StatusOK {
		t.Fatalf("a same-origin rotate answered %d (want 200)", status)
	}
}

// TestAdminListenerAnswersTheNameItListensOn: listen.admin may bind a host
// name (gw-admin.internal:9090), and the admin commands (`aliasgate keys
// status`, `webhooks`, `clients revoke` against a running gateway) send
// their requests to that name by default (adminRequest): the listener
// answered its own commands 421, as a rebinding page, unless the operator
// also listed the name in admin.allowed_hosts. The name listen.admin binds
// is now one the listener answers to (any port, as an allowed entry
// without one); other names are still refused.
func TestAdminListenerAnswersTheNameItListensOn(t *testing.T) {
	var cfg config.Config
	cfg.Listen.Admin = "gw-admin.internal:9090"
	cfg.Admin.AllowedHosts = []string{"other.example"}
	guard, err := hostguard.New(adminHostNames(cfg))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(guard.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})))
	defer srv.Close()
	for host, want := range map[string]int{
		"gw-admin.internal:9090": http.StatusOK, "GW-Admin.Internal:9090": http.StatusOK, "gw-admin.internal:8080": http.StatusOK,
		"other.example": http.StatusOK, "127.0.0.1:9090": http.StatusOK,
		"evil.example:9090": http.StatusMisdirectedRequest, "gw-admin.internal.evil.example:9090": http.StatusMisdirectedRequest,
		"sub.gw-admin.internal:9090": http.StatusMisdirectedRequest,
	} {
		req, _ := http.NewRequest("GET", srv.URL+"/healthz", nil)
		req.Host = host
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("Host %q: %d, want %d", host, res.StatusCode, want)
		}
	}
	// An address or no host in listen.admin adds no name.
	for _, l := range []string{"127.0.0.1:9090", ":9090", "[::1]:9090"} {
		cfg.Listen.Admin = l
		if got := adminHostNames(cfg); len(got) != 1 || got[0] != "other.example" {
			t.Errorf("listen.admin %q: names %v", l, got)
		}
	}
}
