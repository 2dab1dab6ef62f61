package vgs

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/aliasgate/aliasgate/routes"
	"gopkg.in/yaml.v3"
)

// vgsEntry is a VGS rule entry that converts cleanly; mod changes it.
func vgsEntry(mod func(e map[string]any)) map[string]any {
	e := map[string]any{
		"id":                     "e1",
		"phase":                  "REQUEST",
		"operation":              "REDACT",
		"token_manager":          "PERSISTENT",
		"public_token_generator": "UUID",
		"transformer":            "JSON_PATH",
		"transformer_config":     []any{"$.pan"},
		"transformer_config_map": nil,
		"targets":                []any{"body"},
		"classifiers":            map[string]any{},
		"id_selector":            nil,
		"operations":             nil,
		"config":                 ruleGroup("AND", rule("PathInfo", "equals", []any{"/pay"})),
	}
	if mod != nil {
		mod(e)
	}
	return e
}

// vgsRoute is a JSON:API wrapped inbound route; mod changes its attributes.
func vgsRoute(id string, mod func(a map[string]any), entries ...map[string]any) map[string]any {
	l := make([]any, len(entries))
	for i, e := range entries {
		l[i] = e
	}
	a := map[string]any{
		"id":                            id,
		"host_endpoint":                 `(.*)\.verygoodproxy\.com`,
		"destination_override_endpoint": "https://upstream.example",
		"protocol":                      "http",
		"port":                          80,
		"source_endpoint":               "*",
		"tags":                          map[string]any{"name": "route-" + id, "source": "RouteContainer"},
		"entries":                       l,
	}
	if mod != nil {
		mod(a)
	}
	return map[string]any{"id": id, "type": "rule_chain", "attributes": a}
}

func export(routes ...map[string]any) []byte {
	l := make([]any, len(routes))
	for i, r := range routes {
		l[i] = r
	}
	b, err := yaml.Marshal(map[string]any{"version": 1, "data": l})
	if err != nil {
		panic(err)
	}
	return b
}

func convert(t *testing.T, in []byte) (nativeFile, Report) {
	t.Helper()
	out, rep, err := Convert(in)
	if err != nil {
		t.Fatalf("Convert: %v\n%s", err, in)
	}
	return decodeNative(t, out), rep
}

type wantItem struct {
	effect Effect
	reason string // substring
}

func checkItems(t *testing.T, rep Report, want []wantItem) {
	t.Helper()
	if len(rep.Items) != len(want) {
		t.Fatalf("report has %d items, want %d:\n%s", len(rep.Items), len(want), rep)
	}
	for i, w := range want {
		it := rep.Items[i]
		if it.Effect != w.effect || !strings.Contains(it.Reason, w.reason) {
			t.Errorf("item %d = %s; want %s with %q", i, it, w.effect, w.reason)
		}
	}
}

