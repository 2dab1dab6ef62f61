package vgs

import (
	"fmt"
	"mime"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// maxConditionDepth bounds the nesting of condition groups.
const maxConditionDepth = 32

// cons is what a condition (group) requires of a message, per native match
// field. A nil field is unconstrained; never means nothing can match.
type cons struct {
	never   bool
	path    []pathAlt // alternatives, any of which matches
	methods []string
	ctypes  []string
	status  []int
}

type pathKind int

const (
	pathEquals pathKind = iota
	pathPrefix
	pathSuffix
	pathRegex
)

type pathAlt struct {
	kind  pathKind
	value string
}

// fields lists the constrained fields, for messages and OR checks.
func (c cons) fields() []string {
	var f []string
	if c.path != nil {
		f = append(f, "PathInfo")
	}
	if c.methods != nil {
		f = append(f, "Method")
	}
	if c.ctypes != nil {
		f = append(f, "ContentType")
	}
	if c.status != nil {
		f = append(f, "Status")
	}
	return f
}

// convertCondition turns an entry's config (condition tree) into a native
// match; why is non-empty when it cannot be expressed exactly.
func convertCondition(config any, phase string) (m *nativeMatch, why string) {
	c, why := condition(config, 0)
	if why != "" {
		return nil, why
	}
	if c.never {
		return nil, "the condition can never match"
	}
	if len(c.ctypes) > 1 {
		return nil, fmt.Sprintf("the condition accepts several content types (%s); a native match has one", strings.Join(c.ctypes, ", "))
	}
	if c.status != nil && phase == "request" {
		return nil, "a Status condition on a request entry never matches"
	}
	m = &nativeMatch{Methods: c.methods, Status: c.status}
	if len(c.ctypes) == 1 {
		m.ContentType = nativeContentType(c.ctypes[0])
	}
	if c.path != nil {
		m.Path = renderPath(c.path)
	}
	if m.empty() {
		return nil, ""
	}
	return m, ""
}

// condition evaluates one node of the VGS condition tree:
//
//	{condition: AND|OR, rules: [node, …]} | {expression: {field, operator, values}}
func condition(v any, depth int) (cons, string) {
	if depth > maxConditionDepth {
		return cons{}, "conditions nested too deeply"
	}
	if v == nil {
		return cons{}, ""
	}
	if l, ok := v.([]any); ok {
		return group("AND", l, depth)
	}
	m, ok := asMap(v)
	if !ok {
		return cons{}, "a condition is neither an object nor a list"
	}
	op := strings.ToUpper(str(m, "condition"))
	if op == "" {
		op = "AND"
	}
	if op != "AND" && op != "OR" {
		return cons{}, fmt.Sprintf("condition %q is neither AND nor OR", op)
	}
	rawRules, _ := field(m, "rules")
	rules := asList(rawRules)
	if e, _ := field(m, "expression"); e != nil {
		em, ok := asMap(e)
		if !ok {
			return cons{}, "an expression is not an object"
		}
		if len(rules) > 0 {
			return cons{}, "a condition has both an expression and rules"
		}
		return expression(em)
	}
	return group(op, rules, depth)
}

func group(op string, rules []any, depth int) (cons, string) {
	kids := make([]cons, 0, len(rules))
	for _, r := range rules {
		k, why := condition(r, depth+1)
		if why != "" {
			return cons{}, why
		}
		kids = append(kids, k)
	}
	if op == "AND" {
		var out cons
		for _, k := range kids {
			var why string
			if out, why = and(out, k); why != "" {
				return cons{}, why
			}
		}
		return out, ""
	}
	return or(kids)
}

func and(a, b cons) (cons, string) {
	out := cons{never: a.never || b.never}
	switch {
	case a.path == nil:
		out.path = b.path
	case b.path == nil || renderPath(a.path) == renderPath(b.path):
		out.path = a.path
	default:
		return cons{}, "two PathInfo conditions joined by AND cannot be expressed (a native match has one path pattern)"
	}
	out.methods = intersect(a.methods, b.methods)
	out.ctypes = intersect(a.ctypes, b.ctypes)
	out.status = intersect(a.status, b.status)
	if (out.methods != nil && len(out.methods) == 0) || (out.ctypes != nil && len(out.ctypes) == 0) || (out.status != nil && len(out.status) == 0) {
		out.never = true
	}
	return out, ""
}

func or(kids []cons) (cons, string) {
	var live []cons
	for _, k := range kids {
		if k.never {
			continue
		}
		if len(k.fields()) == 0 {
			return cons{}, "" // one alternative always matches
		}
		live = append(live, k)
	}
	if len(live) == 0 {
		return cons{never: true}, ""
	}
	var f string
	for _, k := range live {
		kf := k.fields()
		if len(kf) > 1 {
			return cons{}, fmt.Sprintf("OR over a group that constrains %s cannot be expressed", strings.Join(kf, " and "))
		}
		if f != "" && kf[0] != f {
			return cons{}, fmt.Sprintf("OR across different fields (%s, %s) cannot be expressed (a native match is an AND)", f, kf[0])
		}
		f = kf[0]
	}
	var out cons
	for _, k := range live {
		out.path = append(out.path, k.path...)
		out.methods = union(out.methods, k.methods)
		out.ctypes = union(out.ctypes, k.ctypes)
		out.status = union(out.status, k.status)
	}
	slices.Sort(out.status)
	return out, ""
}

func intersect[T comparable](a, b []T) []T {
	if a == nil {
		return b
	}
	if b == nil {
		return a
	}
	out := []T{}
	for _, x := range a {
		if slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

func union[T comparable](a, b []T) []T {
	for _, x := range b {
		if !slices.Contains(a, x) {
			a = append(a, x)
		}
	}
	return a
}

// norm lower-cases a field or operator name and drops '_', '-' and spaces,
// so "begins_with", "beginsWith" and "BEGINS-WITH" compare equal.
func norm(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '_', '-', ' ':
			return -1
		}
		if r >= 'A' && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return r
	}, s)
}

