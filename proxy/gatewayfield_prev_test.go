package proxy

import (
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/routes"
)

// prevGatewayField is gatewayField before it looked at k's first byte
// alone first: the reference below.
func prevGatewayField(k string) (gateway, chain bool) {
	const prefix = "aliasgate"
	if len(k) <= len(prefix) || !strings.EqualFold(k[:len(prefix)], prefix) {
		return false, false
	}
	switch strings.ToLower(strings.ReplaceAll(strings.TrimSpace(k), "_", "-")) {
	case "aliasgate-route-account", "aliasgate-reveal-route":
		return true, k == RouteAccountHeader || k == RevealRouteHeader
	case "aliasgate-redacted", "aliasgate-filter-failed", "aliasgate-request-delivered", "aliasgate-error":
		return true, false
	}
	return false, false
}

// gatewayFieldSeeds are the gateway's names in spellings an app reads as
// them, names that only look like them, and one EqualFold takes through a
// fold outside ASCII (ſ for s).
var gatewayFieldSeeds = []string{RouteAccountHeader, RevealRouteHeader, RedactedHeader, FilterFailedHeader, DeliveredHeader,
	"aliasgate-route-account", "ALIASGATE_REVEAL_ROUTE", "Aliasgate-Error", "aliasgate-error ", "Aliaſgate-Error",
	"Content-Type", "Accept", "Authorization", "A", "aliasgate", "aliasgatex", "Aliasgate-Signature", "\xe1liasgate-error", "\x41liasgate-redacted"}

func checkGatewayField(t *testing.T, k string) {
	t.Helper()
	g, c := gatewayField(k)
	pg, pc := prevGatewayField(k)
	if g != pg || c != pc {
		t.Fatalf("gatewayField(%q) = %v, %v; before %v, %v", k, g, c, pg, pc)
	}
}

// TestGatewayFieldAgainstPrevious: gatewayField answers as before for
// the seeds with every first byte in place of theirs, and for random
// names made of the letters of the gateway's names in both cases.
func TestGatewayFieldAgainstPrevious(t *testing.T) {
	for _, k := range gatewayFieldSeeds {
		checkGatewayField(t, k)
		for c := range 256 {
			if k != "" {
				checkGatewayField(t, string(rune(c))+k[1:])
				checkGatewayField(t, string([]byte{byte(c)})+k[1:])
			}
		}
	}
	const letters = "aAlLiIsSgGtTeE-_rRoOuUnNcCvVdDfFqQ ſ"
	rnd := rand.New(rand.NewPCG(4, 9))
	for range 200000 {
		b := []byte("aliasgate")[:rnd.IntN(10)]
		b = append([]byte(nil), b...)
		for n := rnd.IntN(20); n > 0; n-- {
			b = append(b, letters[rnd.IntN(len(letters))])
		}
		if rnd.IntN(2) == 0 && len(b) > 0 {
			b[0] ^= 0x20
		}
		checkGatewayField(t, string(b))
	}
}

// FuzzGatewayFieldAgainstPrevious: gatewayField against the copy before
// its first-byte test.
func FuzzGatewayFieldAgainstPrevious(f *testing.F) {
	for _, k := range gatewayFieldSeeds {
		f.Add(k)
	}
	f.Fuzz(checkGatewayField)
}

// prevInboundUpgrade is InboundUpgrade before it returned at once for a
// header without Upgrade.
func prevInboundUpgrade(route *routes.Route, h http.Header) (int, string) {
	stripUpgrade(h)
	if headerValue(h, "Upgrade") != "" && (route.ReadsBodies() || route.LeakGuard == routes.LeakBlock || route.LeakGuard == routes.LeakRedact) {
		return http.StatusForbidden, "upgrade_refused"
	}
	return 0, ""
}

// TestInboundUpgradeAgainstPrevious: InboundUpgrade refuses and strips as
// before, with Upgrade absent, empty, WebSocket, h2c and several, on
// routes whose guard is off, logs and blocks.
func TestInboundUpgradeAgainstPrevious(t *testing.T) {
	headers := []http.Header{
		{}, {"Upgrade": nil}, {"Upgrade": {}}, {"Upgrade": {"websocket"}}, {"Upgrade": {" WebSocket "}, "Connection": {"Upgrade"}},
		{"Upgrade": {"h2c"}, "Http2-Settings": {"x"}, "Connection": {"Upgrade, HTTP2-Settings"}}, {"Upgrade": {"websocket", "h2c"}},
		{"Upgrade": {""}}, {"Connection": {"upgrade"}, "Http2-Settings": {"x"}},
	}
	for _, mode := range []routes.LeakGuard{routes.LeakOff, routes.LeakLog, routes.LeakBlock, routes.LeakRedact} {
		route := &routes.Route{ID: "r", LeakGuard: mode}
		for _, h := range headers {
			h1, h2 := h.Clone(), h.Clone()
			if h1 == nil {
				h1, h2 = http.Header{}, http.Header{}
			}
			var status int
			var code string
			if jerr := InboundUpgrade(route, h1); jerr != nil {
				status, code = jerr.Status, jerr.Objects[0].Code
			}
			ps, pc := prevInboundUpgrade(route, h2)
			if status != ps || code != pc || !equalHeaders(h1, h2) {
				t.Fatalf("%s %v: %d %s %v; before %d %s %v", mode, h, status, code, h1, ps, pc, h2)
			}
		}
	}
}

func equalHeaders(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || len(v) != len(w) || (v == nil) != (w == nil) {
			return false
		}
		for i := range v {
			if v[i] != w[i] {
				return false
			}
		}
	}
	return true
}
