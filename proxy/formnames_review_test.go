package proxy

import (
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/internal/obs/obstest"
)

// TestFormLocatorReadsPercentUNames: "card%u005fnumber" is card_number to
// ASP.NET's form decoder; the form locator read it as an untargeted field
// and forwarded its value in clear (the route's guard logs).
func TestFormLocatorReadsPercentUNames(t *testing.T) {
	up := newUpstream(t, nil)
	g := newGateway(t, parseRoutes(t, decoderReviewRoutes, up.URL), nil, gwOptions{logger: obstest.Logger(t)})
	const form = "application/x-www-form-urlencoded"
	for _, body := range []string{
		"card%u005fnumber=" + testPAN + "&amount=10",
		"amount=10&" + percentU("card_number") + "=" + testPAN,
		"card_number=tok_x&%u0063vc=" + testCVC,
		"amount=10;card%u005Fnumber=" + testPAN,
	} {
		resp, b := g.do(t, "POST", "/form/pay", form, strings.NewReader(body), nil)
		if resp.StatusCode/100 != 4 {
			t.Errorf("a targeted name spelled with %%u: want it refused, got %d %s", resp.StatusCode, b)
		}
	}
	if n := len(up.requests()); n != 0 {
		t.Errorf("the upstream received %d requests", n)
	}
}

// TestFormLocatorReadsPastAByteOrderMark: Express's body-parser decodes a
// body with iconv-lite, which drops a leading UTF-8 byte order mark, so
// "\ufeffcard_number=4111…" is card_number to the app; the form locator
// read the first name with the mark, an untargeted field, and the card
// number reached the app in clear (the route's guard logs).
func TestFormLocatorReadsPastAByteOrderMark(t *testing.T) {
	up := newUpstream(t, nil)
	g := newGateway(t, parseRoutes(t, decoderReviewRoutes, up.URL), nil, gwOptions{logger: obstest.Logger(t)})
	for _, ct := range []string{"application/x-www-form-urlencoded", "application/x-www-form-urlencoded; charset=utf-8", "text/plain"} {
		resp, b := g.do(t, "POST", "/form/pay", ct, strings.NewReader("\ufeffcard_number="+testPAN+"&amount=10"), nil)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", ct, resp.StatusCode, b)
		}
		got := string(up.last(t).Body)
		if strings.Contains(got, testPAN) || !strings.HasPrefix(got, "\ufeffcard_number=") || !strings.HasSuffix(got, "&amount=10") {
			t.Errorf("%s: the upstream got %q, want the card number redacted and the rest as sent", ct, obstestMask(got))
		}
	}
	// A spelling of a targeted name after the mark is refused as without it.
	resp, b := g.do(t, "POST", "/form/pay", "application/x-www-form-urlencoded", strings.NewReader("\ufeffCard_Number="+testPAN), nil)
	if resp.StatusCode != 422 || !strings.Contains(string(b), "duplicate_key") {
		t.Errorf("Card_Number after the mark: want 422 duplicate_key, got %d %s", resp.StatusCode, b)
	}
}
