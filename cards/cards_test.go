package cards

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/auth"
	"github.com/aliasgate/aliasgate/internal/jsonapi"
	"github.com/aliasgate/aliasgate/internal/obs/obstest"
	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/boltstore"
	"github.com/aliasgate/aliasgate/vault/memstore"
)

// memStore is an in-memory Store.
type memStore struct {
	mu      sync.Mutex
	cards   map[string][]byte // account/id → record
	fingers map[string]string // account/fingerprint → id
	updates map[string][][]byte

	idem map[string]idemTestEntry // idempotency_test.go

	tokenAliases        map[string][]string // account/alias → card ids (tokenaliases_test.go)
	tokenAliasesIndexed bool

	// stale, when set, makes every compare-and-swap write lose, as if
	// another gateway changed the card each time (payment_test.go).
	stale atomic.Bool
}

func newMemStore() *memStore {
	return &memStore{cards: map[string][]byte{}, fingers: map[string]string{}, updates: map[string][][]byte{}}
}

func (s *memStore) PutCard(_ context.Context, account, id, fp string, record []byte) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ex, ok := s.fingers[account+"/"+fp]; ok {
		return ex, nil
	}
	s.fingers[account+"/"+fp] = id
	s.cards[account+"/"+id] = slices.Clone(record)
	return "", nil
}

func (s *memStore) CardByFingerprint(_ context.Context, account, fp string) (string, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.fingers[account+"/"+fp]
	return id, ok, nil
}

func (s *memStore) GetCard(_ context.Context, account, id string) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.cards[account+"/"+id]
	return slices.Clone(b), ok, nil
}

// cas checks under s.mu that card k is stored and still old.
func (s *memStore) cas(k, id string, old []byte) error {
	cur, ok := s.cards[k]
	if !ok {
		return fmt.Errorf("no card %s", id)
	}
	if !bytes.Equal(cur, old) || s.stale.Load() {
		return vault.ErrCardChanged
	}
	return nil
}

func (s *memStore) UpdateCard(_ context.Context, account, id string, old, record, update []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := account + "/" + id
	if err := s.cas(k, id, old); err != nil {
		return err
	}
	s.cards[k] = slices.Clone(record)
	s.updates[k] = append(s.updates[k], slices.Clone(update))
	return nil
}

func (s *memStore) ReplaceCard(_ context.Context, account, id string, old, record []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := account + "/" + id
	if err := s.cas(k, id, old); err != nil {
		return err
	}
	s.cards[k] = slices.Clone(record)
	return nil
}

func (s *memStore) CardUpdates(_ context.Context, account, id string) ([][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.updates[account+"/"+id]), nil
}

// fakeGuard takes the principal from X-Test-* headers.
type fakeGuard struct{}

func (fakeGuard) Require(scope string, allowBasic bool, contentType string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := auth.Principal{
			ClientID:    r.Header.Get("X-Test-Client"),
			Account:     r.Header.Get("X-Test-Account"),
			PCI:         r.Header.Get("X-Test-PCI") == "1",
			Fingerprint: "KCxZx3kkeXF9xnJvyzJHRwx5ycyrDNgzAXk8K15E5Bpy",
			Scopes:      strings.Fields(r.Header.Get("X-Test-Scopes")),
		}
		if p.ClientID == "" {
			p.ClientID = "ACHtestclient"
		}
		if p.Account == "" {
			p.Account = "ACTaccountA"
		}
		if r.Header.Get("X-Test-Scopes") == "" {
			p.Scopes = []string{auth.ScopeCardsRead, auth.ScopeCardsWrite}
		}
		if !p.HasScope(scope) {
			jsonapi.WriteError(w, contentType, jsonapi.NewError(403, "insufficient_scope", "Forbidden", scope))
			return
		}
		next.ServeHTTP(w, r.WithContext(auth.NewContext(r.Context(), p)))
	})
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	t     *testing.T
	h     *Handler
	vault *vault.Service
	clk   *clock
	store *memStore
	// Of tspEnv's: the bbolt store, its numbers index and the
	// Handler's options.
	bolt    *boltstore.Store
	numbers *vault.Numbers
	opts    Options
}

