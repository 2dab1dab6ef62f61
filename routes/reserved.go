package routes

import (
	"fmt"
	"regexp/syntax"
	"slices"
	"strings"

	"golang.org/x/net/publicsuffix"

	"github.com/aliasgate/aliasgate/internal/pan"
)

// The inbound listener serves the gateway's own endpoints beside the
// routes: /oauth/token (client credentials in, access tokens out), the Card
// Management API at /cards and the vault API at /aliases. A route whose
// host and path_prefix cover one of them (host "*", path_prefix "/") would
// otherwise take its requests, and forward client secrets, tokens or card
// data to its upstream. So these paths are reserved:
//
//   - an inbound route never matches a request whose path is a reserved
//     path or lies below it, unless the route names that reserved path in
//     forward_reserved (or its upstream is the endpoint itself:
//     internal:cards for /cards, internal:aliases for /aliases);
//   - a route whose path_prefix lies below a reserved path it does not
//     forward would never match: it fails to load;
//   - Set.Warnings names every route whose path_prefix covers a reserved
//     path it does not forward (`routes validate`, `config check` and
//     `serve` print them).
//
// The reserved paths are reserved whether or not the gateway serves them
// (cards.enabled, vault_api.enabled): turning an endpoint on never changes
// where a route's requests go.

// ReservedPaths returns the inbound listener's own endpoints, in a new
// slice.
func ReservedPaths() []string {
	return []string{"/oauth/token", "/cards", "/aliases"}
}

// ReservedPath returns the reserved path that path is or lies below ("/cards"
// for "/cards/abc"), or "".
func ReservedPath(path string) string {
	for _, p := range ReservedPaths() {
		if under(path, p) {
			return p
		}
	}
	return ""
}

// under reports whether path is p or lies below it.
func under(path, p string) bool {
	// Not strings.HasPrefix(path, p+"/"): the inbound proxy asks this of
	// every request, twice (ServeHTTP and Set.Match), and each time it
	// built the three strings.
	return strings.HasPrefix(path, p) && (len(path) == len(p) || path[len(p)] == '/')
}

// TakesReserved reports whether the route receives requests for the
// reserved path p: its upstream is that endpoint, or forward_reserved
// names it.
func (r *Route) TakesReserved(p string) bool {
	return r.Upstream == UpstreamCards && p == "/cards" || r.Upstream == UpstreamAliases && p == "/aliases" ||
		slices.Contains(r.ForwardReserved, p)
}

// Withheld returns the reserved paths the route's path_prefix covers that
// the route does not receive (TakesReserved); nil for an outbound route.
func (r *Route) Withheld() []string {
	if r.Direction != Inbound {
		return nil
	}
	var out []string
	for _, p := range ReservedPaths() {
		if (strings.HasPrefix(p, r.PathPrefix) || under(r.PathPrefix, p)) && !r.TakesReserved(p) {
			out = append(out, p)
		}
	}
	return out
}

// Warnings returns what an operator should know about the set that does
// not make it invalid: the reserved paths each inbound route's path_prefix
// covers and that the gateway keeps for itself; an outbound route that
// reveals to any port of its host (no ports), or whose host_regex has a
// '.' that matches any one character (lonelyDot: "api.psp.com" also
// matches "api-psp.com", a name anyone may register), or whose host
// selector takes the hosts of any owner (anyOwner: *.com, .+); one that may
// reveal over cleartext HTTP; a route whose leak guard is off. Card numbers in them are masked.
func (s *Set) Warnings() []string {
	if s == nil {
		return nil
	}
	var out []string
	for _, r := range s.Routes {
		if w := r.Withheld(); len(w) > 0 {
			line := lineOf(r)
			out = append(out, fmt.Sprintf("route %s%s: its path_prefix %s covers the gateway's own %s, which the gateway keeps serving; "+
				"requests there never reach %s (to forward them, list them in forward_reserved)",
				r.ID, line, r.PathPrefix, strings.Join(w, ", "), r.Upstream))
		}
		if r.LeakGuard == LeakOff {
			out = append(out, fmt.Sprintf("route %s%s: leak_guard is off: card numbers in its messages that no filter redacted pass unseen, neither logged nor stopped", r.ID, lineOf(r)))
		}
		if r.Direction == Outbound && r.RevealsInRequests() {
			if len(r.Ports) == 0 {
				out = append(out, fmt.Sprintf("route %s%s: it reveals card data to every port of its host; name the processor's port (ports: [443])", r.ID, lineOf(r)))
			}
			if r.HostRegex != nil && lonelyDot(r.HostRegex.String()) {
				out = append(out, fmt.Sprintf(`route %s%s: its host_regex has a '.' that matches any character, so it reveals card data to look-alike hosts too (api.psp.com matches api-psp.com); write \. for a dot`, r.ID, lineOf(r)))
			}
			if what := anyOwner(r); what != "" {
				out = append(out, fmt.Sprintf("route %s%s: %s, so it reveals card data to hosts of any owner, as host \"*\" would; name the processor's hosts", r.ID, lineOf(r), what))
			}
			if r.UnsafeRevealOverPlainHTTP {
				out = append(out, fmt.Sprintf("route %s%s: unsafe_reveal_over_plain_http is on: card data may cross the network in clear", r.ID, lineOf(r)))
			}
		}
	}
	for i, w := range out {
		out[i] = pan.MaskLoose(w) // an upstream URL or pattern quoted may hold a card number
	}
	return out
}

