package vaultapi_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/auth"
	"github.com/aliasgate/aliasgate/internal/obs/obstest"
	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/memstore"
	"github.com/aliasgate/aliasgate/vault/vaulttest"
	"github.com/aliasgate/aliasgate/vaultapi"
)

const card = "4111111111111111"

type env struct {
	srv     *httptest.Server
	clk     *vaulttest.Clock
	writer  string // bearer token with aliases:write
	reveal  string // bearer token with aliases:reveal
	both    string
	basicID string
	basicPW string
}

func setup(t *testing.T, wrap func(vaultapi.Vault) vaultapi.Vault) *env {
	t.Helper()
	clk := vaulttest.NewClock()
	p := memstore.New(memstore.Options{Now: clk.Now, SweepInterval: -1})
	v := memstore.New(memstore.Options{Now: clk.Now, SweepInterval: -1})
	t.Cleanup(func() { p.Close(); v.Close() })
	kr, err := vault.OpenKeyring(context.Background(), p, bytes.Repeat([]byte{5}, 32))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := vault.New(p, v, kr, vault.Options{Env: "sandbox", Now: clk.Now, VolatileTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	log := obstest.Logger(t)
	as := auth.NewService(p, key, auth.Options{Logger: log})
	e := &env{clk: clk}
	mk := func(scopes ...string) (string, auth.Client, string) {
		c, secret, err := as.CreateClient(context.Background(), auth.ClientSpec{Name: "t", Account: "acct", Scopes: scopes})
		if err != nil {
			t.Fatal(err)
		}
		tok, _, err := as.IssueToken(c, nil)
		if err != nil {
			t.Fatal(err)
		}
		return tok, c, secret
	}
	e.writer, _, _ = mk(auth.ScopeAliasesWrite)
	e.reveal, _, _ = mk(auth.ScopeAliasesReveal)
	var c auth.Client
	e.both, c, e.basicPW = mk(auth.ScopeAliasesWrite, auth.ScopeAliasesReveal)
	e.basicID = c.ID
	var vv vaultapi.Vault = svc
	if wrap != nil {
		vv = wrap(svc)
	}
	e.srv = httptest.NewServer(vaultapi.New(vv, as, log))
	t.Cleanup(e.srv.Close)
	return e
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (e *env) do(t *testing.T, method, path, token, ctype, body string) resp {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, res.Header, b}
}

type record struct {
	Value       string   `json:"value"`
	Classifiers []string `json:"classifiers"`
	Aliases     []struct {
		Alias  string `json:"alias"`
		Format string `json:"format"`
	} `json:"aliases"`
	CreatedAt string `json:"created_at"`
	Storage   string `json:"storage"`
}

func (e *env) create(t *testing.T, body string) []record {
	t.Helper()
	r := e.do(t, "POST", "/aliases", e.writer, "application/json", body)
	if r.status != http.StatusCreated {
		t.Fatalf("create = %d %s", r.status, r.body)
	}
	var doc struct{ Data []record }
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Data
}

func TestCreateRevealUpdateDelete(t *testing.T) {
	e := setup(t, nil)
	recs := e.create(t, `{"data":[{"value":"4111111111111111","classifiers":["pan"],"format":"UUID","storage":"PERSISTENT"},{"value":"123","storage":"VOLATILE"}]}`)
	if len(recs) != 2 || recs[0].Value != card || recs[0].Storage != "PERSISTENT" || recs[0].Aliases[0].Format != "UUID" ||
		!strings.HasPrefix(recs[0].Aliases[0].Alias, "tok_sandbox_") || recs[0].Classifiers[0] != "pan" || recs[1].Storage != "VOLATILE" {
		t.Fatalf("create answered %+v", recs)
	}
	if _, err := time.Parse(time.RFC3339, recs[0].CreatedAt); err != nil {
		t.Fatalf("created_at %q: %v", recs[0].CreatedAt, err)
	}
	alias := recs[0].Aliases[0].Alias

	// The same value again gives the same alias; another format adds one.
	again := e.create(t, `{"data":[{"value":"4111111111111111"}]}`)
	if again[0].Aliases[0].Alias != alias {
		t.Fatal("persistent alias not deterministic")
	}
	// An alias of another format from an existing alias answers with the
	// value: it needs the reveal scope as well as write.
	byAlias := `{"data":[{"alias":"` + alias + `","format":"FPE_SIX_T_FOUR"}]}`
	if r := e.do(t, "POST", "/aliases", e.writer, "application/json", byAlias); r.status != 403 ||
		!strings.Contains(string(r.body), "/data/0/alias") || strings.Contains(string(r.body), card) {
		t.Fatalf("create from an alias with write scope only = %d %s, want 403", r.status, r.body)
	}
	r0 := e.do(t, "POST", "/aliases", e.both, "application/json", byAlias)
	var created struct{ Data []record }
	if r0.status != 201 || json.Unmarshal(r0.body, &created) != nil {
		t.Fatalf("create from an alias = %d %s", r0.status, r0.body)
	}
	fpe := created.Data
	if len(fpe[0].Aliases) != 2 || fpe[0].Aliases[0].Format != "FPE_SIX_T_FOUR" || fpe[0].Aliases[1].Alias != alias {
		t.Fatalf("alias of another format: %+v", fpe[0])
	}

	r := e.do(t, "GET", "/aliases/"+alias, e.reveal, "", "")
	var one struct{ Data []record }
	if r.status != 200 || json.Unmarshal(r.body, &one) != nil || one.Data[0].Value != card || len(one.Data[0].Aliases) != 2 {
		t.Fatalf("GET one = %d %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("content type %q", ct)
	}

	r = e.do(t, "GET", "/aliases?q="+alias+","+recs[1].Aliases[0].Alias+",tok_sandbox_unknown", e.reveal, "", "")
	var many struct{ Data map[string]record }
	if r.status != 200 || json.Unmarshal(r.body, &many) != nil || len(many.Data) != 2 || many.Data[recs[1].Aliases[0].Alias].Value != "123" {
		t.Fatalf("GET many = %d %s", r.status, r.body)
	}
	if r2 := e.do(t, "GET", "/aliases?aliases="+alias, e.reveal, "", ""); r2.status != 200 {
		t.Fatalf("GET ?aliases= = %d", r2.status)
	}

	if r := e.do(t, "PUT", "/aliases/"+alias, e.writer, "application/vnd.api+json", `{"data":{"classifiers":["pan","visa"]}}`); r.status != 204 {
		t.Fatalf("PUT = %d %s", r.status, r.body)
	}
	r = e.do(t, "GET", "/aliases/"+fpe[0].Aliases[0].Alias, e.reveal, "", "")
	json.Unmarshal(r.body, &one)
	if strings.Join(one.Data[0].Classifiers, ",") != "pan,visa" {
		t.Fatalf("classifiers after PUT: %v", one.Data[0].Classifiers)
	}

	if r := e.do(t, "DELETE", "/aliases/"+alias, e.writer, "", ""); r.status != 204 {
		t.Fatalf("DELETE = %d %s", r.status, r.body)
	}
	if r := e.do(t, "GET", "/aliases/"+alias, e.reveal, "", ""); r.status != 404 {
		t.Fatalf("GET after DELETE = %d", r.status)
	}
	if r := e.do(t, "DELETE", "/aliases/"+alias, e.writer, "", ""); r.status != 404 {
		t.Fatalf("second DELETE = %d", r.status)
	}
}

func TestBasicAuthWorksAsInVGSv1(t *testing.T) {
	e := setup(t, nil)
	req, _ := http.NewRequest("POST", e.srv.URL+"/aliases", strings.NewReader(`{"data":[{"value":"x"}]}`))
	req.SetBasicAuth(e.basicID, e.basicPW)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 201 {
		t.Fatalf("Basic create = %d", res.StatusCode)
	}
}

func TestExpiredVolatileAliasIs404(t *testing.T) {
	e := setup(t, nil)
	recs := e.create(t, `{"data":[{"value":"123","storage":"VOLATILE"}]}`)
	e.clk.Advance(time.Hour)
	if r := e.do(t, "GET", "/aliases/"+recs[0].Aliases[0].Alias, e.reveal, "", ""); r.status != 404 {
		t.Fatalf("GET expired = %d %s", r.status, r.body)
	}
}

type errorDoc struct {
	Errors []struct {
		Status int    `json:"status"`
		Title  string `json:"title"`
		Href   string `json:"href"`
		Code   string `json:"code"`
		Detail string `json:"detail"`
		Source struct {
			Pointer   string `json:"pointer"`
			Parameter string `json:"parameter"`
		} `json:"source"`
	} `json:"errors"`
}

func TestBadInput(t *testing.T) {
	e := setup(t, nil)
	items := func(n int) string {
		s := make([]string, n)
		for i := range s {
			s[i] = `{"value":"v"}`
		}
		return `{"data":[` + strings.Join(s, ",") + `]}`
	}
	long := strings.Repeat("4", vault.DefaultMaxValueLen+1)
	tests := []struct {
		name, method, path, token, ctype, body string
		status                                 int
		pointer                                string
	}{
		{"malformed JSON", "POST", "/aliases", e.writer, "application/json", `{"data":[`, 400, ""},
		{"value of the wrong type", "POST", "/aliases", e.writer, "application/json", `{"data":[{"value":true}]}`, 400, "/data/0/value"},
		{"value an object", "POST", "/aliases", e.writer, "application/json", `{"data":[{"value":{"n":"4111111111111111"}}]}`, 400, "/data/0/value"},
		{"wrong media type", "POST", "/aliases", e.writer, "text/plain", `{"data":[]}`, 415, ""},
		{"no media type", "POST", "/aliases", e.writer, "", `{"data":[]}`, 415, ""},
		{"empty data", "POST", "/aliases", e.writer, "application/json", `{"data":[]}`, 400, "/data"},
		{"more than 20 values", "POST", "/aliases", e.writer, "application/json", items(21), 400, "/data"},
		{"empty value", "POST", "/aliases", e.writer, "application/json", `{"data":[{"value":"v"},{"value":""}]}`, 400, "/data/1/value"},
		{"missing value", "POST", "/aliases", e.writer, "application/json", `{"data":[{"format":"UUID"}]}`, 400, "/data/0/value"},
		{"null value", "POST", "/aliases", e.writer, "application/json", `{"data":[{"value":null}]}`, 400, "/data/0/value"},
		{"value over the limit", "POST", "/aliases", e.writer, "application/json", `{"data":[{"value":"` + long + `"}]}`, 400, "/data/0/value"},
		{"body over twice the value limit", "POST", "/aliases", e.writer, "application/json", `{"data":[{"value":"` + long + long + long + `"}]}`, 413, ""},
		{"unknown format", "POST", "/aliases", e.writer, "application/json", `{"data":[{"value":"4111111111111111","format":"NOPE"}]}`, 400, "/data/0/format"},
		{"unsupported format", "POST", "/aliases", e.writer, "application/json", `{"data":[{"value":"4111111111111111","format":"CUSTOM"}]}`, 400, "/data/0/format"},
		{"format does not fit", "POST", "/aliases", e.writer, "application/json", `{"data":[{"value":"4111111111111111x","format":"FPE_T_FOUR"}]}`, 400, "/data/0/format"},
		{"unknown storage", "POST", "/aliases", e.writer, "application/json", `{"data":[{"value":"4111111111111111","storage":"DISK"}]}`, 400, "/data/0/storage"},
		{"bad classifier", "POST", "/aliases", e.writer, "application/json", `{"data":[{"value":"4111111111111111","classifiers":["a\nb"]}]}`, 400, "/data/0/classifiers"},
		{"unknown source alias", "POST", "/aliases", e.both, "application/json", `{"data":[{"alias":"tok_sandbox_x","format":"PFPT"}]}`, 400, "/data/0/alias"},
		{"an alias referenced twice", "POST", "/aliases", e.both, "application/json", `{"data":[{"alias":"tok_sandbox_x","format":"PFPT"},{"alias":"tok_sandbox_x","format":"UUID"}]}`, 400, "/data/1/alias"},
		{"unknown alias", "GET", "/aliases/tok_sandbox_unknown", e.reveal, "", "", 404, ""},
		{"unknown aliases", "GET", "/aliases?q=tok_a,tok_b", e.reveal, "", "", 404, ""},
		{"no aliases in query", "GET", "/aliases", e.reveal, "", "", 400, ""},
		{"bad storage parameter", "GET", "/aliases/tok_x?storage=DISK", e.reveal, "", "", 400, ""},
		{"PUT without classifiers", "PUT", "/aliases/tok_x", e.writer, "application/json", `{"data":{}}`, 400, "/data/classifiers"},
		{"batch delete of nothing", "POST", "/aliases/delete", e.writer, "application/json", `{"data":[]}`, 400, "/data"},
		{"batch delete of 21", "POST", "/aliases/delete", e.writer, "application/json", `{"data":["` + strings.Repeat(`a","`, 20) + `a"]}`, 400, "/data"},
		{"batch delete, bad storage", "POST", "/aliases/delete", e.writer, "application/json", `{"data":["a"],"storage":"DISK"}`, 400, "/storage"},
		{"batch delete of unknown aliases", "POST", "/aliases/delete", e.writer, "application/json", `{"data":["tok_a","tok_b"]}`, 404, ""},
		{"no token", "POST", "/aliases", "", "application/json", items(1), 401, ""},
		{"bad token", "POST", "/aliases", "not.a.jwt", "application/json", items(1), 401, ""},
		{"reveal token cannot write", "POST", "/aliases", e.reveal, "application/json", items(1), 403, ""},
		{"write token cannot reveal", "GET", "/aliases/tok_x", e.writer, "", "", 403, ""},
		{"wrong method", "PATCH", "/aliases/tok_x", e.both, "application/json", "{}", 405, ""},
		{"unknown path", "GET", "/nope", e.both, "", "", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(t, tt.method, tt.path, tt.token, tt.ctype, tt.body)
			if r.status != tt.status {
				t.Fatalf("status = %d, want %d: %s", r.status, tt.status, r.body)
			}
			var doc errorDoc
			if err := json.Unmarshal(r.body, &doc); err != nil || len(doc.Errors) == 0 {
				t.Fatalf("not an error document: %s", r.body)
			}
			for _, o := range doc.Errors {
				// VGS's ApiError: an integer status, a title, a detail and
				// the request URL (no query) as href.
				if o.Status != tt.status || o.Title == "" || o.Detail == "" || o.Href != e.srv.URL+strings.SplitN(tt.path, "?", 2)[0] {
					t.Fatalf("error object %+v (%s)", o, r.body)
				}
			}
			if tt.pointer != "" && doc.Errors[0].Source.Pointer != tt.pointer {
				t.Fatalf("pointer = %q, want %q (%s)", doc.Errors[0].Source.Pointer, tt.pointer, r.body)
			}
			if strings.Contains(string(r.body), card) || strings.Contains(string(r.body), long[:64]) {
				t.Fatalf("error echoes a value: %s", r.body)
			}
			obstest.AssertNoPAN(t, "error body", r.body)
		})
	}
}

// failing is a vault whose store is down.
type failing struct{ vaultapi.Vault }

func (failing) Redact(context.Context, []vault.RedactRequest) ([]vault.Token, error) {
	return nil, errors.New("boom: " + vault.ErrUnavailable.Error())
}

func (failing) Describe(context.Context, []string) ([]vault.Entry, error) {
	return nil, vault.ErrUnavailable
}

func TestStoreDownIs503WithoutDetail(t *testing.T) {
	e := setup(t, func(v vaultapi.Vault) vaultapi.Vault { return failing{v} })
	r := e.do(t, "GET", "/aliases/tok_x", e.reveal, "", "")
	if r.status != 503 || r.header.Get("Retry-After") == "" {
		t.Fatalf("GET with store down = %d %s", r.status, r.body)
	}
	r = e.do(t, "POST", "/aliases", e.writer, "application/json", `{"data":[{"value":"4111111111111111"}]}`)
	if r.status != 500 || strings.Contains(string(r.body), "boom") {
		t.Fatalf("POST with unknown failure = %d %s", r.status, r.body)
	}
}

// TestRevealManyReadsTheListLazily: GET /aliases?q= with a list of about
// 900,000 commas split the whole list before its 20 aliases were counted:
// a slice of 900,000 strings, about 14 MB a request, for any client with
// the reveal scope. The list is read until it holds more than 20 aliases.
func TestRevealManyReadsTheListLazily(t *testing.T) {
	e := setup(t, nil)
	q := strings.Repeat(",", 900_000) + "tok_sandbox_a"
	for _, list := range []string{q, strings.Repeat("tok_sandbox_x,", 21) + q} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		r := e.do(t, "GET", "/aliases?q="+list, e.reveal, "", "")
		runtime.ReadMemStats(&after)
		if r.status != 404 && r.status != 400 {
			t.Fatalf("status %d %s", r.status, r.body)
		}
		// The URL itself is copied several times (client, server, query
		// parsing, the request's log line): about 9.5 MB here in all; the
		// split list added 14 MB more.
		if grown := after.TotalAlloc - before.TotalAlloc; grown > 16<<20 {
			t.Errorf("one request allocated %d MB", grown>>20)
		}
	}
}

// TestRevealManyRefusesAmbiguousLists: GET /aliases takes one list of
// aliases, comma-separated, in q or in aliases (VGS's q is one string).
// A request that gives it twice (q twice, aliases twice, or both), or a
// query url.ParseQuery would read only in part (a pair with a ';', a bad
// escape), is refused 400 invalid_query naming the parameter, before
// anything is revealed. Before, the first list was answered and the rest
// dropped without a word: a partial answer the client took for the whole
// (an alias of the second list read as absent), and a request a proxy in
// front reads otherwise (the last q) than the API did. The same holds
// for storage on every path that reads it.
func TestRevealManyRefusesAmbiguousLists(t *testing.T) {
	e := setup(t, nil)
	recs := e.create(t, `{"data":[{"value":"4111111111111111"},{"value":"5555555555554444"}]}`)
	a, b := recs[0].Aliases[0].Alias, recs[1].Aliases[0].Alias
	tests := []struct{ name, path, param string }{
		{"q twice", "/aliases?q=" + a + "&q=" + b, "q"},
		{"q twice, the second empty", "/aliases?q=" + a + "&q=", "q"},
		{"aliases twice", "/aliases?aliases=" + a + "&aliases=" + b, "aliases"},
		{"q and aliases", "/aliases?q=" + a + "&aliases=" + b, "aliases"},
		{"an empty q and aliases", "/aliases?q=&aliases=" + a, "aliases"},
		{"a pair with a semicolon", "/aliases?q=" + a + "&x=1;q=" + b, ""},
		{"a bad escape", "/aliases?q=" + a + "&q=%zz", ""},
		{"storage twice", "/aliases/" + a + "?storage=PERSISTENT&storage=VOLATILE", "storage"},
		{"storage twice, listing", "/aliases?q=" + a + "&storage=PERSISTENT&storage=PERSISTENT", "storage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(t, "GET", tt.path, e.reveal, "", "")
			var doc errorDoc
			if r.status != http.StatusBadRequest || json.Unmarshal(r.body, &doc) != nil || len(doc.Errors) != 1 ||
				doc.Errors[0].Code != "invalid_query" || doc.Errors[0].Source.Parameter != tt.param {
				t.Fatalf("%s: %d %s, want 400 invalid_query naming %q", tt.path, r.status, r.body, tt.param)
			}
			// The href is the request's URL without its query.
			rest := strings.ReplaceAll(string(r.body), e.srv.URL+strings.SplitN(tt.path, "?", 2)[0], "")
			if strings.Contains(rest, a) || strings.Contains(rest, b) {
				t.Fatalf("the refusal names an alias of the query: %s", r.body)
			}
			obstest.AssertNoPAN(t, "refusal", r.body)
		})
	}
	// One list in one parameter is answered whole, as before.
	// So are a VGS client's usual shapes: the comma escaped, a trailing
	// '&', storage given once, a space after the comma, an empty pair.
	for _, path := range []string{"/aliases?q=" + a + "," + b, "/aliases?aliases=" + a + "," + b + "&storage=PERSISTENT&other=1&other=2",
		"/aliases?q=" + a + "%2C" + b, "/aliases?q=" + a + "%2c" + b + "&", "/aliases?q=" + a + "," + b + "&storage=PERSISTENT",
		"/aliases?q=" + a + ",%20" + b, "/aliases?&q=" + a + "," + b + "&&"} {
		r := e.do(t, "GET", path, e.reveal, "", "")
		var many struct{ Data map[string]record }
		if r.status != 200 || json.Unmarshal(r.body, &many) != nil || len(many.Data) != 2 {
			t.Fatalf("%s: %d %s", path, r.status, r.body)
		}
	}
}
