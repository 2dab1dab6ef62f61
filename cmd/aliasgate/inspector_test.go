package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/pan"
)

const testAdminToken = "inspector-admin-token-0123456789"

// echoUpstream answers every request with what it received, and a card
// number and CVC of its own, so that responses carry card data too.
type echoUpstream struct {
	*httptest.Server
	mu   sync.Mutex
	got  []string
	hold chan struct{}
}

func newEchoUpstream(t *testing.T) *echoUpstream {
	u := &echoUpstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.got = append(u.got, string(b))
		u.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"echo":%q,"card":{"number":"5105105105105100","cvv":"8316"}}`, b)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *echoUpstream) last() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.got) == 0 {
		return ""
	}
	return u.got[len(u.got)-1]
}

// inspectorGateway starts a gateway with the inspector on, a routes file
// and the given routes.
func inspectorGateway(t *testing.T, routesYAML string, extra map[string]string) (*gatewayProc, string) {
	t.Helper()
	dir := t.TempDir()
	routesFile := filepath.Join(dir, "routes.yaml")
	if err := os.WriteFile(routesFile, []byte(routesYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{
		"ALIASGATE_ROUTES_FILE":       routesFile,
		"ALIASGATE_ADMIN_UI":          "true",
		"ALIASGATE_ADMIN_TOKEN":       testAdminToken,
		"ALIASGATE_VAULT_API_ENABLED": "true",
	}
	for k, v := range extra {
		vars[k] = v
	}
	return startGateway(t, testEnv(vars), "--data-dir", filepath.Join(dir, "data")), routesFile
}

// inspectorCall calls the inspector API with the bearer token.
func inspectorCall(t *testing.T, g *gatewayProc, method, path string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, g.admin+path, rd)
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

// Card data sent in the test traffic. None of it may come back from the
// inspector in any form.
var (
	leakPANs = []string{"4111111111111111", "4012888888881881", "5555555555554444", "5105105105105100", "378282246310005"}
	leakCVCs = []string{"737", "9142", "8316", "4021"}
)

// decodings returns s, s with JSON string escapes undone, and that with
// percent-escapes undone (twice, for what was encoded twice).
func decodings(s string) []string {
	j := strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&", `\r`, "\r", `\n`, "\n", `\t`, "\t", `\"`, `"`, `\\`, `\`)
	u := j.Replace(j.Replace(j.Replace(s)))
	pct := regexp.MustCompile(`%[0-9A-Fa-f]{2}`)
	unpct := func(s string) string {
		return pct.ReplaceAllStringFunc(strings.ReplaceAll(s, "+", " "), func(m string) string {
			var b byte
			fmt.Sscanf(m[1:], "%02x", &b)
			return string([]byte{b})
		})
	}
	return []string{s, u, unpct(u), unpct(unpct(u))}
}

// assertNoCardData fails when s, or a decoding of it, holds one of the
// PANs (plain, grouped by spaces or dashes, or JSON-escaped) or a CVC
// standing alone.
func assertNoCardData(t *testing.T, what string, served string) {
	t.Helper()
	for _, s := range decodings(served) {
		assertNoCardDataIn(t, what, s)
	}
}

func assertNoCardDataIn(t *testing.T, what string, s string) {
	t.Helper()
	for _, p := range leakPANs {
		forms := []string{p, `\u00` + fmt.Sprintf("%x", p[0]) + p[1:]}
		if len(p) == 16 {
			forms = append(forms, p[:4]+" "+p[4:8]+" "+p[8:12]+" "+p[12:], p[:4]+"-"+p[4:8]+"-"+p[8:12]+"-"+p[12:])
		}
		for _, f := range forms {
			if strings.Contains(s, f) {
				t.Errorf("%s holds card number %s… as %q", what, p[:6], f)
			}
		}
	}
	for _, c := range pan.Find([]byte(s)) {
		for _, p := range leakPANs {
			if s[c.Start:c.End] == p {
				t.Errorf("%s holds card number %s…", what, p[:6])
			}
		}
	}
	for _, cvc := range leakCVCs {
		if regexp.MustCompile(`(^|[^0-9A-Za-z.])` + cvc + `([^0-9A-Za-z]|$)`).MatchString(s) {
			i := strings.Index(s, cvc)
			t.Errorf("%s holds CVC %s (near %q)", what, cvc, s[max(i-30, 0):min(i+30, len(s))])
		}
	}
}

const inspectedRoutes = `# routes for the inspector test
routes:
  - id: shop
    direction: inbound
    host: "*"
    path_prefix: /shop/
    upstream: {{UP}}
    filters:
      - id: card-in
        match: {methods: [POST], path: "^/shop/checkout$", content_type: json}
        operation: redact
        targets:
          - {json: card.number, format: FPE_SIX_T_FOUR}
          - {json: card.code, storage: volatile}
  - id: psp
    direction: outbound
    host: 127.0.0.1
    unsafe_reveal_over_plain_http: true # the processor stand-in speaks plain HTTP
    filters:
      - {id: reveal-out, operation: reveal, targets: [{json: card.number}]}
