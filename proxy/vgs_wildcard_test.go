package proxy

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// VGS's JSONPath [*] (Jayway's wildcard) selects the members of an object
// as it selects the elements of an array, and an app iterating the value
// (PHP's foreach, JavaScript's Object.values) reads them alike. The
// converted path's '#' reads arrays only: an imported route passed
// {"payment_methods":{"primary":{"card":{"number":…}}}} to the app with the
// card number in clear where VGS aliases it, after an import that said
// every entry was converted. Such a body is refused (422), never forwarded
// unlocated; the array form is aliased as before.
func TestImportedVGSWildcardOverAnObjectIsRefused(t *testing.T) {
	up := newUpstream(t, nil)
	set, rep := importVGS(t, "object-wildcard.yaml", "https://wallet.example-shop.test", up.URL)
	if !rep.Complete() {
		t.Fatalf("report:\n%s", rep)
	}
	g := newGateway(t, set, nil, gwOptions{})
	const path = "/api/customers/payment-methods"

	resp, _ := g.do(t, "PUT", path, "application/json", strings.NewReader(
		`{"payment_methods":[{"card":{"number":"`+testPAN+`"}}],"backup_pans":["`+testPAN2+`"]}`), nil)
	got := string(up.last(t).Body)
	if resp.StatusCode != http.StatusOK || strings.Contains(got, testPAN) || strings.Contains(got, testPAN2) ||
		!regexp.MustCompile(`^\{"payment_methods":\[\{"card":\{"number":"411111[0-9]{6}1111"\}\}\],"backup_pans":\["555555[0-9]{6}4444"\]\}$`).MatchString(got) {
		t.Fatalf("arrays: status %d, upstream got %s; want both card numbers as six-four aliases", resp.StatusCode, got)
	}

	for _, body := range []string{
		`{"payment_methods":{"primary":{"card":{"number":"` + testPAN + `"}}}}`,
		`{"payment_methods":{"card":{"number":"` + testPAN + `"}}}`,
		`{"backup_pans":{"first":"` + testPAN + `"}}`,
	} {
		n := len(up.requests())
		resp, _ := g.do(t, "PUT", path, "application/json", strings.NewReader(body), nil)
		if resp.StatusCode != http.StatusUnprocessableEntity || len(up.requests()) != n {
			var sent string
			if r := up.requests(); len(r) > n {
				sent = string(r[len(r)-1].Body)
			}
			t.Errorf("%s: status %d, upstream got %q; want 422 and nothing sent", body, resp.StatusCode, sent)
		}
	}
}
