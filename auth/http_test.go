package auth

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/internal/jsonapi"
)

type tokenReply struct {
	AccessToken      string  `json:"access_token"`
	TokenType        string  `json:"token_type"`
	ExpiresIn        float64 `json:"expires_in"`
	Scope            string  `json:"scope"`
	Error            string  `json:"error"`
	ErrorDescription string  `json:"error_description"`
}

func TestTokenHandler(t *testing.T) {
	f := newFixture(t)
	c, secret := f.create(t, ClientSpec{Name: "n", Account: "acct_9",
		Scopes: []string{ScopeCardsRead, ScopeCardsWrite, ScopeNetworkTokensWrite}})
	ob, obSecret := f.create(t, ClientSpec{Name: "proxy", Account: "acct_9", Outbound: true})
	srv := httptest.NewServer(f.svc.TokenHandler())
	defer srv.Close()

	form := func(kv ...string) string {
		v := url.Values{}
		for i := 0; i < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return v.Encode()
	}
	const formCT = "application/x-www-form-urlencoded"
	basic := func(id, secret string) string {
		r, _ := http.NewRequest("GET", "/", nil)
		r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
		return r.Header.Get("Authorization")
	}

	tests := []struct {
		name        string
		method      string
		contentType string
		auth        string
		body        string
		wantStatus  int
		wantError   string
		wantScope   string
	}{
		{"basic credentials", "POST", formCT, basic(c.ID, secret), form("grant_type", "client_credentials"),
			200, "", "cards:read cards:write network-tokens:write"},
		{"form credentials", "POST", formCT, "",
			form("grant_type", "client_credentials", "client_id", c.ID, "client_secret", secret),
			200, "", "cards:read cards:write network-tokens:write"},
		{"content type with charset", "POST", formCT + "; charset=utf-8", basic(c.ID, secret),
			form("grant_type", "client_credentials"), 200, "", "cards:read cards:write network-tokens:write"},
		{"scope narrowing", "POST", formCT, basic(c.ID, secret),
			form("grant_type", "client_credentials", "scope", "cards:write cards:read"), 200, "", "cards:write cards:read"},
		{"scope not granted", "POST", formCT, basic(c.ID, secret),
			form("grant_type", "client_credentials", "scope", "cards:read aliases:reveal"), 400, "invalid_scope", ""},
		// VGS scope names (issue 22): synonyms of cards:read.
		{"VGS scope names", "POST", formCT, basic(c.ID, secret),
			form("grant_type", "client_credentials", "scope", "cards:read-pci network-tokens:read network-tokens:write"),
			200, "", "cards:read network-tokens:write"},
		{"unknown scope", "POST", formCT, basic(c.ID, secret),
			form("grant_type", "client_credentials", "scope", "root"), 400, "invalid_scope", ""},
		{"basic and form credentials", "POST", formCT, basic(c.ID, secret),
			form("grant_type", "client_credentials", "client_id", c.ID, "client_secret", secret), 400, "invalid_request", ""},
		{"basic and form secret", "POST", formCT, basic(c.ID, secret),
			form("grant_type", "client_credentials", "client_secret", secret), 400, "invalid_request", ""},
		{"unsupported grant", "POST", formCT, basic(c.ID, secret), form("grant_type", "password"),
			400, "unsupported_grant_type", ""},
		{"missing grant", "POST", formCT, basic(c.ID, secret), form("scope", "cards:read"), 400, "invalid_request", ""},
		{"repeated parameter", "POST", formCT, basic(c.ID, secret),
			"grant_type=client_credentials&grant_type=client_credentials", 400, "invalid_request", ""},
		{"malformed form", "POST", formCT, basic(c.ID, secret), "grant_type=%zz", 400, "invalid_request", ""},
		{"wrong method", "GET", "", basic(c.ID, secret), "", 405, "invalid_request", ""},
		{"json body", "POST", "application/json", basic(c.ID, secret), `{"grant_type":"client_credentials"}`,
			415, "invalid_request", ""},
		{"no content type", "POST", "", basic(c.ID, secret), form("grant_type", "client_credentials"),
			415, "invalid_request", ""},
		{"body too large", "POST", formCT, basic(c.ID, secret),
			form("grant_type", "client_credentials", "pad", strings.Repeat("a", 70<<10)), 413, "invalid_request", ""},
		{"bad secret basic", "POST", formCT, basic(c.ID, secret[:40]+"zzzz"), form("grant_type", "client_credentials"),
			401, "invalid_client", ""},
		{"bad secret form", "POST", formCT, "",
			form("grant_type", "client_credentials", "client_id", c.ID, "client_secret", "nope"), 401, "invalid_client", ""},
		{"unknown client", "POST", formCT, basic("AC1111111111111111111111", secret),
			form("grant_type", "client_credentials"), 401, "invalid_client", ""},
		{"no credentials", "POST", formCT, "", form("grant_type", "client_credentials"), 401, "invalid_client", ""},
		{"client id without secret", "POST", formCT, "",
			form("grant_type", "client_credentials", "client_id", c.ID), 401, "invalid_client", ""},
		{"bearer instead of basic", "POST", formCT, "Bearer abc", form("grant_type", "client_credentials"),
			401, "invalid_client", ""},
		{"outbound client refused", "POST", formCT, basic(ob.ID, obSecret), form("grant_type", "client_credentials"),
			401, "invalid_client", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, srv.URL+"/oauth/token", strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d (%s)", resp.StatusCode, tt.wantStatus, raw)
			}
			if got := resp.Header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q", got)
			}
			if got := resp.Header.Get("Pragma"); got != "no-cache" {
				t.Errorf("Pragma = %q", got)
			}
			if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Errorf("Content-Type = %q", resp.Header.Get("Content-Type"))
			}
			if strings.Contains(string(raw), secret) {
				t.Error("response contains the secret")
			}
			var got tokenReply
			if err := json.Unmarshal(raw, &got); err != nil {
				t.Fatalf("body %q: %v", raw, err)
			}
			if tt.wantStatus == 405 && resp.Header.Get("Allow") != "POST" {
				t.Errorf("Allow = %q", resp.Header.Get("Allow"))
			}
			if tt.wantStatus == 401 && resp.Header.Get("WWW-Authenticate") != `Basic realm="aliasgate"` {
				t.Errorf("WWW-Authenticate = %q", resp.Header.Get("WWW-Authenticate"))
			}
			if tt.wantError != "" {
				if got.Error != tt.wantError || got.AccessToken != "" {
					t.Errorf("reply = %+v, want error %q", got, tt.wantError)
				}
				return
			}
			if got.TokenType != "Bearer" || got.ExpiresIn != 900 || got.Scope != tt.wantScope || got.Error != "" {
				t.Errorf("reply = %+v", got)
			}
			p, err := f.svc.VerifyToken(got.AccessToken)
			if err != nil {
				t.Fatalf("issued token does not verify: %v", err)
			}
			if p.ClientID != c.ID || p.Account != "acct_9" || strings.Join(p.Scopes, " ") != tt.wantScope {
				t.Errorf("principal = %+v", p)
			}
		})
	}
}