func expression(e map[string]any) (cons, string) {
	fieldName := str(e, "field")
	operator := str(e, "operator")
	raw, ok := field(e, "values")
	if !ok || raw == nil {
		raw, _ = field(e, "value")
	}
	var values []string
	for _, v := range asList(raw) {
		s, ok := scalar(v)
		if !ok {
			return cons{}, fmt.Sprintf("condition %s %s has a value that is not a string or number", fieldName, operator)
		}
		values = append(values, s)
	}
	op := norm(operator)
	desc := fmt.Sprintf("%s %s %s", fieldName, operator, quoteList(values))
	needValues := func() string {
		if len(values) == 0 {
			return fmt.Sprintf("condition %s %s has no value", fieldName, operator)
		}
		return ""
	}
	switch norm(fieldName) {
	case "pathinfo", "path":
		var kind pathKind
		switch op {
		case "equals", "in":
			kind = pathEquals
		case "beginswith":
			kind = pathPrefix
		case "endswith":
			kind = pathSuffix
		case "matches":
			kind = pathRegex
		case "isnotempty":
			return cons{}, "" // a request path is never empty
		default:
			return cons{}, fmt.Sprintf("condition %s cannot be expressed (PathInfo supports equals, begins_with, ends_with and matches)", desc)
		}
		if why := needValues(); why != "" {
			return cons{}, why
		}
		c := cons{path: []pathAlt{}}
		for _, v := range values {
			if kind == pathRegex {
				if why := checkRE2(v); why != "" {
					return cons{}, fmt.Sprintf("condition %s: the pattern %s", desc, why)
				}
			}
			c.path = append(c.path, pathAlt{kind: kind, value: v})
		}
		return c, ""
	case "contenttype":
		switch op {
		case "equals", "in", "mediatypeequals", "equalsmediatype":
		default:
			return cons{}, fmt.Sprintf("condition %s cannot be expressed (ContentType supports equals)", desc)
		}
		if why := needValues(); why != "" {
			return cons{}, why
		}
		c := cons{ctypes: []string{}}
		for _, v := range values {
			mt, ok := mediaType(v)
			if !ok {
				return cons{}, fmt.Sprintf("condition %s: %q is not a media type", desc, v)
			}
			c.ctypes = union(c.ctypes, []string{mt})
		}
		return c, ""
	case "method", "httpmethod", "requestmethod":
		if op != "equals" && op != "in" {
			return cons{}, fmt.Sprintf("condition %s cannot be expressed (Method supports equals)", desc)
		}
		if why := needValues(); why != "" {
			return cons{}, why
		}
		c := cons{methods: []string{}}
		for _, v := range values {
			mv := strings.ToUpper(strings.TrimSpace(v))
			if !httpToken.MatchString(mv) {
				return cons{}, fmt.Sprintf("condition %s: %q is not an HTTP method", desc, v)
			}
			c.methods = union(c.methods, []string{mv})
		}
		return c, ""
	case "status", "statuscode", "responsestatus":
		switch op {
		case "equals", "in", "doesnotequal", "notin", "lessthan", "lessthanorequals", "lessthanorequal",
			"greaterthan", "greaterthanorequal", "greaterthanorequals":
		default:
			return cons{}, fmt.Sprintf("condition %s cannot be expressed (Status supports equals and comparisons)", desc)
		}
		if why := needValues(); why != "" {
			return cons{}, why
		}
		codes := make([]int, 0, len(values))
		for _, v := range values {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || n < 100 || n > 599 {
				return cons{}, fmt.Sprintf("condition %s: %q is not an HTTP status", desc, v)
			}
			codes = append(codes, n)
		}
		var keep func(s int) bool
		single := func() (int, string) {
			if len(codes) != 1 {
				return 0, fmt.Sprintf("condition %s takes one value", desc)
			}
			return codes[0], ""
		}
		switch op {
		case "equals", "in":
			keep = func(s int) bool { return slices.Contains(codes, s) }
		case "doesnotequal", "notin":
			keep = func(s int) bool { return !slices.Contains(codes, s) }
		default:
			n, why := single()
			if why != "" {
				return cons{}, why
			}
			switch op {
			case "lessthan":
				keep = func(s int) bool { return s < n }
			case "lessthanorequals", "lessthanorequal":
				keep = func(s int) bool { return s <= n }
			case "greaterthan":
				keep = func(s int) bool { return s > n }
			default:
				keep = func(s int) bool { return s >= n }
			}
		}
		c := cons{status: []int{}}
		for s := 100; s <= 599; s++ {
			if keep(s) {
				c.status = append(c.status, s)
			}
		}
		if len(c.status) == 0 {
			c.never = true
		}
		return c, ""
	}
	if fieldName == "" {
		return cons{}, "a condition has no field"
	}
	return cons{}, fmt.Sprintf("condition on %s cannot be expressed (a native match has method, path, content type and status)", desc)
}