func setup(t *testing.T) *env {
	t.Helper()
	clk := &clock{t: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	svc := newTestVault(t, vault.Options{Env: "sandbox", VolatileTTL: time.Hour, Now: clk.Now, DefaultAccount: "ACTaccountA"})
	st := newMemStore()
	h, err := New(st, svc, fakeGuard{}, Options{VaultID: "tnt-test", FingerprintKey: bytes.Repeat([]byte{9}, 32),
		Now: clk.Now, Logger: obstest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, h: h, vault: svc, clk: clk, store: st}
}

type resp struct {
	code int
	hdr  http.Header
	body []byte
	doc  map[string]any
}

// do sends a request; hdr holds "Name: value" pairs. ct "" means the JSON:API media type.
func (e *env) do(method, path, body string, hdr ...string) resp {
	e.t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		r.Header.Set("Content-Type", jsonapi.MediaType)
	}
	for _, h := range hdr {
		k, v, _ := strings.Cut(h, ": ")
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	out := resp{code: w.Code, hdr: w.Header(), body: w.Body.Bytes()}
	if ct := w.Header().Get("Content-Type"); ct != jsonapi.MediaType {
		e.t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	if err := json.Unmarshal(out.body, &out.doc); err != nil {
		e.t.Fatalf("%s %s: body is not JSON: %v", method, path, err)
	}
	return out
}

const pci = "X-Test-PCI: 1"

// reveal gives the test principal aliases:reveal besides the card scopes:
// a PCI client needs it to name pan_alias or cvc_alias.
const reveal = "X-Test-Scopes: cards:read cards:write network-tokens:write aliases:reveal"

func cardBody(attrs string) string { return `{"data":{"type":"cards","attributes":{` + attrs + `}}}` }

func (e *env) create(attrs string, hdr ...string) (string, resp) {
	e.t.Helper()
	r := e.do("POST", "/cards", cardBody(attrs), hdr...)
	if r.code != http.StatusCreated {
		e.t.Fatalf("create: %d %s", r.code, r.body)
	}
	return r.doc["data"].(map[string]any)["id"].(string), r
}

func attrsOf(t *testing.T, doc map[string]any) map[string]any {
	t.Helper()
	d, ok := doc["data"].(map[string]any)
	if !ok {
		t.Fatalf("no data object")
	}
	a, ok := d["attributes"].(map[string]any)
	if !ok {
		t.Fatalf("no attributes object")
	}
	return a
}

func loadSpec(t *testing.T, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile("testdata/spec_" + name + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func kind(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "bool"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	case nil:
		return "null"
	}
	return "?"
}

// sameShape checks that got has exactly the members of want with the same
// JSON types, recursively (arrays: element shapes against want's first one).
// extra lists members got may have in addition, missing those it may lack
// (at any depth).
func sameShape(t *testing.T, where string, want, got any, extra, missing []string) {
	t.Helper()
	if kind(want) != kind(got) {
		t.Errorf("%s: type %s, spec has %s", where, kind(got), kind(want))
		return
	}
	switch w := want.(type) {
	case map[string]any:
		g := got.(map[string]any)
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				if !slices.Contains(missing, k) {
					t.Errorf("%s.%s: missing", where, k)
				}
				continue
			}
			sameShape(t, where+"."+k, wv, gv, extra, missing)
		}
		for k := range g {
			if _, ok := w[k]; !ok && !slices.Contains(extra, k) {
				t.Errorf("%s.%s: not in the spec", where, k)
			}
		}
	case []any:
		g := got.([]any)
		if len(w) > 0 {
			for i, gv := range g {
				sameShape(t, fmt.Sprintf("%s[%d]", where, i), w[0], gv, extra, missing)
			}
		}
	}
}

var (
	reCardID  = regexp.MustCompile(`^CRD[1-9A-HJ-NP-Za-km-z]{22}$`)
	reUUID    = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	reAlias   = regexp.MustCompile(`^tok_sandbox_[1-9A-HJ-NP-Za-km-z]+$`)
	reTrace   = regexp.MustCompile(`^[0-9a-f]{32}$`)
	reBase58  = regexp.MustCompile(`^[1-9A-HJ-NP-Za-km-z]{44}$`)
	reRFC3339 = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`)
)

// checkCard checks a card document against the spec page's example: every
// member with its JSON type. Non-PCI documents may lack pan and cvc, and
// cvc_alias and cvc go when there is no CVC; meta is the only extra member.
func checkCard(t *testing.T, name string, doc map[string]any) {
	t.Helper()
	spec := loadSpec(t, name)
	extra := []string{"meta"}
	if _, ok := spec["included"]; !ok {
		extra = append(extra, "included")
	}
	var missing []string
	a := attrsOf(t, doc)
	if a["cvc_status"] != "active" {
		missing = append(missing, "cvc")
	}
	if a["cvc_status"] == "none" {
		missing = append(missing, "cvc_alias")
	}
	if _, ok := a["pan"]; !ok {
		missing = append(missing, "pan", "cvc")
	}
	sameShape(t, name, spec, doc, extra, missing)
	data := doc["data"].(map[string]any)
	if data["type"] != "cards" || !reCardID.MatchString(data["id"].(string)) {
		t.Errorf("%s: data type/id %v %v", name, data["type"], data["id"])
	}
	for _, k := range []string{"pan_alias", "cvc_alias"} {
		if s, ok := a[k].(string); ok && !reAlias.MatchString(s) {
			t.Errorf("%s: %s %q is not a UUID-format alias", name, k, s)
		}
	}
	for _, k := range []string{"created_at", "updated_at"} {
		if !reRFC3339.MatchString(a[k].(string)) {
			t.Errorf("%s: %s %q", name, k, a[k])
		}
	}
	if !reBase58.MatchString(a["card_fingerprint"].(string)) {
		t.Errorf("%s: card_fingerprint %q", name, a["card_fingerprint"])
	}
	if a["token_type"] != "pan" {
		t.Errorf("%s: token_type %v", name, a["token_type"])
	}
	obs := doc["metadata"].(map[string]any)["observability"].(map[string]any)
	if !reTrace.MatchString(obs["trace_id"].(string)) || obs["vault_id"] != "tnt-test" || obs["client_id"] == "" ||
		obs["account_id"] == "" || obs["fingerprint"] == "" {
		t.Errorf("%s: observability %v", name, obs)
	}
}

func TestCreateGetPatchMatchTheSpecPages(t *testing.T) {
	e := setup(t)
	id, r := e.create(`"pan":"4111111111111111","cvc":"123","exp_month":5,"exp_year":27`, pci,
		"traceparent: 00-2d137f00cc53f5a9265f3b40402f7892-00f067aa0ba902b7-01")
	checkCard(t, "create", r.doc)
	if r.hdr.Get("Location") != "/cards/"+id {
		t.Errorf("Location %q", r.hdr.Get("Location"))
	}
	a := attrsOf(t, r.doc)
	want := map[string]any{"pan": "4111111111111111", "cvc": "123", "cvc_status": "active", "bin": "411111",
		"first8": "41111111", "last4": "1111", "exp_month": 5.0, "exp_year": 27.0, "card_brand": "VISA",
		"card_type": "DEBIT", "token_type": "pan", "created_at": "2026-11-23T12:00:00Z"}
	for k, v := range want {
		if a[k] != v {
			t.Errorf("create: %s = %v, want %v", k, a[k], v)
		}
	}
	if fmt.Sprint(a["capabilities"]) != "[network-tokens]" { // no token yet: no card updates (lifecycle.go)
		t.Errorf("capabilities %v", a["capabilities"])
	}
	obs := r.doc["metadata"].(map[string]any)["observability"].(map[string]any)
	if obs["trace_id"] != "2d137f00cc53f5a9265f3b40402f7892" || obs["account_id"] != "ACTaccountA" ||
		obs["client_id"] != "ACHtestclient" {
		t.Errorf("observability %v", obs)
	}
	// The stored record holds aliases, never the PAN or CVC.
	for k, b := range e.store.cards {
		obstest.AssertNoPAN(t, "stored card "+k, b)
		if bytes.Contains(b, []byte(`"123"`)) {
			t.Errorf("stored card holds the CVC")
		}
	}

	g := e.do("GET", "/cards/"+id, "", pci)
	if g.code != 200 {
		t.Fatalf("get: %d", g.code)
	}
	checkCard(t, "get", g.doc)
	if _, ok := g.doc["included"]; ok {
		t.Errorf("get without include has included")
	}
	if attrsOf(t, g.doc)["pan"] != "4111111111111111" || attrsOf(t, g.doc)["cvc"] != "123" {
		t.Errorf("get: PCI client does not see pan/cvc")
	}

	e.clk.Add(time.Minute)
	p := e.do("PATCH", "/cards/"+id, `{"data":{"attributes":{"cvc":"456","exp_month":4,"exp_year":28}}}`, pci)
	if p.code != 200 {
		t.Fatalf("patch: %d %s", p.code, p.body)
	}
	checkCard(t, "patch", p.doc)
	pa := attrsOf(t, p.doc)
	if pa["cvc"] != "456" || pa["exp_month"] != 4.0 || pa["exp_year"] != 28.0 || pa["updated_at"] != "2026-11-23T12:01:00Z" ||
		pa["created_at"] != "2026-11-23T12:00:00Z" || pa["cvc_alias"] == a["cvc_alias"] || pa["pan_alias"] != a["pan_alias"] {
		t.Errorf("patch attributes %v", pa)
	}
	inc := p.doc["included"].([]any)
	if len(inc) != 1 {
		t.Fatalf("included %v", inc)
	}
	u := inc[0].(map[string]any)
	ua := u["attributes"].(map[string]any)
	if u["type"] != "card_updates" || !reUUID.MatchString(u["id"].(string)) || ua["event"] != "api-update" ||
		ua["received_at"] != "2026-11-23T12:01:00Z" {
		t.Errorf("card update %v", u)
	}
	if fmt.Sprint(ua["changed_fields"]) != "[cvc exp_month exp_year]" {
		t.Errorf("changed_fields %v", ua["changed_fields"])
	}
	uv, _ := json.Marshal(ua["updated_values"])
	if string(uv) != `[{"field_name":"exp_month","new_value":4,"old_value":5},{"field_name":"exp_year","new_value":28,"old_value":27}]` {
		t.Errorf("updated_values %s", uv)
	}
	if bytes.Contains(uv, []byte("456")) || bytes.Contains(uv, []byte("cvc")) {
		t.Errorf("updated_values mention the cvc")
	}

	// GET with include=card_updates returns the update as recorded.
	g = e.do("GET", "/cards/"+id+"?include=card_updates", "", pci)
	gi := g.doc["included"].([]any)
	if len(gi) != 1 || gi[0].(map[string]any)["id"] != u["id"] {
		t.Fatalf("get included %v", gi)
	}
	sameShape(t, "get included", loadSpec(t, "patch")["included"], g.doc["included"], nil, nil)
}

func TestNonPCIClientsSeeAliasesOnly(t *testing.T) {
	e := setup(t)
	id, r := e.create(`"pan":"5555555555554444","cvc":"321","exp_month":1,"exp_year":2030`)
	checkCard(t, "create", r.doc)
	for _, doc := range []resp{r, e.do("GET", "/cards/"+id, ""),
		e.do("PATCH", "/cards/"+id, `{"data":{"attributes":{"cvc":"654"}}}`)} {
		a := attrsOf(t, doc.doc)
		if _, ok := a["pan"]; ok {
			t.Errorf("non-PCI document has pan")
		}
		if _, ok := a["cvc"]; ok {
			t.Errorf("non-PCI document has cvc")
		}
		if a["cvc_status"] != "active" || a["pan_alias"] == nil || a["cvc_alias"] == nil || a["last4"] != "4444" ||
			a["bin"] != "555555" || a["card_brand"] != "MASTERCARD" || a["exp_year"] != 2030.0 {
			t.Errorf("non-PCI attributes %v", a)
		}
		obstest.AssertNoPAN(t, "non-PCI document", doc.body)
		if bytes.Contains(doc.body, []byte(`"321"`)) || bytes.Contains(doc.body, []byte(`"654"`)) {
			t.Errorf("non-PCI document holds a CVC: %s", doc.body)
		}
	}
	// The same card seen by a PCI client of the account.
	a := attrsOf(t, e.do("GET", "/cards/"+id, "", pci).doc)
	if a["pan"] != "5555555555554444" || a["cvc"] != "654" {
		t.Errorf("PCI view %v", a)
	}
}

func TestCVCStatusFollowsTheVolatileAlias(t *testing.T) {
	e := setup(t)
	id, r := e.create(`"pan":"4242424242424242","exp_month":12,"exp_year":29`, pci)
	a := attrsOf(t, r.doc)
	if a["cvc_status"] != "none" || a["cvc_alias"] != nil || a["cvc"] != nil || a["card_type"] != "CREDIT" {
		t.Errorf("no cvc: %v", a)
	}
	p := e.do("PATCH", "/cards/"+id, `{"data":{"attributes":{"cvc":"777"}}}`, pci)
	if a := attrsOf(t, p.doc); a["cvc_status"] != "active" || a["cvc"] != "777" {
		t.Errorf("after patch: %v", a)
	}
	e.clk.Add(2 * time.Hour)
	g := e.do("GET", "/cards/"+id, "", pci)
	a = attrsOf(t, g.doc)
	if a["cvc_status"] != "expired" || a["cvc"] != nil || a["cvc_alias"] == nil || a["pan"] != "4242424242424242" {
		t.Errorf("after TTL: %v", a)
	}
}

func TestDuplicatePANAnswers303AndAccountsAreIsolated(t *testing.T) {
	e := setup(t)
	const body = `"pan":"4111111111111111","cvc":"123","exp_month":5,"exp_year":28`
	id, r1 := e.create(body)
	r := e.do("POST", "/cards", cardBody(`"pan":"4111111111111111","exp_month":6,"exp_year":29`))
	if r.code != http.StatusSeeOther || r.hdr.Get("Location") != "/cards/"+id {
		t.Fatalf("duplicate: %d %q", r.code, r.hdr.Get("Location"))
	}
	if d := r.doc["data"].(map[string]any); d["id"] != id || d["type"] != "cards" {
		t.Errorf("duplicate body %v", r.doc)
	}
	obstest.AssertNoPAN(t, "303 body", r.body)
	// The existing card is unchanged.
	if a := attrsOf(t, e.do("GET", "/cards/"+id, "").doc); a["exp_month"] != 5.0 {
		t.Errorf("duplicate changed the card: %v", a)
	}

	// Another account: a new card with another fingerprint, and no access to the first.
	const b = "X-Test-Account: ACTaccountB"
	id2, r2 := e.create(body, b)
	if id2 == id || attrsOf(t, r2.doc)["card_fingerprint"] == attrsOf(t, r1.doc)["card_fingerprint"] {
		t.Errorf("accounts share a card or fingerprint")
	}
	for _, x := range []resp{e.do("GET", "/cards/"+id, "", b),
		e.do("PATCH", "/cards/"+id, `{"data":{"attributes":{"exp_month":1}}}`, b)} {
		if x.code != 404 {
			t.Errorf("other account's card: %d", x.code)
		}
	}
	for _, p := range []string{"/cards/CRDnope", "/cards/" + strings.Repeat("1", 25), "/cards/x/y", "/other"} {
		if x := e.do("GET", p, ""); x.code != 404 {
			t.Errorf("GET %s: %d", p, x.code)
		}
	}
}

func TestInclude(t *testing.T) {
	e := setup(t)
	id, _ := e.create(`"pan":"4111111111111111","exp_month":5,"exp_year":28`)
	e.do("PATCH", "/cards/"+id, `{"data":{"attributes":{"meta":{"crm":"C-1"}}}}`)
	e.do("PATCH", "/cards/"+id, `{"data":{"attributes":{"exp_month":6,"meta":{}}}}`)
	tests := []struct {
		q    string
		code int
		n    int
	}{
		{"include=network_tokens", 200, 0},
		{"include=card_updates", 200, 2},
		{"include=card_updates,network_tokens", 200, 2},
		{"include=network_tokens&include=card_updates", 200, 2},
		{"include=cards", 400, 0},
		{"include=card_updates,bogus", 400, 0},
	}
	for _, tc := range tests {
		r := e.do("GET", "/cards/"+id+"?"+tc.q, "")
		if r.code != tc.code {
			t.Errorf("%s: %d", tc.q, r.code)
			continue
		}
		if tc.code == 400 {
			src := r.doc["errors"].([]any)[0].(map[string]any)["source"].(map[string]any)
			if src["parameter"] != "include" {
				t.Errorf("%s: source %v", tc.q, src)
			}
			continue
		}
		inc, ok := r.doc["included"].([]any)
		if !ok || len(inc) != tc.n {
			t.Errorf("%s: included %v", tc.q, r.doc["included"])
		}
		if tc.n == 2 {
			u1 := inc[0].(map[string]any)["attributes"].(map[string]any)
			u2 := inc[1].(map[string]any)["attributes"].(map[string]any)
			if fmt.Sprint(u1["changed_fields"]) != "[meta]" || fmt.Sprint(u2["changed_fields"]) != "[exp_month meta]" {
				t.Errorf("%s: order or fields %v %v", tc.q, u1, u2)
			}
			v, _ := json.Marshal(u1["updated_values"])
			if string(v) != `[{"field_name":"meta","new_value":{"crm":"C-1"},"old_value":{}}]` {
				t.Errorf("meta update %s", v)
			}
		}
	}
	// meta is shown when set
	e.do("PATCH", "/cards/"+id, `{"data":{"attributes":{"meta":{"a":"b"}}}}`)
	r := e.do("GET", "/cards/"+id, "")
	if m, _ := json.Marshal(attrsOf(t, r.doc)["meta"]); string(m) != `{"a":"b"}` {
		t.Errorf("meta %s", m)
	}
	checkCard(t, "get", r.doc)
	// A PATCH that changes nothing records nothing: included is empty.
	r = e.do("PATCH", "/cards/"+id, `{"data":{"attributes":{"exp_month":6}}}`)
	if inc, ok := r.doc["included"].([]any); !ok || len(inc) != 0 || r.code != 200 {
		t.Errorf("no-op patch: %d %v", r.code, r.doc["included"])
	}
}

func TestCreateFromAliases(t *testing.T) {
	e := setup(t)
	toks, err := e.vault.Redact(context.Background(), []vault.RedactRequest{
		{Value: "378282246310005", Format: vault.FormatFPESixTFour, Storage: vault.StoragePersistent},
		{Value: "1234", Storage: vault.StorageVolatile},
	})
	if err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf(`"pan_alias":%q,"cvc_alias":%q,"exp_month":3,"exp_year":2031,"meta":{"src":"web"}`,
		toks[0].Alias, toks[1].Alias)
	id, r := e.create(body, pci, reveal)
	checkCard(t, "create", r.doc)
	a := attrsOf(t, r.doc)
	if a["pan"] != "378282246310005" || a["cvc"] != "1234" || a["card_brand"] != "AMEX" || a["first8"] != "378282" ||
		a["pan_alias"] == toks[0].Alias || a["cvc_alias"] == toks[1].Alias || a["cvc_status"] != "active" {
		t.Errorf("attributes %v", a)
	}
	// Posting the raw PAN of the same card is a duplicate.
	r = e.do("POST", "/cards", cardBody(`"pan":"378282246310005","exp_month":3,"exp_year":31`))
	if r.code != 303 || r.doc["data"].(map[string]any)["id"] != id {
		t.Errorf("duplicate through alias: %d", r.code)
	}
	// PATCH with a cvc_alias.
	tok, _ := e.vault.Redact(context.Background(), []vault.RedactRequest{{Value: "9876", Storage: vault.StorageVolatile}})
	r = e.do("PATCH", "/cards/"+id, fmt.Sprintf(`{"data":{"attributes":{"cvc_alias":%q}}}`, tok[0].Alias), pci, reveal)
	if a := attrsOf(t, r.doc); r.code != 200 || a["cvc"] != "9876" {
		t.Errorf("patch cvc_alias: %d %v", r.code, a)
	}
}

func TestScopesAndMethods(t *testing.T) {
	e := setup(t)
	id, _ := e.create(`"pan":"4111111111111111","exp_month":5,"exp_year":28`)
	if r := e.do("GET", "/cards/"+id, "", "X-Test-Scopes: cards:write"); r.code != 403 {
		t.Errorf("GET without cards:read: %d", r.code)
	}
	if r := e.do("POST", "/cards", cardBody(`"pan":"4242424242424242","exp_month":5,"exp_year":28`),
		"X-Test-Scopes: cards:read"); r.code != 403 {
		t.Errorf("POST without cards:write: %d", r.code)
	}
	if r := e.do("PATCH", "/cards/"+id, `{"data":{"attributes":{}}}`, "X-Test-Scopes: cards:read"); r.code != 403 {
		t.Errorf("PATCH without cards:write: %d", r.code)
	}
	if r := e.do("DELETE", "/cards/"+id, "", "X-Test-Scopes: cards:read"); r.code != 403 {
		t.Errorf("DELETE without cards:write: %d", r.code)
	}
	if r := e.do("GET", "/cards", "", "X-Test-Scopes: cards:write"); r.code != 403 {
		t.Errorf("GET /cards without cards:read: %d", r.code)
	}
	if r := e.do("PUT", "/cards/"+id, ""); r.code != 405 || r.hdr.Get("Allow") != "GET, PATCH, DELETE" {
		t.Errorf("PUT /cards/{id}: %d", r.code)
	}
	if r := e.do("PUT", "/cards", ""); r.code != 405 || r.hdr.Get("Allow") != "GET, POST" {
		t.Errorf("PUT /cards: %d", r.code)
	}
}

type badCase struct {
	name    string
	ct      string // Content-Type; "" for the JSON:API one
	body    string
	code    int
	pointer string
}

func checkBad(t *testing.T, e *env, method, path string, tc badCase) {
	t.Helper()
	var hdr []string
	if tc.ct != "" {
		hdr = append(hdr, "Content-Type: "+tc.ct)
	}
	r := e.do(method, path, tc.body, hdr...)
	obstest.AssertNoPAN(t, tc.name+" error body", r.body)
	for _, secret := range []string{"4111111111111112", "98765", "12a", "411111111111", "4111-1111", "tok_sandbox_nope"} {
		if strings.Contains(tc.body, secret) && bytes.Contains(r.body, []byte(secret)) {
			t.Errorf("%s: error body repeats %q", tc.name, secret)
		}
	}
	if r.code != tc.code {
		t.Errorf("%s: status %d, want %d: %s", tc.name, r.code, tc.code, r.body)
		return
	}
	errs, ok := r.doc["errors"].([]any)
	if !ok || len(errs) == 0 {
		t.Errorf("%s: no errors array", tc.name)
		return
	}
	if tc.pointer == "" {
		return
	}
	var ptrs []string
	for _, x := range errs {
		o := x.(map[string]any)
		if o["status"] != fmt.Sprint(tc.code) {
			t.Errorf("%s: error status %v", tc.name, o["status"])
		}
		if s, ok := o["source"].(map[string]any); ok {
			ptrs = append(ptrs, fmt.Sprint(s["pointer"]))
		}
	}
	if !slices.Contains(ptrs, tc.pointer) {
		t.Errorf("%s: pointers %v, want %s", tc.name, ptrs, tc.pointer)
	}
}

func TestCreateRefusesBadInput(t *testing.T) {
	e := setup(t)
	const exp = `,"exp_month":5,"exp_year":28`
	b := func(a string) string { return cardBody(a) }
	meta51 := make([]string, 51)
	for i := range meta51 {
		meta51[i] = fmt.Sprintf(`"k%d":"v"`, i)
	}
	tests := []badCase{
		{"luhn", "", b(`"pan":"4111111111111112"` + exp), 422, "/data/attributes/pan"},
		{"short pan", "", b(`"pan":"41111111111"` + exp), 422, "/data/attributes/pan"},
		{"long pan", "", b(`"pan":"41111111111111111111"` + exp), 422, "/data/attributes/pan"},
		{"non-digit pan", "", b(`"pan":"4111-1111-1111-1111"` + exp), 422, "/data/attributes/pan"},
		{"numeric pan", "", b(`"pan":4111111111111111` + exp), 422, "/data/attributes/pan"},
		{"exp_month 13", "", b(`"pan":"4111111111111111","exp_month":13,"exp_year":28`), 422, "/data/attributes/exp_month"},
		{"exp_month 0", "", b(`"pan":"4111111111111111","exp_month":0,"exp_year":28`), 422, "/data/attributes/exp_month"},
		{"exp_month string", "", b(`"pan":"4111111111111111","exp_month":"05","exp_year":28`), 422, "/data/attributes/exp_month"},
		{"exp_month missing", "", b(`"pan":"4111111111111111","exp_year":28`), 422, "/data/attributes/exp_month"},
		{"exp_year 3 digits", "", b(`"pan":"4111111111111111","exp_month":5,"exp_year":128`), 422, "/data/attributes/exp_year"},
		{"visa cvc of 4", "", b(`"pan":"4111111111111111","cvc":"98765"` + exp), 422, "/data/attributes/cvc"},
		{"visa cvc of 4 digits", "", b(`"pan":"4111111111111111","cvc":"1234"` + exp), 422, "/data/attributes/cvc"},
		{"amex cvc of 3", "", b(`"pan":"378282246310005","cvc":"123"` + exp), 422, "/data/attributes/cvc"},
		{"non-digit cvc", "", b(`"pan":"4111111111111111","cvc":"12a"` + exp), 422, "/data/attributes/cvc"},
		{"pan and pan_alias", "", b(`"pan":"4111111111111111","pan_alias":"tok_sandbox_x"` + exp), 422, "/data/attributes/pan_alias"},
		{"neither pan nor alias", "", b(`"cvc":"123"` + exp), 422, "/data/attributes/pan"},
		{"cvc and cvc_alias", "", b(`"pan":"4111111111111111","cvc":"123","cvc_alias":"tok_sandbox_x"` + exp), 422, "/data/attributes/cvc_alias"},
		{"unknown pan_alias", "", b(`"pan_alias":"tok_sandbox_nope"` + exp), 422, "/data/attributes/pan_alias"},
		{"unknown cvc_alias", "", b(`"pan":"4111111111111111","cvc_alias":"tok_sandbox_nope"` + exp), 422, "/data/attributes/cvc_alias"},
		{"raw PAN as pan_alias", "", b(`"pan_alias":"4111111111111111"` + exp), 422, "/data/attributes/pan_alias"},
		{"empty pan_alias", "", b(`"pan_alias":""` + exp), 422, "/data/attributes/pan_alias"},
		{"meta non-string", "", b(`"pan":"4111111111111111","meta":{"n":1}` + exp), 422, "/data/attributes/meta/n"},
		{"meta not object", "", b(`"pan":"4111111111111111","meta":"x"` + exp), 422, "/data/attributes/meta"},
		{"meta 51 keys", "", b(`"pan":"4111111111111111","meta":{` + strings.Join(meta51, ",") + `}` + exp), 422, "/data/attributes/meta"},
		{"meta key 41", "", b(`"pan":"4111111111111111","meta":{"` + strings.Repeat("k", 41) + `":"v"}` + exp), 422, "/data/attributes/meta"},
		{"meta value 501", "", b(`"pan":"4111111111111111","meta":{"k":"` + strings.Repeat("v", 501) + `"}` + exp), 422, "/data/attributes/meta/k"},
		{"meta value with a PAN", "", b(`"pan":"4242424242424242","meta":{"k":"card 4111111111111111"}` + exp), 422, "/data/attributes/meta/k"},
		{"unknown attribute", "", b(`"pan":"4111111111111111","colour":"red"` + exp), 422, "/data/attributes/colour"},
		{"read-only attribute", "", b(`"pan":"4111111111111111","bin":"411111"` + exp), 422, "/data/attributes/bin"},
		{"PAN as attribute name", "", b(`"pan":"4242424242424242","4111111111111111":"x"` + exp), 422, "/data/attributes"},
		{"client id", "", `{"data":{"id":"CRD1","attributes":{"pan":"4111111111111111"` + exp + `}}}`, 403, "/data/id"}, // JSON:API: 403
		{"relationships", "", `{"data":{"relationships":{"x":{"data":null}},"attributes":{"pan":"4111111111111111"` + exp + `}}}`, 403, "/data/relationships"},
		{"relationships not an object", "", `{"data":{"relationships":[],"attributes":{"pan":"4111111111111111"` + exp + `}}}`, 400, "/data/relationships"},
		{"wrong type", "", `{"data":{"type":"tokens","attributes":{"pan":"4111111111111111"` + exp + `}}}`, 409, "/data/type"},
		{"media type", "application/json", b(`"pan":"4111111111111111"` + exp), 415, ""},
		{"no media type", "text/plain", b(`"pan":"4111111111111111"` + exp), 415, ""},
		{"malformed", "", `{"data":{"attributes":{"pan":"4111111111111111"`, 400, ""},
		{"not an object", "", `[1,2]`, 400, ""},
		{"no data", "", `{"pan":"4111111111111111"}`, 400, "/data"},
		{"attributes not object", "", `{"data":{"attributes":["4111111111111111"]}}`, 422, "/data/attributes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { checkBad(t, e, "POST", "/cards", tc) })
	}
	if len(e.store.cards) != 0 {
		t.Errorf("a refused request stored a card")
	}
	// Expired cards are accepted (compat_test.go).
	// AMEX with a 4-digit CID: accepted.
	e.create(`"pan":"378282246310005","cvc":"1234","exp_month":10,"exp_year":2030`)
}

func TestPatchRefusesBadInput(t *testing.T) {
	e := setup(t)
	id, _ := e.create(`"pan":"4111111111111111","cvc":"123","exp_month":5,"exp_year":28`)
	b := func(a string) string { return `{"data":{"attributes":{` + a + `}}}` }
	tests := []badCase{
		{"pan", "", b(`"pan":"4242424242424242"`), 422, "/data/attributes/pan"},
		{"pan_alias", "", b(`"pan_alias":"tok_sandbox_x"`), 422, "/data/attributes/pan_alias"},
		{"exp_month 13", "", b(`"exp_month":13`), 422, "/data/attributes/exp_month"},
		{"cvc length", "", b(`"cvc":"98765"`), 422, "/data/attributes/cvc"},
		{"cvc type", "", b(`"cvc":123`), 422, "/data/attributes/cvc"},
		{"unknown cvc_alias", "", b(`"cvc_alias":"tok_sandbox_nope"`), 422, "/data/attributes/cvc_alias"},
		{"meta", "", b(`"meta":{"a":true}`), 422, "/data/attributes/meta/a"},
		{"unknown attribute", "", b(`"card_brand":"AMEX"`), 422, "/data/attributes/card_brand"},
		{"id mismatch", "", `{"data":{"id":"CRD1111111111111111111111","attributes":{}}}`, 409, "/data/id"},
		{"media type", "application/json", b(`"exp_month":4`), 415, ""},
		{"malformed", "", `{"data":`, 400, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { checkBad(t, e, "PATCH", "/cards/"+id, tc) })
	}
	if u, _ := e.store.CardUpdates(context.Background(), "ACTaccountA", id); len(u) != 0 {
		t.Errorf("a refused patch recorded %d updates", len(u))
	}
	if a := attrsOf(t, e.do("GET", "/cards/"+id, "").doc); a["exp_month"] != 5.0 || a["exp_year"] != 28.0 {
		t.Errorf("a refused patch changed the card: %v", a)
	}
}

func TestBrandAndCapabilities(t *testing.T) {
	tests := map[string]string{
		"4111111111111111": BrandVisa, "5555555555554444": BrandMastercard, "2223003122003222": BrandMastercard,
		"2720990000000000": BrandMastercard, "2721000000000000": BrandUnknown, "378282246310005": BrandAmex,
		"341111111111111": BrandAmex, "6011111111111117": BrandDiscover, "6445644564456445": BrandDiscover,
		"6500000000000000": BrandDiscover, "3530111333300000": BrandJCB, "3589000000000000": BrandJCB,
		"3527000000000000": BrandUnknown, "30569309025904": BrandDiners, "36227206271667": BrandDiners,
		"38000000000000": BrandDiners, "6200000000000005": BrandUnionPay, "5018000000000000": BrandMaestro,
		"5600000000000000": BrandMaestro, "6304000000000000": BrandMaestro, "6759649826438453": BrandMaestro,
		"9999999999999999": BrandUnknown, "1": BrandUnknown,
	}
	for p, want := range tests {
		if got := Brand(p); got != want {
			t.Errorf("Brand(%s…) = %s, want %s", p[:min(6, len(p))], got, want)
		}
	}
	if len(capabilities(BrandJCB, true)) != 0 || len(capabilities(BrandAmex, true)) != 2 || len(capabilities(BrandAmex, false)) != 1 {
		t.Errorf("capabilities")
	}
}

func TestBINTableOverride(t *testing.T) {
	st := newMemStore()
	csv := "prefix,card_type\n# comment\n\n4111,prepaid\n411111,CREDIT\n9,DEBIT\n"
	h, err := New(st, nopVault{}, fakeGuard{}, Options{FingerprintKey: make([]byte, 32), BINTable: strings.NewReader(csv)})
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{"4111111111111111": "CREDIT", "4111121111111111": "PREPAID",
		"9000000000000": "DEBIT", "4242424242424242": "CREDIT", "3000000000000": "UNKNOWN"} {
		if got := h.bins.cardType(p); got != want {
			t.Errorf("cardType(%s) = %s, want %s", p[:6], got, want)
		}
	}
	for _, bad := range []string{"41x1,CREDIT\n", "4111\n", "4111,GOLD\n", "123456789012,DEBIT\n"} {
		if _, err := New(st, nopVault{}, fakeGuard{}, Options{FingerprintKey: make([]byte, 32),
			BINTable: strings.NewReader(bad)}); err == nil {
			t.Errorf("BIN table %q accepted", bad)
		}
	}
	if _, err := New(st, nopVault{}, fakeGuard{}, Options{FingerprintKey: make([]byte, 31)}); err == nil {
		t.Errorf("short fingerprint key accepted")
	}
}

type nopVault struct{}

func (nopVault) Redact(context.Context, []vault.RedactRequest) ([]vault.Token, error) {
	return nil, nil
}
func (nopVault) Reveal(context.Context, []string) ([]vault.Revealed, error) { return nil, nil }
func (nopVault) RouteServes(context.Context, string) bool                   { return true }
func (nopVault) Release(context.Context, string) error                      { return nil }

func TestFingerprintAndTraceID(t *testing.T) {
	k := bytes.Repeat([]byte{1}, 32)
	a1, a2 := fingerprint(k, "A", "4111111111111111"), fingerprint(k, "A", "4111111111111111")
	if a1 != a2 || a1 == fingerprint(k, "B", "4111111111111111") || a1 == fingerprint(k, "A", "4242424242424242") ||
		!reBase58.MatchString(a1) {
		t.Errorf("fingerprint %s", a1)
	}
	if got := traceID("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"); got != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("traceID %s", got)
	}
	for _, bad := range []string{"", "garbage", "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"} {
		if got := traceID(bad); !reTrace.MatchString(got) || strings.Contains(bad, got) {
			t.Errorf("traceID(%q) = %s", bad, got)
		}
	}
}

// The concrete types the server wires in satisfy the package's interfaces.
var (
	_ Store = (*memstore.Store)(nil)
	_ Vault = (*vault.Service)(nil)
	_ Guard = (*auth.Service)(nil)
)

type failingStore struct{ *memStore }

func (failingStore) GetCard(context.Context, string, string) ([]byte, bool, error) {
	return nil, false, fmt.Errorf("disk on fire")
}

func (failingStore) PutCard(context.Context, string, string, string, []byte) (string, error) {
	return "", fmt.Errorf("disk on fire")
}

func TestStoreFailureIsA500WithoutDetails(t *testing.T) {
	e := setup(t)
	log := obstest.NewCapture(t)
	h, err := New(failingStore{newMemStore()}, e.vault, fakeGuard{}, Options{FingerprintKey: make([]byte, 32),
		Now: e.clk.Now, Logger: log.Logger})
	if err != nil {
		t.Fatal(err)
	}
	e.h = h
	for _, r := range []resp{
		e.do("POST", "/cards", cardBody(`"pan":"4111111111111111","exp_month":5,"exp_year":28`)),
		e.do("GET", "/cards/CRD1111111111111111111111", ""),
	} {
		if r.code != 500 || bytes.Contains(r.body, []byte("fire")) {
			t.Errorf("store failure: %d %s", r.code, r.body)
		}
		obstest.AssertNoPAN(t, "500 body", r.body)
	}
	if len(log.Messages("cards: create card: store failed")) != 1 || len(log.Messages("cards: get card failed")) != 1 {
		t.Errorf("failures not logged: %s", log.String())
	}
}

func (s *memStore) ReissueCard(_ context.Context, account, id, oldFP, fp string, old, record, update []byte) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := account + "/" + id
	if err := s.cas(k, id, old); err != nil {
		return "", err
	}
	if other, ok := s.fingers[account+"/"+fp]; ok && other != id {
		return other, nil
	}
	if s.fingers[account+"/"+oldFP] == id {
		delete(s.fingers, account+"/"+oldFP)
	}
	s.fingers[account+"/"+fp] = id
	s.cards[k] = slices.Clone(record)
	s.updates[k] = append(s.updates[k], slices.Clone(update))
	return "", nil
}
