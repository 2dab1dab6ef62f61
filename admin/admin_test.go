package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aliasgate/aliasgate/vault"
)

const token = "0123456789abcdef-admin-token"

// fakeKeys is a keyring at version current whose rotations add one.
type fakeKeys struct {
	mu        sync.Mutex
	current   uint32
	rotateErr error
	statusErr error
	progress  vault.RekeyProgress
}

func (k *fakeKeys) Rotate(context.Context) (uint32, bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.rotateErr != nil {
		return 0, false, k.rotateErr
	}
	k.current++
	return k.current, true, nil
}

func (k *fakeKeys) Status(context.Context) (vault.KeyStatus, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.statusErr != nil {
		return vault.KeyStatus{}, k.statusErr
	}
	var vs []uint32
	for v := uint32(1); v <= k.current; v++ {
		vs = append(vs, v)
	}
	return vault.KeyStatus{Current: k.current, Versions: vs, Reencryption: k.progress}, nil
}

// serve starts the admin handler of opts and returns a request function.
func serve(t *testing.T, opts Options) func(method, path, authz string) (*http.Response, map[string]any) {
	t.Helper()
	srv := httptest.NewServer(New(opts))
	t.Cleanup(srv.Close)
	return func(method, path, authz string) (*http.Response, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		var doc map[string]any
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatalf("%s %s: body %q is not JSON: %v", method, path, body, err)
		}
		if res.Header.Get("Content-Type") != "application/json" || res.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s %s: Content-Type %q, Cache-Control %q", method, path,
				res.Header.Get("Content-Type"), res.Header.Get("Cache-Control"))
		}
		return res, doc
	}
}

func TestKeyEndpointsNeedTheToken(t *testing.T) {
	do := serve(t, Options{Token: token, Keys: &fakeKeys{current: 1}})
	tests := []struct {
		name, authz string
		want        int
	}{
		{"no header", "", http.StatusUnauthorized},
		{"wrong token", "Bearer wrong-token-wrong-token", http.StatusUnauthorized},
		{"token as Basic", "Basic " + token, http.StatusUnauthorized},
		{"token without scheme", token, http.StatusUnauthorized},
		{"token prefix", "Bearer " + token[:len(token)-1], http.StatusUnauthorized},
		{"token", "Bearer " + token, http.StatusOK},
		{"token with trailing space", "Bearer " + token + " ", http.StatusOK},
		// RFC 9110 §11.1: the scheme is case-insensitive, as the APIs
		// (auth.Service.Require) and the inspector take it.
		{"lower-case scheme", "bearer " + token, http.StatusOK},
		{"upper-case scheme", "BEARER " + token, http.StatusOK},
		{"spaces after the scheme", "Bearer   " + token, http.StatusOK},
		{"lower-case scheme, wrong token", "bearer wrong-token-wrong-token", http.StatusUnauthorized},
	}
	for _, tt := range tests {
		for _, ep := range []struct{ method, path string }{{"GET", "/admin/keys/status"}, {"POST", "/admin/keys/rotate"}} {
			res, doc := do(ep.method, ep.path, tt.authz)
			if res.StatusCode != tt.want {
				t.Errorf("%s: %s %s = %d, want %d", tt.name, ep.method, ep.path, res.StatusCode, tt.want)
			}
			if tt.want == http.StatusUnauthorized {
				if res.Header.Get("WWW-Authenticate") != `Bearer realm="aliasgate-admin"` || doc["error"] == nil {
					t.Errorf("%s: challenge %q, body %v", tt.name, res.Header.Get("WWW-Authenticate"), doc)
				}
			}
		}
	}
}

func TestKeyEndpointsOffWithoutAToken(t *testing.T) {
	keys := &fakeKeys{current: 1}
	do := serve(t, Options{Keys: keys})
	for _, authz := range []string{"", "Bearer ", "Bearer x"} {
		res, doc := do("POST", "/admin/keys/rotate", authz)
		if res.StatusCode != http.StatusForbidden || !strings.Contains(doc["error"].(string), "admin.token") {
			t.Fatalf("rotate with %q and no token configured: %d %v", authz, res.StatusCode, doc)
		}
	}
	if keys.current != 1 {
		t.Fatal("a refused request rotated")
	}
}

func TestRotateRecordsTheNewVersion(t *testing.T) {
	var recorded []uint32
	do := serve(t, Options{Token: token, Keys: &fakeKeys{current: 1}, Rotated: func(_ context.Context, v uint32) error {
		recorded = append(recorded, v)
		return nil
	}})
	res, doc := do("POST", "/admin/keys/rotate", "Bearer "+token)
	if res.StatusCode != 200 || doc["version"] != 2.0 || doc["created"] != true || len(doc) != 2 {
		t.Fatalf("rotate: %d %v", res.StatusCode, doc)
	}
	if len(recorded) != 1 || recorded[0] != 2 {
		t.Fatalf("Rotated got %v", recorded)
	}
}

