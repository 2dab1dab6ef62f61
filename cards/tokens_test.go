package cards

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/cards/tsp"
	"github.com/aliasgate/aliasgate/internal/obs/obstest"
	pkgpan "github.com/aliasgate/aliasgate/internal/pan"
)

const ntw = "X-Test-Scopes: cards:read cards:write network-tokens:write"

var reTokenID = regexp.MustCompile(`^NTK[1-9A-HJ-NP-Za-km-z]{22}$`)

// reTokenTime is the network tokens page's timestamp ("2025-01-10T17:56:12.783411").
var reTokenTime = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?$`)

// doNoContent sends a request whose success answer has no body.
func (e *env) doNoContent(method, path string, hdr ...string) (int, []byte) {
	e.t.Helper()
	r := httptest.NewRequest(method, path, nil)
	for _, h := range hdr {
		k, v, _ := strings.Cut(h, ": ")
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w.Code, w.Body.Bytes()
}

// tokenSpec is a network tokens page's example as the API answers it:
// the provisioning page has network_token, bin and last4 as JSON numbers,
// which the cryptogram page and the shared design (DESIGN.md: a 19-digit
// token PAN does not survive a JSON number) have as strings; they become
// strings here, every other member is the page's (docs/DECISIONS.md).
func tokenSpec(t *testing.T, name string) map[string]any {
	t.Helper()
	spec := loadSpec(t, name)
	a := spec["data"].(map[string]any)["attributes"].(map[string]any)
	for _, k := range []string{"network_token", "bin", "last4"} {
		if n, ok := a[k].(float64); ok {
			a[k] = strconv.FormatFloat(n, 'f', -1, 64)
		}
	}
	return spec
}

// checkToken checks a network_tokens document against a spec example.
func checkToken(t *testing.T, name string, doc map[string]any, pci bool) map[string]any {
	t.Helper()
	var missing []string
	if !pci {
		missing = []string{"network_token"}
	}
	sameShape(t, name, tokenSpec(t, name), doc, []string{"metadata"}, missing)
	d := doc["data"].(map[string]any)
	if d["type"] != "network_tokens" || !reTokenID.MatchString(d["id"].(string)) {
		t.Errorf("%s: type/id %v %v", name, d["type"], d["id"])
	}
	a := attrsOf(t, doc)
	if a["state"] != "active" || len(a["payment_account_reference"].(string)) != 29 ||
		len(a["bin"].(string)) != 6 || len(a["last4"].(string)) != 4 {
		t.Errorf("%s: attributes %v", name, a)
	}
	for _, k := range []string{"created_at", "updated_at"} {
		if !reTokenTime.MatchString(a[k].(string)) {
			t.Errorf("%s: %s %v", name, k, a[k])
		}
	}
	if nt, ok := a["network_token"].(string); ok {
		if !pkgpan.Valid(nt) || !strings.HasPrefix(nt, a["bin"].(string)) || !strings.HasSuffix(nt, a["last4"].(string)) {
			t.Errorf("%s: network_token %q", name, nt)
		}
	} else if pci {
		t.Errorf("%s: no network_token for a PCI client", name)
	}
	if _, ok := doc["metadata"].(map[string]any)["observability"]; !ok {
		t.Errorf("%s: no metadata.observability", name)
	}
	return a
}

func TestNetworkTokenLifecycle(t *testing.T) {
	e := setup(t)
	id, _ := e.create(`"pan":"5555555555554444","cvc":"123","exp_month":4,"exp_year":28`)
	r := e.do("POST", "/cards/"+id+"/network-tokens", "", ntw, pci)
	if r.code != 200 {
		t.Fatalf("provision: %d %s", r.code, r.body)
	}
	a := checkToken(t, "network_token", r.doc, true)
	tokID := r.doc["data"].(map[string]any)["id"].(string)
	if a["network_token"] == "5555555555554444" || !strings.HasPrefix(a["payment_account_reference"].(string), "5001") ||
		a["exp_month"] != 4.0 || a["exp_year"] != 28.0 {
		t.Errorf("provision: %v", a)
	}
	// The card record holds no token PAN in clear.
	raw, _, _ := e.store.GetCard(t.Context(), "ACTaccountA", id)
	if strings.Contains(string(raw), a["network_token"].(string)) {
		t.Errorf("token PAN in clear in the card record")
	}
	// Second provision: the same token, unchanged.
	e.clk.Add(time.Minute)
	r2 := e.do("POST", "/cards/"+id+"/network-tokens", "", ntw)
	a2 := checkToken(t, "network_token", r2.doc, false)
	if r2.code != 200 || r2.doc["data"].(map[string]any)["id"] != tokID || a2["updated_at"] != a["updated_at"] {
		t.Errorf("re-provision: %d %v", r2.code, r2.doc)
	}
	// Cryptogram, PCI and not.
	r = e.do("POST", "/cards/"+id+"/cryptogram", `{"data":{"attributes":{}}}`, ntw, pci)
	if r.code != 200 {
		t.Fatalf("cryptogram: %d %s", r.code, r.body)
	}
	ca := checkToken(t, "cryptogram", r.doc, true)
	c := ca["cryptogram"].(map[string]any)
	v, err := base64.StdEncoding.DecodeString(c["value"].(string))
	// A Mastercard token: a UCAF (DSRP) cryptogram, ECI 06 (issue 22; was a Visa TAVV for every brand).
	if c["eci"] != "06" || c["type"] != "UCAF" || err != nil || len(v) != 20 {
		t.Errorf("cryptogram: %v", c)
	}
	// The simulator behind the handler accepts it (counter 1) once.
	sim := e.h.tsp.(*tsp.Simulator)
	cg := tsp.Cryptogram{ECI: "06", Type: "UCAF", Value: c["value"].(string)}
	if err := sim.Verify(ca["network_token"].(string), cg, 1, e.clk.Now()); err != nil {
		t.Errorf("verify: %v", err)
	}
	if err := sim.Verify(ca["network_token"].(string), cg, 1, e.clk.Now()); err == nil {
		t.Errorf("replay accepted")
	}
	r = e.do("POST", "/cards/"+id+"/cryptogram", "", ntw)
	ca = checkToken(t, "cryptogram", r.doc, false)
	if r.code != 200 || ca["cryptogram"].(map[string]any)["value"] == c["value"] {
		t.Errorf("second cryptogram: %d %v", r.code, ca)
	}
	// GET include=network_tokens lists it.
	r = e.do("GET", "/cards/"+id+"?include=network_tokens", "", pci)
	inc := r.doc["included"].([]any)
	if len(inc) != 1 || inc[0].(map[string]any)["id"] != tokID || inc[0].(map[string]any)["type"] != "network_tokens" {
		t.Fatalf("include: %v", r.doc["included"])
	}
	sameShape(t, "included", tokenSpec(t, "network_token")["data"], inc[0], nil, nil)
	// Delete → 204; then cryptogram 409, delete 404, no token in GET.
	if code, body := e.doNoContent("DELETE", "/cards/"+id+"/network-tokens", ntw); code != 204 || len(body) != 0 {
		t.Errorf("delete: %d %s", code, body)
	}
	r = e.do("POST", "/cards/"+id+"/cryptogram", "", ntw)
	if errs, _ := r.doc["errors"].([]any); r.code != 409 || len(errs) != 1 ||
		errs[0].(map[string]any)["status"] != "409" {
		t.Errorf("cryptogram after delete: %d %s", r.code, r.body)
	}
	if r := e.do("DELETE", "/cards/"+id+"/network-tokens", "", ntw); r.code != 404 {
		t.Errorf("second delete: %d", r.code)
	}
	r = e.do("GET", "/cards/"+id+"?include=network_tokens", "")
	if len(r.doc["included"].([]any)) != 0 {
		t.Errorf("deleted token included: %v", r.doc["included"])
	}
	// A new provision makes a new token with the same PAR.
	r = e.do("POST", "/cards/"+id+"/network-tokens", "", ntw)
	if r.code != 200 || r.doc["data"].(map[string]any)["id"] == tokID ||
		attrsOf(t, r.doc)["payment_account_reference"] != a["payment_account_reference"] {
		t.Errorf("re-provision after delete: %d %v", r.code, r.doc)
	}
}

func TestNetworkTokenFollowsCardExpiry(t *testing.T) {
	e := setup(t)
	id, _ := e.create(`"pan":"4111111111111111","exp_month":4,"exp_year":28`)
	r := e.do("POST", "/cards/"+id+"/network-tokens", "", ntw)
	before := attrsOf(t, r.doc)
	e.clk.Add(time.Hour)
	if r := e.do("PATCH", "/cards/"+id, `{"data":{"attributes":{"exp_month":9,"exp_year":30}}}`); r.code != 200 {
		t.Fatalf("patch: %d %s", r.code, r.body)
	}
	r = e.do("GET", "/cards/"+id+"?include=network_tokens,card_updates", "")
	var tok map[string]any
	for _, x := range r.doc["included"].([]any) {
		if x.(map[string]any)["type"] == "network_tokens" {
			tok = x.(map[string]any)["attributes"].(map[string]any)
		}
	}
	if tok == nil || tok["exp_month"] != 9.0 || tok["exp_year"] != 30.0 || tok["updated_at"] == before["updated_at"] ||
		tok["created_at"] != before["created_at"] {
		t.Errorf("token after PATCH: %v (before %v)", tok, before)
	}
	// A PATCH of meta only leaves the token alone.
	e.clk.Add(time.Hour)
	e.do("PATCH", "/cards/"+id, `{"data":{"attributes":{"meta":{"a":"b"}}}}`)
	r = e.do("GET", "/cards/"+id+"?include=network_tokens", "")
	if t2 := r.doc["included"].([]any)[0].(map[string]any)["attributes"].(map[string]any); t2["updated_at"] != tok["updated_at"] {
		t.Errorf("meta PATCH touched the token: %v", t2)
	}
}

func TestConcurrentProvisionMakesOneToken(t *testing.T) {
	e := setup(t)
	id, _ := e.create(`"pan":"4242424242424242","exp_month":4,"exp_year":28`)
	ids := make([]string, 20)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			r := httptest.NewRequest("POST", "/cards/"+id+"/network-tokens", nil)
			r.Header.Set("X-Test-Scopes", "network-tokens:write")
			w := httptest.NewRecorder()
			e.h.ServeHTTP(w, r)
			if w.Code == 200 {
				ids[i] = regexp.MustCompile(`NTK[1-9A-HJ-NP-Za-km-z]{22}`).FindString(w.Body.String())
			}
		})
	}
	wg.Wait()
	for _, x := range ids {
		if x == "" || x != ids[0] {
			t.Fatalf("ids: %v", ids)
		}
	}
	raw, _, _ := e.store.GetCard(t.Context(), "ACTaccountA", id)
	if n := strings.Count(string(raw), `"state":"active"`); n != 1 {
		t.Errorf("%d active tokens in the record", n)
	}
}

func TestNetworkTokenScopesAccountsAndErrors(t *testing.T) {
	e := setup(t)
	log := obstest.NewCapture(t)
	e.h.log = log.Logger
	id, _ := e.create(`"pan":"4111111111111111","exp_month":4,"exp_year":28`)
	for _, c := range []struct{ method, path string }{
		{"POST", "/cards/" + id + "/network-tokens"}, {"DELETE", "/cards/" + id + "/network-tokens"},
		{"POST", "/cards/" + id + "/cryptogram"},
	} {
		if r := e.do(c.method, c.path, ""); r.code != 403 {
			t.Errorf("%s %s without network-tokens:write: %d", c.method, c.path, r.code)
		}
	}
	// Another account's card, unknown and malformed ids → 404.
	for _, p := range []string{"/cards/" + id, "/cards/CRD1111111111111111111111", "/cards/nope"} {
		if r := e.do("POST", p+"/network-tokens", "", ntw, "X-Test-Account: ACTother"); r.code != 404 {
			t.Errorf("POST %s/network-tokens: %d", p, r.code)
		}
		if r := e.do("POST", p+"/cryptogram", "", ntw, "X-Test-Account: ACTother"); r.code != 404 {
			t.Errorf("POST %s/cryptogram: %d", p, r.code)
		}
	}
	if r := e.do("DELETE", "/cards/"+id+"/network-tokens", "", ntw); r.code != 404 {
		t.Errorf("DELETE with no token: %d", r.code)
	}
	if r := e.do("POST", "/cards/"+id+"/cryptogram", "", ntw); r.code != 409 {
		t.Errorf("cryptogram with no token: %d", r.code)
	}
	if r := e.do("GET", "/cards/"+id+"/network-tokens", "", ntw); r.code != 405 || r.hdr.Get("Allow") != "POST, DELETE" {
		t.Errorf("GET network-tokens: %d", r.code)
	}
	if r := e.do("GET", "/cards/"+id+"/cryptogram", "", ntw); r.code != 405 {
		t.Errorf("GET cryptogram: %d", r.code)
	}
	// A brand without a token service → 422.
	jcb, _ := e.create(`"pan":"3530111333300000","exp_month":4,"exp_year":28`)
	if r := e.do("POST", "/cards/"+jcb+"/network-tokens", "", ntw); r.code != 422 {
		t.Errorf("JCB: %d %s", r.code, r.body)
	}
	// No token PAN in the logs.
	r := e.do("POST", "/cards/"+id+"/network-tokens", "", ntw, pci)
	e.do("POST", "/cards/"+id+"/cryptogram", "", ntw)
	if nt := attrsOf(t, r.doc)["network_token"].(string); strings.Contains(log.String(), nt) {
		t.Errorf("token PAN logged")
	}
	var _ http.Handler = e.h
}
