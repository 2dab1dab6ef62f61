package proxy

import (
	"net/http"
	"strings"

	"github.com/aliasgate/aliasgate/routes"
)

// Fields of the gateway's names sent by a client
//
// The gateway writes RouteAccountHeader and RevealRouteHeader on what its
// inbound routes forward (MarkForwarded) and RedactedHeader on a message
// its leak guard masked; FilterFailedHeader, DeliveredHeader and
// ErrorHeader on its answers. An app behind it may take any of them as
// the gateway's word (which account's route a request came through,
// whether the guard masked anything). So a field a client sent under one
// of these names is removed from the request before either listener's
// routes and filters read it (DropClientFields), in every spelling an
// app's framework may read as the same name: any letter case, '_' for
// '-' (nginx with underscores_in_headers, CGI, WSGI and Rack all make
// HTTP_ALIASGATE_ROUTE_ACCOUNT of Aliasgate-Route-Account and
// Aliasgate_Route_Account), in the header and in the trailer; the
// upstream then sees only the values the gateway wrote. A name with
// spaces around it never gets this far: net/http refuses such a request
// (400).
//
// One exception keeps a chain of gateways whole: on a request whose
// upstream path is a gateway API's (/cards, /aliases: routes.ReservedPath)
// the RouteAccountHeader and RevealRouteHeader fields under their own
// names go on. There they only narrow what the API serves or refuse the
// request (a client sending them itself harms no one but itself), and an
// earlier gateway's route of a chain sent them (see "Routes in front of
// the gateway's own APIs" in the package doc): dropping them would let a
// route that does not act for an account carry another gateway's request
// to the APIs unmarked. The webhook headers (Aliasgate-Signature, ...) are
// not the proxy's: a merchant may put its webhook endpoint behind an
// inbound route, and their signature is what an app checks.

// gatewayField reports whether k, a field name as received, names one of
// the gateway's fields in any spelling an app may read as it, and whether
// it is the chain field's own spelling (RouteAccountHeader,
// RevealRouteHeader, canonical).
func gatewayField(k string) (gateway, chain bool) {
	const prefix = "aliasgate"
	// k[0] first: only 'a' and 'A' fold to 'a' (no character outside
	// ASCII does), and most names start otherwise, which EqualFold's call
	// costs ~30 instructions each to find (every field of every request).
	if len(k) <= len(prefix) || k[0]|0x20 != 'a' || !strings.EqualFold(k[:len(prefix)], prefix) {
		return false, false // the usual header: one comparison
	}
	switch strings.ToLower(strings.ReplaceAll(strings.TrimSpace(k), "_", "-")) {
	case "aliasgate-route-account", "aliasgate-reveal-route":
		return true, k == RouteAccountHeader || k == RevealRouteHeader
	case "aliasgate-redacted", "aliasgate-filter-failed", "aliasgate-request-delivered", "aliasgate-error":
		return true, false
	}
	return false, false
}

// dropGatewayFields deletes from h the fields of the gateway's names
// (gatewayField); the chain fields stay when chain is set.
func dropGatewayFields(h http.Header, chain bool) {
	for k := range h {
		if g, c := gatewayField(k); g && !(chain && c) {
			delete(h, k)
		}
	}
}

// DropClientFields removes from r the fields a client sent under the
// gateway's names (see the section above), before the request phase of
// either listener: from its header, keeping the chain fields when the
// path its upstream receives (route's URL upstream joined with path, the
// canonical request path; path itself for an outbound request, route
// nil) is a gateway API's, and from its trailer, now and once the body
// has been read (the values of a trailer arrive after the body).
// `aliasgate routes test` shows a request so.
func DropClientFields(r *http.Request, route *routes.Route, path string) {
	if route != nil && route.UpstreamURL != nil {
		// httputil.ProxyRequest.SetURL joins the upstream URL's path and
		// the request's.
		path = strings.TrimSuffix(route.UpstreamURL.Path, "/") + path
	}
	dropGatewayFields(r.Header, routes.ReservedPath(path) != "")
	if r.Trailer == nil {
		// No trailer announced: none is forwarded (the transport sends
		// the fields of the map it was given, and net/http makes a new
		// one for what arrives unannounced).
		return
	}
	dropGatewayFields(r.Trailer, false)
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = &trailerDrop{ReadCloser: r.Body, trailer: &r.Trailer, drop: func(h http.Header) { dropGatewayFields(h, false) }}
	}
}
