package inspector

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/lockout"
	"github.com/aliasgate/aliasgate/proxy"
	"github.com/aliasgate/aliasgate/routes"
	"github.com/aliasgate/aliasgate/routes/rewrite"
)

const token = "test-admin-token-0123456789"

const shopRoutes = `# the shop's routes
routes:
  - id: shop   # the web shop
    direction: inbound
    host: "*"
    path_prefix: /shop/
    upstream: http://127.0.0.1:3000
  - id: psp
    direction: outbound
    host: api.psp.example
`

// fakeTok redacts to numbered aliases and reveals to a marker.
type fakeTok struct {
	mu sync.Mutex
	n  int
}

func (f *fakeTok) Redact(_ context.Context, items []rewrite.RedactItem) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, len(items))
	for i, it := range items {
		f.n++
		out[i] = fmt.Sprintf("tok_%d_%s_%d", f.n, it.Format, len(it.Value))
	}
	return out, nil
}

func (f *fakeTok) Reveal(_ context.Context, aliases []string) ([]string, error) {
	out := make([]string, len(aliases))
	for i, a := range aliases {
		out[i] = "revealed(" + a + ")"
	}
	return out, nil
}

type fixture struct {
	*httptest.Server
	insp   *Inspector
	table  *routes.Table
	file   string // "" with inline routes
	reload int
}

