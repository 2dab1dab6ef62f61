// Package routes holds aliasgate's route model: which requests and
// responses carry card data, where, and what to do with it. A route belongs
// to one direction (inbound: in front of the merchant's app; outbound: on the
// way to a payment processor) and holds filters; a filter matches a request
// or response and applies an operation (redact or reveal) to its targets
// through a compiled rewrite.Program.
//
// An inbound route acts for one account (key account), an outbound route
// for each proxy client's, optionally narrowed to named accounts (key
// accounts); see Route.
//
// What each key compares and which route and filters win (Set.Match, then
// Route.Matching) is the matching contract of config/README.md ("Routes:
// how a request is matched").
//
// Routes load from YAML (a file, or the inline `routes:` list of the
// configuration). Loading validates everything and reports every problem
// with its line; a route set loads whole or not at all. This package never
// imports the vault or the proxies: the caller passes a Tokenizer to
// rewrite.Program.Apply.
package routes

import (
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
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
	// LeakRedact masks the card numbers found (all digits but the first 6
	// and the last 4, as pan.Mask) and lets the message go on; a message
	// it cannot mask (a body it cannot read) is refused as in block mode.
	// The default of an outbound route that reveals in requests: a
	// processor echoing the card it was sent does not hand it to the
	// merchant, and the merchant gets the processor's answer (no error
	// that would invite a retry of a delivered payment).
	LeakRedact LeakGuard = "redact"
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
	ID        string
	Direction Direction
	Host      string // exact host, "*.suffix" or "*"; "" when HostRegex is set
	// HostRegex, when set, replaces Host: the host (lower case, without
	// port or trailing dot) must match it whole, case-insensitively. YAML
	// key host_regex.
	HostRegex *regexp.Regexp
	// Ports, when not empty, limits the route to requests addressed to one
	// of these ports (outbound routes only). YAML key ports.
	Ports       []int
	PathPrefix  string
	Upstream    string   // inbound only: a URL or an internal upstream
	UpstreamURL *url.URL // parsed Upstream when it is a URL
	// LeakGuard: log by default; block on a route with a network_token
	// filter (YAML leak_guard overrides both).
	LeakGuard LeakGuard
	// UnmatchedBody says what happens to a request with a body on a route
	// that redacts request bodies (RedactsBodies) when no request filter
	// with body targets matched it: Reject (the default) refuses it, Pass
	// forwards it as it is. On a route that redacts response bodies
	// (RedactsResponseBodies), Reject has every card number that is not an
	// alias left in a response body after the response filters (none with
	// body targets matched it, or one left a number at a path it does not
	// name) masked by the leak guard (a delivered request's answer is not
	// refused: MasksResponseBodies), Pass lets it go as the guard says. It
	// says the same of a request carrying a header that a request redact
	// filter of the route targets, on a path that filter covers, when no
	// filter redacting that header applies to it (UnmatchedHeader). YAML
	// key unmatched_body: reject or pass.
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
	// UnsafeRevealOverPlainHTTP (outbound only; YAML key
	// unsafe_reveal_over_plain_http) lets the route's request reveals go to
	// the destination over cleartext HTTP (an absolute-form http://
	// request, or plain HTTP inside a CONNECT). Without it a route that
	// reveals in requests (RevealsInRequests) serves HTTPS only.
	UnsafeRevealOverPlainHTTP bool
	// ForwardReserved (inbound only; YAML key forward_reserved) lists the
	// gateway's own paths (ReservedPaths) the route receives when its host
	// and path_prefix cover them; any other reserved path is never matched
	// by the route and stays the gateway's (reserved.go).
	ForwardReserved []string
	Filters         []*Filter
	Line            int // line in the source, 0 when unknown
}

// Filter is one validated filter of a route.
type Filter struct {
	ID    string
	Phase Phase
	// Group, when the route's filters have groups, names the filter's
	// group: of a phase, only the filters of the first group (in file
	// order) that has a matching filter apply. YAML key group.
	Group     string
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
	Methods []string       // upper case, compared exactly; empty: any
	Path    *regexp.Regexp // searched in the request path; nil: any
	// PathInfo must match the whole request target: the canonical path,
	// then "?" and the raw query when the request has one; no trailing
	// slash leniency. nil: any. YAML key path_info.
	PathInfo    *regexp.Regexp
	ContentType string // json, form, multipart, xml or a media type; "": any
	// RequestContentTypes: the request's one Content-Type header must be
	// one of these, byte for byte (for request and response filters
	// alike). Empty: any. YAML key request_content_type.
	RequestContentTypes []string
	Status              []int // response codes; empty: any
	// pathFold and pathInfoFold are Path and PathInfo with letter case
	// ignored, for pathCovers (set by the loader; nil: Path, PathInfo).
	pathFold, pathInfoFold *regexp.Regexp
}

