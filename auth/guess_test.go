package auth

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/internal/lockout"
	"github.com/aliasgate/aliasgate/internal/obs/obstest"
)

// lockedFixture is a fixture whose Service charges failed credentials to
// the requests' source address (Options.Lockout), read from the header
// X-Test-Source (the command gives the inbound listener's).
func lockedFixture(t *testing.T) (*fixture, *lockout.Table) {
	f := newFixture(t)
	tb := lockout.New(lockout.Options{Free: 3})
	f.svc = NewService(f.store, f.key, Options{Now: f.clock.Now, Logger: obstest.Logger(t), Lockout: tb,
		Source: func(r *http.Request) string { return r.Header.Get("X-Test-Source") }})
	return f, tb
}

// TestCredentialChecksThatJudgeNothingAreNotCharged: requests without
// credentials, an outbound client's right secret and checks the client
// store failed are not guesses: however many come from one address, it is
// not locked out (before a store outage would have locked out every
// client retrying through it); a wrong secret past the free ones is.
func TestCredentialChecksThatJudgeNothingAreNotCharged(t *testing.T) {
	f, tb := lockedFixture(t)
	c, secret := f.create(t, allScopesSpec())
	ob, obSecret := f.create(t, ClientSpec{Name: "proxy", Account: "acct_1", Outbound: true})
	h := f.svc.Require(ScopeAliasesWrite, true, "application/json", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	serve := func(setup func(*http.Request)) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", "/aliases", nil)
		req.Header.Set("X-Test-Source", "192.0.2.1")
		setup(req)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	token := func(id, secret string) *httptest.ResponseRecorder {
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}}
		req := httptest.NewRequest("POST", "/oauth/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", formMediaType)
		req.Header.Set("X-Test-Source", "192.0.2.1")
		rec := httptest.NewRecorder()
		f.svc.TokenHandler().ServeHTTP(rec, req)
		return rec
	}
	for range 10 {
		if rec := serve(func(*http.Request) {}); rec.Code != 401 {
			t.Fatalf("no credentials: %d", rec.Code)
		}
		if rec := serve(func(r *http.Request) { r.SetBasicAuth(ob.ID, obSecret) }); rec.Code != 401 {
			t.Fatalf("outbound credentials: %d", rec.Code)
		}
		if rec := token(ob.ID, obSecret); rec.Code != 401 {
			t.Fatalf("outbound credentials at the token endpoint: %d", rec.Code)
		}
	}
	f.store.setFail(errors.New("pq: connection refused"))
	for range 10 {
		if rec := serve(func(r *http.Request) { r.SetBasicAuth(c.ID, secret) }); rec.Code != 503 {
			t.Fatalf("a store failure: %d", rec.Code)
		}
		if rec := token(c.ID, secret); rec.Code != 503 {
			t.Fatalf("a store failure at the token endpoint: %d", rec.Code)
		}
	}
	f.store.setFail(nil)
	if tb.Len() != 0 {
		t.Fatalf("%d addresses held after checks that judged nothing", tb.Len())
	}
	for range 4 { // the free failures and the one that locks the address out
		if rec := token(c.ID, "wrong"); rec.Code != 401 {
			t.Fatalf("a wrong secret: %d", rec.Code)
		}
	}
	rec := token(c.ID, secret)
	if rec.Code != 429 || rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), `"error":"temporarily_unavailable"`) {
		t.Fatalf("the right secret from the locked-out address: %d %q %s", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
	rec = serve(func(r *http.Request) { r.SetBasicAuth(c.ID, secret) })
	if rec.Code != 429 || rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), `"locked_out"`) {
		t.Fatalf("Require from the locked-out address: %d %s", rec.Code, rec.Body)
	}
	rec = serve(func(r *http.Request) { r.SetBasicAuth(c.ID, secret); r.Header.Set("X-Test-Source", "192.0.2.2") })
	if rec.Code != 204 {
		t.Fatalf("another address: %d %s", rec.Code, rec.Body)
	}
}
