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
	tests := []struct {
		name   string
		config any
		phase  string
		want   *nativeMatch
		why    string
	}{
		{"no config", nil, "request", nil, ""},
		{"no rules", ruleGroup("AND"), "request", nil, ""},
		{"PathInfo equals", ruleGroup("AND", rule("PathInfo", "equals", []any{"/post"})), "request", &nativeMatch{Path: "^/post$"}, ""},
		{"PathInfo equals quotes meta", ruleGroup("AND", rule("PathInfo", "equals", []any{"/v1/cards.json"})), "request", &nativeMatch{Path: `^/v1/cards\.json$`}, ""},
		{"PathInfo value as a string", ruleGroup("AND", rule("PathInfo", "equals", "/post")), "request", &nativeMatch{Path: "^/post$"}, ""},
		{"PathInfo begins_with", ruleGroup("AND", rule("PathInfo", "begins_with", []any{"/api/"})), "request", &nativeMatch{Path: "^/api/"}, ""},
		{"PathInfo beginsWith", ruleGroup("AND", rule("PathInfo", "beginsWith", []any{"/api/"})), "request", &nativeMatch{Path: "^/api/"}, ""},
		{"PathInfo ends_with", ruleGroup("AND", rule("PathInfo", "ends_with", []any{".json"})), "request", &nativeMatch{Path: `\.json$`}, ""},
		{"PathInfo matches", ruleGroup("AND", rule("PathInfo", "matches", []any{`/users/.+/cards`})), "request", &nativeMatch{Path: `/users/.+/cards`}, ""},
		{"PathInfo is_not_empty", ruleGroup("AND", rule("PathInfo", "is_not_empty", nil)), "request", nil, ""},
		{"ContentType json", ruleGroup("AND", rule("ContentType", "equals", []any{"application/json"})), "request", &nativeMatch{ContentType: "json"}, ""},
		{"ContentType form", ruleGroup("AND", rule("ContentType", "equals", []any{"application/x-www-form-urlencoded"})), "request", &nativeMatch{ContentType: "form"}, ""},
		{"ContentType multipart", ruleGroup("AND", rule("ContentType", "equals", []any{"multipart/form-data"})), "request", &nativeMatch{ContentType: "multipart"}, ""},
		{"ContentType xml", ruleGroup("AND", rule("ContentType", "equals", []any{"application/xml"})), "request", &nativeMatch{ContentType: "xml"}, ""},
		{"ContentType text/xml", ruleGroup("AND", rule("ContentType", "equals", []any{"text/xml"})), "request", &nativeMatch{ContentType: "text/xml"}, ""},
		{"ContentType other", ruleGroup("AND", rule("ContentType", "equals", []any{"application/vnd.api+json"})), "request", &nativeMatch{ContentType: "application/vnd.api+json"}, ""},
		{"ContentType parameters", ruleGroup("AND", rule("ContentType", "equals", []any{"Application/JSON; charset=UTF-8"})), "request", &nativeMatch{ContentType: "json"}, ""},
		{"ContentType media_type_equals", ruleGroup("AND", rule("ContentType", "media_type_equals", []any{"application/json"})), "request", &nativeMatch{ContentType: "json"}, ""},
		{"Method", ruleGroup("AND", rule("Method", "equals", []any{"post"})), "request", &nativeMatch{Methods: []string{"POST"}}, ""},
		{"HttpMethod", ruleGroup("AND", rule("HttpMethod", "equals", []any{"PUT"})), "request", &nativeMatch{Methods: []string{"PUT"}}, ""},
		{"Method in", ruleGroup("AND", rule("Method", "in", []any{"POST", "PUT"})), "request", &nativeMatch{Methods: []string{"POST", "PUT"}}, ""},
		{"Status number", ruleGroup("AND", rule("Status", "equals", []any{200})), "response", &nativeMatch{Status: []int{200}}, ""},
		{"Status string", ruleGroup("AND", rule("Status", "equals", "201")), "response", &nativeMatch{Status: []int{201}}, ""},
		{"Status greater_than_or_equal", ruleGroup("AND", rule("Status", "greater_than_or_equal", []any{590})), "response", &nativeMatch{Status: []int{590, 591, 592, 593, 594, 595, 596, 597, 598, 599}}, ""},
		{"Status less_than", ruleGroup("AND", rule("Status", "less_than", []any{103})), "response", &nativeMatch{Status: []int{100, 101, 102}}, ""},
		{"AND of fields", ruleGroup("AND",
			rule("PathInfo", "equals", []any{"/checkout"}),
			rule("ContentType", "equals", []any{"application/json"}),
			rule("Method", "equals", []any{"POST"})), "request",
			&nativeMatch{Methods: []string{"POST"}, Path: "^/checkout$", ContentType: "json"}, ""},
		{"missing condition is AND", map[string]any{"rules": []any{
			rule("PathInfo", "equals", []any{"/a"}), rule("Method", "equals", []any{"POST"})}}, "request",
			&nativeMatch{Methods: []string{"POST"}, Path: "^/a$"}, ""},
		{"OR of paths", ruleGroup("OR", rule("PathInfo", "equals", []any{"/a"}), rule("PathInfo", "equals", []any{"/b"})), "request", &nativeMatch{Path: "^(?:/a|/b)$"}, ""},
		{"OR of prefixes", ruleGroup("OR", rule("PathInfo", "begins_with", []any{"/a"}), rule("PathInfo", "begins_with", []any{"/b"})), "request", &nativeMatch{Path: "^(?:/a|/b)"}, ""},
		{"OR of mixed path operators", ruleGroup("OR", rule("PathInfo", "matches", []any{"/x|/y"}), rule("PathInfo", "begins_with", []any{"/z"})), "request", &nativeMatch{Path: "(?:/x|/y)|(?:^/z)"}, ""},
		{"OR of methods", ruleGroup("OR", rule("Method", "equals", []any{"POST"}), rule("Method", "equals", []any{"PUT"})), "request", &nativeMatch{Methods: []string{"POST", "PUT"}}, ""},
		{"OR of statuses", ruleGroup("OR", rule("Status", "equals", []any{201}), rule("Status", "equals", []any{200})), "response", &nativeMatch{Status: []int{200, 201}}, ""},
		{"OR with an always-true branch", ruleGroup("OR", rule("PathInfo", "equals", []any{"/a"}), ruleGroup("AND")), "request", nil, ""},
		{"nested OR in AND", ruleGroup("AND",
			rule("ContentType", "equals", []any{"application/json"}),
			ruleGroup("OR", rule("PathInfo", "equals", []any{"/a"}), rule("PathInfo", "equals", []any{"/b"}))), "request",
			&nativeMatch{Path: "^(?:/a|/b)$", ContentType: "json"}, ""},
		{"AND of methods intersects", ruleGroup("AND", rule("Method", "in", []any{"POST", "PUT"}), rule("Method", "equals", []any{"PUT"})), "request", &nativeMatch{Methods: []string{"PUT"}}, ""},
		{"same path twice", ruleGroup("AND", rule("PathInfo", "equals", []any{"/a"}), rule("PathInfo", "equals", []any{"/a"})), "request", &nativeMatch{Path: "^/a$"}, ""},
		{"bare list of rules", []any{rule("Method", "equals", []any{"POST"})}, "request", &nativeMatch{Methods: []string{"POST"}}, ""},

		{"OR across fields", ruleGroup("OR", rule("PathInfo", "equals", []any{"/a"}), rule("Method", "equals", []any{"POST"})), "request", nil, "OR across different fields"},
		{"OR over an AND group", ruleGroup("OR", rule("PathInfo", "equals", []any{"/a"}),
			ruleGroup("AND", rule("PathInfo", "equals", []any{"/b"}), rule("Method", "equals", []any{"POST"}))), "request", nil, "OR over a group"},
		{"two paths ANDed", ruleGroup("AND", rule("PathInfo", "begins_with", []any{"/a"}), rule("PathInfo", "ends_with", []any{".json"})), "request", nil, "two PathInfo conditions"},
		{"methods never agree", ruleGroup("AND", rule("Method", "equals", []any{"POST"}), rule("Method", "equals", []any{"GET"})), "request", nil, "never match"},
		{"several content types", ruleGroup("OR", rule("ContentType", "equals", []any{"application/json"}), rule("ContentType", "equals", []any{"application/xml"})), "request", nil, "several content types"},
		{"Header field", ruleGroup("AND", rule("Header", "equals", []any{"X-Api-Version: 2"})), "request", nil, "condition on Header"},
		{"QueryString field", ruleGroup("AND", rule("QueryString", "equals", []any{"a=b"})), "request", nil, "condition on QueryString"},
		{"no field", ruleGroup("AND", rule("", "equals", []any{"a"})), "request", nil, "no field"},
		{"PathInfo does_not_equal", ruleGroup("AND", rule("PathInfo", "does_not_equal", []any{"/a"})), "request", nil, "cannot be expressed"},
		{"PathInfo does_not_begin_with", ruleGroup("AND", rule("PathInfo", "does_not_begin_with", []any{"/a"})), "request", nil, "cannot be expressed"},
		{"PathInfo is_empty", ruleGroup("AND", rule("PathInfo", "is_empty", nil)), "request", nil, "cannot be expressed"},
		{"PathInfo lookahead", ruleGroup("AND", rule("PathInfo", "matches", []any{"/(?!admin)"})), "request", nil, "lookahead"},
		{"PathInfo without value", ruleGroup("AND", rule("PathInfo", "equals", nil)), "request", nil, "has no value"},
		{"ContentType begins_with", ruleGroup("AND", rule("ContentType", "begins_with", []any{"multipart/"})), "request", nil, "cannot be expressed"},
		{"ContentType not a media type", ruleGroup("AND", rule("ContentType", "equals", []any{"json"})), "request", nil, "not a media type"},
		{"Method does_not_equal", ruleGroup("AND", rule("Method", "does_not_equal", []any{"GET"})), "request", nil, "cannot be expressed"},
		{"Method not a token", ruleGroup("AND", rule("Method", "equals", []any{"PO ST"})), "request", nil, "not an HTTP method"},
		{"Method with a dash", ruleGroup("AND", rule("Method", "equals", []any{"M-SEARCH"})), "request", nil, "not an HTTP method"},
		{"ContentType with a bad type", ruleGroup("AND", rule("ContentType", "equals", []any{"application/json/x"})), "request", nil, "not a media type"},
		{"Status on request", ruleGroup("AND", rule("Status", "equals", []any{200})), "request", nil, "request entry never matches"},
		{"Status not a code", ruleGroup("AND", rule("Status", "equals", []any{"OK"})), "response", nil, "not an HTTP status"},
		{"Status matches", ruleGroup("AND", rule("Status", "matches", []any{"2.."})), "response", nil, "cannot be expressed"},
		{"Status comparison of two values", ruleGroup("AND", rule("Status", "less_than", []any{300, 400})), "response", nil, "takes one value"},
		{"unknown combinator", ruleGroup("XOR", rule("Method", "equals", []any{"POST"})), "request", nil, "neither AND nor OR"},
		{"expression and rules", map[string]any{"condition": "AND", "expression": map[string]any{"field": "Method", "operator": "equals", "values": []any{"POST"}},
			"rules": []any{rule("PathInfo", "equals", []any{"/a"})}}, "request", nil, "both an expression and rules"},
		{"expression not an object", map[string]any{"expression": "PathInfo == /a"}, "request", nil, "not an object"},
		{"value not a scalar", ruleGroup("AND", rule("PathInfo", "equals", []any{map[string]any{"a": 1}})), "request", nil, "not a string or number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, why := convertCondition(roundTrip(t, tt.config), tt.phase)
			if tt.why != "" {
				if !strings.Contains(why, tt.why) {
					t.Fatalf("reason %q, want one containing %q (match %+v)", why, tt.why, got)
				}
				return
			}
			if why != "" || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, %q; want %+v", got, why, tt.want)
			}
		})
	}
}

func TestConditionsNestedTooDeeplyAreRefused(t *testing.T) {
	c := ruleGroup("AND", rule("Method", "equals", []any{"POST"}))
	for range maxConditionDepth + 2 {
		c = ruleGroup("AND", c)
	}
	if _, why := convertCondition(roundTrip(t, c), "request"); !strings.Contains(why, "nested too deeply") {
		t.Fatalf("reason %q", why)
	}
}
