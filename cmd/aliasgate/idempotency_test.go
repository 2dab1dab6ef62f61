package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestIdempotencyKeysAcrossGateways: two gateways on one PostgreSQL
// database: a create and a PATCH sent to A with an Idempotency-Key and
// retried on B are applied once (B answers the first answer again, with
// Idempotent-Replayed), and the key with another body is refused on B.
func TestIdempotencyKeysAcrossGateways(t *testing.T) {
	pgURL := testPostgresURL(t)
	env := []string{"ALIASGATE_MASTER_KEY=" + newMasterKey()}
	cfgA, cfgB := sharedConfig(t, pgURL, testRedisURL(), ""), sharedConfig(t, pgURL, testRedisURL(), "")
	a := startChild(t, cfgA, env...)
	b := startChild(t, cfgB, env...)
	var c credential
	out := cliRun(t, env, "clients", "create", "--config", cfgA, "--name", "shop", "--account", "acct_1",
		"--scopes", "cards:read,cards:write")
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatalf("clients create printed %q", out)
	}
	tok := bearerAuth(token(t, a.inbound, c))
	send := func(base, method, path, key, body string) (int, http.Header, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/vnd.api+json")
		req.Header.Set("Idempotency-Key", key)
		tok(req)
		noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		res, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var doc map[string]any
		_ = json.NewDecoder(res.Body).Decode(&doc)
		return res.StatusCode, res.Header, doc
	}
	create := `{"data":{"attributes":{"pan":"4111111111111111","cvc":"123","exp_month":4,"exp_year":2030}}}`
	st, _, doc := send(a.inbound, "POST", "/cards", "checkout-7", create)
	if st != 201 {
		t.Fatalf("create on A: %d %v", st, doc)
	}
	id := doc["data"].(map[string]any)["id"].(string)
	st, hdr, doc := send(b.inbound, "POST", "/cards", "checkout-7", create)
	if st != 201 || hdr.Get("Idempotent-Replayed") != "true" || doc["data"].(map[string]any)["id"] != id {
		t.Fatalf("retry on B: %d %v %v", st, hdr, doc)
	}
	patch := `{"data":{"attributes":{"exp_month":5,"exp_year":2031}}}`
	st, _, doc = send(a.inbound, "PATCH", "/cards/"+id, "upd-7", patch)
	if st != 200 || doc["included"] == nil {
		t.Fatalf("patch on A: %d %v", st, doc)
	}
	updID := doc["included"].([]any)[0].(map[string]any)["id"]
	st, hdr, doc = send(b.inbound, "PATCH", "/cards/"+id, "upd-7", patch)
	if st != 200 || hdr.Get("Idempotent-Replayed") != "true" || doc["included"].([]any)[0].(map[string]any)["id"] != updID {
		t.Fatalf("patch retried on B: %d %v %v", st, hdr, doc)
	}
	if st, _, doc = send(b.inbound, "PATCH", "/cards/"+id, "upd-7", `{"data":{"attributes":{"exp_month":6}}}`); st != 422 {
		t.Fatalf("the key with another body on B: %d %v", st, doc)
	}
	status, body := call(t, "GET", b.inbound+"/cards/"+id+"?include=card_updates", "", "", tok)
	var got struct {
		Included []any `json:"included"`
	}
	if status != 200 || json.Unmarshal(body, &got) != nil || len(got.Included) != 1 {
		t.Fatalf("card updates after retries: %d %s, want exactly one", status, body)
	}
}