// ownerProbes are names a host_regex written for a processor's domain does
// not match: a reserved name (RFC 6761) and names under two public
// suffixes anyone may register in.
var ownerProbes = []string{"aliasgate-probe.invalid", "aliasgate-probe.com", "aliasgate-probe.co.uk"}

// anyOwner says why route r's host selector takes names that anyone can
// register ("" when it does not): a "*.suffix" host whose suffix is a
// public suffix (the Public Suffix List: a TLD, co.uk, a hosting
// platform's herokuapp.com), or a host_regex that matches one of
// ownerProbes or a name of its own under the public suffix its pattern
// ends with (regexSuffixProbe: [a-z]+\.io takes every .io domain). Host
// "*" itself is refused for outbound routes at load.
func anyOwner(r *Route) string {
	if r.HostRegex != nil {
		probes := ownerProbes
		if p := regexSuffixProbe(r.HostRegex.String()); p != "" {
			probes = append(slices.Clip(probes), p)
		}
		for _, p := range probes {
			if r.HostRegex.MatchString(p) {
				return fmt.Sprintf("its host_regex matches names of any domain (%s)", p)
			}
		}
		return ""
	}
	if s, ok := strings.CutPrefix(r.Host, "*."); ok {
		if ps, _ := publicsuffix.PublicSuffix(s); ps == s {
			return fmt.Sprintf("its host %s takes every name under the public suffix %s, where anyone can register one", r.Host, s)
		}
	}
	return ""
}

// regexSuffixProbe returns a name under the public suffix that the
// host_regex expr ends with, spelled literally ("[a-z]+\.io": io,
// "(.*)\.stripe\.com": com): a regex that matches it takes names that
// anyone may register there. "" when expr ends with no literal text.
func regexSuffixProbe(expr string) string {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return ""
	}
	tail, _ := literalTail(re)
	name := strings.Trim(strings.ToLower(tail), ".")
	if name == "" {
		return ""
	}
	ps, _ := publicsuffix.PublicSuffix(name)
	return "aliasgateprobe." + ps // letters only: [a-z]+ matches it
}

// literalTail returns the literal text every match of re ends with, as far
// as the parse tree spells it, and whether re is that text whole.
func literalTail(re *syntax.Regexp) (string, bool) {
	switch re.Op {
	case syntax.OpLiteral:
		return string(re.Rune), true
	case syntax.OpEndText, syntax.OpEndLine, syntax.OpBeginText, syntax.OpBeginLine, syntax.OpEmptyMatch:
		return "", true
	case syntax.OpCapture:
		return literalTail(re.Sub[0])
	case syntax.OpConcat:
		tail := ""
		for i := len(re.Sub) - 1; i >= 0; i-- {
			t, whole := literalTail(re.Sub[i])
			tail = t + tail
			if !whole {
				return tail, false
			}
		}
		return tail, true
	}
	return "", false
}

// lineOf is " (line N)" for a route with a known line, else "".
func lineOf(r *Route) string {
	if r.Line > 0 {
		return fmt.Sprintf(" (line %d)", r.Line)
	}
	return ""
}

// lonelyDot reports whether the regular expression pattern has a '.' (any
// character) that is not repeated (under *, +, ? or {n,m}): one that stands
// for the single dot of a host name. A repeated one ("(.*)\.psp\.com") is
// a wildcard written on purpose.
func lonelyDot(pattern string) bool {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return false
	}
	var walk func(re *syntax.Regexp) bool
	walk = func(re *syntax.Regexp) bool {
		switch re.Op {
		case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
			return true
		case syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat:
			if op := re.Sub[0].Op; op == syntax.OpAnyChar || op == syntax.OpAnyCharNotNL {
				return false
			}
		}
		return slices.ContainsFunc(re.Sub, walk)
	}
	return walk(re)
}
