package main

import (
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// TestRetryThroughTheRedactRouteGetsTheFirstAnswer: the README's way of
// sending raw card data to the Card Management API (an inbound route in
// front of internal:cards redacting pan_alias and cvc_alias) and its
// Idempotency-Key go together: a retry of the same request with the same
// key gets the first answer again (Idempotent-Replayed), not a 422 for a
// body that differs only by the aliases the route made for it.
func TestRetryThroughTheRedactRouteGetsTheFirstAnswer(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	env := rawCardRouteEnv(t, dir)
	cred := createClient(t, env, data, "--name", "shop", "--scopes", "cards:write,cards:read")
	g := startGateway(t, env, "--data-dir", data)
	bearer := bearerToken(t, g, cred)
	for _, c := range []struct{ name, method, path, body string }{
		{"create", "POST", "/cards", `{"data":{"type":"cards","attributes":{"pan_alias":"4111111111111111","cvc_alias":"123","exp_month":4,"exp_year":2030}}}`},
		{"create without cvc", "POST", "/cards", `{"data":{"type":"cards","attributes":{"pan_alias":"5555555555554444","exp_month":4,"exp_year":2030}}}`},
	} {
		var first, second *http.Response
		var firstBody, secondBody []byte
		for i, out := range []**http.Response{&first, &second} {
			req, _ := http.NewRequest(c.method, g.inbound+c.path, strings.NewReader(c.body))
			req.Header.Set("Content-Type", jsonAPIType)
			req.Header.Set("Idempotency-Key", "retry-"+strings.ReplaceAll(c.name, " ", "-"))
			bearer(req)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			*out = res
			if i == 0 {
				firstBody = b
			} else {
				secondBody = b
			}
		}
		var d1, d2 struct{ Data struct{ ID string } }
		json.Unmarshal(firstBody, &d1)
		json.Unmarshal(secondBody, &d2)
		if first.StatusCode != 201 || second.StatusCode != 201 || second.Header.Get("Idempotent-Replayed") != "true" || d1.Data.ID == "" || d1.Data.ID != d2.Data.ID {
			t.Errorf("%s: first %d %s, retry %d %q %s", c.name, first.StatusCode, firstBody, second.StatusCode, second.Header.Get("Idempotent-Replayed"), secondBody)
		}
	}
}
