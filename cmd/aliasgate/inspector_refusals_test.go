package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestInspectorPreviewAnswersTheGatewaysRefusal sends requests the real
// gateway refuses before forwarding (Content-Type fields that differ on a
// redacting route: 400 malformed_body; a UTF-16 charset: 415
// unsupported_charset) and one it forwards, then previews the same routes
// on each capture: the preview must answer the gateway's status and code,
// and none for the forwarded one. It said nothing of a refusal (the
// filter applied, nothing refused) for the first two.
func TestInspectorPreviewAnswersTheGatewaysRefusal(t *testing.T) {
	up := newEchoUpstream(t)
	routesYAML := strings.ReplaceAll(inspectedRoutes, "{{UP}}", up.URL)
	g, _ := inspectorGateway(t, routesYAML, nil)
	body := `{"card":{"number":"4111111111111111","code":"4021"}}`
	for i, c := range []struct {
		name string
		cts  []string
	}{
		{"Content-Type fields that differ", []string{"application/json", "text/plain"}},
		{"a UTF-16 charset", []string{"application/json; charset=utf-16"}},
		{"one JSON body", []string{"application/json"}},
	} {
		status, b := call(t, "POST", g.inbound+"/shop/checkout", "", body, func(r *http.Request) {
			r.Header["Content-Type"] = c.cts
		})
		code := ""
		if status != 200 {
			var e struct{ Errors []struct{ Code string } }
			if json.Unmarshal(b, &e) != nil || len(e.Errors) == 0 {
				t.Fatalf("%s: the gateway answered %d %s", c.name, status, b)
			}
			code = e.Errors[0].Code
		}
		id := waitCaptures(t, g, i+1)[0] // newest first
		ps, pb := inspectorCall(t, g, "POST", "/ui/api/preview", map[string]any{"capture": id, "yaml": routesYAML})
		var p struct {
			Status int
			Code   string
		}
		if ps != 200 || json.Unmarshal(pb, &p) != nil {
			t.Fatalf("%s: preview: %d %s", c.name, ps, pb)
		}
		want, got := fmt.Sprintf("%d %s", status, code), fmt.Sprintf("%d %s", p.Status, p.Code)
		if status == 200 {
			want = "0 "
		}
		if got != want {
			t.Errorf("%s: the gateway answered %s, the preview says %s: %s", c.name, want, got, pb)
		}
	}
}

// TestInspectorPreviewAnswersMaxBodyAndRevealRouteAsTheGateway runs a
// gateway with limits.max_body of 8 KiB, sends requests it refuses for
// its body's size (over max_body: 413; made longer than max_body by a
// UUID alias: 413) or before any route (Aliasgate-Reveal-Route to /cards:
// 403 forwarded_by_reveal_route) and one it forwards, and previews the
// same routes on each capture: the preview answers what the gateway
// answered. It forwarded all of them.
func TestInspectorPreviewAnswersMaxBodyAndRevealRouteAsTheGateway(t *testing.T) {
	up := newEchoUpstream(t)
	routesYAML := strings.ReplaceAll(`routes:
  - id: shop
    direction: inbound
    host: "*"
    path_prefix: /shop/
    upstream: {{UP}}
    filters:
      - {id: card-in, match: {content_type: json}, operation: redact, targets: [{json: card.number, format: UUID}]}
  - id: wallet
    direction: inbound
    host: "*"
    path_prefix: /cards
    forward_reserved: [/cards]
    upstream: {{UP}}
    filters:
      - {id: show, phase: response, operation: reveal, on_error: pass, targets: [{json: data.attributes.pan_alias}]}
`, "{{UP}}", up.URL)
	const maxBody = 8 << 10
	g, _ := inspectorGateway(t, routesYAML, map[string]string{
		"ALIASGATE_LIMITS_MAX_BODY":         "8KiB",
		"ALIASGATE_LIMITS_MAX_HEADER_BYTES": "4KiB",
		"ALIASGATE_ADMIN_UI_CAPTURE_BODY":   "32KiB",
	})
	card := func(pad int) string {
		return `{"card":{"number":"4111111111111111"},"pad":"` + strings.Repeat("x", pad) + `"}`
	}
	for i, c := range []struct {
		name, path, body string
		header           map[string]string
	}{
		{"a body over max_body", "/shop/checkout", card(maxBody), nil},
		{"a body a UUID alias makes longer than max_body", "/shop/checkout", card(maxBody - len(card(0)) - 4), nil},
		{"Aliasgate-Reveal-Route to /cards", "/cards/c1", `{"a":1}`, map[string]string{"Aliasgate-Reveal-Route": "elsewhere"}},
		{"a small body", "/shop/checkout", card(10), nil},
	} {
		status, b := call(t, "POST", g.inbound+c.path, "", c.body, func(r *http.Request) {
			r.Header.Set("Content-Type", "application/json")
			for k, v := range c.header {
				r.Header.Set(k, v)
			}
		})
		code := ""
		if status != 200 {
			var e struct{ Errors []struct{ Code string } }
			if json.Unmarshal(b, &e) != nil || len(e.Errors) == 0 {
				t.Fatalf("%s: the gateway answered %d %s", c.name, status, b)
			}
			code = e.Errors[0].Code
		}
		id := waitCaptures(t, g, i+1)[0] // newest first
		ps, pb := inspectorCall(t, g, "POST", "/ui/api/preview", map[string]any{"capture": id, "yaml": routesYAML})
		var p struct {
			Status      int
			Code        string
			Unavailable string `json:"body_unavailable"`
		}
		if json.Unmarshal(pb, &p) != nil {
			t.Fatalf("%s: preview: %d %.300s", c.name, ps, pb)
		}
		if ps == http.StatusUnprocessableEntity && p.Unavailable == "truncated" && status == http.StatusRequestEntityTooLarge {
			// The gateway read max_body + 1 bytes of it and refused it:
			// the capture holds no more, and the preview says so rather
			// than run on a part (bodyUnavailable).
			continue
		}
		if ps != 200 {
			t.Fatalf("%s: preview: %d %.300s", c.name, ps, pb)
		}
		want, got := fmt.Sprintf("%d %s", status, code), fmt.Sprintf("%d %s", p.Status, p.Code)
		if status == 200 {
			want = "0 "
		}
		if got != want {
			t.Errorf("%s: the gateway answered %s, the preview says %s: %.300s", c.name, want, got, pb)
		}
	}
}