`

// TestInspectorServesNoCardData sends traffic holding known card numbers
// and CVCs through a real gateway, in many shapes, then reads everything
// the inspector serves (page, assets, API answers for every capture and
// every field, previews, the event stream) and finds none of them.
func TestInspectorServesNoCardData(t *testing.T) {
	up := newEchoUpstream(t)
	g, _ := inspectorGateway(t, strings.ReplaceAll(inspectedRoutes, "{{UP}}", up.URL), map[string]string{
		"ALIASGATE_OUTBOUND_REQUIRE_AUTH":               "false",
		"ALIASGATE_OUTBOUND_ALLOW_PRIVATE_DESTINATIONS": "true",
	})

	// The event stream, read from before the first request.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", g.admin+"/ui/api/events", nil)
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("events: %v %v", err, res)
	}
	var stream syncBuffer
	streamDone := make(chan struct{})
	go func() {
		defer close(streamDone)
		io.Copy(&stream, res.Body)
	}()

	send := func(method, path, ctype, body string, setup func(*http.Request)) {
		t.Helper()
		call(t, method, g.inbound+path, ctype, body, setup)
	}
	// A routed request, redacted by its filter (the code is a CVC under a
	// key that does not say so: only the route knows).
	send("POST", "/shop/checkout", "application/json", `{"card":{"number":"4111111111111111","code":"4021"},"cvc":"737"}`, nil)
	alias := regexp.MustCompile(`411111\d{6}1111`).FindString(up.last())
	if alias == "" || strings.Contains(up.last(), "4111111111111111") {
		t.Fatalf("the upstream got %q", up.last())
	}
	// The same, malformed: refused, never sent; the capture still masks.
	send("POST", "/shop/checkout", "application/json", `{"card":{"number":"4111111111111111","code":"4021"`, nil)
	// Routed, no filter: card data in many shapes.
	send("POST", "/shop/profile", "application/json", `{"pan":"4012888888881881","security_code":"9142",`+
		`"note":"card 5555 5555 5555 4444","escaped":"\u0035555555555554444","n":378282246310005,"items":[{"cvv2":"737"}]}`, nil)
	send("POST", "/shop/profile", "application/x-www-form-urlencoded", "card_number=4012-8888-8888-1881&cvv=9142&x=%34111111111111111&y=5555+5555+5555+4444", nil)
	send("POST", "/shop/profile?card=4111111111111111&cvc=737", "text/plain", "pay with 4012 8888 8888 1881 please", func(r *http.Request) {
		r.Header.Set("X-Card", "4111-1111-1111-1111")
		r.Header.Set("X-Cvv", "9142")
		r.Header.Set("Authorization", "Bearer 4111111111111111")
		r.Header.Set("Cookie", "pan=5555555555554444; cvc=737")
	})
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(`{"pan":"5555555555554444","cvc":"737"}`))
	zw.Close()
	send("POST", "/shop/profile", "application/json", gz.String(), func(r *http.Request) { r.Header.Set("Content-Encoding", "gzip") })
	send("POST", "/shop/profile", "application/xml", `<pay><pan>4111111111111111</pan><cvv>737</cvv></pay>`, nil)
	var mp bytes.Buffer
	mp.WriteString("--XyZ\r\nContent-Disposition: form-data; name=\"pan\"\r\n\r\n4012888888881881\r\n--XyZ\r\nContent-Disposition: form-data; name=\"cvc\"\r\n\r\n9142\r\n--XyZ--\r\n")
	send("POST", "/shop/profile", "multipart/form-data; boundary=XyZ", mp.String(), nil)
	// Built-in mounts: the Card Management API (no token: 401) and the
	// vault API, whose bodies the inspector does not keep.
	send("POST", "/cards", "application/vnd.api+json", `{"data":{"attributes":{"pan":"4111111111111111","cvc":"737"}}}`, nil)
	send("POST", "/aliases", "application/json", `{"data":[{"value":"9142"},{"value":"5555555555554444"}]}`, nil)
	// Outbound: the proxy reveals the alias into the card number for the
	// destination, whose echo brings it back.
	proxyURL, _ := url.Parse(g.outbound)
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL)}}
	ores, err := client.Post(up.URL+"/charge", "application/json", strings.NewReader(`{"card":{"number":"`+alias+`"},"cvc":"737"}`))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, ores.Body)
	ores.Body.Close()
	if !strings.Contains(up.last(), "4111111111111111") {
		t.Fatalf("the destination did not get the revealed card number: %q", up.last())
	}

	// Everything the inspector serves.
	served := map[string]string{}
	get := func(path string) []byte {
		status, b := inspectorCall(t, g, "GET", path, nil)
		if status != 200 {
			t.Fatalf("GET %s: %d %s", path, status, b)
		}
		served["GET "+path] = string(b)
		return b
	}
	var list struct {
		Captures []struct {
			ID    uint64
			Path  string
			Route string
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if err := json.Unmarshal(get("/ui/api/captures"), &list); err != nil {
			t.Fatal(err)
		}
		if len(list.Captures) >= 11 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(list.Captures) != 11 {
		t.Fatalf("%d captures, want 11", len(list.Captures))
	}
	for _, c := range list.Captures {
		b := get(fmt.Sprintf("/ui/api/captures/%d", c.ID))
		var e struct {
			Request struct {
				Received struct{ Fields []struct{ Kind, Path string } }
			}
		}
		json.Unmarshal(b, &e)
		for _, f := range e.Request.Received.Fields {
			path := fmt.Sprintf("propose %d %s %s", c.ID, f.Kind, f.Path)
			status, pb := inspectorCall(t, g, "POST", "/ui/api/propose", map[string]any{"capture": c.ID, "kind": f.Kind, "path": f.Path, "upstream": up.URL})
			served[path] = string(pb)
			var p struct{ YAML string }
			if status != 200 || json.Unmarshal(pb, &p) != nil {
				t.Errorf("%s: %d %s", path, status, pb)
				continue
			}
			_, vb := inspectorCall(t, g, "POST", "/ui/api/preview", map[string]any{"capture": c.ID, "yaml": p.YAML})
			served["preview "+path] = string(vb)
		}
	}
	get("/ui/api/routes")
	for _, p := range []string{"/ui/static/app.js", "/ui/static/app.css"} {
		get(p)
	}
	// The page itself needs a session: log in with the form.
	jar, _ := cookiejar.New(nil)
	cl := &http.Client{Jar: jar}
	lres, err := cl.PostForm(g.admin+"/ui/login", url.Values{"token": {testAdminToken}})
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(lres.Body)
	lres.Body.Close()
	if lres.StatusCode != 200 || !strings.Contains(string(page), "app.js") {
		t.Fatalf("page after login: %d %s", lres.StatusCode, page)
	}
	served["page"] = string(page)

	cancel()
	<-streamDone
	served["event stream"] = stream.String()
	if n := strings.Count(stream.String(), "event: capture"); n != 11 {
		t.Errorf("the event stream told %d captures, want 11", n)
	}

	if os.Getenv("INSPECTOR_DUMP") != "" {
		for what, s := range served {
			if strings.HasPrefix(what, "GET /ui/api/captures/") {
				t.Logf("%s\n%s", what, s)
			}
		}
	}
	all := ""
	for what, s := range served {
		assertNoCardData(t, what, s)
		all += s
	}
	// The captures were masked, not dropped.
	for _, want := range []string{`411111******1111`, `401288******1881`, `5555 55** **** 4444`, `4012-88**-****-1881`,
		`\"security_code\": \"****\"`, `\"code\": \"****\"`, `"X-Cvv","value":"****"`, `body (`, `not kept: vault API`} {
		if !strings.Contains(all, want) {
			t.Errorf("the inspector never shows %s", want)
		}
	}
}

