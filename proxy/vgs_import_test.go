package proxy

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/routes"
	"github.com/aliasgate/aliasgate/routes/vgs"
	"github.com/aliasgate/aliasgate/vault"
)

// convertVGS converts a VGS export from routes/vgs/testdata, with each
// text from (its upstream, its host) replaced by to (the test's), as
// `aliasgate routes import-vgs` does, and checks that the result loads as
// the aliasgate command loads it.
func convertVGS(t *testing.T, file string, fromTo ...string) (string, *routes.Set, vgs.Report) {
	t.Helper()
	src, err := os.ReadFile("../routes/vgs/testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(fromTo); i += 2 {
		if !bytes.Contains(src, []byte(fromTo[i])) {
			t.Fatalf("%s does not name %s", file, fromTo[i])
		}
		src = bytes.ReplaceAll(src, []byte(fromTo[i]), []byte(fromTo[i+1]))
	}
	out, rep, err := vgs.Convert(src)
	if err != nil {
		t.Fatal(err)
	}
	set, err := routes.Parse(out, file, routes.Options{CheckFormat: func(f string) error {
		_, err := vault.ParseFormat(f)
		return err
	}})
	if err != nil {
		t.Fatalf("the converted routes do not load: %v\n%s", err, out)
	}
	return string(out), set, rep
}

// importVGS is convertVGS's loaded routes.
func importVGS(t *testing.T, file string, fromTo ...string) (*routes.Set, vgs.Report) {
	t.Helper()
	_, set, rep := convertVGS(t, file, fromTo...)
	return set, rep
}

// A REGEX entry imported from VGS finds what Java's engine finds: '.'
// stops at a carriage return (and U+0085, U+2028, U+2029), so a CRLF text
// body keeps its line ends and only the card number becomes an alias; '$'
// matches before a final line end ((?m): before every line end); a
// (?U) pattern (Unicode classes in Java, lazy quantifiers in RE2) is not
// imported at all rather than aliasing one digit and passing the rest.
func TestImportedVGSRegexMatchesAsJava(t *testing.T) {
	up := newUpstream(t, nil)
	set, rep := importVGS(t, "java-regex-text.yaml", "https://legacy.example-shop.test", up.URL)
	g := newGateway(t, set, nil, gwOptions{})

	body := "ORDER 17\r\nPAN: " + testPAN + "\r\nEXP: 12/30\r\n"
	resp, _ := g.do(t, "POST", "/legacy/order", "text/plain", strings.NewReader(body), nil)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("plain-text order: status %d", resp.StatusCode)
	}
	var got string
	if r := up.requests(); len(r) > 0 {
		got = string(r[len(r)-1].Body)
	}
	want := regexp.MustCompile(`^ORDER 17\r\nPAN: 411111[0-9]{6}1111\r\nEXP: 12/30\r\n$`)
	if !want.MatchString(got) || strings.Contains(got, testPAN) {
		t.Errorf("upstream got %q; want the PAN alone as a six-four alias, line ends kept", got)
	}

	// Java's '$' matches before the line end that ends the body, and in
	// (?m) mode before every CRLF: the card numbers become aliases, the
	// line ends stay.
	for _, tt := range []struct{ path, body, want string }{
		{"/legacy/line", "card=" + testPAN + "\n", `^card=411111[0-9]{6}1111\n$`},
		{"/legacy/batch", "BATCH 2\r\nPAN: " + testPAN + "\r\nPAN: " + testPAN2 + "\r\n", `^BATCH 2\r\nPAN: 411111[0-9]{6}1111\r\nPAN: 555555[0-9]{6}4444\r\n$`},
	} {
		resp, _ := g.do(t, "POST", tt.path, "text/plain", strings.NewReader(tt.body), nil)
		got := string(up.last(t).Body)
		if resp.StatusCode != http.StatusOK || !regexp.MustCompile(tt.want).MatchString(got) || strings.Contains(got, testPAN) || strings.Contains(got, testPAN2) {
			t.Errorf("%s: status %d, upstream got %q; want %s", tt.path, resp.StatusCode, got, tt.want)
		}
	}

	// (?U): Java reads \d+ greedy (Unicode digits); RE2 would read it lazy
	// and alias "4" only. The entry must be reported, never applied so.
	found := false
	for _, it := range rep.Items {
		if it.Entry == "7c1d0e55-8f2a-4d3b-b6c8-9e0a1b2c3d4e" && strings.Contains(it.Reason, "(?U)") {
			found = true
		}
	}
	if !found {
		t.Errorf("the (?U) entry is not reported:\n%s", rep)
	}
	n := len(up.requests())
	resp, _ = g.do(t, "POST", "/legacy/unicode", "application/x-www-form-urlencoded", strings.NewReader("card="+testPAN), nil)
	if len(up.requests()) > n {
		if b := string(up.last(t).Body); strings.Contains(b, testPAN[1:]) {
			t.Fatalf("status %d: upstream got %q: the card number's digits after the first passed in clear", resp.StatusCode, b)
		}
	}
}

