package vgs

import (
	"fmt"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
)

// maxHosts bounds how many hosts one host_endpoint alternation may expand to.
const maxHosts = 16

// wildcardMark stands for a leading "any characters" run while a host
// pattern is enumerated.
const wildcardMark = "\x00"

// hostSpec is one native host selector: an exact host, "*.domain" or "*"
// (host), or a whole-name regexp (regex), with an optional port.
type hostSpec struct {
	host  string
	regex string
	port  string
}

// String writes the spec as a report names it.
func (h hostSpec) String() string {
	s := h.host
	if h.regex != "" {
		s = "host_regex " + h.regex
	}
	if h.port != "" {
		s += " port " + h.port
	}
	return s
}

// hostPatterns converts a VGS host_endpoint (a Java regexp matched against
// the whole host) into native host selectors: exact hosts, "*.domain" for
// a leading "any characters" run (.*, .+), "*" (any host, inbound only),
// and, for any other pattern (a label written as a character class such
// as [^.]+ or [a-z]+, \w+, …), the pattern itself as a host_regex, which
// the native loader matches against the whole host. An alternation of
// hosts gives several selectors. A ":port" suffix is kept (outbound: the
// route's ports). why is non-empty when the pattern cannot be expressed.
func hostPatterns(pattern, direction string) (hosts []hostSpec, note, why string) {
	hosts, why = hostSpecs(pattern, direction)
	if why == "" && hosts[0].regex == "" && hosts[0].host != "*" && anyDot(pattern) {
		note = fmt.Sprintf("host_endpoint %q has an unescaped '.', which VGS matches against any character; it is taken as a literal dot", pattern)
	}
	return hosts, note, why
}

// vgsHosts returns the hosts VGS matches with the host_endpoint pattern,
// for a pattern hostPatterns reads narrower (an unescaped '.', which VGS
// matches against any character): the pattern as a host_regex, read whole
// as VGS reads it, or every host ("*") where a host_regex cannot say it (a
// port, every destination). Only what a route may stop is read this way;
// its own filters stay on the narrower hosts.
func vgsHosts(pattern, direction string) []hostSpec {
	hosts, why := hostRegex(pattern, strings.TrimSpace(pattern), direction)
	if why != "" {
		return []hostSpec{{host: "*"}}
	}
	return hosts
}

// anyDot reports whether the regexp p has an unrepeated "any character".
func anyDot(p string) bool {
	re, err := syntax.Parse(p, syntax.Perl)
	if err != nil {
		return false
	}
	var walk func(*syntax.Regexp) bool
	walk = func(r *syntax.Regexp) bool {
		switch r.Op {
		case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
			return true
		case syntax.OpStar, syntax.OpPlus:
			if r.Sub[0].Op == syntax.OpAnyChar || r.Sub[0].Op == syntax.OpAnyCharNotNL {
				return false
			}
		}
		return slices.ContainsFunc(r.Sub, walk)
	}
	return walk(re)
}

func hostSpecs(pattern, direction string) (hosts []hostSpec, why string) {
	p := strings.TrimSpace(pattern)
	if p == "" {
		if direction == inbound {
			return []hostSpec{{host: "*"}}, ""
		}
		return nil, "outbound route without host_endpoint (the destination host)"
	}
	var strs []string
	if p == "*" {
		strs = []string{wildcardMark}
	} else {
		if why := javaOnly(p); why != "" {
			return nil, fmt.Sprintf("host_endpoint %q %s", pattern, why)
		}
		re, err := syntax.Parse(p, syntax.Perl)
		if err != nil {
			return nil, fmt.Sprintf("host_endpoint %q does not compile as a regular expression: %v", pattern, err)
		}
		var ok bool
		if strs, ok = enumerate(re, maxHosts); !ok {
			return hostRegex(pattern, p, direction)
		}
	}
	for _, s := range strs {
		h, pt, ok := hostString(strings.ToLower(s))
		if !ok {
			return hostRegex(pattern, p, direction)
		}
		if direction == inbound && vgsProxyHost(h) {
			// The VGS vault's own proxy hostname (or any host): the traffic
			// now reaches aliasgate under whatever name it is given, on
			// whatever port it listens.
			h, pt = "*", ""
		}
		spec := hostSpec{host: h, port: pt}
		if !slices.Contains(hosts, spec) {
			hosts = append(hosts, spec)
		}
	}
	if direction == inbound {
		if slices.Contains(hosts, hostSpec{host: "*"}) {
			return []hostSpec{{host: "*"}}, ""
		}
		for _, h := range hosts {
			if h.port != "" {
				return nil, fmt.Sprintf("inbound host_endpoint %q names a port; an inbound route is picked by its Host whatever port the gateway listens on", pattern)
			}
		}
		return hosts, ""
	}
	for _, h := range hosts {
		if h.host == "*" {
			return nil, fmt.Sprintf("outbound host_endpoint %q matches every destination; an outbound route needs a host, *.domain or a host_regex", pattern)
		}
	}
	return hosts, ""
}

// everyHost are names no host pattern meant for one service matches all of.
var everyHost = []string{"a", "example.com", "a.b.example.org", "xn--80ak6aa92e.com", "1.2.3.4", "localhost"}

