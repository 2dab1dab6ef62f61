package vgs

import (
	"math/rand/v2"
	"regexp"
	"regexp/syntax"
	"strings"
)

// This file is a small model of how VGS applies its routes, written from
// VGS's public behaviour (its documentation and vgs-satellite, its public
// route engine), independently of the converter. The differential test
// (differential_test.go) checks the converted native routes against it.
//
//   - Routes are tried in the export's order, per direction (outbound:
//     destination_override_endpoint "*"; inbound: anything else).
//   - A route applies to a host when host_endpoint matches the whole host
//     (case-insensitively: host names are), or the whole "host:port"; an
//     inbound route on VGS's own proxy names (verygoodproxy.com/.io), or
//     without host_endpoint, applies to every host (those names are the
//     vault's, which aliasgate now is).
//   - Per phase, the first route that applies and has an entry of that
//     phase whose condition holds wins; all its entries of that phase whose
//     condition holds are applied; no later route is.
//   - Conditions: AND/OR groups (a group without "condition" is an AND), an
//     entry without any condition never applies. PathInfo is the request's
//     path, then "?" and the query when it has one. ContentType is the
//     request's Content-Type header as sent (also in the response phase),
//     absent when it has none. Method is the method as sent. Status is the
//     response's, absent in the request phase. equals and in hold when the
//     value is one of the values; matches is Java's String.matches (the
//     whole value); an absent value satisfies nothing.
//
// eval returns known=false for a construct the model cannot evaluate (a
// field it does not know); the differential test then skips the request.

// modelRoute is one VGS route as the model reads it.
type modelRoute struct {
	label    string
	outbound bool
	anyHost  bool
	host     *regexp.Regexp // whole host or host:port, case-insensitive
	hostErr  bool           // host_endpoint the model cannot compile
	entries  []modelEntry
}

type modelEntry struct {
	id     string
	phase  string // "request", "response" or "" (never applies)
	config any
}

// modelRequest is one exchange the model and the native routes are asked
// about.
type modelRequest struct {
	outbound    bool
	host, port  string
	method      string
	path, query string
	ctype       string // "" when the request has no Content-Type
	status      int
}

func readModel(in []byte) ([]modelRoute, error) {
	docs, err := decodeDocuments(in)
	if err != nil {
		return nil, err
	}
	cands, err := collectRoutes(docs)
	if err != nil {
		return nil, err
	}
	var out []modelRoute
	for _, c := range cands {
		m, ok := asMap(c.value)
		if !ok {
			continue
		}
		attrs, label := routeAttributes(m)
		r := modelRoute{label: label, outbound: str(attrs, "destination_override_endpoint") == "*"}
		he := str(attrs, "host_endpoint")
		switch {
		case !r.outbound && (he == "" || strings.Contains(strings.ToLower(he), "verygoodproxy")):
			r.anyHost = true
		case he == "*":
			r.anyHost = true
		default:
			re, err := regexp.Compile(`(?i)^(?:` + he + `)$`)
			if err != nil {
				r.hostErr = true
			}
			r.host = re
		}
		raw, _ := field(attrs, "entries")
		for _, e := range asList(raw) {
			em, ok := asMap(e)
			if !ok {
				continue
			}
			cfg, _ := field(em, "config")
			r.entries = append(r.entries, modelEntry{id: str(em, "id"), phase: strings.ToLower(str(em, "phase")), config: cfg})
		}
		out = append(out, r)
	}
	return out, nil
}

// applied returns the ids of the entries VGS applies to req in phase, and
// known=false when the model cannot tell.
func modelApplied(routes []modelRoute, req modelRequest, phase string) (ids []string, known bool) {
	for _, r := range routes {
		if r.outbound != req.outbound {
			continue
		}
		if !r.anyHost {
			if r.hostErr {
				return nil, false
			}
			if !r.host.MatchString(req.host) && !r.host.MatchString(req.host+":"+req.port) {
				continue
			}
		}
		for _, e := range r.entries {
			if e.phase != phase {
				continue
			}
			ok, known := modelCondition(e.config, req, phase, 0)
			if !known {
				return nil, false
			}
			if ok {
				ids = append(ids, e.id)
			}
		}
		if len(ids) > 0 {
			return ids, true
		}
	}
	return nil, true
}

func modelCondition(cfg any, req modelRequest, phase string, depth int) (ok, known bool) {
	if depth == 0 && empty(cfg) {
		return false, true
	}
	if depth > maxConditionDepth {
		return false, false
	}
	if l, isList := cfg.([]any); isList {
		return modelGroup("AND", l, req, phase, depth)
	}
	m, isMap := asMap(cfg)
	if !isMap {
		return false, false
	}
	if e, _ := field(m, "expression"); e != nil {
		em, isMap := asMap(e)
		if !isMap {
			return false, false
		}
		return modelExpression(em, req, phase)
	}
	op := strings.ToUpper(str(m, "condition"))
	if op == "" {
		op = "AND"
	}
	rules, _ := field(m, "rules")
	return modelGroup(op, asList(rules), req, phase, depth)
}

func modelGroup(op string, rules []any, req modelRequest, phase string, depth int) (bool, bool) {
	if op != "AND" && op != "OR" {
		return false, false
	}
	for _, r := range rules {
		ok, known := modelCondition(r, req, phase, depth+1)
		if !known {
			return false, false
		}
		if op == "AND" && !ok {
			return false, true
		}
		if op == "OR" && ok {
			return true, true
		}
	}
	return op == "AND", true
}