func TestRotateFailures(t *testing.T) {
	t.Run("the rotation fails: 503 with Retry-After", func(t *testing.T) {
		do := serve(t, Options{Token: token, Keys: &fakeKeys{rotateErr: fmt.Errorf("store down: %w", vault.ErrUnavailable)}})
		if res, doc := do("POST", "/admin/keys/rotate", "Bearer "+token); res.StatusCode != 503 || doc["error"] == nil || res.Header.Get("Retry-After") != "1" {
			t.Fatalf("%d %v Retry-After %q", res.StatusCode, doc, res.Header.Get("Retry-After"))
		}
	})
	t.Run("the store refuses the rotation: 500, no Retry-After", func(t *testing.T) {
		do := serve(t, Options{Token: token, Keys: &fakeKeys{rotateErr: fmt.Errorf("store: %w", vault.ErrStoreRefused)}})
		if res, doc := do("POST", "/admin/keys/rotate", "Bearer "+token); res.StatusCode != 500 || doc["error"] == nil || res.Header.Get("Retry-After") != "" {
			t.Fatalf("%d %v Retry-After %q", res.StatusCode, doc, res.Header.Get("Retry-After"))
		}
	})
	t.Run("the audit log fails: 500 with the version", func(t *testing.T) {
		do := serve(t, Options{Token: token, Keys: &fakeKeys{current: 4},
			Rotated: func(context.Context, uint32) error { return errors.New("disk full") }})
		res, doc := do("POST", "/admin/keys/rotate", "Bearer "+token)
		if res.StatusCode != 500 || doc["version"] != 5.0 || doc["created"] != true ||
			!strings.Contains(doc["error"].(string), "audit log") || strings.Contains(doc["error"].(string), "disk full") {
			t.Fatalf("%d %v", res.StatusCode, doc)
		}
	})
}

func TestStatusIsTheVaultsKeyStatus(t *testing.T) {
	keys := &fakeKeys{current: 3, progress: vault.RekeyProgress{Target: 3, Running: true, Pass: 1, Scanned: 10, Rekeyed: 7, Failed: 1}}
	do := serve(t, Options{Token: token, Keys: keys})
	res, _ := do("GET", "/admin/keys/status", "Bearer "+token)
	if res.StatusCode != 200 {
		t.Fatalf("status: %d", res.StatusCode)
	}
	st, err := keys.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(StatusOf(st))
	want := `{"current_version":3,"versions":[1,2,3],"reencryption":{"target_version":3,"done":false,"running":true,"pass":1,"scanned":10,"rekeyed":7,"failed":1}}`
	if string(got) != want {
		t.Fatalf("JSON\n got %s\nwant %s", got, want)
	}
	keys.statusErr = fmt.Errorf("store down: %w", vault.ErrUnavailable)
	if res, doc := do("GET", "/admin/keys/status", "Bearer "+token); res.StatusCode != 503 || doc["error"] == nil || res.Header.Get("Retry-After") != "1" {
		t.Fatalf("status with the store down: %d %v", res.StatusCode, doc)
	}
	keys.statusErr = fmt.Errorf("%w: record", vault.ErrTampered)
	if res, doc := do("GET", "/admin/keys/status", "Bearer "+token); res.StatusCode != 500 || doc["error"] == nil || res.Header.Get("Retry-After") != "" {
		t.Fatalf("status with a tampered record: %d %v", res.StatusCode, doc)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	var mu sync.Mutex
	ready := true
	do := serve(t, Options{
		Ready: func(ctx context.Context) bool {
			if _, ok := ctx.Deadline(); !ok {
				t.Error("the readiness check has no deadline")
			}
			mu.Lock()
			defer mu.Unlock()
			return ready
		},
		Metrics: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-store")
			io.WriteString(w, `{"metrics":true}`)
		}),
	})
	if res, doc := do("GET", "/healthz", ""); res.StatusCode != 200 || doc["status"] != "ok" {
		t.Fatalf("healthz: %d %v", res.StatusCode, doc)
	}
	if res, doc := do("GET", "/readyz", ""); res.StatusCode != 200 || doc["status"] != "ok" {
		t.Fatalf("readyz: %d %v", res.StatusCode, doc)
	}
	mu.Lock()
	ready = false
	mu.Unlock()
	if res, doc := do("GET", "/readyz", ""); res.StatusCode != 503 || doc["status"] != "vault unavailable" {
		t.Fatalf("readyz while not ready: %d %v", res.StatusCode, doc)
	}
	if res, doc := do("GET", "/metrics", ""); res.StatusCode != 200 || doc["metrics"] != true {
		t.Fatalf("metrics: %d %v", res.StatusCode, doc)
	}
}

