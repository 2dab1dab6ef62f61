package rewrite

import (
	"fmt"
	"net/http"
	"regexp"
)

// headerTarget replaces a header's whole value, or the first group of a
// pattern within it, in every value the header has.
type headerTarget struct {
	name    string // canonical
	pattern *regexp.Regexp
	target  int
}

func newHeaderTarget(t TargetSpec, i int) (headerTarget, error) {
	if t.Path == "" {
		return headerTarget{}, fmt.Errorf("rewrite: target %d: empty header name", i)
	}
	h := headerTarget{name: http.CanonicalHeaderKey(t.Path), target: i}
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
// (canonical) name covered does not report finds a non-empty value in h:
// the whole value, or the pattern's group. covered may be nil.
func (p *Program) LocatesHeader(h http.Header, covered func(name string) bool) bool {
	for _, t := range p.headers {
		if covered != nil && covered(t.name) {
			continue
		}
		for _, v := range h[t.name] {
			if t.pattern == nil {
				if v != "" {
					return true
				}
				continue
			}
			if m := t.pattern.FindStringSubmatchIndex(v); m != nil && m[2] >= 0 && m[3] > m[2] {
				return true
			}
		}
	}
	return false
}

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