func TestTokenHandlerBasicCredentialsAreURLDecoded(t *testing.T) {
	// RFC 6749 §2.3.1: a client that form-encodes "a b" sends "a+b". Our ids
	// and secrets are base58, so check decoding with an escaped id instead.
	f := newFixture(t)
	c, secret := f.create(t, allScopesSpec())
	srv := httptest.NewServer(f.svc.TokenHandler())
	defer srv.Close()
	req, _ := http.NewRequest("POST", srv.URL, strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("%41%43"+c.ID[2:], secret) // "%41%43" is "AC"
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status = %d, want 200", resp.StatusCode)
	}
}

func TestTokenHandlerStoreFailure(t *testing.T) {
	f := newFixture(t)
	c, secret := f.create(t, allScopesSpec())
	f.store.setFail(errors.New("bolt: database not open"))
	srv := httptest.NewServer(f.svc.TokenHandler())
	defer srv.Close()
	resp, err := srv.Client().PostForm(srv.URL, url.Values{
		"grant_type": {"client_credentials"}, "client_id": {c.ID}, "client_secret": {secret}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got tokenReply
	_ = json.NewDecoder(resp.Body).Decode(&got)
	if resp.StatusCode != 503 || got.Error != "temporarily_unavailable" {
		t.Fatalf("status %d, reply %+v; want 503 temporarily_unavailable", resp.StatusCode, got)
	}
	if strings.Contains(got.ErrorDescription, "bolt") {
		t.Error("store error leaked to the client")
	}
}

func TestRequire(t *testing.T) {
	f := newFixture(t)
	reader, readerSecret := f.create(t, ClientSpec{Name: "r", Account: "acct_r", Scopes: []string{ScopeCardsRead}})
	writer, writerSecret := f.create(t, ClientSpec{Name: "w", Account: "acct_w",
		Scopes: []string{ScopeCardsRead, ScopeCardsWrite}, PCI: true})
	ob, obSecret := f.create(t, ClientSpec{Name: "o", Account: "acct_o", Outbound: true})
	readerTok, _, err := f.svc.IssueToken(reader, nil)
	if err != nil {
		t.Fatal(err)
	}
	writerTok, _, _ := f.svc.IssueToken(writer, nil)
	narrowTok, _, _ := f.svc.IssueToken(writer, []string{ScopeCardsRead})

	var seen Principal
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := FromContext(r.Context())
		if !ok {
			t.Error("no principal in context")
		}
		seen = p
		w.WriteHeader(http.StatusNoContent)
	})
	bearerOnly := httptest.NewServer(f.svc.Require(ScopeCardsWrite, false, jsonapi.MediaType, next))
	defer bearerOnly.Close()
	basicOK := httptest.NewServer(f.svc.Require(ScopeCardsWrite, true, "application/json", next))
	defer basicOK.Close()

	basic := func(id, secret string) string {
		r, _ := http.NewRequest("GET", "/", nil)
		r.SetBasicAuth(id, secret)
		return r.Header.Get("Authorization")
	}
	tests := []struct {
		name       string
		srv        *httptest.Server
		auth       []string
		wantStatus int
		wantClient string
		wantPCI    bool
	}{
		{"bearer with scope", bearerOnly, []string{"Bearer " + writerTok}, 204, writer.ID, true},
		{"bearer scheme is case-insensitive", bearerOnly, []string{"bearer " + writerTok}, 204, writer.ID, true},
		{"bearer without scope", bearerOnly, []string{"Bearer " + readerTok}, 403, "", false},
		{"narrowed token without scope", bearerOnly, []string{"Bearer " + narrowTok}, 403, "", false},
		{"no credentials", bearerOnly, nil, 401, "", false},
		{"empty bearer", bearerOnly, []string{"Bearer "}, 401, "", false},
		{"invalid bearer", bearerOnly, []string{"Bearer " + writerTok[:len(writerTok)-4] + "AAAA"}, 401, "", false},
		{"two authorization headers", bearerOnly, []string{"Bearer " + writerTok, "Bearer " + writerTok}, 401, "", false},
		{"unknown scheme", bearerOnly, []string{"Digest x"}, 401, "", false},
		{"basic where not allowed", bearerOnly, []string{basic(writer.ID, writerSecret)}, 401, "", false},
		{"basic where allowed", basicOK, []string{basic(writer.ID, writerSecret)}, 204, writer.ID, true},
		{"bearer where basic allowed", basicOK, []string{"Bearer " + writerTok}, 204, writer.ID, true},
		{"basic without scope", basicOK, []string{basic(reader.ID, readerSecret)}, 403, "", false},
		{"basic wrong secret", basicOK, []string{basic(writer.ID, readerSecret)}, 401, "", false},
		{"basic malformed", basicOK, []string{"Basic !!!"}, 401, "", false},
		{"basic outbound client", basicOK, []string{basic(ob.ID, obSecret)}, 401, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen = Principal{}
			req, _ := http.NewRequest("GET", tt.srv.URL+"/cards/x", nil)
			for _, a := range tt.auth {
				req.Header.Add("Authorization", a)
			}
			resp, err := tt.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d (%s)", resp.StatusCode, tt.wantStatus, raw)
			}
			challenges := resp.Header.Values("WWW-Authenticate")
			switch tt.wantStatus {
			case 204:
				if seen.ClientID != tt.wantClient || seen.PCI != tt.wantPCI {
					t.Errorf("principal = %+v", seen)
				}
				return
			case 401:
				if len(challenges) == 0 || !strings.HasPrefix(challenges[0], `Bearer realm="aliasgate"`) {
					t.Errorf("WWW-Authenticate = %q", challenges)
				}
				if hasBasic := slices.Contains(challenges, `Basic realm="aliasgate"`); hasBasic != (tt.srv == basicOK) {
					t.Errorf("Basic challenge present = %v on %q", hasBasic, tt.name)
				}
			case 403:
				if len(challenges) != 1 || !strings.Contains(challenges[0], `error="insufficient_scope"`) {
					t.Errorf("WWW-Authenticate = %q", challenges)
				}
			}
			if seen.ClientID != "" {
				t.Error("next handler ran")
			}
			wantCT := jsonapi.MediaType
			if tt.srv == basicOK {
				wantCT = "application/json"
			}
			if ct := resp.Header.Get("Content-Type"); ct != wantCT {
				t.Errorf("Content-Type = %q, want %q", ct, wantCT)
			}
			var doc struct {
				Errors []jsonapi.ErrorObject `json:"errors"`
			}
			if err := json.Unmarshal(raw, &doc); err != nil || len(doc.Errors) != 1 {
				t.Fatalf("body %q is not a JSON:API error document", raw)
			}
			for _, secretish := range []string{writerSecret, readerSecret, obSecret, writerTok, readerTok} {
				if strings.Contains(string(raw), secretish) {
					t.Error("error document contains a secret or token")
				}
			}
		})
	}
}