func newFixture(t *testing.T, inline bool, mods ...func(*Options)) *fixture {
	t.Helper()
	f := &fixture{}
	set, err := routes.Parse([]byte(shopRoutes), "routes.yaml", routes.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f.table = routes.NewTable(set)
	opts := Options{Token: token, Size: 10, Table: f.table,
		PreviewTokenizer: func(context.Context) (rewrite.Tokenizer, func(), error) { return &fakeTok{}, func() {}, nil }}
	if inline {
		opts.InlineRoutes = []byte(shopRoutes)
	} else {
		f.file = filepath.Join(t.TempDir(), "routes.yaml")
		if err := os.WriteFile(f.file, []byte(shopRoutes), 0o640); err != nil {
			t.Fatal(err)
		}
		rl := routes.NewReloader(f.table, f.file, routes.Options{}, nil, nil)
		opts.RoutesFile = f.file
		opts.Reload = func() error { f.reload++; return rl.Reload() }
	}
	for _, m := range mods {
		m(&opts)
	}
	if f.insp, err = New(opts); err != nil {
		t.Fatal(err)
	}
	f.Server = httptest.NewServer(f.insp.Handler())
	t.Cleanup(func() { f.insp.Close(); f.Close() })
	return f
}

// capture adds an inbound (or outbound) exchange of a JSON request.
func (f *fixture) capture(dir routes.Direction, host, path, routeName string, header http.Header, body string) uint64 {
	if header == nil {
		header = http.Header{"Content-Type": {"application/json"}}
	}
	x := &proxy.Exchange{Direction: dir, Start: time.Now(), Method: "POST", Host: host, Path: path, RouteName: routeName,
		Route: routeByID(f.table.Load(), routeName), Status: 200,
		Request:  proxy.Passage{Received: proxy.Snapshot{Seen: true, Header: header, Body: []byte(body)}},
		Response: proxy.Passage{Sent: proxy.Snapshot{Seen: true, Header: http.Header{}, Body: []byte(`{"ok":true}`)}}}
	f.insp.Capture(x)
	return f.insp.Buffer().List(1)[0].ID
}

// do sends a request with the bearer token (bearer true) or as is.
func (f *fixture) do(t *testing.T, c *http.Client, method, path string, body any, setup func(*http.Request)) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(method, f.URL+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if setup != nil {
		setup(req)
	}
	if c == nil {
		c = noRedirect
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, b
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func bearer(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }

// login returns a client holding a session cookie.
func (f *fixture) login(t *testing.T) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: noRedirect.CheckRedirect}
	res, err := c.PostForm(f.URL+"/ui/login", url.Values{"token": {token}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/ui/" {
		t.Fatalf("login: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	return c
}

func TestEveryAPICallNeedsTheAdminToken(t *testing.T) {
	f := newFixture(t, false)
	id := f.capture(routes.Inbound, "shop.example", "/shop/pay", "shop", nil, `{"a":1}`)
	calls := []struct{ method, path string }{
		{"GET", "/ui/api/captures"}, {"GET", fmt.Sprintf("/ui/api/captures/%d", id)}, {"GET", "/ui/api/events"},
		{"GET", "/ui/api/routes"}, {"POST", "/ui/api/propose"}, {"POST", "/ui/api/preview"}, {"POST", "/ui/api/apply"},
	}
	for _, c := range calls {
		for name, setup := range map[string]func(*http.Request){
			"no credentials": nil,
			"wrong token":    func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token+"x") },
			"basic auth":     func(r *http.Request) { r.SetBasicAuth("admin", token) },
			"forged cookie":  func(r *http.Request) { r.AddCookie(&http.Cookie{Name: CookieName, Value: "forged"}) },
		} {
			res, body := f.do(t, nil, c.method, c.path, map[string]any{}, setup)
			if res.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), `"error"`) {
				t.Errorf("%s %s with %s: %d %s", c.method, c.path, name, res.StatusCode, body)
			}
		}
	}
	res, body := f.do(t, nil, "GET", "/ui/api/captures", nil, bearer)
	if res.StatusCode != 200 || !strings.Contains(string(body), `"path":"/shop/pay"`) {
		t.Fatalf("with the token: %d %s", res.StatusCode, body)
	}
	// The page sends a browser without a session to the login form.
	if res, _ := f.do(t, nil, "GET", "/ui/", nil, nil); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/ui/login" {
		t.Fatalf("page without a session: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
}

func TestLoginSetsAStrictSessionCookie(t *testing.T) {
	f := newFixture(t, false)
	res, err := noRedirect.PostForm(f.URL+"/ui/login", url.Values{"token": {"nope-nope-nope-nope"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized || len(res.Cookies()) != 0 {
		t.Fatalf("wrong token: %d %v", res.StatusCode, res.Cookies())
	}
	res, err = noRedirect.PostForm(f.URL+"/ui/login", url.Values{"token": {token}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	cs := res.Cookies()
	if len(cs) != 1 || !cs[0].HttpOnly || cs[0].SameSite != http.SameSiteStrictMode || cs[0].Path != "/ui/" || len(cs[0].Value) < 40 {
		t.Fatalf("cookie %+v", cs)
	}
	c := f.login(t)
	if res, body := f.do(t, c, "GET", "/ui/", nil, nil); res.StatusCode != 200 || !strings.Contains(string(body), `src="/ui/static/app.js"`) {
		t.Fatalf("page: %d %s", res.StatusCode, body)
	}
	if res, _ := f.do(t, c, "GET", "/ui/api/captures", nil, nil); res.StatusCode != 200 {
		t.Fatalf("API with the session: %d", res.StatusCode)
	}
	if res, _ := f.do(t, c, "POST", "/ui/logout", nil, nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", res.StatusCode)
	}
	if res, _ := f.do(t, c, "GET", "/ui/api/captures", nil, nil); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("API after logout: %d", res.StatusCode)
	}
}

// clientFrom returns a client whose connections come from ip (Linux routes
// all of 127/8 to the loopback interface), without following redirects.
func clientFrom(t *testing.T, ip string) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second, CheckRedirect: noRedirect.CheckRedirect}
}

// TestWrongTokensLockOutTheirAddressOnly: wrong tokens from 127.0.0.2, at
// the login form and as bearer tokens, lock that address out (429 with
// Retry-After, even for the right token); the operator at 127.0.0.1 logs in
// and calls the API meanwhile; the lockout expires.
func TestWrongTokensLockOutTheirAddressOnly(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	table := lockout.New(lockout.Options{Now: clock})
	f := newFixture(t, false, func(o *Options) { o.Lockout = table })
	attacker, operator := clientFrom(t, "127.0.0.2"), clientFrom(t, "127.0.0.1")
	wrong := func(r *http.Request) { r.Header.Set("Authorization", "Bearer wrong-token-wrong-token") }
	var unauthorized, locked int
	var last *http.Response
	for n := range 24 {
		var res *http.Response
		if n%2 == 0 {
			var err error
			if res, err = attacker.PostForm(f.URL+"/ui/login", url.Values{"token": {"nope-nope-nope-nope"}}); err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
		} else {
			res, _ = f.do(t, attacker, "GET", "/ui/api/captures", nil, wrong)
		}
		switch res.StatusCode {
		case http.StatusUnauthorized:
			unauthorized++
		case http.StatusTooManyRequests:
			locked, last = locked+1, res
		default:
			t.Fatalf("wrong token %d: %d", n+1, res.StatusCode)
		}
		if res, _ := f.do(t, operator, "GET", "/ui/api/captures", nil, bearer); res.StatusCode != 200 {
			t.Fatalf("the operator after %d wrong tokens from another address: %d", n+1, res.StatusCode)
		}
	}
	if unauthorized != lockout.DefaultFree+1 || locked != 24-unauthorized {
		t.Fatalf("%d answers 401, %d answers 429", unauthorized, locked)
	}
	if last.Header.Get("Retry-After") != "1" || last.Header.Get("Content-Type") != "application/vnd.api+json" {
		t.Fatalf("the lockout answer: %v", last.Header)
	}
	if res, body := f.do(t, attacker, "GET", "/ui/api/captures", nil, bearer); res.StatusCode != http.StatusTooManyRequests ||
		!strings.Contains(string(body), `"code":"locked_out"`) {
		t.Fatalf("the right token from the locked-out address: %d %s", res.StatusCode, body)
	}
	res, err := operator.PostForm(f.URL+"/ui/login", url.Values{"token": {token}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("the operator's login meanwhile: %d", res.StatusCode)
	}
	mu.Lock()
	now = now.Add(time.Second)
	mu.Unlock()
	if res, _ := f.do(t, attacker, "GET", "/ui/api/captures", nil, bearer); res.StatusCode != 200 {
		t.Fatalf("once the lockout expired: %d", res.StatusCode)
	}
	if table.Len() != 0 || table.Lockouts() != 1 {
		t.Fatalf("%d entries, %d lockouts", table.Len(), table.Lockouts())
	}
}

func TestEveryAnswerCarriesTheSecurityHeaders(t *testing.T) {
	f := newFixture(t, false)
	c := f.login(t)
	for _, p := range []string{"/ui/", "/ui/login", "/ui/static/app.js", "/ui/static/app.css", "/ui/api/captures", "/ui/api/captures/99", "/ui/nope"} {
		res, _ := f.do(t, c, "GET", p, nil, nil)
		h := res.Header
		if !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'self'") || strings.Contains(h.Get("Content-Security-Policy"), "unsafe-inline") ||
			!strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") ||
			h.Get("X-Frame-Options") != "DENY" || h.Get("Cache-Control") != "no-store" || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: headers %v", p, h)
		}
	}
	// The assets hold no inline script or style, which the policy forbids.
	for _, name := range []string{"index.html", "login.html", "login-failed.html"} {
		b, _ := assets.ReadFile("assets/" + name)
		for _, bad := range []string{"<script>", "style=", "onclick", "<style", `src="http`, `href="http`, `src="//`, `href="//`} {
			if strings.Contains(string(b), bad) {
				t.Errorf("%s holds %q", name, bad)
			}
		}
	}
	js, _ := assets.ReadFile("assets/app.js")
	for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "eval(", "new Function", "http://", "https://", "document.write"} {
		if strings.Contains(string(js), bad) {
			t.Errorf("app.js uses %q", bad)
		}
	}
	css, _ := assets.ReadFile("assets/app.css")
	for _, bad := range []string{"@import", "url("} {
		if strings.Contains(string(css), bad) {
			t.Errorf("app.css uses %q", bad)
		}
	}
}

func TestStateChangingCallsAreRefusedCrossSite(t *testing.T) {
	f := newFixture(t, false)
	c := f.login(t)
	body := map[string]any{"yaml": shopRoutes}
	tests := []struct {
		name  string
		setup func(*http.Request)
		want  int
	}{
		{"no custom header", nil, http.StatusForbidden},
		{"other origin", func(r *http.Request) {
			r.Header.Set(CSRFHeader, "1")
			r.Header.Set("Origin", "http://evil.example")
		}, http.StatusForbidden},
		{"cross-site fetch", func(r *http.Request) {
			r.Header.Set(CSRFHeader, "1")
			r.Header.Set("Sec-Fetch-Site", "cross-site")
		}, http.StatusForbidden},
		{"same origin", func(r *http.Request) {
			r.Header.Set(CSRFHeader, "1")
			r.Header.Set("Origin", f.URL)
			r.Header.Set("Sec-Fetch-Site", "same-origin")
		}, http.StatusOK},
	}
	for _, tt := range tests {
		res, b := f.do(t, c, "POST", "/ui/api/apply", body, tt.setup)
		if res.StatusCode != tt.want {
			t.Errorf("%s: %d %s, want %d", tt.name, res.StatusCode, b, tt.want)
		}
	}
	if f.reload != 1 {
		t.Errorf("%d reloads, want only the same-origin call's", f.reload)
	}
	// A cross-site login form is refused too.
	res, _ := f.do(t, nil, "POST", "/ui/login", nil, func(r *http.Request) {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Origin", "http://evil.example")
		r.Body = io.NopCloser(strings.NewReader("token=" + token))
	})
	if res.StatusCode != http.StatusForbidden || len(res.Cookies()) != 0 {
		t.Errorf("cross-site login: %d", res.StatusCode)
	}
}

func TestApplyRefusesRoutesThatDoNotLoad(t *testing.T) {
	f := newFixture(t, false)
	before := f.table.Load()
	for name, doc := range map[string]string{
		"not YAML":            "routes: [\n  - id: x\n    host: [",
		"unknown key":         "routes:\n  - id: x\n    direction: inbound\n    host: a\n    upstream: http://h\n    colour: red\n",
		"inbound no upstream": "routes:\n  - id: x\n    direction: inbound\n    host: a\n",
		"bad target":          "routes:\n  - id: x\n    direction: outbound\n    host: a\n    filters:\n      - {operation: reveal, targets: [{json: \"a|b\"}]}\n",
	} {
		res, b := f.do(t, nil, "POST", "/ui/api/apply", map[string]any{"yaml": doc}, bearer)
		var answer struct {
			Error    string
			Problems []string
		}
		if res.StatusCode != http.StatusUnprocessableEntity || json.Unmarshal(b, &answer) != nil || len(answer.Problems) == 0 {
			t.Errorf("%s: %d %s", name, res.StatusCode, b)
		}
	}
	if got, _ := os.ReadFile(f.file); string(got) != shopRoutes {
		t.Errorf("the routes file changed:\n%s", got)
	}
	if _, err := os.Stat(f.file + ".bak"); err == nil {
		t.Error("a backup was written")
	}
	if f.table.Load() != before || f.reload != 0 {
		t.Error("the route table changed")
	}
}

func TestApplyWritesTheFileKeepsABackupAndHotLoads(t *testing.T) {
	f := newFixture(t, false)
	doc := shopRoutes + `  - id: added
    direction: inbound
    host: added.example
    upstream: http://127.0.0.1:3001
    filters:
      - {id: f1, operation: redact, targets: [{json: card.number}]}
`
	res, b := f.do(t, nil, "POST", "/ui/api/apply", map[string]any{"yaml": doc}, bearer)
	var answer applyResult
	if res.StatusCode != 200 || json.Unmarshal(b, &answer) != nil || !answer.Persisted || answer.Routes != 3 || answer.Filters != 1 ||
		answer.File != f.file || answer.Backup != f.file+".bak" {
		t.Fatalf("apply: %d %s", res.StatusCode, b)
	}
	if got, _ := os.ReadFile(f.file); string(got) != doc {
		t.Errorf("routes file:\n%s", got)
	}
	if got, _ := os.ReadFile(f.file + ".bak"); string(got) != shopRoutes {
		t.Errorf("backup:\n%s", got)
	}
	if fi, _ := os.Stat(f.file); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want the old file's 0640", fi.Mode().Perm())
	}
	if r := f.table.Load().Match(routes.Inbound, "added.example", "/x"); r == nil || r.ID != "added" || f.reload != 1 {
		t.Errorf("the new set is not in force (reloads %d)", f.reload)
	}
	_, b = f.do(t, nil, "GET", "/ui/api/routes", nil, bearer)
	var info routesInfo
	if json.Unmarshal(b, &info) != nil || info.Source != "file" || info.YAML != doc {
		t.Errorf("routes: %s", b)
	}
}

func TestApplyWithInlineRoutesOnlyHotLoads(t *testing.T) {
	f := newFixture(t, true)
	doc := "routes:\n  - id: only\n    direction: outbound\n    host: api.only.example\n"
	res, b := f.do(t, nil, "POST", "/ui/api/apply", map[string]any{"yaml": doc}, bearer)
	var answer applyResult
	if res.StatusCode != 200 || json.Unmarshal(b, &answer) != nil || answer.Persisted || !strings.Contains(answer.Note, "not saved") {
		t.Fatalf("apply: %d %s", res.StatusCode, b)
	}
	if set := f.table.Load(); len(set.Routes) != 1 || set.Routes[0].ID != "only" {
		t.Error("the new set is not in force")
	}
	_, b = f.do(t, nil, "GET", "/ui/api/routes", nil, bearer)
	var info routesInfo
	if json.Unmarshal(b, &info) != nil || info.Source != "inline" || info.YAML != doc {
		t.Errorf("routes: %s", b)
	}
}

func propose(t *testing.T, f *fixture, req map[string]any) proposal {
	t.Helper()
	res, b := f.do(t, nil, "POST", "/ui/api/propose", req, bearer)
	var p proposal
	if res.StatusCode != 200 || json.Unmarshal(b, &p) != nil {
		t.Fatalf("propose %v: %d %s", req, res.StatusCode, b)
	}
	return p
}

func TestProposalsFollowTheField(t *testing.T) {
	f := newFixture(t, false)
	id := f.capture(routes.Inbound, "shop.example:8080", "/shop/pay", "shop", nil,
		`{"card":{"number":"4111111111111111","cvc":"737","cvv4":"4021"},"items":[{"pan":"5555555555554444"}]}`)

	p := propose(t, f, map[string]any{"capture": id, "kind": "json", "path": "card.number"})
	if p.Route != "shop" || p.NewRoute || !p.NewFilter || p.Operation != "redact" || len(p.Problems) != 0 ||
		p.Target.Kind != "json" || p.Target.Path != "card.number" || p.Target.Format != "FPE_SIX_T_FOUR" ||
		p.Target.Storage != "persistent" || strings.Join(p.Target.Classifiers, ",") != "pan" {
		t.Fatalf("card number: %+v", p)
	}
	for _, want := range []string{"# the shop's routes", "# the web shop", "id: redact-card-number",
		`match: {methods: [POST], path: ^/shop/pay$, content_type: json}`,
		`- {json: card.number, format: FPE_SIX_T_FOUR, storage: persistent, classifiers: [pan]}`} {
		if !strings.Contains(p.YAML, want) {
			t.Errorf("YAML lacks %q:\n%s", want, p.YAML)
		}
	}
	if c := propose(t, f, map[string]any{"capture": id, "kind": "json", "path": "card.cvc"}); c.Target.Format != "" || c.Target.Storage != "volatile" {
		t.Errorf("3-digit CVC: %+v", c.Target)
	}
	if c := propose(t, f, map[string]any{"capture": id, "kind": "json", "path": "card.cvv4"}); c.Target.Format != "NUM_LENGTH_PRESERVING" || c.Target.Storage != "volatile" {
		t.Errorf("4-digit CVC: %+v", c.Target)
	}
	if c := propose(t, f, map[string]any{"capture": id, "kind": "json", "path": "items.0.pan"}); c.Target.Path != "items.#.pan" {
		t.Errorf("array element: %+v", c.Target)
	}
	o := propose(t, f, map[string]any{"capture": id, "kind": "json", "path": "card.number", "format": "UUID", "storage": "volatile", "target": "card.number"})
	if o.Target.Format != "UUID" || o.Target.Storage != "volatile" {
		t.Errorf("overrides: %+v", o.Target)
	}

	// Applied, the next proposal on the same request joins that filter,
	// and one on the same field says it is there already.
	if res, b := f.do(t, nil, "POST", "/ui/api/apply", map[string]any{"yaml": p.YAML}, bearer); res.StatusCode != 200 {
		t.Fatalf("apply: %s", b)
	}
	if again := propose(t, f, map[string]any{"capture": id, "kind": "json", "path": "card.number"}); !again.Already {
		t.Errorf("the same field again: %+v", again)
	}
	joined := propose(t, f, map[string]any{"capture": id, "kind": "json", "path": "card.cvc"})
	if joined.NewFilter || joined.Filter != "redact-card-number" || !strings.Contains(joined.YAML, "- {json: card.cvc, storage: volatile, classifiers: [cvc]}") {
		t.Errorf("second field: %+v", joined)
	}

	// A request no route matched gets a new route, which needs an upstream.
	lost := f.capture(routes.Inbound, "other.example", "/pay", "-", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, "pan=4111111111111111")
	n := propose(t, f, map[string]any{"capture": lost, "kind": "form", "path": "pan"})
	if !n.NewRoute || n.Route != "inspector-other-example" || len(n.Problems) == 0 {
		t.Errorf("new route without upstream: %+v", n)
	}
	n = propose(t, f, map[string]any{"capture": lost, "kind": "form", "path": "pan", "upstream": "http://127.0.0.1:4000"})
	if len(n.Problems) != 0 || !strings.Contains(n.YAML, "host: other.example") || !strings.Contains(n.YAML, "content_type: form") {
		t.Errorf("new route: %+v\n%s", n, n.YAML)
	}
	// A built-in mount gets a route in front of it.
	cards := f.capture(routes.Inbound, "127.0.0.1:8080", "/cards", "internal:cards", nil, `{"data":{"attributes":{"pan_alias":"4111111111111111"}}}`)
	n = propose(t, f, map[string]any{"capture": cards, "kind": "json", "path": "data.attributes.pan_alias"})
	if len(n.Problems) != 0 || !strings.Contains(n.YAML, "upstream: internal:cards") || !strings.Contains(n.YAML, "path_prefix: /cards") {
		t.Errorf("route in front of internal:cards: %+v\n%s", n, n.YAML)
	}
	// Outbound requests carry aliases: reveal.
	out := f.capture(routes.Outbound, "api.psp.example", "/v1/charges", "psp", nil, `{"card":{"number":"tok_sandbox_x"}}`)
	r := propose(t, f, map[string]any{"capture": out, "kind": "json", "path": "card.number"})
	if r.Operation != "reveal" || r.Target.Format != "" || r.Target.Storage != "" || len(r.Problems) != 0 {
		t.Errorf("outbound: %+v\n%s", r, r.YAML)
	}
	// Headers.
	hid := f.capture(routes.Inbound, "shop.example", "/shop/pay", "shop", http.Header{"X-Card": {"4111111111111111"}}, "")
	h := propose(t, f, map[string]any{"capture": hid, "kind": "header", "path": "X-Card"})
	if h.Target.Kind != "header" || h.Target.Path != "X-Card" || len(h.Problems) != 0 {
		t.Errorf("header: %+v", h)
	}
	// Unknown fields and captures.
	if res, _ := f.do(t, nil, "POST", "/ui/api/propose", map[string]any{"capture": id, "kind": "json", "path": "nope"}, bearer); res.StatusCode != 400 {
		t.Errorf("unknown field: %d", res.StatusCode)
	}
	if res, _ := f.do(t, nil, "POST", "/ui/api/propose", map[string]any{"capture": 999, "kind": "json", "path": "a"}, bearer); res.StatusCode != 404 {
		t.Errorf("unknown capture: %d", res.StatusCode)
	}
}

func TestPreviewRunsTheProposalOnTheMaskedCapture(t *testing.T) {
	f := newFixture(t, false)
	id := f.capture(routes.Inbound, "shop.example", "/shop/pay", "shop", nil, `{"card":{"number":"4111111111111111","cvc":"737"}}`)
	p := propose(t, f, map[string]any{"capture": id, "kind": "json", "path": "card.number"})
	res, b := f.do(t, nil, "POST", "/ui/api/preview", map[string]any{"capture": id, "yaml": p.YAML}, bearer)
	var pr previewResult
	if res.StatusCode != 200 || json.Unmarshal(b, &pr) != nil {
		t.Fatalf("preview: %d %s", res.StatusCode, b)
	}
	// The masked number stood in as 16 digits: the fake vault saw its
	// format and length, never the clear value.
	if pr.Route != "shop" || len(pr.Filters) != 1 || len(pr.Filters[0].Changes) != 1 ||
		!strings.Contains(pr.Request, `"number": "tok_1_FPE_SIX_T_FOUR_16"`) || !strings.Contains(pr.Request, `"cvc": "***"`) ||
		!strings.HasPrefix(pr.Request, "POST /shop/pay HTTP/1.1\r\nHost: shop.example\r\n") {
		t.Fatalf("preview: %+v\n%s", pr, pr.Request)
	}
	res, b = f.do(t, nil, "POST", "/ui/api/preview", map[string]any{"capture": id, "yaml": "routes: [x"}, bearer)
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(b), "problems") {
		t.Fatalf("bad YAML: %d %s", res.StatusCode, b)
	}
}