// TestReadinessChecksTheAuditLog: Options.Audit failing makes /readyz 503
// with its text as the reason, after the stores (a store down says so
// first); the check has the readiness deadline.
func TestReadinessChecksTheAuditLog(t *testing.T) {
	var mu sync.Mutex
	storesUp, auditErr := true, error(nil)
	do := serve(t, Options{
		Ready: func(ctx context.Context) bool { mu.Lock(); defer mu.Unlock(); return storesUp },
		Audit: func(ctx context.Context) error {
			if _, ok := ctx.Deadline(); !ok {
				t.Error("the audit check has no deadline")
			}
			mu.Lock()
			defer mu.Unlock()
			return auditErr
		},
	})
	if res, doc := do("GET", "/readyz", ""); res.StatusCode != 200 || doc["status"] != "ok" {
		t.Fatalf("readyz: %d %v", res.StatusCode, doc)
	}
	mu.Lock()
	auditErr = errors.New("the audit log cannot be written")
	mu.Unlock()
	if res, doc := do("GET", "/readyz", ""); res.StatusCode != 503 || doc["status"] != "audit log unavailable" || doc["reason"] != "the audit log cannot be written" {
		t.Fatalf("readyz with the audit log failing: %d %v", res.StatusCode, doc)
	}
	mu.Lock()
	storesUp = false
	mu.Unlock()
	if res, doc := do("GET", "/readyz", ""); res.StatusCode != 503 || doc["status"] != "vault unavailable" {
		t.Fatalf("readyz with the stores and the audit log failing: %d %v", res.StatusCode, doc)
	}
}

func TestKeyEndpointsAbsentWithoutKeys(t *testing.T) {
	srv := httptest.NewServer(New(Options{Token: token}))
	defer srv.Close()
	req, _ := http.NewRequest("POST", srv.URL+"/admin/keys/rotate", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Fatalf("rotate without Keys: %d", res.StatusCode)
	}
}

// TestInboundPathsOnTheAdminListenerNameTheInboundListener: a reader who
// sends the walk-through's token request, vault API or cards call to the
// admin port (9090 for 8080) is told that those are the inbound listener's,
// not given Go's bare "404 page not found". The path is never echoed (an
// alias or card number may be in it), and the admin listener's own
// endpoints answer as before.
func TestInboundPathsOnTheAdminListenerNameTheInboundListener(t *testing.T) {
	do := serve(t, Options{Token: token})
	for _, p := range []string{"/oauth/token", "/aliases", "/aliases/4111111111111111", "/aliases/delete", "/cards", "/cards/CRD1/network-tokens"} {
		for _, m := range []string{"GET", "POST"} {
			res, doc := do(m, p, "")
			msg, _ := doc["error"].(string)
			if res.StatusCode != http.StatusNotFound || !strings.Contains(msg, "inbound listener") || !strings.Contains(msg, "listen.inbound") {
				t.Errorf("%s %s: %d %v; want 404 naming the inbound listener", m, p, res.StatusCode, doc)
			}
			if strings.Contains(msg, "4111111111111111") || strings.Contains(msg, "CRD1") {
				t.Errorf("%s %s: the answer echoes the path: %q", m, p, msg)
			}
		}
	}
	if res, doc := do("GET", "/healthz", ""); res.StatusCode != 200 || doc["status"] != "ok" {
		t.Errorf("healthz: %d %v", res.StatusCode, doc)
	}
	srv := httptest.NewServer(New(Options{Token: token}))
	defer srv.Close()
	res, err := srv.Client().Post(srv.URL+"/healthz", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /healthz: %d, want 405", res.StatusCode)
	}
}

// TestPprofBehindTheToken: admin.pprof was documented and configurable but
// nothing served /debug/pprof (404 whatever it said). On, the profiles
// answer behind the admin token only; off, not at all; cmdline (the
// process's arguments) never.
func TestPprofBehindTheToken(t *testing.T) {
	get := func(opts Options, path, authz string) int {
		t.Helper()
		srv := httptest.NewServer(New(opts))
		defer srv.Close()
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	on := Options{Token: token, Pprof: true}
	if code := get(on, "/debug/pprof/", ""); code != http.StatusUnauthorized {
		t.Fatalf("pprof index without the token: %d", code)
	}
	if code := get(on, "/debug/pprof/heap?debug=1", "Bearer wrong-token-0123456789"); code != http.StatusUnauthorized {
		t.Fatalf("heap profile with a wrong token: %d", code)
	}
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/heap?debug=1", "/debug/pprof/goroutine?debug=1"} {
		if code := get(on, path, "Bearer "+token); code != http.StatusOK {
			t.Errorf("%s with the token: %d", path, code)
		}
	}
	if code := get(on, "/debug/pprof/cmdline", "Bearer "+token); code != http.StatusNotFound {
		t.Errorf("cmdline: %d, want 404", code)
	}
	if code := get(Options{Token: token}, "/debug/pprof/", "Bearer "+token); code != http.StatusNotFound {
		t.Errorf("pprof off: %d, want 404", code)
	}
}