func TestEntriesBecomeFilters(t *testing.T) {
	pay := &nativeMatch{PathInfo: "/pay"}
	tests := []struct {
		name  string
		mod   func(e map[string]any)
		want  *nativeFilter // nil: left out
		items []wantItem
	}{
		{"redact persistent UUID", nil, &nativeFilter{ID: "e1", Phase: "request", Match: pay, Operation: "redact", OnError: "reject",
			Targets: []nativeTarget{{JSON: "pan", Format: "UUID", Storage: "persistent"}}}, nil},
		{"ENRICH is reveal, without format, storage or classifiers", func(e map[string]any) {
			e["operation"] = "ENRICH"
			e["phase"] = "RESPONSE"
			e["classifiers"] = map[string]any{"TAGS": []any{"pan"}}
		}, &nativeFilter{ID: "e1", Phase: "response", Match: pay, Operation: "reveal", OnError: "reject",
			Targets: []nativeTarget{{JSON: "pan"}}}, nil},
		{"RESPONSE phase, lower-case enums", func(e map[string]any) {
			e["phase"] = "response"
			e["token_manager"] = "volatile"
			e["public_token_generator"] = "fpe_six_t_four"
		}, &nativeFilter{ID: "e1", Phase: "response", Match: pay, Operation: "redact", OnError: "reject",
			Targets: []nativeTarget{{JSON: "pan", Format: "FPE_SIX_T_FOUR", Storage: "volatile"}}}, nil},
		{"every native format", func(e map[string]any) { e["public_token_generator"] = "NUM_LENGTH_PRESERVING" }, &nativeFilter{ID: "e1", Phase: "request", Match: pay, Operation: "redact", OnError: "reject",
			Targets: []nativeTarget{{JSON: "pan", Format: "NUM_LENGTH_PRESERVING", Storage: "persistent"}}}, nil},
		{"no format, no storage", func(e map[string]any) {
			delete(e, "public_token_generator")
			delete(e, "token_manager")
		}, &nativeFilter{ID: "e1", Phase: "request", Match: pay, Operation: "redact", OnError: "reject",
			Targets: []nativeTarget{{JSON: "pan"}}}, nil},
		{"classifiers TAGS list", func(e map[string]any) { e["classifiers"] = map[string]any{"TAGS": []any{"card-number", "pan"}} },
			&nativeFilter{ID: "e1", Phase: "request", Match: pay, Operation: "redact", OnError: "reject",
				Targets: []nativeTarget{{JSON: "pan", Format: "UUID", Storage: "persistent", Classifiers: []string{"card-number", "pan"}}}}, nil},
		{"classifiers TAGS comma string", func(e map[string]any) { e["classifiers"] = map[string]any{"TAGS": "card-number, cvv"} },
			&nativeFilter{ID: "e1", Phase: "request", Match: pay, Operation: "redact", OnError: "reject",
				Targets: []nativeTarget{{JSON: "pan", Format: "UUID", Storage: "persistent", Classifiers: []string{"card-number", "cvv"}}}}, nil},
		{"classifiers as a list", func(e map[string]any) { e["classifiers"] = []any{"pan"} },
			&nativeFilter{ID: "e1", Phase: "request", Match: pay, Operation: "redact", OnError: "reject",
				Targets: []nativeTarget{{JSON: "pan", Format: "UUID", Storage: "persistent", Classifiers: []string{"pan"}}}}, nil},
		{"one target per config item, duplicates once", func(e map[string]any) {
			e["transformer_config"] = []any{"$.card.number", "$.card.cvc", "$['card']['number']"}
		}, &nativeFilter{ID: "e1", Phase: "request", Match: pay, Operation: "redact", OnError: "reject",
			Targets: []nativeTarget{{JSON: "card.number", Format: "UUID", Storage: "persistent"}, {JSON: "card.cvc", Format: "UUID", Storage: "persistent"}}}, nil},
		{"no condition: VGS never applies it", func(e map[string]any) { e["config"] = nil }, nil, []wantItem{{EntryLeftOut, "has no condition"}}},
		{"a condition that is always true", func(e map[string]any) { e["config"] = ruleGroup("AND", rule("PathInfo", "is_not_empty", nil)) },
			&nativeFilter{ID: "e1", Phase: "request", Operation: "redact", OnError: "reject",
				Targets: []nativeTarget{{JSON: "pan", Format: "UUID", Storage: "persistent"}}}, nil},
		{"entry without id", func(e map[string]any) { delete(e, "id") }, &nativeFilter{ID: "r1-1", Phase: "request", Match: pay, Operation: "redact", OnError: "reject",
			Targets: []nativeTarget{{JSON: "pan", Format: "UUID", Storage: "persistent"}}}, nil},
		{"FORM_FIELD", func(e map[string]any) {
			e["transformer"] = "FORM_FIELD"
			e["transformer_config"] = []any{"card_number", "card[cvc]"}
		}, &nativeFilter{ID: "e1", Phase: "request", Match: pay, Operation: "redact", OnError: "reject",
			Targets: []nativeTarget{{Form: "card_number", Format: "UUID", Storage: "persistent"}, {Form: "card[cvc]", Format: "UUID", Storage: "persistent"}}}, nil},
		{"XPATH paths that overlap", func(e map[string]any) {
			e["transformer"] = "XPATH"
			e["transformer_config"] = []any{"/p/card", "/p/card/pan", "/p/card/text()", "/p/cvc"}
		}, &nativeFilter{ID: "e1", Phase: "request", Match: pay, Operation: "redact", OnError: "reject",
			Targets: []nativeTarget{{XML: "/p/card", Namespaces: true, Format: "UUID", Storage: "persistent"}, {XML: "/p/cvc", Namespaces: true, Format: "UUID", Storage: "persistent"}}},
			[]wantItem{{TargetLeftOut, `XPath "/p/card/pan" (it names the element of /p/card or one inside or around it`}}},
		{"XPATH with namespace prefixes", func(e map[string]any) {
			e["transformer"] = "XPATH"
			e["transformer_config"] = []any{"/soap:Envelope/soap:Body/pay:Card/pay:Number/text()"}
		}, &nativeFilter{ID: "e1", Phase: "request", Match: pay, Operation: "redact", OnError: "reject",
			Targets: []nativeTarget{{XML: "/soap:Envelope/soap:Body/pay:Card/pay:Number", Namespaces: true, Format: "UUID", Storage: "persistent"}}}, nil},
		{"JSON keys with special characters are escaped", func(e map[string]any) {
			e["transformer_config"] = []any{"$['card.number']", "$['$ref']['#']"}
		}, &nativeFilter{ID: "e1", Phase: "request", Match: pay, Operation: "redact", OnError: "reject",
			Targets: []nativeTarget{{JSON: `card\.number`, Format: "UUID", Storage: "persistent"}, {JSON: `\$ref.\#`, Format: "UUID", Storage: "persistent"}}}, nil},
		{"REGEX that matches the empty string", func(e map[string]any) {
			e["transformer"] = "REGEX"
			e["transformer_config_map"] = map[string]any{"patterns": []any{`(?<token>\d*)`}}
		}, nil, []wantItem{{EntryLeftOut, "matches the empty string"}}},
		{"XPATH", func(e map[string]any) {
			e["transformer"] = "XPATH"
			e["transformer_config"] = []any{"/payment/card/pan/text()"}
		}, &nativeFilter{ID: "e1", Phase: "request", Match: pay, Operation: "redact", OnError: "reject",
			Targets: []nativeTarget{{XML: "/payment/card/pan", Namespaces: true, Format: "UUID", Storage: "persistent"}}}, nil},
		{"REGEX from transformer_config_map", func(e map[string]any) {
			e["transformer"] = "REGEX"
			e["transformer_config"] = []any{}
			e["transformer_config_map"] = map[string]any{"patterns": []any{`\b(?<token>\d{16})\b`}, "replacement": "%s", "charset": "UTF-8"}
		}, &nativeFilter{ID: "e1", Phase: "request", Match: pay, Operation: "redact", OnError: "reject",
			Targets: []nativeTarget{{Regex: `\b(?<token>\d{16})\b`, Format: "UUID", Storage: "persistent"}}}, nil},
		{"REGEX with (?m)^, which Java also reads after a lone \\r", func(e map[string]any) {
			e["transformer"] = "REGEX"
			e["transformer_config"] = []any{`(?m)^\d{16}`}
		}, &nativeFilter{ID: "e1", Phase: "request", Match: pay, Operation: "redact", OnError: "reject",
			Targets: []nativeTarget{{Regex: `(?m)^\d{16}`, Format: "UUID", Storage: "persistent"}}},
			[]wantItem{{Narrowed, "(?m)^ also matches after a lone"}}},
		{"REGEX from a legacy transformer_config", func(e map[string]any) {
			e["transformer"] = "REGEX"
			e["transformer_config"] = []any{`\d{16}`}
		}, &nativeFilter{ID: "e1", Phase: "request", Match: pay, Operation: "redact", OnError: "reject",
			Targets: []nativeTarget{{Regex: `\d{16}`, Format: "UUID", Storage: "persistent"}}}, nil},
		{"REGEX on body and a named header", func(e map[string]any) {
			e["transformer"] = "REGEX"
			e["targets"] = []any{"body", "header"}
			e["transformer_config_map"] = map[string]any{"patterns": []any{`X-Card-Number: (?<token>.*)`}}
		}, &nativeFilter{ID: "e1", Phase: "request", Match: pay, Operation: "redact", OnError: "reject",
			Targets: []nativeTarget{{Header: "X-Card-Number", Format: "UUID", Storage: "persistent"}}},
			// On the body VGS would replace "X-Card-Number: 4111…" by the alias alone.
			[]wantItem{{TargetLeftOut, "outside its token"}}},
		{"REGEX on a named header", func(e map[string]any) {
			e["transformer"] = "REGEX"
			e["targets"] = []any{"header"}
			e["transformer_config_map"] = map[string]any{"patterns": []any{`^X-Card-Number:\s*(?<token>.+)$`}}
		}, &nativeFilter{ID: "e1", Phase: "request", Match: pay, Operation: "redact", OnError: "reject",
			Targets: []nativeTarget{{Header: "X-Card-Number", Format: "UUID", Storage: "persistent"}}}, nil},
		{"targets missing means body", func(e map[string]any) { delete(e, "targets") }, &nativeFilter{ID: "e1", Phase: "request", Match: pay, Operation: "redact", OnError: "reject",
			Targets: []nativeTarget{{JSON: "pan", Format: "UUID", Storage: "persistent"}}}, nil},

		// Partly expressible: the rest of the entry is converted.
		{"one JSONPath of two", func(e map[string]any) { e["transformer_config"] = []any{"$.card.number", "$..pan"} },
			&nativeFilter{ID: "e1", Phase: "request", Match: pay, Operation: "redact", OnError: "reject",
				Targets: []nativeTarget{{JSON: "card.number", Format: "UUID", Storage: "persistent"}}},
			[]wantItem{{TargetLeftOut, `JSONPath "$..pan" (recursive descent) cannot be expressed`}}},
		{"reveal of a format aliasgate lacks", func(e map[string]any) {
			e["operation"] = "ENRICH"
			e["phase"] = "RESPONSE"
			e["public_token_generator"] = "NON_LUHN_FPE_ALPHANUMERIC"
		}, &nativeFilter{ID: "e1", Phase: "response", Match: pay, Operation: "reveal", OnError: "reject",
			Targets: []nativeTarget{{JSON: "pan"}}}, nil},
		{"INCLUDE on a redact means nothing", func(e map[string]any) { e["classifiers"] = map[string]any{"INCLUDE": []any{"pan"}} },
			&nativeFilter{ID: "e1", Phase: "request", Match: pay, Operation: "redact", OnError: "reject",
				Targets: []nativeTarget{{JSON: "pan", Format: "UUID", Storage: "persistent"}}},
			[]wantItem{{Ignored, "means nothing on a redact"}}},
		{"unknown classifiers key", func(e map[string]any) { e["classifiers"] = map[string]any{"LABELS": []any{"x"}} },
			&nativeFilter{ID: "e1", Phase: "request", Match: pay, Operation: "redact", OnError: "reject",
				Targets: []nativeTarget{{JSON: "pan", Format: "UUID", Storage: "persistent"}}},
			[]wantItem{{Ignored, `classifiers key "LABELS"`}}},
		{"header with JSON_PATH besides the body", func(e map[string]any) { e["targets"] = []any{"body", "header"} },
			&nativeFilter{ID: "e1", Phase: "request", Match: pay, Operation: "redact", OnError: "reject",
				Targets: []nativeTarget{{JSON: "pan", Format: "UUID", Storage: "persistent"}}},
			[]wantItem{{TargetLeftOut, "header target with JSON_PATH"}}},

		// Not expressible: left out, never broadened.
		{"recursive descent only", func(e map[string]any) { e["transformer_config"] = []any{"$..pan"} }, nil,
			[]wantItem{{EntryLeftOut, `JSONPath "$..pan" (recursive descent) cannot be expressed`}}},
		{"unknown format on a redact", func(e map[string]any) { e["public_token_generator"] = "CUSTOM" }, nil,
			[]wantItem{{EntryLeftOut, `public_token_generator "CUSTOM"`}}},
		{"unknown token_manager", func(e map[string]any) { e["token_manager"] = "EPHEMERAL" }, nil,
			[]wantItem{{EntryLeftOut, `token_manager "EPHEMERAL"`}}},
		{"unknown operation", func(e map[string]any) { e["operation"] = "DETOKENIZE" }, nil,
			[]wantItem{{EntryLeftOut, `operation "DETOKENIZE"`}}},
		{"unknown phase", func(e map[string]any) { e["phase"] = "BOTH" }, nil,
			[]wantItem{{EntryLeftOut, `phase "BOTH"`}}},
		{"Larky operations", func(e map[string]any) {
			e["operations"] = []any{map[string]any{"name": "github.com/verygoodsecurity/common/compute/LarkyHttp", "parameters": map[string]any{"script": "def process(input, ctx): return input"}}}
		}, nil, []wantItem{{EntryLeftOut, "operations (custom code"}}},
		{"operations_v2", func(e map[string]any) { e["operations_v2"] = []any{map[string]any{"name": "x"}} }, nil,
			[]wantItem{{EntryLeftOut, "operations_v2"}}},
		{"id_selector", func(e map[string]any) { e["id_selector"] = "$.id" }, nil,
			[]wantItem{{EntryLeftOut, "id_selector"}}},
		{"reveal on an inbound request", func(e map[string]any) { e["operation"] = "ENRICH" }, nil,
			[]wantItem{{EntryLeftOut, "ENRICH on an inbound REQUEST"}}},
		{"reveal limited by classifiers", func(e map[string]any) {
			e["phase"] = "RESPONSE"
			e["operation"] = "ENRICH"
			e["classifiers"] = map[string]any{"INCLUDE": "pan", "EXCLUDE": []any{"cvv"}}
		}, nil, []wantItem{{EntryLeftOut, `classifiers INCLUDE "pan", EXCLUDE "cvv" limit which aliases are revealed`}}},
		{"header only with JSON_PATH", func(e map[string]any) { e["targets"] = []any{"header"} }, nil,
			[]wantItem{{EntryLeftOut, "header target with JSON_PATH"}}},
		{"unknown target", func(e map[string]any) { e["targets"] = []any{"query"} }, nil,
			[]wantItem{{EntryLeftOut, `target "query"`}}},
		{"REGEX header without a name", func(e map[string]any) {
			e["transformer"] = "REGEX"
			e["targets"] = []any{"header"}
			e["transformer_config_map"] = map[string]any{"patterns": []any{`(?<token>\d{16})`}}
		}, nil, []wantItem{{EntryLeftOut, "header it targets is unknown"}}},
		{"REGEX with a custom replacement", func(e map[string]any) {
			e["transformer"] = "REGEX"
			e["transformer_config_map"] = map[string]any{"patterns": []any{`(?<token>\d{16})`}, "replacement": "card=%s"}
		}, nil, []wantItem{{EntryLeftOut, `replacement "card=%s"`}}},
		{"REGEX in UTF-16", func(e map[string]any) {
			e["transformer"] = "REGEX"
			e["transformer_config_map"] = map[string]any{"patterns": []any{`\d{16}`}, "charset": "UTF-16LE"}
		}, nil, []wantItem{{EntryLeftOut, `charset "UTF-16LE"`}}},
		{"REGEX without pattern", func(e map[string]any) {
			e["transformer"] = "REGEX"
			e["transformer_config"] = []any{}
			e["transformer_config_map"] = map[string]any{"patterns": []any{}}
		}, nil, []wantItem{{EntryLeftOut, "no REGEX pattern"}}},
		{"unknown transformer", func(e map[string]any) { e["transformer"] = "PDF_METADATA_TRANSFORMER" }, nil,
			[]wantItem{{EntryLeftOut, `transformer "PDF_METADATA_TRANSFORMER"`}}},
		{"no transformer", func(e map[string]any) { delete(e, "transformer") }, nil,
			[]wantItem{{EntryLeftOut, "no transformer"}}},
		{"empty transformer_config", func(e map[string]any) { e["transformer_config"] = []any{} }, nil,
			[]wantItem{{EntryLeftOut, "lists no field"}}},
		{"inexpressible condition", func(e map[string]any) {
			e["config"] = ruleGroup("AND", rule("PathInfo", "equals", []any{"/pay"}), rule("Header", "equals", []any{"X-Version: 2"}))
		}, nil, []wantItem{{EntryLeftOut, "condition on Header"}}},
		{"every problem of an entry is listed", func(e map[string]any) {
			e["operation"] = "TRANSFORM"
			e["config"] = ruleGroup("OR", rule("PathInfo", "equals", []any{"/a"}), rule("Method", "equals", []any{"POST"}))
			e["transformer_config"] = []any{"$.items[?(@.pan)]"}
		}, nil, []wantItem{
			{EntryLeftOut, `operation "TRANSFORM"`},
			{EntryLeftOut, "OR across different fields"},
			{EntryLeftOut, "filter expression"},
		}},
		{"empty entry", func(e map[string]any) { clear(e) }, nil, []wantItem{{EntryLeftOut, `phase "" is neither REQUEST nor RESPONSE, so VGS never applies`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, rep := convert(t, export(vgsRoute("r1", nil, vgsEntry(tt.mod))))
			if len(f.Routes) != 1 {
				t.Fatalf("%d routes", len(f.Routes))
			}
			checkItems(t, rep, tt.items)
			filters := f.Routes[0].Filters
			if tt.want == nil {
				if len(filters) != 0 {
					t.Fatalf("entry not left out: %+v", filters)
				}
				return
			}
			if len(filters) != 1 || !reflect.DeepEqual(filters[0], *tt.want) {
				t.Fatalf("filters %+v\nwant %+v", filters, *tt.want)
			}
		})
	}
}

func TestRoutesBecomeNativeRoutes(t *testing.T) {
	e := vgsEntry(nil)
	tests := []struct {
		name  string
		in    []byte
		want  []nativeRoute // ids, direction, host, path_prefix, upstream; filters counted only
		items []wantItem
	}{
		{"inbound", export(vgsRoute("r1", nil, e)),
			[]nativeRoute{{ID: "r1", Direction: "inbound", Host: "*", PathPrefix: "/", Upstream: "https://upstream.example"}}, nil},
		{"outbound by destination_override_endpoint *", export(vgsRoute("r1", func(a map[string]any) {
			a["destination_override_endpoint"] = "*"
			a["host_endpoint"] = `api\.stripe\.com`
		}, e)), []nativeRoute{{ID: "r1", Direction: "outbound", Host: "api.stripe.com"}}, nil},
		{"no destination_override_endpoint is inbound, without upstream", export(vgsRoute("r1", func(a map[string]any) {
			delete(a, "destination_override_endpoint")
			a["host_endpoint"] = `(.*)\.stripe\.com`
		}, e)), nil, []wantItem{{RouteLeftOut, "inbound route without destination_override_endpoint"}}},
		{"outbound one-label host", export(vgsRoute("r1", func(a map[string]any) {
			a["destination_override_endpoint"] = "*"
			a["host_endpoint"] = `[a-z]+\.stripe\.com`
		}, e)), []nativeRoute{{ID: "r1", Direction: "outbound", HostRegex: `[a-z]+\.stripe\.com`}}, nil},
		{"type rule-chains", []byte("data:\n  - {id: r1, type: rule-chains, attributes: {host_endpoint: 'api\\.x\\.com', destination_override_endpoint: '*', entries: []}}\n"),
			[]nativeRoute{{ID: "r1", Direction: "outbound", Host: "api.x.com"}}, nil},
		{"inbound custom hostname", export(vgsRoute("r1", func(a map[string]any) { a["host_endpoint"] = `secure\.shop\.example` }, e)),
			[]nativeRoute{{ID: "r1", Direction: "inbound", Host: "secure.shop.example", PathPrefix: "/", Upstream: "https://upstream.example"}}, nil},
		{"host alternation gives a route per host", export(vgsRoute("r1", func(a map[string]any) {
			a["destination_override_endpoint"] = "*"
			a["host_endpoint"] = `(api|uploads)\.stripe\.com`
		}, e)), []nativeRoute{{ID: "r1-1", Direction: "outbound", Host: "api.stripe.com"}, {ID: "r1-2", Direction: "outbound", Host: "uploads.stripe.com"}}, nil},
		{"upstream without scheme", export(vgsRoute("r1", func(a map[string]any) { a["destination_override_endpoint"] = "echo.example" }, e)),
			[]nativeRoute{{ID: "r1", Direction: "inbound", Host: "*", PathPrefix: "/", Upstream: "https://echo.example"}},
			[]wantItem{{Ignored, "https assumed"}}},
		{"port in host_endpoint", export(vgsRoute("r1", func(a map[string]any) {
			a["destination_override_endpoint"] = "*"
			a["host_endpoint"] = `app:8080`
		}, e)), []nativeRoute{{ID: "r1", Direction: "outbound", Host: "app", Ports: []int{8080}}}, nil},
		{"source_endpoint", export(vgsRoute("r1", func(a map[string]any) { a["source_endpoint"] = "10.0.0.0/8" }, e)),
			nil, []wantItem{{RouteLeftOut, `source_endpoint "10.0.0.0/8" limits the clients`}}},
		{"same inbound host and upstream merge", export(vgsRoute("r1", nil, e), vgsRoute("r2", nil, vgsEntry(func(e map[string]any) { e["id"] = "e2" }))),
			[]nativeRoute{{ID: "r1", Direction: "inbound", Host: "*", PathPrefix: "/", Upstream: "https://upstream.example"}}, nil},
		{"same inbound host, another upstream", export(vgsRoute("r1", nil, e), vgsRoute("r2", func(a map[string]any) { a["destination_override_endpoint"] = "https://other.example" }, e)),
			[]nativeRoute{{ID: "r1", Direction: "inbound", Host: "*", PathPrefix: "/", Upstream: "https://upstream.example"}},
			[]wantItem{{Narrowed, `on host * the route goes to https://other.example, but VGS route r1 before it goes to https://upstream.example`}}},
		{"route without id", export(vgsRoute("", nil, e)),
			[]nativeRoute{{ID: "route-1", Direction: "inbound", Host: "*", PathPrefix: "/", Upstream: "https://upstream.example"}}, nil},
		{"sftp route", export(vgsRoute("r1", func(a map[string]any) { a["protocol"] = "sftp" }, e)), nil,
			[]wantItem{{RouteLeftOut, `protocol "sftp"`}}},
		{"other resource type", []byte("data:\n  - id: x\n    type: vaults\n    attributes: {name: v}\n"), nil,
			[]wantItem{{RouteLeftOut, `type "vaults"`}}},
		{"outbound to any host", export(vgsRoute("r1", func(a map[string]any) {
			a["destination_override_endpoint"] = "*"
			a["host_endpoint"] = `(.*)`
		}, e)), nil, []wantItem{{RouteLeftOut, "matches every destination"}}},
		{"inbound wildcard host", export(vgsRoute("r1", func(a map[string]any) { a["host_endpoint"] = `(.*)\.shop\.example` }, e)),
			[]nativeRoute{{ID: "r1", Direction: "inbound", Host: "*.shop.example", PathPrefix: "/", Upstream: "https://upstream.example"}}, nil},
		{"bad upstream", export(vgsRoute("r1", func(a map[string]any) { a["destination_override_endpoint"] = "ftp://files.example" }, e)), nil,
			[]wantItem{{RouteLeftOut, "not an http(s) upstream URL"}}},
		{"neither host nor upstream", export(vgsRoute("r1", func(a map[string]any) {
			delete(a, "destination_override_endpoint")
			delete(a, "host_endpoint")
		}, e)), nil, []wantItem{{RouteLeftOut, "inbound route without destination_override_endpoint"}}},
		{"entry not an object", []byte("data:\n  - {id: r1, type: rule_chain, attributes: {host_endpoint: 'api\\.x\\.com', destination_override_endpoint: '*', entries: [oops]}}\n"),
			[]nativeRoute{{ID: "r1", Direction: "outbound", Host: "api.x.com"}},
			[]wantItem{{EntryLeftOut, "not an entry object"}}},
		{"entries not a list", export(vgsRoute("r1", func(a map[string]any) { a["entries"] = "none" })), nil,
			[]wantItem{{RouteLeftOut, "entries is not a list"}}},
		{"not a route in data", []byte("data:\n  - 42\n  - {id: r1, type: rule_chain, attributes: {host_endpoint: 'api\\.x\\.com', destination_override_endpoint: '*', entries: []}}\n"),
			[]nativeRoute{{ID: "r1", Direction: "outbound", Host: "api.x.com"}},
			[]wantItem{{RouteLeftOut, "not a route object"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, rep := convert(t, tt.in)
			checkItems(t, rep, tt.items)
			if len(f.Routes) != len(tt.want) {
				t.Fatalf("%d routes, want %d: %+v", len(f.Routes), len(tt.want), f.Routes)
			}
			for i, w := range tt.want {
				g := f.Routes[i]
				g.Filters = nil
				if !reflect.DeepEqual(g, w) {
					t.Errorf("route %d = %+v, want %+v", i, g, w)
				}
			}
			if rep.Routes != len(f.Routes) {
				t.Errorf("report counts %d routes, output has %d", rep.Routes, len(f.Routes))
			}
		})
	}
}

func TestMergedRoutesKeepEveryFilterAndName(t *testing.T) {
	in := export(
		vgsRoute("r1", nil, vgsEntry(nil)),
		vgsRoute("r2", nil, vgsEntry(nil)), // same entry id: renamed
	)
	out, _, err := Convert(in)
	if err != nil {
		t.Fatal(err)
	}
	f := decodeNative(t, out)
	if len(f.Routes) != 1 || len(f.Routes[0].Filters) != 2 || f.Routes[0].Filters[1].ID != "e1-2" {
		t.Fatalf("%+v", f.Routes)
	}
	for _, id := range []string{"# VGS route r1 ", "# VGS route r2 "} {
		if !bytes.Contains(out, []byte(id)) {
			t.Errorf("output names no %q:\n%s", id, out)
		}
	}
}

func TestRouteIDsAreStableAndUnique(t *testing.T) {
	in := export(
		vgsRoute("04b2e1b7-fb60-472f-a79f-af7e2353f122", func(a map[string]any) {
			a["destination_override_endpoint"] = "*"
			a["host_endpoint"] = `a\.example`
		}),
		vgsRoute("04b2e1b7-fb60-472f-a79f-af7e2353f122", func(a map[string]any) {
			a["destination_override_endpoint"] = "*"
			a["host_endpoint"] = `b\.example`
		}),
		vgsRoute("weird id/with spaces", func(a map[string]any) {
			a["destination_override_endpoint"] = "*"
			a["host_endpoint"] = `c\.example`
		}),
	)
	f, _ := convert(t, in)
	var ids []string
	for _, r := range f.Routes {
		ids = append(ids, r.ID)
	}
	want := []string{"04b2e1b7-fb60-472f-a79f-af7e2353f122", "04b2e1b7-fb60-472f-a79f-af7e2353f122-2", "weird-id-with-spaces"}
	if !reflect.DeepEqual(ids, want) {
		t.Fatalf("ids %v, want %v", ids, want)
	}
}

func TestExportShapesAreAccepted(t *testing.T) {
	route := vgsRoute("r1", nil, vgsEntry(nil))
	attrs := route["attributes"].(map[string]any)
	flat := map[string]any{"type": "rule_chain"}
	for k, v := range attrs {
		flat[k] = v
	}
	jsonOf := func(v any) []byte {
		b, err := json.MarshalIndent(v, "", "\t")
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	yamlOf := func(v any) []byte {
		b, err := yaml.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	shapes := map[string][]byte{
		"data list, wrapped":     export(route),
		"data list, flat":        yamlOf(map[string]any{"version": 1, "data": []any{flat}}),
		"data object (JSON:API)": jsonOf(map[string]any{"data": route}),
		"JSON export":            jsonOf(map[string]any{"version": 1, "data": []any{route}}),
		"bare list":              yamlOf([]any{route}),
		"bare JSON list of flat": jsonOf([]any{flat}),
		"one wrapped route":      yamlOf(route),
		"one flat route":         yamlOf(flat),
		"vgs-cli HttpRoute":      yamlOf(map[string]any{"apiVersion": "vault.vgs.io/v1", "kind": "HttpRoute", "metadata": map[string]any{"name": "r1"}, "spec": route}),
		"multi-document YAML":    append(append(yamlOf(map[string]any{"apiVersion": "vault.vgs.io/v1", "kind": "HttpRoute", "spec": route}), "---\n"...), yamlOf(map[string]any{"apiVersion": "vault.vgs.io/v1", "kind": "Vault", "data": nil})...),
		"camelCase keys":         yamlOf(map[string]any{"data": []any{map[string]any{"id": "r1", "type": "rule_chain", "attributes": map[string]any{"hostEndpoint": `(.*)\.verygoodproxy\.com`, "destinationOverrideEndpoint": "https://upstream.example", "entries": []any{vgsEntry(nil)}}}}}),
	}
	for name, in := range shapes {
		t.Run(name, func(t *testing.T) {
			f, rep := convert(t, in)
			if !rep.Complete() || len(f.Routes) != 1 || len(f.Routes[0].Filters) != 1 || f.Routes[0].Upstream != "https://upstream.example" {
				t.Fatalf("routes %+v\nreport:\n%s", f.Routes, rep)
			}
		})
	}
}

// vgs-cli resource files hold other route kinds too: they are reported,
// never dropped silently. Another tool's HTTPRoute (Kubernetes' Gateway
// API) is not a VGS export.
func TestVGSResourceKinds(t *testing.T) {
	route := vgsRoute("r1", nil, vgsEntry(nil))
	in := []byte(`apiVersion: vault.vgs.io/v1beta
kind: SftpRoute
metadata:
  name: my-sftp-route
spec:
  host_endpoint: sftp\.example
---
apiVersion: vault.vgs.io/v1
kind: Vault
metadata:
  name: main
---
`)
	b, err := yaml.Marshal(map[string]any{"apiVersion": "vault.vgs.io/v1", "kind": "HttpRoute", "metadata": map[string]any{"name": "r1"}, "spec": route})
	if err != nil {
		t.Fatal(err)
	}
	f, rep := convert(t, append(in, b...))
	if len(f.Routes) != 1 || len(f.Routes[0].Filters) != 1 {
		t.Fatalf("routes %+v\n%s", f.Routes, rep)
	}
	checkItems(t, rep, []wantItem{{RouteLeftOut, "vault.vgs.io/v1beta SftpRoute is not an HTTP route"}})
	if rep.Items[0].Route != "my-sftp-route" {
		t.Errorf("item names %q", rep.Items[0].Route)
	}

	k8s := []byte(`apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: backend
spec:
  hostnames: [www.example.com]
  rules:
    - backendRefs: [{name: backend, port: 3000}]
`)
	if out, rep, err := Convert(k8s); !errors.Is(err, ErrNotExport) {
		t.Fatalf("a Kubernetes HTTPRoute: %s %s %v; want ErrNotExport", out, rep, err)
	}
}

func TestEmptyExportGivesNoRoutes(t *testing.T) {
	for _, in := range []string{"data: []\nversion: 1\n", "data:\n", `{"data": []}`} {
		out, rep, err := Convert([]byte(in))
		if err != nil || !rep.Complete() {
			t.Fatalf("%q: %v %s", in, err, rep)
		}
		if f := decodeNative(t, out); len(f.Routes) != 0 {
			t.Fatalf("%q: %+v", in, f)
		}
	}
}

func TestInputThatIsNotAnExportIsAnError(t *testing.T) {
	for _, in := range []string{
		"", "   \n", "hello", "42", "[1, 2, 3]", "{}", "foo: bar\n", "data: 3\n", "- a\n- b\n",
		"routes:\n  - id: checkout\n    direction: inbound\n", // a native file
		"data: [\n", "\t{\"data\": [}", "a: 1\na: 2\n",
	} {
		out, rep, err := Convert([]byte(in))
		if err == nil || !errors.Is(err, ErrNotExport) {
			t.Errorf("Convert(%q) = %q, %v, err %v; want ErrNotExport", in, out, rep, err)
		}
	}
}

func TestReportLineFormat(t *testing.T) {
	it := Item{Route: "9a1", Entry: "3c2", Reason: `JSONPath "$..pan" (recursive descent) cannot be expressed`, Effect: EntryLeftOut}
	if got, want := it.String(), `route 9a1: entry 3c2: JSONPath "$..pan" (recursive descent) cannot be expressed; entry left out`; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	it = Item{Route: "9a1", Reason: `protocol "sftp" routes cannot be expressed`, Effect: RouteLeftOut}
	if got, want := it.String(), `route 9a1: protocol "sftp" routes cannot be expressed; route left out`; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	rep := Report{Items: []Item{it, it}}
	if rep.Complete() || strings.Count(rep.String(), "\n") != 2 {
		t.Errorf("report %q", rep.String())
	}
	if (Report{}).String() != "" || !(Report{}).Complete() {
		t.Error("empty report")
	}
	it = Item{Route: "a\nb", Entry: "c\rd", Reason: "x\ny", Effect: Ignored}
	if strings.ContainsAny(it.String(), "\r\n") {
		t.Errorf("multi-line item %q", it.String())
	}
}

// Every unsupported piece of a route is in the report, and in the output's
// header comment; nothing left out appears in the output.
func TestReportListsEveryUnsupportedPiece(t *testing.T) {
	src, err := os.ReadFile("testdata/form-and-regex.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out, rep, err := Convert(src)
	if err != nil {
		t.Fatal(err)
	}
	checkItems(t, rep, []wantItem{
		{EntryLeftOut, `condition on QueryString equals "format=json"`},
		{TargetLeftOut, `JSONPath "$..pan" (recursive descent)`},
		{EntryLeftOut, `REGEX "(?<=pan=)[0-9]{13,19}" on the body: the pattern uses a lookbehind`},
	})
	f := decodeNative(t, out)
	var ids []string
	for _, fl := range f.Routes[0].Filters {
		ids = append(ids, fl.ID)
	}
	for _, it := range rep.Items {
		if it.Route != "9b7e3f1a-0c64-4d28-a5b9-e1d8c2f4a706" {
			t.Errorf("item for route %q", it.Route)
		}
		if !bytes.Contains(out, []byte("#   "+it.String()+"\n")) {
			t.Errorf("output header does not list %s", it)
		}
		if it.Effect == EntryLeftOut && strings.Contains(strings.Join(ids, " "), it.Entry) {
			t.Errorf("left-out entry %s is in the output", it.Entry)
		}
	}
	if rep.Complete() || rep.Routes != 1 || rep.Filters != 3 {
		t.Errorf("report counts %d routes, %d filters", rep.Routes, rep.Filters)
	}
}

func TestOutputIsDeterministic(t *testing.T) {
	src, err := os.ReadFile("testdata/outbound-reveal.yaml")
	if err != nil {
		t.Fatal(err)
	}
	first, _, err := Convert(src)
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		again, _, _ := Convert(src)
		if !bytes.Equal(first, again) {
			t.Fatal("two conversions differ")
		}
	}
	// Map iteration order must not leak in: classifiers keys are sorted.
	in := export(vgsRoute("r1", nil, vgsEntry(func(e map[string]any) {
		e["classifiers"] = map[string]any{"ZZZ": []any{"x"}, "AAA": []any{"y"}, "TAGS": []any{"b", "a"}}
	})))
	a, ra, _ := Convert(in)
	for range 20 {
		b, rb, _ := Convert(in)
		if !bytes.Equal(a, b) || ra.String() != rb.String() {
			t.Fatal("classifiers order leaks map order")
		}
	}
}

func TestKeysThatReadAlikeResolveTheSameWay(t *testing.T) {
	// 1 and 1.0 are different YAML keys that both read as "1".
	in := []byte("data:\n- {id: r1, type: rule_chain, attributes: {host_endpoint: 'a\\.example', destination_override_endpoint: '*', 1: x, 1.0: y, entries: []}}\n")
	first, _, err := Convert(in)
	if err != nil {
		t.Fatal(err)
	}
	for range 50 {
		again, _, _ := Convert(in)
		if !bytes.Equal(first, again) {
			t.Fatal("output depends on map order")
		}
	}
	m, _ := asMap(map[any]any{1: "int", 1.0: "float", "1": "string"})
	if m["1"] != "string" {
		t.Fatalf("a string key does not win: %v", m)
	}
}

// The decoder used by decodeNative refuses keys outside DESIGN.md's schema.
func TestSchemaCheckRefusesUnknownKeys(t *testing.T) {
	bad := "routes:\n  - id: a\n    direction: inbound\n    host: '*'\n    path_prefix: /\n    upstream: http://x\n    leak_guard: log\n    filters: []\n"
	var f nativeFile
	dec := yaml.NewDecoder(strings.NewReader(bad))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err == nil {
		t.Fatal("unknown key accepted")
	}
}

// VGS applies the first route with a matching entry; each native route
// holds, in VGS order, the routes that cover its hosts, and leaves out
// (reported) the ones behind a route that may win where aliasgate cannot
// tell.
func TestFirstMatchPlacement(t *testing.T) {
	out := func(id, host string, entries ...map[string]any) map[string]any {
		return vgsRoute(id, func(a map[string]any) {
			a["destination_override_endpoint"] = "*"
			a["host_endpoint"] = host
		}, entries...)
	}
	entry := func(id, phase string) map[string]any {
		return vgsEntry(func(e map[string]any) {
			e["id"] = id
			e["phase"] = phase
			e["operation"] = "ENRICH"
		})
	}
	headerEntry := vgsEntry(func(e map[string]any) {
		e["id"] = "hdr"
		e["operation"] = "ENRICH"
		e["config"] = ruleGroup("AND", rule("Header", "equals", []any{"X: 1"}))
	})
	type placed map[string][]string // native route host → "group/filter" in order
	tests := []struct {
		name  string
		in    []byte
		want  placed
		items []wantItem
	}{
		{"exact before wildcard: the wildcard route keeps its own",
			export(out("a", `api\.x\.com`, entry("a1", "REQUEST")), out("w", `(.*)\.x\.com`, entry("w1", "REQUEST"))),
			placed{"api.x.com": {"a/a1", "w/w1"}, "*.x.com": {"/w1"}}, nil},
		{"wildcard before exact: the exact host tries the wildcard first",
			export(out("w", `(.*)\.x\.com`, entry("w1", "REQUEST")), out("a", `api\.x\.com`, entry("a1", "REQUEST"))),
			placed{"*.x.com": {"/w1"}, "api.x.com": {"w/w1", "a/a1"}}, nil},
		{"a one-label regex under a wildcard is covered by it",
			export(out("w", `(.*)\.x\.com`, entry("w1", "REQUEST")), out("l", `[a-z]+\.x\.com`, entry("l1", "REQUEST"))),
			placed{"*.x.com": {"/w1"}, "[a-z]+\\.x\\.com": {"w/w1", "l/l1"}}, nil},
		{"a regex before a wildcard: the wildcard route serves only the hosts the regex does not take",
			export(out("l", `[a-z]+\.x\.com`, entry("l1", "REQUEST")), out("w", `(.*)\.x\.com`, entry("w1", "REQUEST"))),
			placed{"[a-z]+\\.x\\.com": {"l/l1", "w/w1"}, "*.x.com": {"/w1"}}, nil},
		{"a route matching some hosts of a more specific selector blocks what follows there",
			export(out("v", `(.*)\.y\.x\.com`, entry("v1", "REQUEST")), out("s", `[a-z.]+\.x\.com`, entry("s1", "REQUEST"))),
			placed{"*.y.x.com": {"/v1"}, "[a-z.]+\\.x\\.com": {}},
			[]wantItem{
				{Narrowed, "its host_endpoint may match some hosts of host_regex [a-z.]+\\.x\\.com"},
				{Narrowed, "left out on host host_regex [a-z.]+\\.x\\.com: VGS route v comes first and matches some hosts"}}},
		{"an entry left out blocks the later routes in its phase only",
			export(out("a", `api\.x\.com`, headerEntry), out("b", `api\.x\.com`, entry("b1", "REQUEST"), entry("b2", "RESPONSE"))),
			placed{"api.x.com": {"/b2"}},
			[]wantItem{{EntryLeftOut, "condition on Header"}, {Narrowed, "left out on host api.x.com: entry hdr of VGS route a"}}},
		{"a response-only route does not block requests",
			export(out("v", `(.*)\.y\.x\.com`, entry("v1", "RESPONSE")), out("s", `[a-z.]+\.x\.com`, entry("s1", "REQUEST"))),
			placed{"*.y.x.com": {"/v1"}, "[a-z.]+\\.x\\.com": {"/s1"}},
			[]wantItem{{Narrowed, "its host_endpoint may match some hosts of host_regex [a-z.]+\\.x\\.com"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, rep := convert(t, tt.in)
			checkItems(t, rep, tt.items)
			got := placed{}
			for _, r := range f.Routes {
				key := r.Host + r.HostRegex
				got[key] = []string{}
				for _, fl := range r.Filters {
					got[key] = append(got[key], fl.Group+"/"+fl.ID)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("placed %v, want %v", got, tt.want)
			}
			differential(t, tt.in, 2000, false)
		})
	}
}

// TestLeftOutRouteStopsLaterRoutes: a VGS route left out whole (a type,
// protocol or source_endpoint aliasgate cannot express, a host pattern it
// cannot read) would still win in VGS, in the phases of its entries, on
// the hosts it matches; the routes after it are not placed there for those
// phases (narrowed, reported), never applied where VGS applies the left-out
// route instead. The first case is the input FuzzConvertNeverWider found
// (testdata/fuzz/FuzzConvertNeverWider/fcddfecc8ce5ee84).
func TestLeftOutRouteStopsLaterRoutes(t *testing.T) {
	route := func(id, host string, mod func(a map[string]any), phases ...string) map[string]any {
		var entries []map[string]any
		for i, ph := range phases {
			entries = append(entries, vgsEntry(func(e map[string]any) {
				e["id"] = fmt.Sprintf("%s%d", id, i+1)
				e["phase"] = ph
				e["operation"] = "ENRICH"
			}))
		}
		return vgsRoute(id, func(a map[string]any) {
			a["destination_override_endpoint"] = "*"
			a["host_endpoint"] = host
			if mod != nil {
				mod(a)
			}
		}, entries...)
	}
	set := func(k string, v any) func(a map[string]any) { return func(a map[string]any) { a[k] = v } }
	fuzzFound, err := os.ReadFile("testdata/fuzz/FuzzConvertNeverWider/fcddfecc8ce5ee84")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		in    []byte
		want  map[string][]string // native route host → filter ids
		items []wantItem
	}{
		{"the fuzz input: a route of another type before a regex on its hosts",
			fuzzInput(t, fuzzFound),
			map[string][]string{"(.*)m": {}},
			[]wantItem{{RouteLeftOut, `type "n" is not an HTTP route`}, {Narrowed, "left out on host host_regex (.*)m: VGS route a, left out, comes first"}}},
		{"another protocol",
			export(route("a", `api\.x\.com`, set("protocol", "tcp"), "REQUEST"), route("b", `(.*)\.x\.com`, nil, "REQUEST")),
			map[string][]string{"*.x.com": {}},
			[]wantItem{{RouteLeftOut, `protocol "tcp"`}, {Narrowed, "left out on host *.x.com: VGS route a, left out"}}},
		{"a source_endpoint on the same host",
			export(route("a", `api\.x\.com`, set("source_endpoint", "10.0.0.0/8"), "REQUEST"), route("b", `api\.x\.com`, nil, "REQUEST", "RESPONSE")),
			map[string][]string{"api.x.com": {"b2"}},
			[]wantItem{{RouteLeftOut, "source_endpoint"}, {Narrowed, "left out on host api.x.com: VGS route a, left out"}}},
		{"an outbound route to every host stops every later outbound route",
			export(route("a", `.*`, nil, "REQUEST"), route("b", `api\.x\.com`, nil, "REQUEST")),
			map[string][]string{"api.x.com": {}},
			[]wantItem{{RouteLeftOut, "matches every destination"}, {Narrowed, "left out on host api.x.com: VGS route a, left out"}}},
		{"only in the phases of its entries",
			export(route("a", `api\.x\.com`, set("protocol", "tcp"), "RESPONSE"), route("b", `api\.x\.com`, nil, "REQUEST")),
			map[string][]string{"api.x.com": {"b1"}},
			[]wantItem{{RouteLeftOut, `protocol "tcp"`}}},
		{"not on hosts it cannot match",
			export(route("a", `api\.y\.com`, set("protocol", "tcp"), "REQUEST"), route("b", `api\.x\.com`, nil, "REQUEST")),
			map[string][]string{"api.x.com": {"b1"}},
			[]wantItem{{RouteLeftOut, `protocol "tcp"`}}},
		{"not after it",
			export(route("b", `api\.x\.com`, nil, "REQUEST"), route("a", `api\.x\.com`, set("protocol", "tcp"), "REQUEST")),
			map[string][]string{"api.x.com": {"b1"}},
			[]wantItem{{RouteLeftOut, `protocol "tcp"`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, rep := convert(t, tt.in)
			checkItems(t, rep, tt.items)
			got := map[string][]string{}
			for _, r := range f.Routes {
				key := r.Host + r.HostRegex
				got[key] = []string{}
				for _, fl := range r.Filters {
					got[key] = append(got[key], fl.ID)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("placed %v, want %v", got, tt.want)
			}
			differential(t, tt.in, 2000, false)
		})
	}
}

// fuzzInput returns the []byte of a "go test fuzz v1" corpus file.
func fuzzInput(t *testing.T, file []byte) []byte {
	t.Helper()
	_, lit, ok := strings.Cut(strings.TrimSpace(string(file)), "\n")
	lit, ok2 := strings.CutPrefix(lit, "[]byte(")
	lit, ok3 := strings.CutSuffix(lit, ")")
	s, err := strconv.Unquote(lit)
	if !ok || !ok2 || !ok3 || err != nil {
		t.Fatalf("not a one-value fuzz corpus file: %q", file)
	}
	return []byte(s)
}

// TestUnescapedDotStopsWhatVGSMatches: a host_endpoint with an unescaped
// '.' (any character in VGS) converts to the host with a literal dot
// (narrowed), but the routes after it are stopped wherever VGS would match
// it: behind api.x.com, left out whole or converted, a route on apixx.com
// applies no filter where VGS applies the first route's entry instead. A
// later route on a host the pattern cannot match (api.y.com) stays.
func TestUnescapedDotStopsWhatVGSMatches(t *testing.T) {
	route := func(id, host string, protocol string) map[string]any {
		return vgsRoute(id, func(a map[string]any) {
			a["destination_override_endpoint"] = "*"
			a["host_endpoint"] = host
			if protocol != "" {
				a["protocol"] = protocol
			}
		}, vgsEntry(func(e map[string]any) {
			e["id"] = id + "1"
			e["operation"] = "ENRICH"
		}))
	}
	tests := []struct {
		name     string
		protocol string // of the first route; "tcp" leaves it out whole
		later    string // the later route's host_endpoint
		want     map[string][]string
		items    []wantItem
	}{
		{"left out, a host it matches as VGS reads it", "tcp", `apixx\.com`,
			map[string][]string{"apixx.com": {}},
			[]wantItem{{RouteLeftOut, `protocol "tcp"`}, {Narrowed, "left out on host apixx.com: VGS route a, left out"}}},
		{"converted, a host it matches as VGS reads it", "", `apixx\.com`,
			map[string][]string{"api.x.com": {"a1"}, "apixx.com": {}},
			[]wantItem{{Narrowed, "unescaped '.'"}, {Narrowed, "may match some hosts of apixx.com"}, {Narrowed, "left out on host apixx.com: VGS route a comes first"}}},
		{"left out, a host it cannot match", "tcp", `api\.y\.com`,
			map[string][]string{"api.y.com": {"b1"}},
			[]wantItem{{RouteLeftOut, `protocol "tcp"`}}},
		{"converted, a host it cannot match", "", `api\.y\.com`,
			map[string][]string{"api.x.com": {"a1"}, "api.y.com": {"b1"}},
			[]wantItem{{Narrowed, "unescaped '.'"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := export(route("a", `api.x.com`, tt.protocol), route("b", tt.later, ""))
			f, rep := convert(t, in)
			checkItems(t, rep, tt.items)
			got := map[string][]string{}
			for _, r := range f.Routes {
				got[r.Host+r.HostRegex] = []string{}
				for _, fl := range r.Filters {
					got[r.Host+r.HostRegex] = append(got[r.Host+r.HostRegex], fl.ID)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("placed %v, want %v", got, tt.want)
			}
			// The model of VGS and the converted routes on the later
			// route's host, where the first route's pattern may match.
			out, _, err := Convert(in)
			if err != nil {
				t.Fatal(err)
			}
			set, err := routes.Parse(out, "converted", routes.Options{})
			if err != nil {
				t.Fatal(err)
			}
			model, err := readModel(in)
			if err != nil {
				t.Fatal(err)
			}
			host := strings.ReplaceAll(tt.later, `\`, "")
			req := modelRequest{outbound: true, host: host, port: "443", method: "POST", path: "/pay", ctype: "application/json"}
			want, known := modelApplied(model, req, "request")
			if !known || len(want) != 1 {
				t.Fatalf("the model applies %v (known %v) on %s", want, known, host)
			}
			for _, id := range nativeApplied(set, req, "request") {
				if id != want[0] {
					t.Errorf("on %s native filter %s applies, VGS applies %v", host, id, want)
				}
			}
			differential(t, in, 2000, false)
		})
	}
}

// A JSON export is read as JSON whatever byte order mark or encoding an
// editor saved it with: testdata/escaped-slashes.json writes "/" as "\/",
// as PHP's json_encode does. With a UTF-8 byte order mark (Windows
// editors) or as UTF-16 (PowerShell 5's redirection), it was read as YAML,
// which refuses "\/": "cannot parse input as YAML or JSON: yaml: line 6:
// found unknown escape character", exit 2, for an export any JSON reader
// takes. Input that is neither says what JSON found wrong, not only YAML.
func TestJSONExportInAnyEncodingIsReadAsJSON(t *testing.T) {
	src, err := os.ReadFile("testdata/escaped-slashes.json")
	if err != nil {
		t.Fatal(err)
	}
	want, rep, err := Convert(src)
	if err != nil || !rep.Complete() || !bytes.Contains(want, []byte("upstream: https://checkout.example-shop.test")) ||
		!bytes.Contains(want, []byte("path_info: /api/v1/checkout")) {
		t.Fatalf("plain: err %v, report %s\n%s", err, rep, want)
	}
	utf16Of := func(order binary.ByteOrder, bom []byte) []byte {
		out := bom
		for _, u := range utf16.Encode([]rune(string(src))) {
			out = append(out, 0, 0)
			order.PutUint16(out[len(out)-2:], u)
		}
		return out
	}
	for name, in := range map[string][]byte{
		"UTF-8 byte order mark":    append([]byte{0xef, 0xbb, 0xbf}, src...),
		"CRLF and byte order mark": append([]byte{0xef, 0xbb, 0xbf}, bytes.ReplaceAll(src, []byte("\n"), []byte("\r\n"))...),
		"UTF-16LE":                 utf16Of(binary.LittleEndian, []byte{0xff, 0xfe}),
		"UTF-16BE":                 utf16Of(binary.BigEndian, []byte{0xfe, 0xff}),
	} {
		got, _, err := Convert(in)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: err %v, output\n%s", name, err, got)
		}
	}

	broken := bytes.Replace(src, []byte(`"version": 1`), []byte(`"version": 1,`), 1)
	_, _, err = Convert(append([]byte{0xef, 0xbb, 0xbf}, broken...))
	if !errors.Is(err, ErrNotExport) || !strings.Contains(err.Error(), "as JSON (invalid character '}'") {
		t.Errorf("a trailing comma: %v; want the JSON error named", err)
	}
}

// A transformer_config_map setting the conversion does not read (the
// dashboard's tokenDecorator, which reshapes the aliases a redact makes)
// is reported; it was dropped and the import said every entry was
// converted (testdata/token-decorator.yaml).
func TestUnreadTransformerSettingsAreReported(t *testing.T) {
	src, err := os.ReadFile("testdata/token-decorator.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f, rep := convert(t, src)
	if len(f.Routes) != 1 || len(f.Routes[0].Filters) != 1 || f.Routes[0].Filters[0].Targets[0].JSON != "card.number" {
		t.Fatalf("routes: %+v", f.Routes)
	}
	if len(rep.Items) != 1 || rep.Items[0].Effect != Ignored || !strings.Contains(rep.Items[0].Reason, `transformer_config_map "tokenDecorator"`) {
		t.Fatalf("report:\n%s", rep)
	}
}
