package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestIssueTokenRoundTrip(t *testing.T) {
	f := newFixture(t)
	c, _ := f.create(t, allScopesSpec())

	tok, ttl, err := f.svc.IssueToken(c, nil)
	if err != nil {
		t.Fatalf("IssueToken: %v", err)
	}
	if ttl != 15*time.Minute {
		t.Errorf("ttl = %v, want 15m", ttl)
	}

	// The claims on the wire.
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	var header map[string]any
	decodeSegment(t, parts[0], &header)
	if header["alg"] != "EdDSA" || header["typ"] != "JWT" {
		t.Errorf("header = %v", header)
	}
	var claims map[string]any
	decodeSegment(t, parts[1], &claims)
	now := float64(testEpoch.Unix())
	want := map[string]any{
		"iss": "aliasgate", "aud": []any{"aliasgate"}, "sub": c.ID, "acct": "acct_1",
		"iat": now, "nbf": now, "exp": now + 900, "pci": true, "fpt": c.Fingerprint(),
		"scope": strings.Join(KnownScopes(), " "),
	}
	for k, v := range want {
		gotJSON, _ := json.Marshal(claims[k])
		wantJSON, _ := json.Marshal(v)
		if string(gotJSON) != string(wantJSON) {
			t.Errorf("claim %s = %s, want %s", k, gotJSON, wantJSON)
		}
	}
	if jti, _ := claims["jti"].(string); len(jti) != 22 {
		t.Errorf("jti = %v, want 22 base58 characters", claims["jti"])
	}

	p, err := f.svc.VerifyToken(tok)
	if err != nil {
		t.Fatalf("VerifyToken: %v", err)
	}
	wantP := Principal{ClientID: c.ID, Account: "acct_1", Scopes: KnownScopes(), PCI: true,
		Fingerprint: c.Fingerprint(), ExpiresAt: testEpoch.Add(15 * time.Minute)}
	if p.ClientID != wantP.ClientID || p.Account != wantP.Account || !slices.Equal(p.Scopes, wantP.Scopes) ||
		p.PCI != wantP.PCI || p.Fingerprint != wantP.Fingerprint || !p.ExpiresAt.Equal(wantP.ExpiresAt) {
		t.Errorf("principal = %+v, want %+v", p, wantP)
	}
	if !p.HasScope(ScopeAliasesReveal) || p.HasScope("admin") {
		t.Error("HasScope")
	}

	// A second token has another jti.
	tok2, _, _ := f.svc.IssueToken(c, nil)
	var claims2 map[string]any
	decodeSegment(t, strings.Split(tok2, ".")[1], &claims2)
	if claims2["jti"] == claims["jti"] {
		t.Error("jti repeated")
	}
}

func TestTokenOptionsAreUsed(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	store := newMemStore()
	clk := &clock{t: testEpoch}
	svc := NewService(store, key, Options{Issuer: "https://gw.example", Audience: "cards", TokenTTL: time.Minute, Now: clk.Now})
	c, _, err := svc.CreateClient(t.Context(), allScopesSpec())
	if err != nil {
		t.Fatal(err)
	}
	tok, ttl, err := svc.IssueToken(c, nil)
	if err != nil || ttl != time.Minute {
		t.Fatalf("IssueToken: %v, ttl %v", err, ttl)
	}
	if _, err := svc.VerifyToken(tok); err != nil {
		t.Fatalf("VerifyToken: %v", err)
	}
	clk.Set(testEpoch.Add(time.Minute + clockSkew + time.Second))
	if _, err := svc.VerifyToken(tok); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("after TTL: err = %v, want ErrInvalidToken", err)
	}
	// Another service with the default issuer and audience refuses it.
	other := NewService(store, key, Options{Now: func() time.Time { return testEpoch }})
	if _, err := other.VerifyToken(tok); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("other iss/aud: err = %v, want ErrInvalidToken", err)
	}
}