// A JSONPath member whose name is digits ($.cards.0, $['saved']['1'])
// names an object member only, never an array element: an imported reveal
// gives the client the card number under {"cards":{"0":…}} as VGS does,
// and leaves the alias under {"cards":[…]}, where VGS finds nothing.
func TestImportedVGSDigitMembersAreKeysOnly(t *testing.T) {
	var reply string
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, reply)
	})
	set, _ := importVGS(t, "json-digit-keys.yaml", "https://wallet.example-shop.test", up.URL)
	g := newGateway(t, set, nil, gwOptions{})
	panA, _ := aliases(t, g.vault)
	for _, tt := range []struct {
		name, reply string
		revealed    bool
	}{
		{"member 0", `{"cards":{"0":{"number":"` + panA + `"}}}`, true},
		{"member 1", `{"saved":{"1":{"number":"` + panA + `"}}}`, true},
		{"element 0", `{"cards":[{"number":"` + panA + `"}]}`, false},
		{"element 1", `{"saved":[{"number":"x"},{"number":"` + panA + `"}]}`, false},
	} {
		reply = tt.reply
		resp, body := g.do(t, "GET", "/wallet", "", nil, nil)
		want := strings.ReplaceAll(tt.reply, panA, testPAN)
		if !tt.revealed {
			want = tt.reply
		}
		if resp.StatusCode != http.StatusOK || string(body) != want {
			t.Errorf("%s: status %d, client got %s; want %s", tt.name, resp.StatusCode, body, want)
		}
	}
}

// The outbound export (flat routes, as vgs-satellite writes them) through
// the forward proxy: the PSP gets the card number and CVC in clear in the
// JSON charge and the form-encoded token request, and its echo of the card
// number comes back to the app as an alias; a Content-Type other than the
// one the entry names is not revealed (VGS compares it byte for byte).
func TestImportedVGSOutboundRevealsAsVGS(t *testing.T) {
	psp := newTLSUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if strings.HasPrefix(r.URL.Path, "/v1/charges") {
			w.WriteHeader(http.StatusCreated)
			_, _ = io.WriteString(w, `{"id":"ch_1","source":{"card":{"number":"`+testPAN+`"}}}`)
			return
		}
		_, _ = io.WriteString(w, `{"id":"tok_1"}`)
	})
	out, _, rep := convertVGS(t, "outbound-reveal.yaml", `api\.psp-example\.com`, `psp\.example\.com`)
	if !rep.Complete() {
		t.Fatalf("report:\n%s", rep)
	}
	g := newOutGateway(t, nil, outOpts{allowPrivate: true, routes: out, roots: []*x509.Certificate{psp.Certificate()}})
	panA, cvcA := aliases(t, g.vault)
	c := g.client()
	base := "https://psp.example.com:" + psp.port()

	resp, body := post(t, c, base+"/v1/charges", "application/json",
		`{"amount":100,"source":{"card":{"number":"`+panA+`","cvc":"`+cvcA+`"}}}`)
	got := string(psp.last(t).Body)
	if resp.StatusCode != http.StatusCreated || got != `{"amount":100,"source":{"card":{"number":"`+testPAN+`","cvc":"`+testCVC+`"}}}` {
		t.Fatalf("charge: status %d, PSP got %s", resp.StatusCode, got)
	}
	if !regexp.MustCompile(`^\{"id":"ch_1","source":\{"card":\{"number":"411111[0-9]{6}1111"\}\}\}$`).MatchString(body) || strings.Contains(body, testPAN) {
		t.Errorf("charge: the app got %s; want the card number as a six-four alias", body)
	}

	resp, _ = post(t, c, base+"/v1/tokens", "application/x-www-form-urlencoded",
		"card%5Bnumber%5D="+panA+"&card%5Bcvc%5D="+cvcA+"&card%5Bexp_year%5D=2030")
	if got := string(psp.last(t).Body); resp.StatusCode != http.StatusOK || got != "card%5Bnumber%5D="+testPAN+"&card%5Bcvc%5D="+testCVC+"&card%5Bexp_year%5D=2030" {
		t.Errorf("token: status %d, PSP got %s", resp.StatusCode, got)
	}

	resp, _ = post(t, c, base+"/v1/charges", "application/json; charset=utf-8",
		`{"source":{"card":{"number":"`+panA+`"}}}`)
	if got := string(psp.last(t).Body); got != `{"source":{"card":{"number":"`+panA+`"}}}` {
		t.Errorf("charge with a charset parameter: status %d, PSP got %s; VGS reveals nothing there", resp.StatusCode, got)
	}
}

