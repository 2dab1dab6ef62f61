package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestInspectorPreviewOfABodyNotKeptSaysSo: the inspector keeps the start of
// a body (admin.ui_capture_body) and withholds bodies it cannot mask. The
// route preview ran the proposal on what it kept — the start of a JSON body
// whose card number lies past the cut — and answered 200 "matched, no
// target found", though the gateway redacted that number: an operator
// trusting it would think the route misses the field, or that a route that
// does miss it works. Now a preview of a capture whose request body is
// truncated or withheld answers 422 naming why (body_unavailable and the
// capture's note), running nothing.
func TestInspectorPreviewOfABodyNotKeptSaysSo(t *testing.T) {
	up := newEchoUpstream(t)
	routesYAML := strings.ReplaceAll(inspectedRoutes, "{{UP}}", up.URL)
	g, _ := inspectorGateway(t, routesYAML, map[string]string{"ALIASGATE_ADMIN_UI_CAPTURE_BODY": "1KiB"})
	body := `{"note":"` + strings.Repeat("x", 2048) + `","card":{"number":"4111111111111111","code":"4021"}}`
	status, b := call(t, "POST", g.inbound+"/shop/checkout", "application/json", body, nil)
	if status != 200 || strings.Contains(string(b), "4111111111111111") {
		t.Fatalf("the gateway answered %d %s", status, b)
	}
	ids := waitCaptures(t, g, 1)
	status, pb := inspectorCall(t, g, "POST", "/ui/api/preview", map[string]any{"capture": ids[0], "yaml": routesYAML})
	var p struct {
		Error           string
		BodyUnavailable string `json:"body_unavailable"`
		Reason          string
	}
	if status != http.StatusUnprocessableEntity || json.Unmarshal(pb, &p) != nil || p.BodyUnavailable != "truncated" ||
		!strings.Contains(p.Error, "not available") || !strings.Contains(p.Reason, "1 KiB") {
		t.Fatalf("preview of a capture whose body was cut at 1 KiB: %d %s, want 422 body_unavailable truncated", status, pb)
	}
	if strings.Contains(string(pb), "4111111111111111") {
		t.Fatal("the preview answer holds the card number")
	}
}