// TestPreviewOfAWithheldBodySaysSo: a request body the inspector withheld
// (here binary) is not previewed as if it were empty: 422 with
// body_unavailable "withheld" and the capture's note. A request without a
// body is previewed.
func TestPreviewOfAWithheldBodySaysSo(t *testing.T) {
	f := newFixture(t, false)
	yaml := "routes:\n  - id: shop\n    direction: inbound\n    host: shop.example\n    upstream: http://127.0.0.1:4000\n    filters:\n      - {id: h, operation: redact, targets: [{header: X-Card}]}\n"
	id := f.capture(routes.Inbound, "shop.example", "/shop/pay", "shop", http.Header{"Content-Type": {"application/octet-stream"}}, "\x00\x01\x02\x03card\x00")
	res, b := f.do(t, nil, "POST", "/ui/api/preview", map[string]any{"capture": id, "yaml": yaml}, bearer)
	var p struct {
		Error           string
		BodyUnavailable string `json:"body_unavailable"`
		Reason          string
	}
	if res.StatusCode != http.StatusUnprocessableEntity || json.Unmarshal(b, &p) != nil || p.BodyUnavailable != "withheld" || p.Reason == "" {
		t.Fatalf("preview of a withheld body: %d %s", res.StatusCode, b)
	}
	hid := f.capture(routes.Inbound, "shop.example", "/shop/pay", "shop", http.Header{"X-Card": {"4111111111111111"}}, "")
	if res, b := f.do(t, nil, "POST", "/ui/api/preview", map[string]any{"capture": hid, "yaml": yaml}, bearer); res.StatusCode != 200 {
		t.Fatalf("preview of a request without a body: %d %s", res.StatusCode, b)
	}
}

