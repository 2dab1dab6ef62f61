package proxy

import (
	"net/http"
	"testing"
)

// TestGatewayFieldNamesCanonical: the gateway's own field names are
// written canonical, as the code that sets them straight into a header
// map (MarkForwarded) needs: http.Header's methods would canonicalise them.
func TestGatewayFieldNamesCanonical(t *testing.T) {
	for _, k := range []string{RevealRouteHeader, RouteAccountHeader, RedactedHeader, ErrorHeader, FilterFailedHeader, DeliveredHeader} {
		if c := http.CanonicalHeaderKey(k); c != k {
			t.Errorf("%q is not canonical (%q)", k, c)
		}
	}
}
