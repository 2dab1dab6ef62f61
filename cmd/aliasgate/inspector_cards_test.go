package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestInspectorKeepsNoCryptogramOrTokenPAN: the Card Management API's
// answers to a PCI client — a provisioned network token, a cryptogram —
// pass the inbound listener, whose exchanges the inspector captures; none
// of what it serves holds the cryptogram or the token PAN, nor the card's
// PAN or CVC. The cryptogram was kept and served in clear (only card-like
// numbers and values under CVC- or secret-like names were masked).
func TestInspectorKeepsNoCryptogramOrTokenPAN(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	env := testEnv(map[string]string{"ALIASGATE_ADMIN_UI": "true", "ALIASGATE_ADMIN_TOKEN": testAdminToken})
	shop := createClient(t, env, data, "--name", "shop", "--account", "acct_1", "--pci",
		"--scopes", "cards:read,cards:write,network-tokens:write")
	g := startGateway(t, env, "--data-dir", data)
	bearer := bearerToken(t, g, shop)
	const ja = "application/vnd.api+json"
	status, b := call(t, "POST", g.inbound+"/cards", ja,
		`{"data":{"attributes":{"pan":"4111111111111111","cvc":"737","exp_month":4,"exp_year":2030}}}`, bearer)
	var card struct{ Data struct{ ID string } }
	if status != 201 || json.Unmarshal(b, &card) != nil {
		t.Fatalf("create: %d %s", status, b)
	}
	var tok struct {
		Data struct {
			Attributes struct {
				NetworkToken string `json:"network_token"`
				Cryptogram   struct{ Value string }
			}
		}
	}
	status, b = call(t, "POST", g.inbound+"/cards/"+card.Data.ID+"/network-tokens", ja, "", bearer)
	if status != 200 || json.Unmarshal(b, &tok) != nil || tok.Data.Attributes.NetworkToken == "" {
		t.Fatalf("provision: %d %s", status, b)
	}
	tokenPAN := tok.Data.Attributes.NetworkToken
	var crypts []string
	for _, body := range []string{`{"data":{"attributes":{}}}`, `{"data":{"attributes":{"transaction_type":"card_on_file"}}}`} {
		status, b = call(t, "POST", g.inbound+"/cards/"+card.Data.ID+"/cryptogram", ja, body, bearer)
		if status != 200 || json.Unmarshal(b, &tok) != nil || tok.Data.Attributes.Cryptogram.Value == "" {
			t.Fatalf("cryptogram: %d %s", status, b)
		}
		crypts = append(crypts, tok.Data.Attributes.Cryptogram.Value)
	}
	served := map[string]string{}
	get := func(path string) []byte {
		status, b := inspectorCall(t, g, "GET", path, nil)
		if status != 200 {
			t.Fatalf("GET %s: %d %s", path, status, b)
		}
		served[path] = string(b)
		return b
	}
	var list struct{ Captures []struct{ ID uint64 } }
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if err := json.Unmarshal(get("/ui/api/captures"), &list); err != nil {
			t.Fatal(err)
		}
		if len(list.Captures) >= 4 || time.Now().After(deadline) {
			break
		}
	}
	if len(list.Captures) < 4 {
		t.Fatalf("%d captures, want 4", len(list.Captures))
	}
	for _, c := range list.Captures {
		get(fmt.Sprintf("/ui/api/captures/%d", c.ID))
	}
	for what, s := range served {
		for _, secret := range append([]string{tokenPAN, "4111111111111111", `"cvc":"737"`}, crypts...) {
			for _, d := range decodings(s) {
				if strings.Contains(d, secret) {
					i := strings.Index(d, secret)
					t.Errorf("the inspector's %s holds %q (near %q)", what, secret, d[max(i-80, 0):min(i+40, len(d))])
				}
			}
		}
	}
}