// TestInspectorEventStreamOutlivesTheWriteTimeout: the admin listener's
// write timeout (limits.write_timeout) does not cut the event stream, and
// the gateway still stops at once while a stream is open.
func TestInspectorEventStreamOutlivesTheWriteTimeout(t *testing.T) {
	up := newEchoUpstream(t)
	g, _ := inspectorGateway(t, strings.ReplaceAll(inspectedRoutes, "{{UP}}", up.URL), map[string]string{"ALIASGATE_LIMITS_WRITE_TIMEOUT": "1s"})
	req, _ := http.NewRequest("GET", g.admin+"/ui/api/events", nil)
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("events: %v %v", err, res)
	}
	defer res.Body.Close()
	time.Sleep(1500 * time.Millisecond)
	call(t, "GET", g.inbound+"/shop/late", "", "", nil)
	got := make(chan string, 1)
	go func() {
		var b strings.Builder
		buf := make([]byte, 4096)
		for !strings.Contains(b.String(), "/shop/late") {
			n, err := res.Body.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		got <- b.String()
	}()
	select {
	case s := <-got:
		if !strings.Contains(s, `"path":"/shop/late"`) {
			t.Fatalf("stream after the write timeout: %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event after the write timeout")
	}
	start := time.Now()
	g.stop(t)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("stopping with an open stream took %s", d)
	}
}

