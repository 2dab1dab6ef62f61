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