// hostRegex keeps a host_endpoint that is not a list of hosts or
// (.*)\.domain as a native host_regex, matched whole and case-insensitively
// as VGS matches it (see doc.go).
func hostRegex(pattern, p, direction string) ([]hostSpec, string) {
	if why := checkRE2(p); why != "" {
		return nil, fmt.Sprintf("host_endpoint %q %s", pattern, why)
	}
	re, err := regexp.Compile(`(?i)^(?:` + p + `)$`)
	if err != nil {
		return nil, fmt.Sprintf("host_endpoint %q does not compile as an RE2 regular expression", pattern)
	}
	if strings.ContainsAny(p, ":/@") || strings.ContainsFunc(p, isControl) || re.MatchString("") {
		return nil, fmt.Sprintf("host_endpoint %q is not a host, an alternation of at most %d hosts, (.*)\\.domain or a host regexp without port or path", pattern, maxHosts)
	}
	every := true
	for _, h := range everyHost {
		every = every && re.MatchString(h)
	}
	if every {
		if direction == inbound {
			return []hostSpec{{host: "*"}}, ""
		}
		return nil, fmt.Sprintf("outbound host_endpoint %q matches every destination; an outbound route needs a host, *.domain or a host_regex", pattern)
	}
	return []hostSpec{{regex: p}}, ""
}

// vgsProxyHost reports whether h is under VGS's own proxy domains, which
// name the vault rather than the merchant.
func vgsProxyHost(h string) bool {
	h = strings.TrimPrefix(h, "*.")
	for _, d := range []string{"verygoodproxy.com", "verygoodproxy.io"} {
		if h == d || strings.HasSuffix(h, "."+d) {
			return true
		}
	}
	return h == "*"
}

// hostString validates one enumerated host: an optional leading wildcard
// mark followed by ".domain", labels of letters, digits, '-' and '_', and an
// optional ":port".
func hostString(s string) (host, port string, ok bool) {
	if s == wildcardMark {
		return "*", "", true
	}
	prefix := ""
	if strings.HasPrefix(s, wildcardMark) {
		if !strings.HasPrefix(s, wildcardMark+".") {
			return "", "", false
		}
		prefix = "*."
		s = s[len(wildcardMark)+1:]
	}
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		port = s[i+1:]
		s = s[:i]
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || port[0] == '0' {
			return "", "", false
		}
	}
	if s == "" || len(s) > 253 {
		return "", "", false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 {
			return "", "", false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return "", "", false
			}
		}
	}
	return prefix + s, port, true
}

// enumerate lists the strings a host regexp matches when that set is finite
// (at most limit strings), except that a repeated "any character" run (.*,
// .+) is kept as wildcardMark. An unrepeated '.' outside a class is
// taken as a literal dot: host patterns are often written unescaped.
func enumerate(re *syntax.Regexp, limit int) ([]string, bool) {
	switch re.Op {
	case syntax.OpLiteral:
		for _, r := range re.Rune {
			if r <= ' ' {
				return nil, false
			}
		}
		return []string{string(re.Rune)}, true
	case syntax.OpEmptyMatch, syntax.OpBeginText, syntax.OpEndText, syntax.OpBeginLine, syntax.OpEndLine:
		return []string{""}, true
	case syntax.OpAnyCharNotNL, syntax.OpAnyChar:
		return []string{"."}, true
	case syntax.OpCapture:
		return enumerate(re.Sub[0], limit)
	case syntax.OpCharClass:
		var out []string
		for i := 0; i+1 < len(re.Rune); i += 2 {
			for r := re.Rune[i]; r <= re.Rune[i+1]; r++ {
				if len(out) >= 4 || r <= ' ' {
					return nil, false
				}
				out = append(out, string(r))
			}
		}
		return out, len(out) > 0
	case syntax.OpStar, syntax.OpPlus:
		// Only "any character" runs stand for "*.": a class ([^.]+,
		// [a-z]+, \w+) limits the label, which host_regex keeps.
		switch re.Sub[0].Op {
		case syntax.OpAnyCharNotNL, syntax.OpAnyChar:
			return []string{wildcardMark}, true
		}
		return nil, false
	case syntax.OpQuest:
		sub, ok := enumerate(re.Sub[0], limit-1)
		if !ok {
			return nil, false
		}
		return append([]string{""}, sub...), true
	case syntax.OpAlternate:
		var out []string
		for _, s := range re.Sub {
			sub, ok := enumerate(s, limit-len(out))
			if !ok {
				return nil, false
			}
			out = append(out, sub...)
			if len(out) > limit {
				return nil, false
			}
		}
		return out, true
	case syntax.OpConcat:
		out := []string{""}
		for _, s := range re.Sub {
			sub, ok := enumerate(s, limit)
			if !ok || len(out)*len(sub) > limit {
				return nil, false
			}
			next := make([]string, 0, len(out)*len(sub))
			for _, a := range out {
				for _, b := range sub {
					next = append(next, a+b)
				}
			}
			out = next
		}
		return out, true
	}
	return nil, false
}
