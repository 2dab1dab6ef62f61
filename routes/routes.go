// Package routes holds aliasgate's route model: which requests and
// responses carry card data, where, and what to do with it. A route belongs
// to one direction (inbound: in front of the merchant's app; outbound: on the
// way to a payment processor) and holds filters; a filter matches a request
// or response and applies an operation (redact or reveal) to its targets
// through a compiled rewrite.Program.
//
// Routes load from YAML (a file, or the inline `routes:` list of the
// configuration). Loading validates everything and reports every problem
// with its line; a route set loads whole or not at all. This package never
// imports the vault or the proxies: the caller passes a Tokenizer to
// rewrite.Program.Apply.
package routes

import (
	"mime"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/aliasgate/aliasgate/routes/rewrite"
)

// Direction is the side of the gateway a route works on.
type Direction string

// Directions.
const (
	Inbound  Direction = "inbound"
	Outbound Direction = "outbound"
)

// Phase is the part of an exchange a filter applies to.
type Phase string

// Phases.
const (
	Request  Phase = "request"
	Response Phase = "response"
)

// OnError says what happens when a matched filter cannot be applied.
type OnError string

// OnError values.
const (
	// Reject refuses the message (fail closed): nothing is forwarded.
	Reject OnError = "reject"
	// Pass forwards the message unchanged; it is logged and counted.
	Pass OnError = "pass"
)

// LeakGuard says what happens when a body about to leave holds a card-like
// number that no filter redacted.
type LeakGuard string

// LeakGuard values.
const (
	LeakOff   LeakGuard = "off"
	LeakLog   LeakGuard = "log"
	LeakBlock LeakGuard = "block"
)

// Internal upstreams served in process.
const (
	UpstreamCards   = "internal:cards"
	UpstreamAliases = "internal:aliases"
)

// AllowsAccount reports whether a proxy client of account may use the
// route (Accounts is empty or lists it).
func (r *Route) AllowsAccount(account string) bool {
	return len(r.Accounts) == 0 || slices.Contains(r.Accounts, account)
}

// Route is one validated route.
type Route struct {
	ID          string
	Direction   Direction
	Host        string // exact host, "*.suffix" or "*"
	PathPrefix  string
	Upstream    string   // inbound only: a URL or an internal upstream
	UpstreamURL *url.URL // parsed Upstream when it is a URL
	// LeakGuard: log by default; block on a route with a network_token
	// filter (YAML leak_guard overrides both).
	LeakGuard LeakGuard
	// UnmatchedBody says what happens to a request with a body on a route
	// that redacts request bodies (RedactsBodies) when no request filter
	// with body targets matched it: Reject (the default) refuses it, Pass
	// forwards it as it is. YAML key unmatched_body: reject or pass.
	UnmatchedBody OnError
	// Account (inbound only; YAML key account) is the account the route
	// acts for: the aliases its filters make belong to it, and its reveals
	// reach only its aliases. "": the vault's default account.
	Account string
	// Accounts (outbound only; YAML key accounts) narrows the route to the
	// proxy clients of these accounts: a request of a client of any other
	// account is refused before a filter runs. Empty: every proxy client,
	// whose reveals reach its own account's aliases only.
	Accounts []string
	Filters  []*Filter
	Line     int // line in the source, 0 when unknown
}

// Filter is one validated filter of a route.
type Filter struct {
	ID        string
	Phase     Phase
	Match     Match
	Operation rewrite.Operation
	OnError   OnError
	Targets   []Target
	Program   *rewrite.Program
	Line      int
	// Fallback (network_token filters; YAML fallback: pan) puts the card's
	// PAN (and CVC when it has one) where the network token would go when
	// the card has no active network token; false: such a request is
	// refused (422 no_active_network_token).
	Fallback bool
	// TransactionType (network_token filters; YAML transaction_type) is the
	// cryptogram's use: ecommerce or card_on_file; "": the token type's.
	TransactionType string
}

// Match is the condition of a filter: the AND of every field given.
type Match struct {
	Methods     []string       // upper case; empty: any
	Path        *regexp.Regexp // on the request path; nil: any
	ContentType string         // json, form, multipart, xml or a media type; "": any
	Status      []int          // response codes; empty: any
}

// Target is one target of a filter, as written in YAML.
type Target struct {
	JSON        string   `yaml:"json,omitempty"`
	Form        string   `yaml:"form,omitempty"`
	Header      string   `yaml:"header,omitempty"`
	XML         string   `yaml:"xml,omitempty"`
	Regex       string   `yaml:"regex,omitempty"`
	Pattern     string   `yaml:"pattern,omitempty"` // header: replace the first group of this regexp only
	Luhn        bool     `yaml:"luhn,omitempty"`    // regex: only Luhn-valid matches
	Format      string   `yaml:"format,omitempty"`
	Storage     string   `yaml:"storage,omitempty"`
	Classifiers []string `yaml:"classifiers,omitempty"`
	Role        string   `yaml:"role,omitempty"` // network_token: what the target receives (rewrite.Roles)
	Line        int      `yaml:"-"`
}

// Kind returns the target's kind and path.
func (t Target) Kind() (rewrite.Kind, string) {
	switch {
	case t.JSON != "":
		return rewrite.KindJSON, t.JSON
	case t.Form != "":
		return rewrite.KindForm, t.Form
	case t.Header != "":
		return rewrite.KindHeader, t.Header
	case t.XML != "":
		return rewrite.KindXML, t.XML
	case t.Regex != "":
		return rewrite.KindRegex, t.Regex
	}
	return "", ""
}

