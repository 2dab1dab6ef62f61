package proxy

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/internal/obs/obstest"
)

// TestLeakGuardReadsBase64InHeaders: an upstream that keeps the card in a
// cookie session as most frameworks write one (base64 of JSON: Flask's
// session, a JWT's payload, an OAuth state in a Location) got the card number
// to the client through leak_guard block and redact: the guard read header
// values as they are, and a client decodes base64 in one step (a browser
// keeps the cookie on disk). Header and trailer values are now also read
// base64-decoded (standard and URL alphabets, padded or not); a number
// found there cannot be masked in place, so redact refuses it as block does.
// A run that text of the other alphabet joins ("user_", "s-" before
// standard base64 holding '/', Rails' "--" and digest after it) was not
// decoded at all (second review): '-' and '_' are read as '+' and '/'.
func TestLeakGuardReadsBase64InHeaders(t *testing.T) {
	claims := `{"user":7,"card":"` + testPAN + `"}`
	std, url := base64.StdEncoding.EncodeToString([]byte(claims)), base64.RawURLEncoding.EncodeToString([]byte(claims))
	jwtHead := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	mixed := `{"user":7,"card":"` + testPAN + `","exp":"12/30","n":"???>>>"}`
	mixedStd := base64.RawStdEncoding.EncodeToString([]byte(mixed))
	if !strings.ContainsAny(mixedStd, "+/") {
		t.Fatalf("%s: no '+' or '/' to mix", mixedStd)
	}
	answers := []struct{ name, header, value string }{
		{"Set-Cookie base64", "Set-Cookie", "session=" + std + "; Path=/; HttpOnly"},
		{"Set-Cookie base64url unpadded", "Set-Cookie", "session=" + url + "; Path=/"},
		{"Set-Cookie a Flask session", "Set-Cookie", "session=" + url + ".ZXyQ2A.c2lnbmF0dXJlc2lnbmF0dXJl; Path=/"},
		{"a JWT", "X-Token", jwtHead + "." + url + ".c2lnbmF0dXJlc2lnbmF0dXJlc2ln"},
		{"Location with a base64 state", "Location", "https://shop.example/done?state=" + url + "&x=1"},
		{"after two letters", "X-Data", "v1" + std},
		{"after three letters", "X-Data", "v12" + url},
		{"the number alone", "X-Data", base64.StdEncoding.EncodeToString([]byte(testPAN))},
		// Text of the other alphabet joining a run, whose standard base64
		// holds '/' or '+': such a run was not decoded at all.
		{"Set-Cookie after user_", "Set-Cookie", "session=user_" + mixedStd + "; Path=/"},
		{"Set-Cookie after s-", "Set-Cookie", "session=s-" + mixedStd + "; Path=/"},
		{"a Rails signed cookie", "Set-Cookie", "_shop_session=" + mixedStd + "--6c2b9a1f0e7d3c4b5a69788796a5b4c3d2e1f0a9; path=/; httponly"},
		{"a URL-alphabet token before a path", "Location", "https://shop.example/r/" + base64.RawURLEncoding.EncodeToString([]byte(mixed)) + "/done"},
	}
	var a int
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if a >= 0 {
			w.Header().Set(answers[a].header, answers[a].value)
		} else {
			w.Header().Set("Set-Cookie", "session="+base64.RawURLEncoding.EncodeToString([]byte(`{"user":7,"cart":"4 items","id":"tok_sandbox_abcdefghijklmnop"}`)))
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	})
	g := newGateway(t, parseRoutes(t, stackedRoutes, up.URL), nil, gwOptions{logger: obstest.Logger(t)})
	for i, ans := range answers {
		a = i
		for _, route := range []string{"/block", "/redact"} {
			resp, body := g.do(t, "GET", route+"/x", "", nil, nil)
			if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), "card_data_leak") {
				t.Errorf("%s through %s: status %d, %s %q", ans.name, route, resp.StatusCode, ans.header, resp.Header.Get(ans.header))
			}
		}
	}
	// A base64 cookie without a card number passes.
	a = -1
	for _, route := range []string{"/block", "/redact"} {
		if resp, body := g.do(t, "GET", route+"/x", "", nil, nil); resp.StatusCode != 200 || resp.Header.Get("Set-Cookie") == "" {
			t.Errorf("a cookie without a card number through %s: status %d: %s", route, resp.StatusCode, body)
		}
	}
}
