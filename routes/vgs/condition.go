package vgs

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/aliasgate/aliasgate/routes"
)

// maxConditionDepth bounds the nesting of condition groups.
const maxConditionDepth = 32

// cons is what a condition (group) requires of a message, per native match
// field. A nil field is unconstrained; never means nothing can match; notes
// list the values dropped because no native match says them (the result
// then matches less than VGS would).
type cons struct {
	never   bool
	path    []pathAlt // alternatives, any of which matches
	methods []string
	ctypes  []string // whole Content-Type header values
	status  []int
	notes   []string
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

// matches reports whether the VGS PathInfo target (path, and ?query when
// there is one) satisfies a.
func (a pathAlt) matches(target string) bool {
	switch a.kind {
	case pathEquals:
		return target == a.value
	case pathPrefix:
		return strings.HasPrefix(target, a.value)
	case pathSuffix:
		return strings.HasSuffix(target, a.value)
	}
	re, err := regexp.Compile(`^(?:` + a.value + `)$`)
	return err == nil && re.MatchString(target)
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
// match. never is true when VGS never applies the entry (no condition at
// all, or one nothing satisfies); notes list what was narrowed; why is
// non-empty when the condition cannot be expressed.
func convertCondition(config any, phase string) (m *nativeMatch, never bool, notes []string, why string) {
	if empty(config) {
		return nil, true, nil, ""
	}
	c, why := condition(config, 0)
	if why != "" {
		return nil, false, nil, why
	}
	if c.never {
		return nil, true, c.notes, ""
	}
	if c.status != nil && phase == "request" {
		return nil, true, c.notes, ""
	}
	m = &nativeMatch{Methods: c.methods, Status: c.status, RequestContentType: c.ctypes}
	if c.path != nil {
		m.PathInfo = renderPath(c.path)
	}
	if m.empty() {
		return nil, false, c.notes, ""
	}
	return m, false, c.notes, ""
}

// convertConditions is convertCondition, with one match per entry filter.
// Where an OR of groups cannot be one native match ((PathInfo /a AND
// Method POST) OR (PathInfo /b AND Method PUT)), it gives one match per
// group when no two groups can hold at once (their AND never matches): the
// entry's filters then apply exactly where one group holds, and never two
// of them to one message. A nil match is a filter without one.
func convertConditions(config any, phase string) (ms []*nativeMatch, never bool, notes []string, why string) {
	m, never, notes, why := convertCondition(config, phase)
	if why == "" {
		if !never {
			ms = []*nativeMatch{m}
		}
		return ms, never, notes, ""
	}
	cm, ok := asMap(config)
	if !ok || !strings.EqualFold(str(cm, "condition"), "OR") {
		return nil, false, nil, why
	}
	if e, _ := field(cm, "expression"); e != nil {
		return nil, false, nil, why
	}
	rules, _ := field(cm, "rules")
	var live []cons
	notes = nil
	for _, r := range asList(rules) {
		k, w := condition(r, 1)
		if w != "" {
			return nil, false, nil, why
		}
		notes = append(notes, k.notes...)
		if k.never || k.status != nil && phase == "request" {
			continue
		}
		live = append(live, k)
	}
	for i := range live {
		for j := i + 1; j < len(live); j++ {
			if both, w := and(live[i], live[j]); w != "" || !both.never {
				return nil, false, nil, why
			}
		}
	}
	if len(live) == 0 {
		return nil, true, notes, ""
	}
	for _, k := range live {
		m := &nativeMatch{Methods: k.methods, Status: k.status, RequestContentType: k.ctypes}
		if k.path != nil {
			m.PathInfo = renderPath(k.path)
		}
		if m.empty() {
			m = nil
		}
		ms = append(ms, m)
	}
	return ms, false, notes, ""
}

// empty reports whether an entry's config holds no condition at all: VGS
// never applies such an entry (see doc.go).
func empty(config any) bool {
	if config == nil {
		return true
	}
	if l, ok := config.([]any); ok {
		return len(l) == 0
	}
	m, ok := asMap(config)
	if !ok {
		return false
	}
	rules, _ := field(m, "rules")
	e, _ := field(m, "expression")
	return e == nil && len(asList(rules)) == 0
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
	out := cons{never: a.never || b.never, notes: append(append([]string(nil), a.notes...), b.notes...)}
	switch {
	case a.path == nil:
		out.path = b.path
	case b.path == nil || renderPath(a.path) == renderPath(b.path):
		out.path = a.path
	default:
		// Two path conditions: exact when one of them is a list of
		// values, which the other then filters.
		fin, other := a.path, b.path
		if !finite(fin) {
			fin, other = other, fin
		}
		if !finite(fin) {
			return cons{}, "two PathInfo conditions joined by AND, neither of them equals, cannot be expressed (a native match has one path pattern)"
		}
		out.path = []pathAlt{}
		for _, f := range fin {
			if slices.ContainsFunc(other, func(o pathAlt) bool { return o.matches(f.value) }) {
				out.path = append(out.path, f)
			}
		}
		if len(out.path) == 0 {
			out.never = true
		}
	}
	out.methods = intersect(a.methods, b.methods)
	out.ctypes = intersect(a.ctypes, b.ctypes)
	out.status = intersect(a.status, b.status)
	if (out.methods != nil && len(out.methods) == 0) || (out.ctypes != nil && len(out.ctypes) == 0) || (out.status != nil && len(out.status) == 0) {
		out.never = true
	}
	return out, ""
}

// finite reports whether every alternative is an equals.
func finite(alts []pathAlt) bool {
	for _, a := range alts {
		if a.kind != pathEquals {
			return false
		}
	}
	return true
}

func or(kids []cons) (cons, string) {
	var live []cons
	for _, k := range kids {
		if k.never {
			continue
		}
		if len(k.fields()) == 0 {
			return cons{notes: k.notes}, "" // one alternative always matches
		}
		live = append(live, k)
	}
	if len(live) == 0 {
		var notes []string
		for _, k := range kids {
			notes = append(notes, k.notes...)
		}
		return cons{never: true, notes: notes}, ""
	}
	if out, ok := factor(live); ok {
		for _, k := range kids {
			out.notes = append(out.notes, k.notes...)
		}
		return out, ""
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
	for _, k := range kids {
		out.notes = append(out.notes, k.notes...)
	}
	for _, k := range live {
		out.path = append(out.path, k.path...)
		out.methods = union(out.methods, k.methods)
		out.ctypes = union(out.ctypes, k.ctypes)
		out.status = union(out.status, k.status)
	}
	slices.Sort(out.status)
	return out, ""
}

// factor writes an OR of groups that constrain the same fields and agree
// on all of them but one as one group, that field's values united:
// (PathInfo /a AND Method POST) OR (PathInfo /b AND Method POST) is
// PathInfo /a|/b AND Method POST, exactly. ok is false for other ORs.
func factor(live []cons) (cons, bool) {
	fields := live[0].fields()
	differ := ""
	for _, k := range live[1:] {
		if !slices.Equal(k.fields(), fields) {
			return cons{}, false
		}
		for _, f := range fields {
			if !sameField(live[0], k, f) {
				if differ != "" && differ != f {
					return cons{}, false
				}
				differ = f
			}
		}
	}
	out := cons{
		path:    slices.Clone(live[0].path),
		methods: slices.Clone(live[0].methods),
		ctypes:  slices.Clone(live[0].ctypes),
		status:  slices.Clone(live[0].status),
	}
	for _, k := range live[1:] {
		switch differ {
		case "PathInfo":
			out.path = append(out.path, k.path...)
		case "Method":
			out.methods = union(out.methods, k.methods)
		case "ContentType":
			out.ctypes = union(out.ctypes, k.ctypes)
		case "Status":
			out.status = union(out.status, k.status)
		}
	}
	slices.Sort(out.status)
	return out, true
}

// sameField reports whether two groups constrain field f alike.
func sameField(a, b cons, f string) bool {
	same := func(x, y []string) bool {
		return len(x) == len(y) && !slices.ContainsFunc(x, func(v string) bool { return !slices.Contains(y, v) })
	}
	switch f {
	case "PathInfo":
		return renderPath(a.path) == renderPath(b.path)
	case "Method":
		return same(a.methods, b.methods)
	case "ContentType":
		return same(a.ctypes, b.ctypes)
	}
	return slices.Equal(a.status, b.status)
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
	values, ok := expressionValues(e)
	if !ok {
		return cons{}, fmt.Sprintf("condition %s %s has a value that is not a string or number", fieldName, operator)
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
		case "isempty":
			return cons{never: true}, ""
		default:
			return cons{}, fmt.Sprintf("condition %s cannot be expressed (PathInfo supports equals, begins_with, ends_with and matches)", desc)
		}
		if why := needValues(); why != "" {
			return cons{}, why
		}
		c := cons{path: []pathAlt{}}
		for _, v := range values {
			switch kind {
			case pathRegex:
				if why := checkRE2(v); why != "" {
					return cons{}, fmt.Sprintf("condition %s: the pattern %s", desc, why)
				}
			case pathEquals, pathPrefix:
				p, _, _ := strings.Cut(v, "?")
				if cp, err := routes.CanonicalPath(p); strings.HasPrefix(p, "/") && (err != nil || cp != p) {
					c.notes = append(c.notes, fmt.Sprintf("condition %s: aliasgate matches the canonical path (merged slashes, . and .. resolved, ; parameters dropped), which is never %q", desc, p))
				}
			}
			c.path = append(c.path, pathAlt{kind: kind, value: v})
		}
		return c, ""
	case "contenttype":
		// VGS compares the request's whole Content-Type header (also on
		// a response entry), byte for byte.
		if op != "equals" && op != "in" {
			return cons{}, fmt.Sprintf("condition %s cannot be expressed (ContentType supports equals)", desc)
		}
		if why := needValues(); why != "" {
			return cons{}, why
		}
		c := cons{ctypes: []string{}}
		for _, v := range values {
			if v == "" || v != strings.TrimSpace(v) || strings.ContainsFunc(v, isControl) {
				c.notes = append(c.notes, fmt.Sprintf("condition %s: %q is never a Content-Type header value as aliasgate reads it (empty, surrounding spaces or control characters); dropped", desc, v))
				continue
			}
			c.ctypes = union(c.ctypes, []string{v})
		}
		if len(c.ctypes) == 0 {
			c.never = true
		}
		return c, ""
	case "method", "httpmethod", "requestmethod":
		if op != "equals" && op != "in" {
			return cons{}, fmt.Sprintf("condition %s cannot be expressed (Method supports equals)", desc)
		}
		if why := needValues(); why != "" {
			return cons{}, why
		}
		// VGS compares the method exactly: "post" is only ever a
		// request whose method is written "post", which native methods
		// (upper case) cannot name.
		c := cons{methods: []string{}}
		for _, v := range values {
			if !httpToken.MatchString(v) {
				c.notes = append(c.notes, fmt.Sprintf("condition %s: %q is not an upper-case method; VGS matches only a request whose method is written exactly so, which a native match cannot name; dropped", desc, v))
				continue
			}
			c.methods = union(c.methods, []string{v})
		}
		if len(c.methods) == 0 {
			c.never = true
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

// expressionValues reads an expression's values (or value): a list or one
// value, each a string or number; ok is false for another kind of value.
func expressionValues(e map[string]any) (values []string, ok bool) {
	raw, present := field(e, "values")
	if !present || raw == nil {
		raw, _ = field(e, "value")
	}
	for _, v := range asList(raw) {
		s, ok := scalar(v)
		if !ok {
			return nil, false
		}
		values = append(values, s)
	}
	return values, true
}

// httpToken is what a native match accepts as a method.
var httpToken = regexp.MustCompile("^[A-Z]{1,32}$")

// renderPath writes path alternatives as one native path_info pattern,
// which must match the whole request target (path, and ?query when there
// is one), as VGS's PathInfo does.
func renderPath(alts []pathAlt) string {
	parts := make([]string, len(alts))
	for i, a := range alts {
		switch a.kind {
		case pathEquals:
			parts[i] = regexp.QuoteMeta(a.value)
		case pathPrefix:
			parts[i] = regexp.QuoteMeta(a.value) + `(?s:.*)`
		case pathSuffix:
			parts[i] = `(?s:.*)` + regexp.QuoteMeta(a.value)
		default:
			parts[i] = `(?:` + a.value + `)`
		}
	}
	slices.Sort(parts)
	parts = slices.Compact(parts)
	return strings.Join(parts, "|")
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