func TestRequireStoreFailureIs503(t *testing.T) {
	f := newFixture(t)
	c, secret := f.create(t, allScopesSpec())
	f.store.setFail(errors.New("pq: connection refused"))
	h := f.svc.Require(ScopeAliasesWrite, true, "application/json", http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		t.Error("next handler ran")
	}))
	req := httptest.NewRequest("POST", "/aliases", nil)
	req.SetBasicAuth(c.ID, secret)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 503 {
		t.Fatalf("status = %d, want 503", rec.Code)
	}
	if strings.Contains(rec.Body.String(), "pq:") {
		t.Error("store error leaked to the client")
	}
}

func TestRequireWithoutScopeOnlyAuthenticates(t *testing.T) {
	f := newFixture(t)
	c, _ := f.create(t, ClientSpec{Name: "n", Account: "a", Scopes: []string{ScopeCardsRead}})
	tok, _, _ := f.svc.IssueToken(c, nil)
	h := f.svc.Require("", false, jsonapi.MediaType, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(204)
	}))
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 204 {
		t.Fatalf("status = %d", rec.Code)
	}
}

func TestRequirePanicsOnUnknownScope(t *testing.T) {
	f := newFixture(t)
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	f.svc.Require("cards:admin", false, jsonapi.MediaType, http.NotFoundHandler())
}