// Set is a loaded, validated route set, in file order.
type Set struct {
	Routes []*Route
}

// Exchange describes the request (and, for response filters, the response)
// a filter is matched against.
type Exchange struct {
	Method    string
	Path      string
	MediaType string // of the message the phase rewrites (request or response body)
	Status    int    // response phase only
}

// Match returns the route of the given direction for host and path: among
// the routes whose host pattern matches host (port ignored) and whose
// path_prefix starts path, the one with the longest prefix; then the most
// specific host (exact, then "*.suffix" with the longest suffix, then "*");
// then the first in file order. nil when none matches.
func (s *Set) Match(dir Direction, host, path string) *Route {
	if s == nil {
		return nil
	}
	host = normalizeHost(host)
	var best *Route
	for _, r := range s.Routes {
		if r.Direction != dir || !HostMatches(r.Host, host) || !strings.HasPrefix(path, r.PathPrefix) {
			continue
		}
		if best == nil || len(r.PathPrefix) > len(best.PathPrefix) ||
			len(r.PathPrefix) == len(best.PathPrefix) && hostRank(r.Host) > hostRank(best.Host) {
			best = r
		}
	}
	return best
}

// hostRank orders host patterns from the least to the most specific.
func hostRank(pattern string) int {
	switch {
	case pattern == "*":
		return 0
	case strings.HasPrefix(pattern, "*."):
		return len(pattern) // a longer suffix is more specific
	}
	return 1 << 20 // an exact host beats every wildcard
}

// Matching returns the route's filters of phase that match x, in order.
func (r *Route) Matching(phase Phase, x Exchange) []*Filter {
	var out []*Filter
	for _, f := range r.Filters {
		if f.Phase == phase && f.Match.matches(x) {
			out = append(out, f)
		}
	}
	return out
}

// RedactsBodies reports whether the route has request filters that redact
// body targets: such a route promises that card data in request bodies is
// replaced before the upstream sees it, so the proxy refuses a body that
// none of them matched (unless UnmatchedBody is Pass).
func (r *Route) RedactsBodies() bool {
	for _, f := range r.Filters {
		if f.Phase == Request && f.Operation == rewrite.Redact && f.Program != nil && f.Program.HasBody() {
			return true
		}
	}
	return false
}

// HasPhase reports whether the route has filters of phase.
func (r *Route) HasPhase(phase Phase) bool {
	for _, f := range r.Filters {
		if f.Phase == phase {
			return true
		}
	}
	return false
}

func (m *Match) matches(x Exchange) bool {
	if len(m.Methods) > 0 && !slices.Contains(m.Methods, strings.ToUpper(x.Method)) {
		return false
	}
	if m.Path != nil && !m.Path.MatchString(x.Path) {
		// "/checkout/" and "/checkout" reach one handler in most frameworks.
		if p, ok := strings.CutSuffix(x.Path, "/"); !ok || p == "" || !m.Path.MatchString(p) {
			return false
		}
	}
	if m.ContentType != "" && !ContentTypeMatches(m.ContentType, x.MediaType) {
		return false
	}
	if len(m.Status) > 0 && !slices.Contains(m.Status, x.Status) {
		return false
	}
	return true
}

// ContentTypeMatches reports whether a media type (or a full Content-Type
// value) belongs to want: json (application/json and any +json type), form
// (application/x-www-form-urlencoded), multipart (multipart/form-data), xml
// (application/xml, text/xml and any +xml type), or a media type compared
// exactly.
func ContentTypeMatches(want, mediaType string) bool {
	// Without parameters ParseMediaType gives the fallback's result (or
	// fails into it): only a type with parameters pays for its allocations.
	mt := strings.ToLower(strings.TrimSpace(mediaType))
	if strings.Contains(mediaType, ";") {
		if parsed, _, err := mime.ParseMediaType(mediaType); err == nil {
			mt = parsed
		}
	}
	mediaType = mt
	switch want {
	case "json":
		return mediaType == "application/json" || strings.HasSuffix(mediaType, "+json")
	case "form":
		return mediaType == "application/x-www-form-urlencoded"
	case "multipart":
		return mediaType == "multipart/form-data"
	case "xml":
		return mediaType == "application/xml" || mediaType == "text/xml" || strings.HasSuffix(mediaType, "+xml")
	}
	return mediaType == want
}

// HostMatches reports whether host (lower case, no port) matches pattern:
// "*" matches any host, "*.example.com" any host below example.com (not
// example.com itself), anything else only itself.
func HostMatches(pattern, host string) bool {
	switch {
	case pattern == "*":
		return true
	case strings.HasPrefix(pattern, "*."):
		return strings.HasSuffix(host, pattern[1:]) && len(host) > len(pattern)-1
	}
	return pattern == host
}

// normalizeHost lower-cases host and drops a port.
func normalizeHost(h string) string {
	h = strings.ToLower(h)
	if strings.HasPrefix(h, "[") { // [v6]:port
		if i := strings.IndexByte(h, ']'); i > 0 {
			return h[1:i]
		}
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 && strings.Count(h, ":") == 1 {
		return h[:i]
	}
	return strings.TrimSuffix(h, ".")
}
