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