// TestAdminListeningLineNamesWhatItServes: the admin listener's
// "listening" line (the one the README tells a reader to look for) names
// the inspector's /ui/ and the token-guarded /admin/ endpoints when they
// are on, as the inbound line names /aliases when the vault API is; it
// said "/healthz /readyz /metrics" whatever was on.
func TestAdminListeningLineNamesWhatItServes(t *testing.T) {
	adminServes := func(g *gatewayProc) string {
		t.Helper()
		for _, l := range strings.Split(g.stderr.String(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "listening" && m["listener"] == "admin" {
				s, _ := m["serves"].(string)
				return s
			}
		}
		t.Fatalf("no listening line of the admin listener in:\n%s", g.stderr.String())
		return ""
	}
	g, _ := inspectorGateway(t, "routes: []\n", nil)
	if s := adminServes(g); !strings.Contains(s, "/healthz") || !strings.Contains(s, "/ui/") || !strings.Contains(s, "/admin/") {
		t.Errorf("with admin.ui and admin.token the admin listener serves %q", s)
	}
	g.stop(t)
	plain := startGateway(t, testEnv(nil), "--data-dir", filepath.Join(t.TempDir(), "data"))
	if s := adminServes(plain); s != "/healthz /readyz /metrics" {
		t.Errorf("without admin.ui and admin.token the admin listener serves %q", s)
	}
	plain.stop(t)
}
