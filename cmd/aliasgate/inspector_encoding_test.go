package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestInspectorPreviewReadsABodyAsTheGatewayDecodesIt sends gzip JSON
// requests through a real gateway under Content-Encoding spellings the
// proxies decode ("gzip", "gzip, identity", "identity" then "gzip" as two
// fields), each tokenized by the route's filter, and previews the same
// routes on each capture: the preview must read the body as the gateway
// did, the card number redacted by the filter and nothing refused.
func TestInspectorPreviewReadsABodyAsTheGatewayDecodesIt(t *testing.T) {
	up := newEchoUpstream(t)
	routesYAML := strings.ReplaceAll(inspectedRoutes, "{{UP}}", up.URL)
	g, _ := inspectorGateway(t, routesYAML, nil)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(`{"card":{"number":"4111111111111111","code":"4021"}}`))
	zw.Close()
	spellings := [][]string{{"gzip"}, {"gzip, identity"}, {"identity", "gzip"}}
	for _, enc := range spellings {
		status, b := call(t, "POST", g.inbound+"/shop/checkout", "application/json", gz.String(), func(r *http.Request) {
			r.Header["Content-Encoding"] = enc
		})
		if status != 200 {
			t.Fatalf("Content-Encoding %q: the gateway answered %d %s", enc, status, b)
		}
	}
	ids := waitCaptures(t, g, len(spellings))
	for _, id := range ids {
		status, b := inspectorCall(t, g, "GET", fmt.Sprintf("/ui/api/captures/%d", id), nil)
		if status != 200 {
			t.Fatalf("capture %d: %d %s", id, status, b)
		}
		var c struct {
			Request struct {
				Received struct {
					Headers []struct{ Name, Value string }
				}
			}
		}
		json.Unmarshal(b, &c)
		var enc []string
		for _, h := range c.Request.Received.Headers {
			if strings.EqualFold(h.Name, "Content-Encoding") {
				enc = append(enc, h.Value)
			}
		}
		status, pb := inspectorCall(t, g, "POST", "/ui/api/preview", map[string]any{"capture": id, "yaml": routesYAML})
		var p struct {
			Route   string
			Refused string
			Filters []struct {
				ID      string
				Error   string
				Changes []struct {
					Path  string
					Count int
				}
			}
		}
		if status != 200 || json.Unmarshal(pb, &p) != nil {
			t.Fatalf("preview of capture %d (Content-Encoding %q): %d %s", id, enc, status, pb)
		}
		redacted := 0
		for _, f := range p.Filters {
			for _, ch := range f.Changes {
				if f.ID == "card-in" && ch.Path == "card.number" {
					redacted += ch.Count
				}
			}
		}
		if p.Route != "shop" || p.Refused != "" || redacted != 1 {
			t.Errorf("preview of a request the gateway tokenized (Content-Encoding %q): %s", enc, pb)
		}
	}
}
