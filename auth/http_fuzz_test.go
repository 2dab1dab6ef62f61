package auth

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/internal/pan"
)

// FuzzTokenRequest sends arbitrary token requests (method, media type,
// Authorization header, form body) to /oauth/token and the same
// Authorization header to an endpoint behind Require. Neither panics or
// answers 500; every answer is a JSON object; a token is issued, and a
// request let through, only when the input carries the client's real
// secret (or a token issued for it); no answer and no log line holds a
// card-like number or echoes the secret.
func FuzzTokenRequest(f *testing.F) {
	const formCT = "application/x-www-form-urlencoded"
	for _, s := range []struct {
		method, ct, authz, body string
	}{
		{"POST", formCT, "Basic {basic}", "grant_type=client_credentials"},
		{"POST", formCT, "", "grant_type=client_credentials&client_id={id}&client_secret={secret}&scope=cards:read"},
		{"POST", formCT, "", "grant_type=client_credentials&client_id={id}&client_secret=4111111111111111"},
		{"POST", formCT, "Basic Og==", "grant_type=client_credentials"},
		{"POST", formCT, "Basic {basic}", "grant_type=client_credentials&grant_type=password"},
		{"POST", formCT + "; charset=utf-8", "", "grant_type=client_credentials&client_id=%zz"},
		{"POST", "application/json", "", `{"grant_type":"client_credentials"}`},
		{"GET", "", "Bearer {token}", ""},
		{"POST", formCT, "Bearer eyJhbGciOiJub25lIn0.e30.", "grant_type=client_credentials"},
	} {
		f.Add(s.method, s.ct, s.authz, []byte(s.body))
	}
	var (
		svc              *Service
		log              *bytes.Buffer
		id, secret, good string
		basic            string
	)
	f.Fuzz(func(t *testing.T, method, ct, authz string, body []byte) {
		if svc == nil {
			fx := newFixture(t)
			log = &bytes.Buffer{}
			svc = NewService(fx.store, fx.key, Options{Now: fx.clock.Now,
				Logger: slog.New(slog.NewJSONHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
			c, s, err := svc.CreateClient(t.Context(), ClientSpec{Name: "n", Account: "a", Scopes: []string{ScopeCardsRead}})
			if err != nil {
				t.Fatal(err)
			}
			id, secret = c.ID, s
			if good, _, err = svc.IssueToken(c, nil); err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest("GET", "/", nil)
			r.SetBasicAuth(id, secret)
			basic = strings.TrimPrefix(r.Header.Get("Authorization"), "Basic ")
		}
		defer log.Reset()
		sub := strings.NewReplacer("{id}", id, "{secret}", secret, "{basic}", basic, "{token}", good)
		authz = sub.Replace(authz)
		body = []byte(sub.Replace(string(body)))
		credible := strings.Contains(authz, basic) || strings.Contains(authz, good) || bytes.Contains(body, []byte(secret))
		if !validMethod(method) || strings.ContainsAny(authz+ct, "\r\n\x00") {
			return
		}
		check := func(what string, w *httptest.ResponseRecorder) {
			t.Helper()
			if w.Code >= 500 && w.Code != http.StatusServiceUnavailable {
				t.Fatalf("%s: status %d: %s", what, w.Code, w.Body)
			}
			var doc map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
				t.Fatalf("%s: %d answer is not a JSON object: %v", what, w.Code, err)
			}
			if w.Code < 300 && !credible {
				t.Fatalf("%s: %d without the client's credentials", what, w.Code)
			}
			if bytes.Contains(w.Body.Bytes(), []byte(secret)) {
				t.Fatalf("%s: the answer echoes the secret", what)
			}
			if w.Code >= 400 && pan.Contains(w.Body.Bytes()) {
				t.Fatalf("%s: error answer holds a card-like number", what)
			}
		}

		r := httptest.NewRequest("GET", "/oauth/token", bytes.NewReader(body))
		r.Method = method
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		if authz != "" {
			r.Header.Set("Authorization", authz)
		}
		w := httptest.NewRecorder()
		svc.TokenHandler().ServeHTTP(w, r)
		check("token endpoint", w)

		r = httptest.NewRequest("GET", "/cards/x", nil)
		if authz != "" {
			r.Header.Set("Authorization", authz)
		}
		w = httptest.NewRecorder()
		svc.Require(ScopeCardsRead, true, "application/json", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"ok":true}`))
		})).ServeHTTP(w, r)
		check("Require", w)

		if pan.Contains(log.Bytes()) || bytes.Contains(log.Bytes(), []byte(secret)) {
			t.Fatalf("the log holds a card-like number or the secret: %s", pan.Mask(log.String()))
		}
	})
}

// validMethod reports whether m is an HTTP token (what net/http accepts as
// a method).
func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for i := 0; i < len(m); i++ {
		c := m[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("()<>@,;:\\\"/[]?={}", c) >= 0 {
			return false
		}
	}
	return true
}