func TestPrincipalFromRequestErrors(t *testing.T) {
	f := newFixture(t)
	c, secret := f.create(t, allScopesSpec())
	tests := []struct {
		name       string
		auth       string
		allowBasic bool
		want       error
	}{
		{"none", "", true, ErrNoCredentials},
		{"basic not allowed", "basic", false, ErrNoCredentials},
		{"basic wrong secret", "basic-wrong", true, ErrInvalidCredentials},
		{"bearer garbage", "Bearer x.y.z", true, ErrInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/", nil)
			switch tt.auth {
			case "":
			case "basic":
				req.SetBasicAuth(c.ID, secret)
			case "basic-wrong":
				req.SetBasicAuth(c.ID, "wrong")
			default:
				req.Header.Set("Authorization", tt.auth)
			}
			_, err := f.svc.PrincipalFromRequest(req, tt.allowBasic)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	req := httptest.NewRequest("GET", "/", nil)
	req.SetBasicAuth(c.ID, secret)
	p, err := f.svc.PrincipalFromRequest(req, true)
	if err != nil || p.ClientID != c.ID || !slices.Equal(p.Scopes, c.Scopes) || !p.ExpiresAt.IsZero() ||
		p.Fingerprint != c.Fingerprint() {
		t.Fatalf("basic principal = %+v, %v", p, err)
	}
}

func TestContextRoundTrip(t *testing.T) {
	if _, ok := FromContext(t.Context()); ok {
		t.Fatal("principal in an empty context")
	}
	p := Principal{ClientID: "AC1", Account: "a"}
	got, ok := FromContext(NewContext(t.Context(), p))
	if !ok || got.ClientID != "AC1" {
		t.Fatalf("FromContext = %+v, %v", got, ok)
	}
}

// TestStoreRefusalIs500: a client store failure that Options.Unavailable
// says no retry mends (the store refuses the gateway's privileges or
// credentials) is answered 500 without Retry-After by Require and the token
// endpoint; one it says may pass stays 503 with Retry-After.
func TestStoreRefusalIs500(t *testing.T) {
	refused := errors.New("pgstore: get client: the store refused the gateway: 42501")
	f := newFixture(t)
	c, secret := f.create(t, allScopesSpec())
	f.svc = NewService(f.store, f.key, Options{Now: f.clock.Now,
		Unavailable: func(err error) bool { return !errors.Is(err, refused) }})
	for _, tc := range []struct {
		err    error
		status int
	}{{refused, 500}, {errors.New("pq: connection refused"), 503}} {
		f.store.setFail(tc.err)
		api := f.svc.Require(ScopeAliasesWrite, true, "application/json", http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
			t.Error("next handler ran")
		}))
		req := httptest.NewRequest("POST", "/aliases", nil)
		req.SetBasicAuth(c.ID, secret)
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, req)
		tokReq := httptest.NewRequest("POST", "/oauth/token", strings.NewReader("grant_type=client_credentials"))
		tokReq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		tokReq.SetBasicAuth(c.ID, secret)
		tokRec := httptest.NewRecorder()
		f.svc.TokenHandler().ServeHTTP(tokRec, tokReq)
		for what, r := range map[string]*httptest.ResponseRecorder{"Require": rec, "token endpoint": tokRec} {
			if r.Code != tc.status || (r.Header().Get("Retry-After") != "") != (tc.status == 503) {
				t.Errorf("%s, store error %q: %d, Retry-After %q; want %d, Retry-After only with 503",
					what, tc.err, r.Code, r.Header().Get("Retry-After"), tc.status)
			}
			if strings.Contains(r.Body.String(), "42501") || strings.Contains(r.Body.String(), "pq:") {
				t.Errorf("%s: the store error reached the client: %s", what, r.Body.String())
			}
		}
	}
}