func TestIssueTokenScopes(t *testing.T) {
	f := newFixture(t)
	c, _ := f.create(t, ClientSpec{Name: "n", Account: "a", Scopes: []string{ScopeCardsRead, ScopeCardsWrite}})
	outbound, _ := f.create(t, ClientSpec{Name: "p", Account: "a", Outbound: true})
	// Created with VGS's names: stored as cards:read.
	reader, _ := f.create(t, ClientSpec{Name: "r", Account: "a", Scopes: []string{"cards:read-pci", "network-tokens:read"}})
	if !slices.Equal(reader.Scopes, []string{ScopeCardsRead}) {
		t.Fatalf("scopes of a client created with VGS names = %v", reader.Scopes)
	}
	tests := []struct {
		name      string
		client    Client
		requested []string
		want      []string
		wantErr   error
	}{
		{"nil gives all", c, nil, []string{ScopeCardsRead, ScopeCardsWrite}, nil},
		{"empty gives all", c, []string{}, []string{ScopeCardsRead, ScopeCardsWrite}, nil},
		{"subset narrows", c, []string{ScopeCardsWrite}, []string{ScopeCardsWrite}, nil},
		{"duplicates dropped", c, []string{ScopeCardsRead, ScopeCardsRead}, []string{ScopeCardsRead}, nil},
		{"known but not granted", c, []string{ScopeCardsRead, ScopeAliasesReveal}, nil, ErrInvalidScope},
		{"unknown", c, []string{"admin"}, nil, ErrInvalidScope},
		{"VGS synonyms", c, []string{"cards:read-pci", "network-tokens:read"}, []string{ScopeCardsRead}, nil},
		{"VGS synonym of a scope not granted", reader, []string{"cards:read-pci", ScopeCardsWrite}, nil, ErrInvalidScope},
		{"outbound client", outbound, nil, nil, ErrOutboundOnly},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, _, err := f.svc.IssueToken(tt.client, tt.requested)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || tok != "" {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			p, err := f.svc.VerifyToken(tok)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(p.Scopes, tt.want) {
				t.Errorf("scopes = %v, want %v", p.Scopes, tt.want)
			}
		})
	}
}

func TestIssueTokenRefusesUnauthenticatedClient(t *testing.T) {
	f := newFixture(t)
	_, _, err := f.svc.IssueToken(Client{ID: "ACxxxxxxxxxxxxxxxxxxxxxx", Account: "a", Scopes: KnownScopes()}, nil)
	if err == nil {
		t.Fatal("IssueToken accepted a Client that was not authenticated")
	}
}

func decodeSegment(t *testing.T, seg string, v any) {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatalf("decode segment: %v", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode segment: %v", err)
	}
}