// pathCovers reports whether x's path meets m's path and path_info
// conditions as servers that route without regard to letter case read
// them: case ignored, path with and without a trailing slash, path_info
// against the target with and without its query. Methods and content
// types are not compared: HEAD reaches GET handlers, method overrides
// others, and a Content-Type is the client's to spell. It decides whether
// a request is one the filter is meant to cover for the checks of what it
// carries besides its body (Filter.ChecksQuery, Route.UnmatchedHeader).
// A path whose last segment ends in a format extension (formatSuffix:
// /checkout.json) is also read without it: Rails routes it to /checkout's
// action, and so did Spring's suffix pattern matching.
func (m *Match) pathCovers(x Exchange) bool {
	if m.pathMeets(x) {
		return true
	}
	if p, ok := formatSuffix(x.Path); ok {
		x.Path = p
		return m.pathMeets(x)
	}
	return false
}

// formatSuffix returns path without the format extension its last segment
// ends in ("/checkout.json" → "/checkout", "/a/b.c.xml" → "/a/b.c": Rails'
// optional (.:format), which takes what follows the last '.'); false when
// the segment has none, or nothing before it.
func formatSuffix(path string) (string, bool) {
	i := strings.LastIndexByte(path, '.')
	if i < 0 || i == len(path)-1 || strings.IndexByte(path[i:], '/') >= 0 || i == 0 || path[i-1] == '/' {
		return "", false
	}
	return path[:i], true
}

// pathMeets is pathCovers without the format extension rule.
func (m *Match) pathMeets(x Exchange) bool {
	if m.PathInfo != nil {
		re := m.pathInfoFold
		if re == nil {
			re = m.PathInfo
		}
		target := x.Path
		if x.Query != "" {
			target += "?" + x.Query
		}
		if !re.MatchString(target) && !re.MatchString(x.Path) {
			return false
		}
	}
	if m.Path != nil {
		re := m.pathFold
		if re == nil {
			re = m.Path
		}
		if !re.MatchString(x.Path) {
			if p, ok := strings.CutSuffix(x.Path, "/"); !ok || p == "" || !re.MatchString(p) {
				return false
			}
		}
	}
	return true
}

// Target is one target of a filter, as written in YAML.
type Target struct {
	JSON    string `yaml:"json,omitempty"`
	Form    string `yaml:"form,omitempty"`
	Header  string `yaml:"header,omitempty"`
	XML     string `yaml:"xml,omitempty"`
	Regex   string `yaml:"regex,omitempty"`
	Pattern string `yaml:"pattern,omitempty"` // header: replace the first group of this regexp only
	Luhn    bool   `yaml:"luhn,omitempty"`    // regex: only Luhn-valid matches
	// Namespaces (xml): read the path's names as XPath does, with the root
	// element's declarations as context (rewrite.TargetSpec.XMLNamespaces).
	Namespaces  bool     `yaml:"namespaces,omitempty"`
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
	Query     string // the request's raw query, without "?"
	MediaType string // of the message the phase rewrites (request or response body)
	// RequestContentType is the request's Content-Type header value as
	// sent, "" when it has none or several (see RequestContentType).
	RequestContentType string
	Status             int // response phase only
}

// RequestContentType returns the value of h's Content-Type header for
// Exchange.RequestContentType: "" when there is none or more than one.
func RequestContentType(h http.Header) string {
	if v := h["Content-Type"]; len(v) == 1 { // the canonical key: no canonicalising per request
		return v[0]
	}
	return ""
}

