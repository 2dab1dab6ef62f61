package inspector

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/proxy"
	"github.com/aliasgate/aliasgate/routes"
)

// TestCapturesNeverKeepACryptogram: a network token cryptogram (or a 3-D
// Secure authentication value) is card data, single-use but a payment
// credential until used; it is base64, no card number the masks find, and
// its keys (cryptogram, tavv, cavv, ucaf, authenticationValue) named no CVC
// or secret. A merchant's backend that got one from the Card Management
// API and sent it to its processor through the outbound proxy, or a
// processor echoing it in its answer, had it kept and served in clear.
// Values under such keys are masked whole, as secrets are.
func TestCapturesNeverKeepACryptogram(t *testing.T) {
	f := newFixture(t, false)
	const c1, c2, c3, c4, c5 = "AgAAAAAAAIR8CQrXcIhbQAAAAAA=", "AJkBBkhgQQAAAE4gSEJydQAAAAA=", "kAAAAAA5RJ4eEU4gEiQhAAAAAAA=",
		"jNG8b2L9oC1Fz0RUEw8dBQsAAAA=", "MTIzNDU2Nzg5MDEyMzQ1Njc4OTA="
	reqBody := fmt.Sprintf(`{"card":{"network_token":"tok_x","cryptogram":%q,"eci":"05"},"tavv":%q,"threeds":{"authenticationValue":%q}}`, c1, c2, c3)
	respBody := fmt.Sprintf(`{"status":"authorized","payment":{"token_cryptogram":%q,"cavv":%q}}`, c4, c5)
	x := &proxy.Exchange{Direction: routes.Outbound, Start: time.Now(), Method: "POST", Host: "api.psp.example", Path: "/payments",
		RouteName: "-", Status: 200,
		Request: proxy.Passage{Received: proxy.Snapshot{Seen: true,
			Header: http.Header{"Content-Type": {"application/json"}, "X-Ucaf": {c2}}, Body: []byte(reqBody)}},
		Response: proxy.Passage{Sent: proxy.Snapshot{Seen: true,
			Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(respBody)}}}
	f.insp.Capture(x)
	id := f.insp.Buffer().List(1)[0].ID
	form := &proxy.Exchange{Direction: routes.Outbound, Start: time.Now(), Method: "POST", Host: "api.psp.example", Path: "/charge",
		RouteName: "-", Status: 200,
		Request: proxy.Passage{Received: proxy.Snapshot{Seen: true,
			Header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}},
			Body:   []byte("amount=100&cryptogram=" + strings.ReplaceAll(c1, "=", "%3D") + "&ucaf=" + c3)}},
		Response: proxy.Passage{Sent: proxy.Snapshot{Seen: true, Header: http.Header{}, Body: []byte(`ok`)}}}
	f.insp.Capture(form)
	formID := f.insp.Buffer().List(1)[0].ID
	var served strings.Builder
	for _, p := range []string{"/ui/api/captures", fmt.Sprintf("/ui/api/captures/%d", id), fmt.Sprintf("/ui/api/captures/%d", formID)} {
		res, b := f.do(t, nil, "GET", p, nil, bearer)
		if res.StatusCode != 200 {
			t.Fatalf("%s: %d %s", p, res.StatusCode, b)
		}
		served.Write(b)
	}
	for _, c := range []string{c1, c2, c3, c4, c5, strings.TrimRight(c1, "="), strings.ReplaceAll(c1, "=", "%3D")} {
		if strings.Contains(served.String(), c) {
			t.Errorf("the inspector serves the cryptogram %s in clear", c)
		}
	}
	if !strings.Contains(served.String(), "authorized") || !strings.Contains(served.String(), "tok_x") {
		t.Errorf("the rest of the bodies is not kept:\n%s", served.String())
	}
}
