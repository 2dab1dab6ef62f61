package vgs

import (
	"slices"
	"strings"
	"testing"
)

func TestHostPatternsMapVGSHostRegexps(t *testing.T) {
	tests := []struct {
		dir, pattern string
		want         []string
		port         string
		why          string // substring of the reason; "" when it converts
	}{
		// Outbound: the destination host.
		{outbound, `api\.stripe\.com`, []string{"api.stripe.com"}, "", ""},
		{outbound, `^api\.stripe\.com$`, []string{"api.stripe.com"}, "", ""},
		{outbound, `API\.Stripe\.com`, []string{"api.stripe.com"}, "", ""},
		{outbound, `api.stripe.com`, []string{"api.stripe.com"}, "", ""}, // unescaped dots
		{outbound, `(.*)\.stripe\.com`, []string{"*.stripe.com"}, "", ""},
		{outbound, `.*\.stripe\.com`, []string{"*.stripe.com"}, "", ""},
		{outbound, `(.+)\.stripe\.com`, []string{"*.stripe.com"}, "", ""},
		{outbound, `([a-z0-9-]+)\.stripe\.com`, []string{"*.stripe.com"}, "", ""},
		{outbound, `[^.]+\.psp\.example`, []string{"*.psp.example"}, "", ""},
		{outbound, `(api|uploads)\.stripe\.com`, []string{"api.stripe.com", "uploads.stripe.com"}, "", ""},
		{outbound, `api\.stripe\.com|api\.braintreegateway\.com`, []string{"api.stripe.com", "api.braintreegateway.com"}, "", ""},
		{outbound, `(.*\.)?stripe\.com`, []string{"stripe.com", "*.stripe.com"}, "", ""},
		{outbound, `api-(eu|us)\.psp\.example`, []string{"api-eu.psp.example", "api-us.psp.example"}, "", ""},
		{outbound, `api\.psp\.example:8443`, []string{"api.psp.example"}, "8443", ""},
		{outbound, `app:8080`, []string{"app"}, "8080", ""},
		{outbound, ``, nil, "", "without host_endpoint"},
		{outbound, `*`, nil, "", "matches every destination"},
		{outbound, `(.*)`, nil, "", "matches every destination"},
		{outbound, `api\.(.*)\.com`, nil, "", "is not a host"},
		{outbound, `api\d\.stripe\.com`, nil, "", "is not a host"},
		{outbound, `(a|b|c|d|e|f|g|h|i|j|k|l|m|n|o|p|q)\.example`, nil, "", "at most 16 hosts"},
		{outbound, `api\.stripe\.com(/.*)?`, nil, "", "is not a host"},
		{outbound, `(?<!x)api\.stripe\.com`, nil, "", "lookbehind"},
		{outbound, `(api\.stripe\.com`, nil, "", "does not compile"},
		{outbound, `api\.stripe\.com:0`, nil, "", "is not a host"},
		{outbound, `a\.example:1|b\.example:2`, nil, "", "different ports"},
		{outbound, `\x00\.example\.com`, nil, "", "is not a host"},
		// Inbound: the Host the client sends; VGS's own proxy names become "*".
		{inbound, `(.*)\.verygoodproxy\.com`, []string{"*"}, "", ""},
		{inbound, `(.*)\.verygoodproxy\.io`, []string{"*"}, "", ""},
		{inbound, `(.*)\.verygoodproxy\.(com|io)`, []string{"*"}, "", ""},
		{inbound, `tntabc123\.sandbox\.verygoodproxy\.com`, []string{"*"}, "", ""},
		{inbound, ``, []string{"*"}, "", ""},
		{inbound, `*`, []string{"*"}, "", ""},
		{inbound, `(.*)`, []string{"*"}, "", ""},
		{inbound, `secure\.shop\.example`, []string{"secure.shop.example"}, "", ""},
		{inbound, `(pay|checkout)\.shop\.example`, []string{"pay.shop.example", "checkout.shop.example"}, "", ""},
		{inbound, `(.*)\.shop\.example`, nil, "", "wildcard label"},
		{inbound, `(.*)\.verygoodproxy\.com|secure\.shop\.example`, []string{"*"}, "", ""},
	}
	for _, tt := range tests {
		got, port, why := hostPatterns(tt.pattern, tt.dir)
		if tt.why != "" {
			if !strings.Contains(why, tt.why) {
				t.Errorf("%s %q: reason %q, want one containing %q (hosts %v)", tt.dir, tt.pattern, why, tt.why, got)
			}
			continue
		}
		if why != "" || !slices.Equal(got, tt.want) || port != tt.port {
			t.Errorf("%s %q = %v, port %q, %q; want %v, port %q", tt.dir, tt.pattern, got, port, why, tt.want, tt.port)
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
