package vgs

import (
	"fmt"
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

// hostPatterns converts a VGS host_endpoint (a Java regexp matched against
// the whole host) into native host patterns: exact hosts, "*.domain" (a
// leading wildcard label, outbound only) or "*" (any host, inbound only). An
// alternation of hosts gives several patterns. A ":port" suffix is dropped
// and returned. why is non-empty when the pattern cannot be expressed.
func hostPatterns(pattern, direction string) (hosts []string, port, why string) {
	p := strings.TrimSpace(pattern)
	if p == "" {
		if direction == inbound {
			return []string{"*"}, "", ""
		}
		return nil, "", "outbound route without host_endpoint (the destination host)"
	}
	var strs []string
	if p == "*" {
		strs = []string{wildcardMark}
	} else {
		if why := javaOnly(p); why != "" {
			return nil, "", fmt.Sprintf("host_endpoint %q %s", pattern, why)
		}
		re, err := syntax.Parse(p, syntax.Perl)
		if err != nil {
			return nil, "", fmt.Sprintf("host_endpoint %q does not compile as a regular expression: %v", pattern, err)
		}
		var ok bool
		strs, ok = enumerate(re, maxHosts)
		if !ok {
			return nil, "", fmt.Sprintf("host_endpoint %q is not a host, an alternation of at most %d hosts, or (.*)\\.domain", pattern, maxHosts)
		}
	}
	for _, s := range strs {
		h, pt, ok := hostString(strings.ToLower(s))
		if !ok {
			return nil, "", fmt.Sprintf("host_endpoint %q is not a host, an alternation of at most %d hosts, or (.*)\\.domain", pattern, maxHosts)
		}
		if pt != "" {
			if port != "" && port != pt {
				return nil, "", fmt.Sprintf("host_endpoint %q restricts hosts to different ports", pattern)
			}
			port = pt
		}
		if direction == inbound && vgsProxyHost(h) {
			// The VGS vault's own proxy hostname (or any host): the traffic
			// now reaches aliasgate under whatever name it is given.
			h = "*"
		}
		if !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	if direction == inbound {
		if slices.Contains(hosts, "*") {
			return []string{"*"}, port, ""
		}
		for _, h := range hosts {
			if strings.HasPrefix(h, "*.") {
				return nil, "", fmt.Sprintf("inbound host_endpoint %q has a wildcard label; inbound routes match a Host exactly or any Host (\"*\")", pattern)
			}
		}
		return hosts, port, ""
	}
	for _, h := range hosts {
		if h == "*" {
			return nil, "", fmt.Sprintf("outbound host_endpoint %q matches every destination; an outbound route needs a host or *.domain", pattern)
		}
	}
	return hosts, port, ""
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
// .+, [^.]+, …) is kept as wildcardMark. An unrepeated '.' outside a class is
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
		switch re.Sub[0].Op {
		case syntax.OpAnyCharNotNL, syntax.OpAnyChar, syntax.OpCharClass:
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
