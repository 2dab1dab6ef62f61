package rewrite

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
)

// headerTarget replaces a header's whole value, or the first group of a
// pattern within it, in every value the header has.
type headerTarget struct {
	name    string // canonical
	cgi     string // cgiHeaderName(name)
	pattern *regexp.Regexp
	target  int
}

// reads reports whether the target finds a non-empty value in v: v itself,
// or the pattern's group.
func (t *headerTarget) reads(v string) bool {
	if t.pattern == nil {
		return v != ""
	}
	m := t.pattern.FindStringSubmatchIndex(v)
	return m != nil && m[2] >= 0 && m[3] > m[2]
}

// readsAny reports whether t finds a non-empty value in one of vs.
func (t *headerTarget) readsAny(vs []string) bool {
	for _, v := range vs {
		if t.reads(v) {
			return true
		}
	}
	return false
}

func newHeaderTarget(t TargetSpec, i int) (headerTarget, error) {
	if t.Path == "" {
		return headerTarget{}, fmt.Errorf("rewrite: target %d: empty header name", i)
	}
	h := headerTarget{name: http.CanonicalHeaderKey(t.Path), target: i}
	h.cgi = cgiHeaderName(h.name)
	if t.HeaderPattern != "" {
		re, err := regexp.Compile(t.HeaderPattern)
		if err != nil {
			return headerTarget{}, fmt.Errorf("rewrite: target %d: bad header pattern: %w", i, err)
		}
		if re.NumSubexp() < 1 {
			return headerTarget{}, fmt.Errorf("rewrite: target %d: header pattern needs a group around the value", i)
		}
		h.pattern = re
	}
	return h, nil
}

// headerSpan is a located header value (or part of one).
type headerSpan struct {
	name       string
	index      int // which value of the header
	start, end int
	value      string
	target     int
}

func (p *Program) locateHeaders(h http.Header) []headerSpan {
	var out []headerSpan
	for _, t := range p.headers {
		for i, v := range h[t.name] {
			start, end := 0, len(v)
			if t.pattern != nil {
				m := t.pattern.FindStringSubmatchIndex(v)
				if m == nil || m[2] < 0 {
					continue
				}
				start, end = m[2], m[3]
			}
			out = append(out, headerSpan{name: t.name, index: i, start: start, end: end, value: v[start:end], target: t.target})
		}
	}
	return out
}

func (p *Program) applyHeaders(h http.Header, spans []headerSpan, repl []string, changes []Change) {
	for i, s := range spans {
		if repl[i] == "" {
			continue
		}
		v := h[s.name][s.index]
		h[s.name][s.index] = v[:s.start] + repl[i] + v[s.end:]
		changes[s.target].Count++
	}
}

// LocatesHeader reports whether a header target of the Program whose
// (canonical) name covered does not report finds a non-empty value in h
// (the whole value, or the pattern's group), under its name or another
// spelling of it (headerVariant). covered may be nil.
func (p *Program) LocatesHeader(h http.Header, covered func(name string) bool) bool {
	for i := range p.headers {
		t := &p.headers[i]
		if covered != nil && covered(t.name) {
			continue
		}
		if t.readsAny(h[t.name]) {
			return true
		}
	}
	return p.headerVariant(h, covered) >= 0
}

// headerVariant returns the index in p.headers of a header target that a
// header of h under another name than the target's spells as CGI-style
// servers read names (cgiHeaderName: PHP, Python's WSGI, Ruby's Rack put
// X_Card_Number and X-Card-Number in one HTTP_X_CARD_NUMBER, PHP
// X-Card.Number too), holding a
// value the target reads; -1 when there is none. A target whose name
// covered reports is skipped (covered may be nil).
func (p *Program) headerVariant(h http.Header, covered func(name string) bool) int {
	for name, vs := range h {
		if !strings.ContainsAny(name, "_.") && name == http.CanonicalHeaderKey(name) {
			continue // a canonical name without '_' or '.' is only itself
		}
		c := cgiHeaderName(name)
		for i := range p.headers {
			t := &p.headers[i]
			if name != t.name && c == t.cgi && (covered == nil || !covered(t.name)) && t.readsAny(vs) {
				return i
			}
		}
	}
	return -1
}

// HasHeaderTargets reports whether the Program has header targets.
func (p *Program) HasHeaderTargets() bool { return len(p.headers) > 0 }

// TargetsHeader reports whether the Program has a header target named
// name (canonical form).
func (p *Program) TargetsHeader(name string) bool {
	for _, t := range p.headers {
		if t.name == name {
			return true
		}
	}
	return false
}