// Match returns the route of the given direction for host and path. host
// may carry a port ("host:port", "[v6]:port"); a route with ports matches
// only a host with one of them. Among the routes whose host pattern
// (or host_regex) matches host and whose path_prefix starts path, the one
// with the longest prefix wins; then the most specific host (exact, then
// host_regex, then "*.suffix" with the longest suffix, then "*"), a route
// with ports before one without; then the first in file order. An inbound
// route never matches a reserved path (ReservedPath) it does not take
// (TakesReserved). nil when none matches.
//
// A route with request filters that redact also takes the paths its
// path_prefix starts once ASCII letter case is ignored ("/Checkout/x" for
// /checkout), and, when its path_prefix ends with "/", that path without
// the slash ("/checkout" for /checkout/): Express (by default), ASP.NET
// and IIS route the first to the same handler, most frameworks the second
// (and Rails "/checkout.json" too),
// and a shorter route's (a catch-all "/" without filters) would forward
// its card data in clear. Of two routes with prefixes of one
// length, the one whose prefix starts path as written wins; a prefix taken
// without its trailing slash counts one byte shorter, so a route whose
// prefix is "/wallet" keeps "/wallet" (and "/wallet.json") from a
// redacting route under "/wallet/". Filter path
// conditions still compare case, so such a request is refused where no
// filter of the route applies to its body or headers (UnmatchedBody,
// UnmatchedHeader).
func (s *Set) Match(dir Direction, host, path string) *Route {
	if s == nil {
		return nil
	}
	host, port := SplitHost(host)
	reserved := ""
	if dir == Inbound {
		reserved = ReservedPath(path)
	}
	var best *Route
	bestExact, bestLen := false, 0
	for _, r := range s.Routes {
		if r.Direction != dir || reserved != "" && !r.TakesReserved(reserved) {
			continue
		}
		exact := strings.HasPrefix(path, r.PathPrefix)
		if !exact && (!startsAsServersRead(path, r.PathPrefix) || !r.hasRequestOp(rewrite.Redact)) || !r.MatchesHost(host, port) {
			continue
		}
		// n is how much of the path the prefix matched: a prefix that
		// matched only without its trailing slash ("/wallet/" for
		// "/wallet") matched one byte less, so a route whose prefix is
		// that path ("/wallet") is not taken over.
		n := len(r.PathPrefix)
		if !exact && !hasPrefixFoldASCII(path, r.PathPrefix) {
			n--
		}
		if best == nil || n > bestLen ||
			n == bestLen && (exact && !bestExact || exact == bestExact && r.rank() > best.rank()) {
			best, bestExact, bestLen = r, exact, n
		}
	}
	return best
}

// startsAsServersRead reports whether prefix starts path once ASCII letter
// case is ignored, or prefix ends with "/" and is path with a "/" added
// ("/checkout/" for "/checkout": most frameworks route both to one
// handler), path read with or without a format extension ("/checkout.json":
// Rails routes it to /checkout, formatSuffix).
func startsAsServersRead(path, prefix string) bool {
	if hasPrefixFoldASCII(path, prefix) {
		return true
	}
	slashed := func(path string) bool {
		return len(path)+1 == len(prefix) && prefix[len(path)] == '/' && hasPrefixFoldASCII(path, prefix[:len(path)])
	}
	if slashed(path) {
		return true
	}
	p, ok := formatSuffix(path)
	return ok && slashed(p)
}

// hasPrefixFoldASCII reports whether s starts with prefix when ASCII
// letter case is ignored.
func hasPrefixFoldASCII(s, prefix string) bool {
	if len(s) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		a, b := s[i], prefix[i]
		if a == b {
			continue
		}
		if 'A' <= a && a <= 'Z' {
			a += 'a' - 'A'
		}
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		if a != b || a < 'a' || a > 'z' {
			return false
		}
	}
	return true
}