func seg(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// validClaims returns the claims a valid token of c carries at testEpoch.
func validClaims(c Client) jwt.MapClaims {
	return jwt.MapClaims{
		"iss": "aliasgate", "aud": "aliasgate", "sub": c.ID,
		"iat": testEpoch.Unix(), "nbf": testEpoch.Unix(), "exp": testEpoch.Add(time.Minute).Unix(),
		"jti": "x", "acct": c.Account, "scope": strings.Join(c.Scopes, " "), "pci": true, "fpt": c.Fingerprint(),
	}
}

func with(m jwt.MapClaims, kv ...any) jwt.MapClaims {
	out := jwt.MapClaims{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
			continue
		}
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

func sign(t *testing.T, m jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(m, claims).SignedString(key)
	if err != nil {
		t.Fatalf("sign %s: %v", m.Alg(), err)
	}
	return tok
}

func TestVerifyTokenRejects(t *testing.T) {
	f := newFixture(t)
	c, _ := f.create(t, allScopesSpec())
	good := validClaims(c)
	pub := f.key.Public().(ed25519.PublicKey)

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)

	valid := sign(t, jwt.SigningMethodEdDSA, f.key, good)
	if _, err := f.svc.VerifyToken(valid); err != nil {
		t.Fatalf("control token does not verify: %v", err)
	}
	parts := strings.Split(valid, ".")

	// A payload edited after signing (another account), signature kept.
	tampered := parts[0] + "." + seg(with(good, "acct", "someone-else")) + "." + parts[2]

	tests := []struct {
		name  string
		token string
	}{
		{"alg none", seg(map[string]string{"alg": "none", "typ": "JWT"}) + "." + seg(good) + "."},
		{"alg none with signature", seg(map[string]string{"alg": "none"}) + "." + seg(good) + "." + parts[2]},
		{"alg None capitalised", seg(map[string]string{"alg": "None"}) + "." + seg(good) + "."},
		{"HS256 keyed with the public key", sign(t, jwt.SigningMethodHS256, []byte(pub), good)},
		{"HS256 keyed with the public key PEM-less base64", sign(t, jwt.SigningMethodHS256,
			[]byte(base64.StdEncoding.EncodeToString(pub)), good)},
		{"RS256", sign(t, jwt.SigningMethodRS256, rsaKey, good)},
		{"ES256", sign(t, jwt.SigningMethodES256, ecKey, good)},
		{"EdDSA with another key", sign(t, jwt.SigningMethodEdDSA, otherKey, good)},
		{"tampered payload", tampered},
		{"signature removed", parts[0] + "." + parts[1] + "."},
		{"header alg swapped to HS256 on an EdDSA signature",
			seg(map[string]string{"alg": "HS256", "typ": "JWT"}) + "." + parts[1] + "." + parts[2]},
		{"expired", sign(t, jwt.SigningMethodEdDSA, f.key, with(good,
			"exp", testEpoch.Add(-clockSkew-time.Second).Unix()))},
		{"not yet valid", sign(t, jwt.SigningMethodEdDSA, f.key, with(good,
			"nbf", testEpoch.Add(time.Minute).Unix(), "exp", testEpoch.Add(time.Hour).Unix()))},
		{"issued in the future", sign(t, jwt.SigningMethodEdDSA, f.key, with(good,
			"iat", testEpoch.Add(time.Minute).Unix()))},
		{"wrong audience", sign(t, jwt.SigningMethodEdDSA, f.key, with(good, "aud", "other"))},
		{"missing audience", sign(t, jwt.SigningMethodEdDSA, f.key, with(good, "aud", nil))},
		{"wrong issuer", sign(t, jwt.SigningMethodEdDSA, f.key, with(good, "iss", "evil"))},
		{"missing issuer", sign(t, jwt.SigningMethodEdDSA, f.key, with(good, "iss", nil))},
		{"missing exp", sign(t, jwt.SigningMethodEdDSA, f.key, with(good, "exp", nil))},
		{"missing sub", sign(t, jwt.SigningMethodEdDSA, f.key, with(good, "sub", nil))},
		{"sub not a client id", sign(t, jwt.SigningMethodEdDSA, f.key, with(good, "sub", "admin"))},
		{"missing acct", sign(t, jwt.SigningMethodEdDSA, f.key, with(good, "acct", nil))},
		{"exp as a string", sign(t, jwt.SigningMethodEdDSA, f.key, with(good, "exp", "never"))},
		{"empty", ""},
		{"garbage", "not.a.token"},
		{"two parts", parts[0] + "." + parts[1]},
		{"too long", valid + strings.Repeat("A", maxTokenLen)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := f.svc.VerifyToken(tt.token)
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("err = %v, want ErrInvalidToken", err)
			}
			if p.ClientID != "" {
				t.Errorf("principal returned with an error: %+v", p)
			}
			if tt.token != "" && strings.Contains(err.Error(), tt.token) {
				t.Error("error text contains the token")
			}
		})
	}
}

func TestVerifyTokenUsesInjectedClock(t *testing.T) {
	f := newFixture(t)
	c, _ := f.create(t, allScopesSpec())
	tok, _, err := f.svc.IssueToken(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		now  time.Time
		ok   bool
	}{
		{"at issue", testEpoch, true},
		{"just before expiry", testEpoch.Add(15*time.Minute - time.Second), true},
		{"within clock skew after expiry", testEpoch.Add(15*time.Minute + clockSkew - time.Second), true},
		{"after expiry and skew", testEpoch.Add(15*time.Minute + clockSkew + time.Second), false},
		{"before nbf beyond skew", testEpoch.Add(-clockSkew - time.Second), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.clock.Set(tt.now)
			_, err := f.svc.VerifyToken(tok)
			if tt.ok != (err == nil) {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("err = %v, want ErrInvalidToken", err)
			}
		})
	}
}