func modelExpression(e map[string]any, req modelRequest, phase string) (bool, bool) {
	values, ok := expressionValues(e)
	if !ok {
		return false, false
	}
	var value string
	present := true
	switch norm(str(e, "field")) {
	case "pathinfo", "path":
		value = req.path
		if req.query != "" {
			value += "?" + req.query
		}
	case "contenttype":
		value, present = req.ctype, req.ctype != ""
	case "method", "httpmethod", "requestmethod":
		value = req.method
	case "status", "statuscode", "responsestatus":
		if phase != "response" {
			return false, true
		}
		return modelStatus(norm(str(e, "operator")), values, req.status)
	case "querystring":
		value = req.query
	default:
		return false, false
	}
	if !present {
		return false, true
	}
	any := func(f func(v string) bool) bool {
		for _, v := range values {
			if f(v) {
				return true
			}
		}
		return false
	}
	switch norm(str(e, "operator")) {
	case "equals", "in":
		return any(func(v string) bool { return value == v }), true
	case "doesnotequal", "notin":
		return !any(func(v string) bool { return value == v }), true
	case "beginswith":
		return any(func(v string) bool { return strings.HasPrefix(value, v) }), true
	case "doesnotbeginwith":
		return !any(func(v string) bool { return strings.HasPrefix(value, v) }), true
	case "endswith":
		return any(func(v string) bool { return strings.HasSuffix(value, v) }), true
	case "doesnotendwith":
		return !any(func(v string) bool { return strings.HasSuffix(value, v) }), true
	case "isempty":
		return value == "", true
	case "isnotempty":
		return value != "", true
	case "matches":
		for _, v := range values {
			if javaOnly(v) != "" {
				return false, false
			}
			re, err := regexp.Compile(`^(?:` + v + `)$`)
			if err != nil {
				return false, false
			}
			if re.MatchString(value) {
				return true, true
			}
		}
		return false, true
	}
	return false, false
}

func modelStatus(op string, values []string, status int) (bool, bool) {
	var codes []int
	for _, v := range values {
		n := 0
		for _, c := range strings.TrimSpace(v) {
			if c < '0' || c > '9' {
				return false, false
			}
			n = n*10 + int(c-'0')
		}
		codes = append(codes, n)
	}
	has := false
	for _, c := range codes {
		has = has || c == status
	}
	switch op {
	case "equals", "in":
		return has, true
	case "doesnotequal", "notin":
		return !has, true
	}
	if len(codes) != 1 {
		return false, false
	}
	switch op {
	case "lessthan":
		return status < codes[0], true
	case "lessthanorequals", "lessthanorequal":
		return status <= codes[0], true
	case "greaterthan":
		return status > codes[0], true
	case "greaterthanorequal", "greaterthanorequals":
		return status >= codes[0], true
	}
	return false, false
}

// sample returns a string the regexp p matches (or one near it: the
// generator is allowed to miss), for generated requests.
func sample(rng *rand.Rand, p string) string {
	re, err := syntax.Parse(p, syntax.Perl)
	if err != nil {
		return p
	}
	var b strings.Builder
	gen(rng, re.Simplify(), &b, 0)
	return b.String()
}

func gen(rng *rand.Rand, re *syntax.Regexp, b *strings.Builder, depth int) {
	if depth > 20 || b.Len() > 256 {
		return
	}
	switch re.Op {
	case syntax.OpLiteral:
		for _, r := range re.Rune {
			if re.Flags&syntax.FoldCase != 0 && rng.IntN(4) == 0 {
				r = []rune(strings.ToUpper(string(r)))[0]
			}
			b.WriteRune(r)
		}
	case syntax.OpCharClass:
		if len(re.Rune) == 0 {
			return
		}
		// Prefer printable ASCII members; any member will do.
		var pool []rune
		for i := 0; i+1 < len(re.Rune); i += 2 {
			for r := max(re.Rune[i], 0x21); r <= min(re.Rune[i+1], 0x7e); r++ {
				pool = append(pool, r)
			}
		}
		if len(pool) == 0 {
			b.WriteRune(re.Rune[0])
			return
		}
		b.WriteRune(pool[rng.IntN(len(pool))])
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		const chars = "abcxyz019-._/?=&:"
		b.WriteByte(chars[rng.IntN(len(chars))])
	case syntax.OpCapture:
		gen(rng, re.Sub[0], b, depth+1)
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat:
		lo, hi := 0, 3
		switch re.Op {
		case syntax.OpPlus:
			lo = 1
		case syntax.OpQuest:
			hi = 1
		case syntax.OpRepeat:
			lo, hi = min(re.Min, 8), re.Max
			if hi < 0 || hi > lo+2 {
				hi = lo + 2
			}
		}
		for range lo + rng.IntN(hi-lo+1) {
			gen(rng, re.Sub[0], b, depth+1)
		}
	case syntax.OpConcat:
		for _, s := range re.Sub {
			gen(rng, s, b, depth+1)
		}
	case syntax.OpAlternate:
		gen(rng, re.Sub[rng.IntN(len(re.Sub))], b, depth+1)
	}
}
