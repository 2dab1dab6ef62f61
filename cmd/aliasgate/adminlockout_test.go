package main

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/internal/lockout"
)

// TestAdminTokenLockoutIsPerAddressAndShared: on a running gateway, wrong
// admin tokens from 127.0.0.2, at the key endpoints and at the inspector's
// API, count together and lock that address out of both; the operator at
// 127.0.0.1 is not affected; the lockout is counted in
// aliasgate_admin_lockouts_total and logged with the address.
func TestAdminTokenLockoutIsPerAddressAndShared(t *testing.T) {
	g, _ := inspectorGateway(t, "routes: []\n", nil)
	attacker := loopbackClient(t, "127.0.0.2")
	do := func(c *http.Client, path, token string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", g.admin+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		_, _ = io.Copy(io.Discard, res.Body)
		return res.StatusCode, res.Header.Get("Retry-After")
	}
	paths := []string{"/admin/keys/status", "/ui/api/captures"}
	for i := range lockout.DefaultFree + 1 {
		if code, _ := do(attacker, paths[i%2], "wrong-admin-token-wrong"); code != http.StatusUnauthorized {
			t.Fatalf("wrong token %d at %s: %d", i+1, paths[i%2], code)
		}
	}
	for _, p := range paths {
		if code, after := do(attacker, p, testAdminToken); code != http.StatusTooManyRequests || after == "" {
			t.Fatalf("the right token from the locked-out address at %s: %d, Retry-After %q", p, code, after)
		}
		if code, _ := do(http.DefaultClient, p, testAdminToken); code != http.StatusOK {
			t.Fatalf("the operator at %s: %d", p, code)
		}
	}
	code, body := call(t, "GET", g.admin+"/metrics", "", "", nil)
	if code != 200 || !strings.Contains(string(body), "\naliasgate_admin_lockouts_total 1\n") {
		t.Fatalf("metrics: %d, lockouts line missing:\n%s", code, body)
	}
	if log := g.stderr.String(); !strings.Contains(log, "locked out after wrong admin tokens") || !strings.Contains(log, `"address":"127.0.0.2"`) {
		t.Fatalf("the lockout is not logged with the address:\n%s", log)
	}
}
