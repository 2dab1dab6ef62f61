package vgs

import (
	"slices"
	"strings"
	"testing"
)

func TestHostPatternsMapVGSHostRegexps(t *testing.T) {
	h := func(hosts ...string) []hostSpec {
		out := make([]hostSpec, len(hosts))
		for i, x := range hosts {
			out[i] = hostSpec{host: x}
		}
		return out
	}
	re := func(p string) []hostSpec { return []hostSpec{{regex: p}} }
	tests := []struct {
		dir, pattern string
		want         []hostSpec
		note         bool
		why          string // substring of the reason; "" when it converts
	}{
		// Outbound: the destination host.
		{outbound, `api\.stripe\.com`, h("api.stripe.com"), false, ""},
		{outbound, `^api\.stripe\.com$`, h("api.stripe.com"), false, ""},
		{outbound, `API\.Stripe\.com`, h("api.stripe.com"), false, ""},
		{outbound, `api.stripe.com`, h("api.stripe.com"), true, ""}, // unescaped dots: narrowed, reported
		{outbound, `(.*)\.stripe\.com`, h("*.stripe.com"), false, ""},
		{outbound, `.*\.stripe\.com`, h("*.stripe.com"), false, ""},
		{outbound, `(.+)\.stripe\.com`, h("*.stripe.com"), false, ""},
		// A label written as a class is one label of those characters.
		{outbound, `([a-z0-9-]+)\.stripe\.com`, re(`([a-z0-9-]+)\.stripe\.com`), false, ""},
		{outbound, `[^.]+\.psp\.example`, re(`[^.]+\.psp\.example`), false, ""},
		{outbound, `\w+\.psp\.example`, re(`\w+\.psp\.example`), false, ""},
		{outbound, `api\d\.stripe\.com`, re(`api\d\.stripe\.com`), false, ""},
		{outbound, `.*stripe\.com`, re(`.*stripe\.com`), false, ""},
		{outbound, `api\.(.*)\.com`, re(`api\.(.*)\.com`), false, ""},
		{outbound, `(api|uploads)\.stripe\.com`, h("api.stripe.com", "uploads.stripe.com"), false, ""},
		{outbound, `api\.stripe\.com|api\.braintreegateway\.com`, h("api.stripe.com", "api.braintreegateway.com"), false, ""},
		{outbound, `(.*\.)?stripe\.com`, h("stripe.com", "*.stripe.com"), false, ""},
		{outbound, `api-(eu|us)\.psp\.example`, h("api-eu.psp.example", "api-us.psp.example"), false, ""},
		{outbound, `(a|b|c|d|e|f|g|h|i|j|k|l|m|n|o|p|q)\.example`, re(`(a|b|c|d|e|f|g|h|i|j|k|l|m|n|o|p|q)\.example`), false, ""},
		// Ports are kept.
		{outbound, `api\.psp\.example:8443`, []hostSpec{{host: "api.psp.example", port: "8443"}}, false, ""},
		{outbound, `app:8080`, []hostSpec{{host: "app", port: "8080"}}, false, ""},
		{outbound, `a\.example:1|b\.example:2`, []hostSpec{{host: "a.example", port: "1"}, {host: "b.example", port: "2"}}, false, ""},
		{outbound, ``, nil, false, "without host_endpoint"},
		{outbound, `*`, nil, false, "matches every destination"},
		{outbound, `(.*)`, nil, false, "matches every destination"},
		{outbound, `[^;]+`, nil, false, "matches every destination"},
		{outbound, `api\.stripe\.com(/.*)?`, nil, false, "without port or path"},
		{outbound, `[a-z]+\.example:8443`, nil, false, "without port or path"},
		{outbound, `(?<!x)api\.stripe\.com`, nil, false, "lookbehind"},
		{outbound, `(api\.stripe\.com`, nil, false, "does not compile"},
		// Inbound: the Host the client sends; VGS's own proxy names become "*".
		{inbound, `(.*)\.verygoodproxy\.com`, h("*"), false, ""},
		{inbound, `(.*)\.verygoodproxy\.io`, h("*"), false, ""},
		{inbound, `(.*)\.verygoodproxy\.(com|io)`, h("*"), false, ""},
		{inbound, `tntabc123\.sandbox\.verygoodproxy\.com`, h("*"), false, ""},
		{inbound, `tntabc123\.sandbox\.verygoodproxy\.com:443`, h("*"), false, ""},
		{inbound, ``, h("*"), false, ""},
		{inbound, `*`, h("*"), false, ""},
		{inbound, `(.*)`, h("*"), false, ""},
		{inbound, `secure\.shop\.example`, h("secure.shop.example"), false, ""},
		{inbound, `(pay|checkout)\.shop\.example`, h("pay.shop.example", "checkout.shop.example"), false, ""},
		{inbound, `(.*)\.shop\.example`, h("*.shop.example"), false, ""},
		{inbound, `[a-z]+\.shop\.example`, re(`[a-z]+\.shop\.example`), false, ""},
		{inbound, `secure\.shop\.example:8443`, nil, false, "names a port"},
		{inbound, `(.*)\.verygoodproxy\.com|secure\.shop\.example`, h("*"), false, ""},
	}
	for _, tt := range tests {
		got, note, why := hostPatterns(tt.pattern, tt.dir)
		if tt.why != "" {
			if !strings.Contains(why, tt.why) {
				t.Errorf("%s %q: reason %q, want one containing %q (hosts %v)", tt.dir, tt.pattern, why, tt.why, got)
			}
			continue
		}
		if why != "" || !slices.Equal(got, tt.want) || (note != "") != tt.note {
			t.Errorf("%s %q = %v, note %q, %q; want %v, note %v", tt.dir, tt.pattern, got, note, why, tt.want, tt.note)
		}
	}
}

func TestUpstreamURL(t *testing.T) {
	tests := []struct {
		in, want string
		assumed  bool
		bad      bool
	}{
		{"https://checkout.example-shop.com", "https://checkout.example-shop.com", false, false},
		{"http://donations.internal.example.org:8080", "http://donations.internal.example.org:8080", false, false},
		{"HTTPS://api.example.com/base", "https://api.example.com/base", false, false},
		{"echo.apps.example.com", "https://echo.apps.example.com", true, false},
		{"ftp://files.example.com", "", false, true},
		{"https://user:pw@example.com", "", false, true},
		{"https://", "", false, true},
		{"", "", false, true},
	}
	for _, tt := range tests {
		got, assumed, why := upstreamURL(tt.in)
		if (why != "") != tt.bad || got != tt.want || assumed != tt.assumed {
			t.Errorf("upstreamURL(%q) = %q, %v, %q; want %q, %v, bad %v", tt.in, got, assumed, why, tt.want, tt.assumed, tt.bad)
		}
	}
}