// httpToken is what a native match accepts as a method.
var httpToken = regexp.MustCompile("^[A-Z]{1,32}$")

// mediaType lower-cases a Content-Type value and drops its parameters.
func mediaType(v string) (string, bool) {
	mt, _, _ := strings.Cut(v, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	parsed, params, err := mime.ParseMediaType(mt)
	return mt, err == nil && len(params) == 0 && parsed == mt && strings.Count(mt, "/") == 1 &&
		!strings.HasPrefix(mt, "/") && !strings.HasSuffix(mt, "/")
}

// nativeContentType names the media types DESIGN.md has short names for.
func nativeContentType(mt string) string {
	switch mt {
	case "application/json":
		return "json"
	case "application/x-www-form-urlencoded":
		return "form"
	case "multipart/form-data":
		return "multipart"
	case "application/xml":
		return "xml"
	}
	return mt
}

// renderPath writes path alternatives as one RE2 pattern on the request
// path.
func renderPath(alts []pathAlt) string {
	if len(alts) == 1 {
		return renderAlt(alts[0])
	}
	same := true
	for _, a := range alts {
		if a.kind != alts[0].kind || a.kind == pathRegex {
			same = false
		}
	}
	if same {
		parts := make([]string, len(alts))
		for i, a := range alts {
			parts[i] = regexp.QuoteMeta(a.value)
		}
		body := "(?:" + strings.Join(parts, "|") + ")"
		switch alts[0].kind {
		case pathEquals:
			return "^" + body + "$"
		case pathPrefix:
			return "^" + body
		default:
			return body + "$"
		}
	}
	parts := make([]string, len(alts))
	for i, a := range alts {
		parts[i] = "(?:" + renderAlt(a) + ")"
	}
	return strings.Join(parts, "|")
}

func renderAlt(a pathAlt) string {
	switch a.kind {
	case pathEquals:
		return "^" + regexp.QuoteMeta(a.value) + "$"
	case pathPrefix:
		return "^" + regexp.QuoteMeta(a.value)
	case pathSuffix:
		return regexp.QuoteMeta(a.value) + "$"
	}
	return a.value
}

func quoteList(vs []string) string {
	if len(vs) == 1 {
		return strconv.Quote(vs[0])
	}
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = strconv.Quote(v)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