// Condition groups, imported: an OR of groups that differ in one field is
// one filter, one of groups that no request satisfies together is one
// filter per group; each applies exactly where VGS applies the entry.
func TestImportedVGSConditionGroups(t *testing.T) {
	up := newUpstream(t, nil)
	set, _ := importVGS(t, "or-groups.yaml", "https://shop.example-groups.test", up.URL)
	g := newGateway(t, set, nil, gwOptions{})
	body := `{"card":{"number":"` + testPAN + `","cvc":"` + testCVC + `"}}`
	for _, tt := range []struct {
		method, path string
		pan, cvc     bool // aliased
	}{
		{"POST", "/api/checkout", true, true},
		{"POST", "/api/v2/checkout/basket-7", true, false},
		{"PUT", "/api/cards", false, true},
	} {
		resp, _ := g.do(t, tt.method, tt.path, "application/json", strings.NewReader(body), nil)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s %s: status %d", tt.method, tt.path, resp.StatusCode)
			continue
		}
		var doc struct{ Card struct{ Number, CVC string } }
		got := up.last(t).Body
		if err := json.Unmarshal(got, &doc); err != nil {
			t.Fatalf("%s %s: upstream got %q: %v", tt.method, tt.path, got, err)
		}
		if (doc.Card.Number != testPAN) != tt.pan || (doc.Card.CVC != testCVC) != tt.cvc {
			t.Errorf("%s %s: upstream got %s; want card number aliased %v, CVC aliased %v", tt.method, tt.path, got, tt.pan, tt.cvc)
		}
	}
}

// $.pans[*] ends with a wildcard: every element of the array becomes an
// alias, as in VGS. An element that is not a string is refused (422), never
// passed on in clear.
func TestImportedVGSTrailingWildcard(t *testing.T) {
	up := newUpstream(t, nil)
	set, _ := importVGS(t, "json-digit-keys.yaml", "https://wallet.example-shop.test", up.URL)
	g := newGateway(t, set, nil, gwOptions{})
	resp, _ := g.do(t, "POST", "/wallet/import", "application/json", strings.NewReader(`{"pans":["`+testPAN+`","`+testPAN2+`"]}`), nil)
	got := string(up.last(t).Body)
	if resp.StatusCode != http.StatusOK || !regexp.MustCompile(`^\{"pans":\["411111[0-9]{6}1111","555555[0-9]{6}4444"\]\}$`).MatchString(got) || strings.Contains(got, testPAN) || strings.Contains(got, testPAN2) {
		t.Fatalf("status %d, upstream got %s; want both card numbers as six-four aliases", resp.StatusCode, got)
	}
	n := len(up.requests())
	resp, _ = g.do(t, "POST", "/wallet/import", "application/json", strings.NewReader(`{"pans":[`+testPAN+`]}`), nil)
	if resp.StatusCode != http.StatusUnprocessableEntity || len(up.requests()) != n {
		t.Fatalf("an element that is a number: status %d, %d requests upstream; want 422 and none", resp.StatusCode, len(up.requests())-n)
	}
}

// A JSONPath member name written with escapes in a quoted key is the name
// the escapes spell, as Jayway's bracket properties and RFC 9535's name
// selectors read them: $['c\u0061rd']['numb\u0065r'] redacts card.number,
// and a filter's @['k\u0069nd'] reads kind. The importer read "\u0061" as
// "u0061": the filters named keys no body holds, loaded without a word,
// and the card numbers reached the upstream in clear.
func TestImportedVGSEscapedMemberNamesAreTheKeysTheySpell(t *testing.T) {
	up := newUpstream(t, nil)
	set, _ := importVGS(t, "json-escaped-keys.yaml", "https://checkout.example-shop.test", up.URL)
	g := newGateway(t, set, nil, gwOptions{})
	body := `{"card":{"number":"` + testPAN + `"},"payments":[{"kind":"card","pan":"` + testPAN2 + `"}]}`
	resp, got := g.do(t, "POST", "/checkout", "application/json", strings.NewReader(body), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, got)
	}
	sent := string(up.last(t).Body)
	if strings.Contains(sent, testPAN) || strings.Contains(sent, testPAN2) {
		t.Errorf("the upstream received a card number in clear: %s", sent)
	}
}
