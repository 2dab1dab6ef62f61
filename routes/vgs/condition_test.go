package vgs

import (
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// rule builds a VGS rule {expression: {field, operator, type, values}}.
func rule(field, operator string, values any) map[string]any {
	typ := "string"
	if field == "Status" {
		typ = "number"
	}
	return map[string]any{"condition": nil, "rules": nil, "expression": map[string]any{
		"field": field, "operator": operator, "type": typ, "values": values,
	}}
}

func ruleGroup(cond string, rules ...map[string]any) map[string]any {
	l := make([]any, len(rules))
	for i, r := range rules {
		l[i] = r
	}
	return map[string]any{"condition": cond, "expression": nil, "rules": l}
}

// roundTrip passes a Go value through YAML, so tests see what a decoded
// export holds.
func roundTrip(t *testing.T, v any) any {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := yaml.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestConditionsBecomeMatch(t *testing.T) {
	const (
		any_   = `(?s:.*)`
		exact  = ""
		narrow = "narrow" // a note is expected
	)
	tests := []struct {
		name   string
		config any
		phase  string
		want   *nativeMatch
		never  bool
		note   string // "narrow": at least one note
		why    string
	}{
		{"no config", nil, "request", nil, true, exact, ""},
		{"no rules", ruleGroup("AND"), "request", nil, true, exact, ""},
		{"empty list", []any{}, "request", nil, true, exact, ""},
		{"PathInfo equals", ruleGroup("AND", rule("PathInfo", "equals", []any{"/post"})), "request", &nativeMatch{PathInfo: "/post"}, false, exact, ""},
		{"PathInfo equals with a query", ruleGroup("AND", rule("PathInfo", "equals", []any{"/charge?version=2"})), "request", &nativeMatch{PathInfo: `/charge\?version=2`}, false, exact, ""},
		{"PathInfo equals quotes meta", ruleGroup("AND", rule("PathInfo", "equals", []any{"/v1/cards.json"})), "request", &nativeMatch{PathInfo: `/v1/cards\.json`}, false, exact, ""},
		{"PathInfo value as a string", ruleGroup("AND", rule("PathInfo", "equals", "/post")), "request", &nativeMatch{PathInfo: "/post"}, false, exact, ""},
		{"PathInfo begins_with", ruleGroup("AND", rule("PathInfo", "begins_with", []any{"/api/"})), "request", &nativeMatch{PathInfo: "/api/" + any_}, false, exact, ""},
		{"PathInfo beginsWith", ruleGroup("AND", rule("PathInfo", "beginsWith", []any{"/api/"})), "request", &nativeMatch{PathInfo: "/api/" + any_}, false, exact, ""},
		{"PathInfo ends_with", ruleGroup("AND", rule("PathInfo", "ends_with", []any{".json"})), "request", &nativeMatch{PathInfo: any_ + `\.json`}, false, exact, ""},
		{"PathInfo matches is whole", ruleGroup("AND", rule("PathInfo", "matches", []any{`/users/.+/cards`})), "request", &nativeMatch{PathInfo: `(?:/users/.+/cards)`}, false, exact, ""},
		{"PathInfo equals a path never canonical", ruleGroup("AND", rule("PathInfo", "equals", []any{"/a//b"})), "request", &nativeMatch{PathInfo: "/a//b"}, false, narrow, ""},
		{"PathInfo is_not_empty", ruleGroup("AND", rule("PathInfo", "is_not_empty", nil)), "request", nil, false, exact, ""},
		{"PathInfo is_empty", ruleGroup("AND", rule("PathInfo", "is_empty", nil)), "request", nil, true, exact, ""},
		{"ContentType is the header as written", ruleGroup("AND", rule("ContentType", "equals", []any{"application/json"})), "request", &nativeMatch{RequestContentType: []string{"application/json"}}, false, exact, ""},
		{"ContentType keeps parameters and case", ruleGroup("AND", rule("ContentType", "equals", []any{"Application/JSON; charset=UTF-8"})), "request", &nativeMatch{RequestContentType: []string{"Application/JSON; charset=UTF-8"}}, false, exact, ""},
		{"ContentType on a response entry", ruleGroup("AND", rule("ContentType", "equals", []any{"text/xml"})), "response", &nativeMatch{RequestContentType: []string{"text/xml"}}, false, exact, ""},
		{"ContentType OR", ruleGroup("OR", rule("ContentType", "equals", []any{"application/xml"}), rule("ContentType", "equals", []any{"text/xml"})), "request", &nativeMatch{RequestContentType: []string{"application/xml", "text/xml"}}, false, exact, ""},
		{"ContentType with spaces never matches", ruleGroup("AND", rule("ContentType", "equals", []any{" text/xml"})), "request", nil, true, narrow, ""},
		{"Method", ruleGroup("AND", rule("Method", "equals", []any{"POST"})), "request", &nativeMatch{Methods: []string{"POST"}}, false, exact, ""},
		{"Method lower case is dropped", ruleGroup("AND", rule("Method", "in", []any{"post", "PUT"})), "request", &nativeMatch{Methods: []string{"PUT"}}, false, narrow, ""},
		{"Method lower case only", ruleGroup("AND", rule("Method", "equals", []any{"post"})), "request", nil, true, narrow, ""},
		{"HttpMethod", ruleGroup("AND", rule("HttpMethod", "equals", []any{"PUT"})), "request", &nativeMatch{Methods: []string{"PUT"}}, false, exact, ""},
		{"Status number", ruleGroup("AND", rule("Status", "equals", []any{200})), "response", &nativeMatch{Status: []int{200}}, false, exact, ""},
		{"Status string", ruleGroup("AND", rule("Status", "equals", "201")), "response", &nativeMatch{Status: []int{201}}, false, exact, ""},
		{"Status greater_than_or_equal", ruleGroup("AND", rule("Status", "greater_than_or_equal", []any{590})), "response", &nativeMatch{Status: []int{590, 591, 592, 593, 594, 595, 596, 597, 598, 599}}, false, exact, ""},
		{"Status less_than", ruleGroup("AND", rule("Status", "less_than", []any{103})), "response", &nativeMatch{Status: []int{100, 101, 102}}, false, exact, ""},
		{"Status on request never matches", ruleGroup("AND", rule("Status", "equals", []any{200})), "request", nil, true, exact, ""},
		{"AND of fields", ruleGroup("AND",
			rule("PathInfo", "equals", []any{"/checkout"}),
			rule("ContentType", "equals", []any{"application/json"}),
			rule("Method", "equals", []any{"POST"})), "request",
			&nativeMatch{Methods: []string{"POST"}, PathInfo: "/checkout", RequestContentType: []string{"application/json"}}, false, exact, ""},
		{"missing condition is AND", map[string]any{"rules": []any{
			rule("PathInfo", "equals", []any{"/a"}), rule("Method", "equals", []any{"POST"})}}, "request",
			&nativeMatch{Methods: []string{"POST"}, PathInfo: "/a"}, false, exact, ""},
		{"OR of paths", ruleGroup("OR", rule("PathInfo", "equals", []any{"/b"}), rule("PathInfo", "equals", []any{"/a"})), "request", &nativeMatch{PathInfo: "/a|/b"}, false, exact, ""},
		{"OR of mixed path operators", ruleGroup("OR", rule("PathInfo", "matches", []any{"/x|/y"}), rule("PathInfo", "begins_with", []any{"/z"})), "request", &nativeMatch{PathInfo: "(?:/x|/y)|/z" + any_}, false, exact, ""},
		{"OR of methods", ruleGroup("OR", rule("Method", "equals", []any{"POST"}), rule("Method", "equals", []any{"PUT"})), "request", &nativeMatch{Methods: []string{"POST", "PUT"}}, false, exact, ""},
		{"OR of statuses", ruleGroup("OR", rule("Status", "equals", []any{201}), rule("Status", "equals", []any{200})), "response", &nativeMatch{Status: []int{200, 201}}, false, exact, ""},
		{"OR with an always-true branch", ruleGroup("OR", rule("PathInfo", "equals", []any{"/a"}), ruleGroup("AND", rule("PathInfo", "is_not_empty", nil))), "request", nil, false, exact, ""},
		{"nested OR in AND", ruleGroup("AND",
			rule("ContentType", "equals", []any{"application/json"}),
			ruleGroup("OR", rule("PathInfo", "equals", []any{"/a"}), rule("PathInfo", "equals", []any{"/b"}))), "request",
			&nativeMatch{PathInfo: "/a|/b", RequestContentType: []string{"application/json"}}, false, exact, ""},
		{"AND of methods intersects", ruleGroup("AND", rule("Method", "in", []any{"POST", "PUT"}), rule("Method", "equals", []any{"PUT"})), "request", &nativeMatch{Methods: []string{"PUT"}}, false, exact, ""},
		{"same path twice", ruleGroup("AND", rule("PathInfo", "equals", []any{"/a"}), rule("PathInfo", "equals", []any{"/a"})), "request", &nativeMatch{PathInfo: "/a"}, false, exact, ""},
		{"equals ANDed with a prefix filters the values", ruleGroup("AND", rule("PathInfo", "in", []any{"/a/1", "/b/1"}), rule("PathInfo", "begins_with", []any{"/a/"})), "request", &nativeMatch{PathInfo: "/a/1"}, false, exact, ""},
		{"equals ANDed with a regexp that refuses it", ruleGroup("AND", rule("PathInfo", "equals", []any{"/a/x"}), rule("PathInfo", "matches", []any{`/a/\d+`})), "request", nil, true, exact, ""},
		{"bare list of rules", []any{rule("Method", "equals", []any{"POST"})}, "request", &nativeMatch{Methods: []string{"POST"}}, false, exact, ""},
		{"methods never agree", ruleGroup("AND", rule("Method", "equals", []any{"POST"}), rule("Method", "equals", []any{"GET"})), "request", nil, true, exact, ""},

		{"OR of groups that differ in one field", ruleGroup("OR",
			ruleGroup("AND", rule("PathInfo", "equals", []any{"/a"}), rule("ContentType", "equals", []any{"application/json"})),
			ruleGroup("AND", rule("ContentType", "equals", []any{"application/json"}), rule("PathInfo", "begins_with", []any{"/b/"}))), "request",
			&nativeMatch{PathInfo: "/a|/b/" + any_, RequestContentType: []string{"application/json"}}, false, exact, ""},
		{"OR of groups that differ in the method", ruleGroup("OR",
			ruleGroup("AND", rule("PathInfo", "equals", []any{"/a"}), rule("Method", "equals", []any{"POST"})),
			ruleGroup("AND", rule("PathInfo", "equals", []any{"/a"}), rule("Method", "equals", []any{"PUT"}))), "request",
			&nativeMatch{Methods: []string{"POST", "PUT"}, PathInfo: "/a"}, false, exact, ""},
		{"OR of groups that differ in the status", ruleGroup("OR",
			ruleGroup("AND", rule("PathInfo", "equals", []any{"/a"}), rule("Status", "equals", []any{201})),
			ruleGroup("AND", rule("PathInfo", "equals", []any{"/a"}), rule("Status", "equals", []any{200}))), "response",
			&nativeMatch{PathInfo: "/a", Status: []int{200, 201}}, false, exact, ""},
		{"OR of equal groups", ruleGroup("OR",
			ruleGroup("AND", rule("PathInfo", "equals", []any{"/a"}), rule("Method", "equals", []any{"POST"})),
			ruleGroup("AND", rule("Method", "equals", []any{"POST"}), rule("PathInfo", "equals", []any{"/a"}))), "request",
			&nativeMatch{Methods: []string{"POST"}, PathInfo: "/a"}, false, exact, ""},
		{"OR of groups that differ in two fields", ruleGroup("OR",
			ruleGroup("AND", rule("PathInfo", "equals", []any{"/a"}), rule("Method", "equals", []any{"POST"})),
			ruleGroup("AND", rule("PathInfo", "equals", []any{"/b"}), rule("Method", "equals", []any{"PUT"}))), "request", nil, false, exact, "OR over a group"},
		{"OR across fields", ruleGroup("OR", rule("PathInfo", "equals", []any{"/a"}), rule("Method", "equals", []any{"POST"})), "request", nil, false, exact, "OR across different fields"},
		{"OR over an AND group", ruleGroup("OR", rule("PathInfo", "equals", []any{"/a"}),
			ruleGroup("AND", rule("PathInfo", "equals", []any{"/b"}), rule("Method", "equals", []any{"POST"}))), "request", nil, false, exact, "OR over a group"},
		{"two open paths ANDed", ruleGroup("AND", rule("PathInfo", "begins_with", []any{"/a"}), rule("PathInfo", "ends_with", []any{".json"})), "request", nil, false, exact, "two PathInfo conditions"},
		{"Header field", ruleGroup("AND", rule("Header", "equals", []any{"X-Api-Version: 2"})), "request", nil, false, exact, "condition on Header"},
		{"QueryString field", ruleGroup("AND", rule("QueryString", "equals", []any{"a=b"})), "request", nil, false, exact, "condition on QueryString"},
		{"no field", ruleGroup("AND", rule("", "equals", []any{"a"})), "request", nil, false, exact, "no field"},
		{"PathInfo does_not_equal", ruleGroup("AND", rule("PathInfo", "does_not_equal", []any{"/a"})), "request", nil, false, exact, "cannot be expressed"},
		{"PathInfo does_not_begin_with", ruleGroup("AND", rule("PathInfo", "does_not_begin_with", []any{"/a"})), "request", nil, false, exact, "cannot be expressed"},
		{"PathInfo lookahead", ruleGroup("AND", rule("PathInfo", "matches", []any{"/(?!admin)"})), "request", nil, false, exact, "lookahead"},
		{"PathInfo without value", ruleGroup("AND", rule("PathInfo", "equals", nil)), "request", nil, false, exact, "has no value"},
		{"ContentType begins_with", ruleGroup("AND", rule("ContentType", "begins_with", []any{"multipart/"})), "request", nil, false, exact, "cannot be expressed"},
		{"ContentType media_type_equals", ruleGroup("AND", rule("ContentType", "media_type_equals", []any{"application/json"})), "request", nil, false, exact, "cannot be expressed"},
		{"Method does_not_equal", ruleGroup("AND", rule("Method", "does_not_equal", []any{"GET"})), "request", nil, false, exact, "cannot be expressed"},
		{"Status not a code", ruleGroup("AND", rule("Status", "equals", []any{"OK"})), "response", nil, false, exact, "not an HTTP status"},
		{"Status matches", ruleGroup("AND", rule("Status", "matches", []any{"2.."})), "response", nil, false, exact, "cannot be expressed"},
		{"Status comparison of two values", ruleGroup("AND", rule("Status", "less_than", []any{300, 400})), "response", nil, false, exact, "takes one value"},
		{"unknown combinator", ruleGroup("XOR", rule("Method", "equals", []any{"POST"})), "request", nil, false, exact, "neither AND nor OR"},
		{"expression and rules", map[string]any{"condition": "AND", "expression": map[string]any{"field": "Method", "operator": "equals", "values": []any{"POST"}},
			"rules": []any{rule("PathInfo", "equals", []any{"/a"})}}, "request", nil, false, exact, "both an expression and rules"},
		{"expression not an object", map[string]any{"expression": "PathInfo == /a"}, "request", nil, false, exact, "not an object"},
		{"value not a scalar", ruleGroup("AND", rule("PathInfo", "equals", []any{map[string]any{"a": 1}})), "request", nil, false, exact, "not a string or number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, never, notes, why := convertCondition(roundTrip(t, tt.config), tt.phase)
			if tt.why != "" {
				if !strings.Contains(why, tt.why) {
					t.Fatalf("reason %q, want one containing %q (match %+v)", why, tt.why, got)
				}
				return
			}
			if why != "" || !reflect.DeepEqual(got, tt.want) || never != tt.never || (len(notes) > 0) != (tt.note == narrow) {
				t.Fatalf("got %+v, never %v, notes %q, %q; want %+v, never %v, note %q", got, never, notes, why, tt.want, tt.never, tt.note)
			}
		})
	}
}

// An OR of groups that one native match cannot say gives one match per
// group when no two groups can hold at once, and is refused otherwise.
func TestOrOfDisjointGroupsGivesOneMatchEach(t *testing.T) {
	post := rule("Method", "equals", []any{"POST"})
	tests := []struct {
		name   string
		config any
		phase  string
		want   []*nativeMatch
		why    string
	}{
		{"methods differ", ruleGroup("OR",
			ruleGroup("AND", rule("PathInfo", "equals", []any{"/a"}), post),
			ruleGroup("AND", rule("PathInfo", "equals", []any{"/b"}), rule("Method", "equals", []any{"PUT"}))), "request",
			[]*nativeMatch{{Methods: []string{"POST"}, PathInfo: "/a"}, {Methods: []string{"PUT"}, PathInfo: "/b"}}, ""},
		{"paths differ", ruleGroup("OR",
			ruleGroup("AND", rule("PathInfo", "equals", []any{"/a"}), post),
			ruleGroup("AND", rule("PathInfo", "begins_with", []any{"/b/"}), rule("ContentType", "equals", []any{"text/xml"}))), "request",
			[]*nativeMatch{{Methods: []string{"POST"}, PathInfo: "/a"}, {PathInfo: "/b/(?s:.*)", RequestContentType: []string{"text/xml"}}}, ""},
		{"a group that never holds on a request", ruleGroup("OR",
			ruleGroup("AND", rule("PathInfo", "equals", []any{"/a"}), post),
			ruleGroup("AND", rule("Status", "equals", []any{200}), rule("Method", "equals", []any{"PUT"}))), "request",
			[]*nativeMatch{{Methods: []string{"POST"}, PathInfo: "/a"}}, ""},
		{"groups that may both hold", ruleGroup("OR",
			ruleGroup("AND", rule("PathInfo", "equals", []any{"/a"}), post),
			ruleGroup("AND", rule("PathInfo", "begins_with", []any{"/a"}), rule("ContentType", "equals", []any{"text/xml"}))), "request",
			nil, "OR over a group"},
		{"open paths", ruleGroup("OR",
			ruleGroup("AND", rule("PathInfo", "begins_with", []any{"/a"}), post),
			ruleGroup("AND", rule("PathInfo", "ends_with", []any{".x"}), rule("ContentType", "equals", []any{"text/xml"}))), "request",
			nil, "OR over a group"},
		{"OR inside AND", ruleGroup("AND", rule("ContentType", "equals", []any{"text/xml"}), ruleGroup("OR",
			ruleGroup("AND", rule("PathInfo", "equals", []any{"/a"}), post),
			ruleGroup("AND", rule("PathInfo", "equals", []any{"/b"}), rule("Method", "equals", []any{"PUT"})))), "request",
			nil, "OR over a group"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, never, _, why := convertConditions(roundTrip(t, tt.config), tt.phase)
			if tt.why != "" {
				if !strings.Contains(why, tt.why) || got != nil {
					t.Fatalf("got %+v, %q; want a reason containing %q", got, why, tt.why)
				}
				return
			}
			if why != "" || never || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, never %v, %q; want %+v", got, never, why, tt.want)
			}
		})
	}
}

func TestConditionsNestedTooDeeplyAreRefused(t *testing.T) {
	c := ruleGroup("AND", rule("Method", "equals", []any{"POST"}))
	for range maxConditionDepth + 2 {
		c = ruleGroup("AND", c)
	}
	if _, _, _, why := convertCondition(roundTrip(t, c), "request"); !strings.Contains(why, "nested too deeply") {
		t.Fatalf("reason %q", why)
	}
}