func TestEventsStreamNewCaptures(t *testing.T) {
	f := newFixture(t, false)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", f.URL+"/ui/api/events", nil)
	bearer(req)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	rd := bufio.NewReader(res.Body)
	line, _ := rd.ReadString('\n')
	if line != "retry: 2000\n" {
		t.Fatalf("first line %q", line)
	}
	id := f.capture(routes.Inbound, "shop.example", "/shop/pay", "shop", nil, `{"pan":"4111111111111111"}`)
	var event []string
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("stream: %v", err)
		}
		if strings.HasPrefix(line, "event: capture") {
			event = append(event, line)
			for {
				l, _ := rd.ReadString('\n')
				if l == "\n" {
					break
				}
				event = append(event, l)
			}
			break
		}
	}
	joined := strings.Join(event, "")
	if !strings.Contains(joined, fmt.Sprintf("id: %d\n", id)) || !strings.Contains(joined, `"path":"/shop/pay"`) || strings.Contains(joined, "4111111111111111") {
		t.Fatalf("event %q", joined)
	}
	// Close ends the stream (the admin listener can then shut down).
	f.insp.Close()
	done := make(chan struct{})
	go func() {
		io.Copy(io.Discard, rd)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the stream did not end on Close")
	}
}

// TestApplyRefusesAnEmptyDocument: applying an empty document (no YAML:
// nothing, blanks or comments only) wrote it over the routes file, which
// the reload then refused (an empty file while routes are in force), and
// answered 500 after putting the old file back; with inline routes it
// emptied the table. It is refused as a problem (422), nothing written;
// routes: [] removes every route.
func TestApplyRefusesAnEmptyDocument(t *testing.T) {
	for _, inline := range []bool{false, true} {
		f := newFixture(t, inline)
		before := f.table.Load()
		for _, doc := range []string{"", "\n", "# nothing yet\n", "routes:\n", "routes: ~\n", "{}\n"} {
			res, b := f.do(t, nil, "POST", "/ui/api/apply", map[string]any{"yaml": doc}, bearer)
			var answer struct{ Problems []string }
			if res.StatusCode != http.StatusUnprocessableEntity || json.Unmarshal(b, &answer) != nil ||
				len(answer.Problems) != 1 || !strings.Contains(answer.Problems[0], "routes: []") {
				t.Errorf("inline %v, %q: %d %s", inline, doc, res.StatusCode, b)
			}
		}
		if f.table.Load() != before || f.reload != 0 {
			t.Errorf("inline %v: the route table changed", inline)
		}
		if !inline {
			if got, _ := os.ReadFile(f.file); string(got) != shopRoutes {
				t.Errorf("the routes file changed:\n%s", got)
			}
			if _, err := os.Stat(f.file + ".bak"); err == nil {
				t.Error("a backup was written")
			}
		}
	}
}
