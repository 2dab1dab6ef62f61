package auth

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestWithLimitAnswers429AfterAuthentication: the limit is asked with the
// authenticated client's id, before the scope check (a request the client's
// scopes do not cover is one of its requests: its 403 carries
// X-RateLimit-Remaining); a refusal is 429 with Retry-After and a JSON:API
// error in Require's content type, and the handler does not run.
// Unauthenticated requests never reach the limit.
func TestWithLimitAnswers429AfterAuthentication(t *testing.T) {
	f := newFixture(t)
	a, aSecret := f.create(t, ClientSpec{Name: "a", Account: "acct", Scopes: []string{ScopeAliasesReveal}})
	b, bSecret := f.create(t, ClientSpec{Name: "b", Account: "acct", Scopes: []string{ScopeAliasesReveal}})
	w, wSecret := f.create(t, ClientSpec{Name: "w", Account: "acct", Scopes: []string{ScopeAliasesWrite}})

	var asked []string
	svc := f.svc.WithLimit(func(id string) (bool, time.Duration, int) {
		asked = append(asked, id)
		if id == a.ID {
			return false, 1500 * time.Millisecond, 0
		}
		return true, 0, 41
	})
	served := 0
	h := svc.Require(ScopeAliasesReveal, true, "application/json", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served++
	}))
	do := func(id, secret string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/aliases/x", nil)
		if id != "" {
			r.SetBasicAuth(id, secret)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec
	}

	rec := do(a.ID, aSecret)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "2" {
		t.Fatalf("over the limit: %d, Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var doc struct {
		Errors []struct{ Status, Code, Title, Detail string }
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil || len(doc.Errors) != 1 ||
		doc.Errors[0].Status != "429" || doc.Errors[0].Code != "rate_limited" || doc.Errors[0].Detail == "" {
		t.Fatalf("body %s (%v)", rec.Body, err)
	}
	if got := rec.Header().Get("X-RateLimit-Remaining"); got != "0" {
		t.Errorf("over the limit: X-RateLimit-Remaining %q, want 0", got)
	}
	if rec := do(b.ID, bSecret); rec.Code != http.StatusOK || rec.Header().Get("X-RateLimit-Remaining") != "41" {
		t.Fatalf("another client: %d, X-RateLimit-Remaining %q", rec.Code, rec.Header().Get("X-RateLimit-Remaining"))
	}
	if rec := do("", ""); rec.Code != http.StatusUnauthorized {
		t.Fatalf("unauthenticated: %d", rec.Code)
	}
	if rec := do(w.ID, wSecret); rec.Code != http.StatusForbidden || rec.Header().Get("X-RateLimit-Remaining") != "41" {
		t.Fatalf("without the scope: %d, X-RateLimit-Remaining %q", rec.Code, rec.Header().Get("X-RateLimit-Remaining"))
	}
	if served != 1 || len(asked) != 3 || asked[0] != a.ID || asked[1] != b.ID || asked[2] != w.ID {
		t.Errorf("served %d, limit asked for %v; want 1 and [a b w]", served, asked)
	}

	// The Service WithLimit was derived from has no limit.
	plain := f.svc.Require(ScopeAliasesReveal, true, "application/json", http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	r := httptest.NewRequest("GET", "/aliases/x", nil)
	r.SetBasicAuth(a.ID, aSecret)
	rec = httptest.NewRecorder()
	plain.ServeHTTP(rec, r)
	if rec.Code != http.StatusOK || len(asked) != 3 {
		t.Fatalf("the original service: %d, limit asked %d times", rec.Code, len(asked))
	}
}

func TestRetryAfterIsWholeSecondsRoundedUp(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "1", time.Millisecond: "1", time.Second: "1", 1001 * time.Millisecond: "2", 90 * time.Second: "90"} {
		if got := retryAfter(d); got != want {
			t.Errorf("retryAfter(%s) = %s, want %s", d, got, want)
		}
	}
}