// MatchesHost reports whether the route's host pattern (or host_regex)
// matches host (lower case, no port, no trailing dot) and, when the route
// has ports, whether port is one of them ("" is no port: no match then).
func (r *Route) MatchesHost(host, port string) bool {
	if len(r.Ports) > 0 {
		n, err := strconv.Atoi(port)
		if err != nil || !slices.Contains(r.Ports, n) {
			return false
		}
	}
	if r.HostRegex != nil {
		return r.HostRegex.MatchString(host)
	}
	return HostMatches(r.Host, host)
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

// rank orders routes of one path prefix from the least to the most
// specific host.
func (r *Route) rank() int {
	return HostRank(r.Host, r.HostRegex != nil, len(r.Ports) > 0)
}

// HostRank orders host selectors from the least to the most specific, as
// Set.Match does: "*", then "*.suffix" (a longer suffix is more specific),
// then a host_regex, then an exact host; of two that tie, the one with
// ports. host is ignored when regex is true.
func HostRank(host string, regex, ports bool) int {
	rank := hostRank(host)
	if regex {
		rank = 1 << 19 // below an exact host, above every "*.suffix"
	}
	rank *= 2
	if ports {
		rank++
	}
	return rank
}

// Matching returns the route's filters of phase that match x, in order.
// When the route's filters have groups, only those of the group of the
// first matching filter are returned (the first group that matches wins,
// as between VGS routes).
func (r *Route) Matching(phase Phase, x Exchange) []*Filter {
	return r.AppendMatching(nil, phase, x)
}

// AppendMatching appends Matching(phase, x) to dst and returns the extended
// slice: the proxies match each phase of every exchange, into a buffer of
// the exchange's state rather than a new slice.
func (r *Route) AppendMatching(dst []*Filter, phase Phase, x Exchange) []*Filter {
	n := len(dst)
	for _, f := range r.Filters {
		if f.Phase != phase || len(dst) > n && f.Group != dst[n].Group || !f.Match.matches(x) {
			continue
		}
		dst = append(dst, f)
	}
	return dst
}

// RedactsBodies reports whether the route has request filters that redact
// body targets: such a route promises that card data in request bodies is
// replaced before the upstream sees it, so the proxy refuses a body that
// none of them matched (unless UnmatchedBody is Pass).
func (r *Route) RedactsBodies() bool { return r.redactsBodiesIn(Request) }

// RedactsResponseBodies reports whether the route has response filters
// that redact body targets: such a route promises that card data in
// response bodies is replaced before the client sees it, so the proxy
// reads every response body, matches the filters by its syntax, and has
// the leak guard mask the card numbers of a body none of them matched
// (unless UnmatchedBody is Pass).
func (r *Route) RedactsResponseBodies() bool { return r.redactsBodiesIn(Response) }

// MasksResponseBodies reports whether the proxies have the leak guard mask
// every card number that is not an alias left in a response body of the
// route after its filters (redact mode; block when the route blocks): the
// route redacts response bodies (RedactsResponseBodies) and does not say
// unmatched_body: pass. A body no such filter matched, and one a filter
// matched and left a number in at a path it does not name, are masked
// alike.
func (r *Route) MasksResponseBodies() bool {
	return r.UnmatchedBody != Pass && r.RedactsResponseBodies()
}

func (r *Route) redactsBodiesIn(phase Phase) bool {
	for _, f := range r.Filters {
		if f.Phase == phase && f.Operation == rewrite.Redact && f.Program != nil && f.Program.HasBody() {
			return true
		}
	}
	return false
}

// ReadsBodies reports whether any filter of the route, in either phase,
// has body targets: the bodies of its messages are rewritten, so a
// protocol switch (WebSocket), whose frames no filter reads, would carry
// them past the filters.
func (r *Route) ReadsBodies() bool {
	for _, f := range r.Filters {
		if f.Program != nil && f.Program.HasBody() {
			return true
		}
	}
	return false
}

// UnmatchedHeader returns a request redact filter of the route that is not
// among matched (the filters that apply to the request) although x is a
// request it is meant to cover (Match.pathCovers: its path conditions hold
// once letter case is ignored, whatever the method and content type), one
// of whose header targets finds a value in h (rewrite.Program.LocatesHeader)
// that no filter of matched targets (by header name); nil when there is
// none. The proxies refuse such a request (POST /Checkout, post or PUT
// where the filter says POST /checkout, another filter group) unless the
// route says unmatched_body: pass: servers that route without regard to
// case or method overrides would hand the header to the filter's handler
// in clear. A request to a path the filter does not cover goes on.
func (r *Route) UnmatchedHeader(matched []*Filter, x Exchange, h http.Header) *Filter {
	for _, f := range r.Filters {
		if f.Phase != Request || f.Operation != rewrite.Redact || f.Program == nil || !f.Program.HasHeaderTargets() ||
			slices.Contains(matched, f) || !f.Match.pathCovers(x) {
			continue
		}
		if f.Program.LocatesHeader(h, func(name string) bool { return redactsHeader(matched, name) }) {
			return f
		}
	}
	return nil
}

// redactsHeader reports whether a redact filter of filters targets the
// header name (canonical form).
func redactsHeader(filters []*Filter, name string) bool {
	for _, m := range filters {
		if m.Operation == rewrite.Redact && m.Program != nil && m.Program.TargetsHeader(name) {
			return true
		}
	}
	return false
}

// ChecksQuery reports whether f is a request filter that redacts form or
// JSON targets (rewrite.Program.ReadsQuery) and whose path conditions x
// meets as servers read them (the proxies then also read the request's
// cookies for its form targets, rewrite.Program.CheckCookies)
// (Match.pathCovers: letter case ignored, path_info with or without the
// query, methods and content types not compared):
// the proxies then refuse a request whose query string holds a field it
// targets (rewrite.Program.CheckQuery), since the applications that read
// query and form fields as one set of parameters would read it in clear.
// Filter groups do not narrow it.
func (f *Filter) ChecksQuery(x Exchange) bool {
	return f.Phase == Request && f.Operation == rewrite.Redact && f.Program != nil && f.Program.ReadsQuery() &&
		f.Match.pathCovers(x)
}

// RevealsInRequests reports whether the route's request filters put card
// data on the wire to the destination: a reveal, or a network_token filter
// (the network token PAN and its cryptogram, or on fallback the PAN and
// CVC). Such a route serves HTTPS only unless UnsafeRevealOverPlainHTTP,
// and is warned about when it has no ports or a lonely '.' in its
// host_regex (Warnings).
func (r *Route) RevealsInRequests() bool {
	return r.hasRequestOp(rewrite.Reveal) || r.hasRequestOp(rewrite.NetworkToken)
}

// Internal reports whether the route's upstream is an in-process API
// (UpstreamCards, UpstreamAliases).
func (r *Route) Internal() bool {
	return r.Upstream == UpstreamCards || r.Upstream == UpstreamAliases
}

// MayRevealInResponse reports whether a response reveal filter of the
// route may apply to the answer to request x: one whose match x's method,
// path, query and request Content-Type satisfy (the answer's status and
// media type are not known before it comes, so they count as matching,
// and so do filter groups).
func (r *Route) MayRevealInResponse(x Exchange) bool {
	for _, f := range r.Filters {
		if f.Phase == Response && f.Operation == rewrite.Reveal && f.Match.matchesRequest(x) {
			return true
		}
	}
	return false
}

// hasRequestOp reports whether the route has a request filter of op.
func (r *Route) hasRequestOp(op rewrite.Operation) bool {
	return r.hasOp(Request, op)
}

// hasOp reports whether the route has a filter of phase and op.
func (r *Route) hasOp(phase Phase, op rewrite.Operation) bool {
	for _, f := range r.Filters {
		if f.Phase == phase && f.Operation == op {
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
	if !m.matchesRequest(x) {
		return false
	}
	if m.ContentType != "" && !ContentTypeMatches(m.ContentType, x.MediaType) {
		return false
	}
	if len(m.Status) > 0 && !slices.Contains(m.Status, x.Status) {
		return false
	}
	return true
}

// matchesRequest is matches for what the request alone decides: method,
// path_info, request_content_type and path.
func (m *Match) matchesRequest(x Exchange) bool {
	// Methods are case-sensitive (RFC 9110 §9.1): "post" is not POST.
	if len(m.Methods) > 0 && !slices.Contains(m.Methods, x.Method) {
		return false
	}
	if m.PathInfo != nil {
		target := x.Path
		if x.Query != "" {
			target += "?" + x.Query
		}
		if !m.PathInfo.MatchString(target) {
			return false
		}
	}
	if len(m.RequestContentTypes) > 0 && (x.RequestContentType == "" || !slices.Contains(m.RequestContentTypes, x.RequestContentType)) {
		return false
	}
	if m.Path != nil && !m.Path.MatchString(x.Path) {
		// "/checkout/" and "/checkout" reach one handler in most frameworks.
		if p, ok := strings.CutSuffix(x.Path, "/"); !ok || p == "" || !m.Path.MatchString(p) {
			return false
		}
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
