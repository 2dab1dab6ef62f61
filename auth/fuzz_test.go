package auth

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// FuzzVerifyToken checks that VerifyToken never panics and never accepts an
// arbitrary string. The seeds are near misses: an expired token of the
// service's own key (every mutation breaks its signature), a token of
// another key, alg none and HS256 tokens.
func FuzzVerifyToken(f *testing.F) {
	seed := ed25519.NewKeyFromSeed(make([]byte, 32))
	other := ed25519.NewKeyFromSeed([]byte(strings.Repeat("k", 32)))
	now := testEpoch.Add(24 * time.Hour)
	svc := NewService(newMemStore(), seed, Options{Now: func() time.Time { return now }})

	claims := jwt.MapClaims{
		"iss": "aliasgate", "aud": "aliasgate", "sub": "AC" + strings.Repeat("2", 22), "acct": "a",
		"iat": testEpoch.Unix(), "nbf": testEpoch.Unix(), "exp": testEpoch.Add(time.Minute).Unix(),
		"scope": "cards:read", "pci": true, "fpt": "x",
	}
	expired, _ := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims).SignedString(seed)
	claims["exp"] = now.Add(time.Hour).Unix()
	foreign, _ := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims).SignedString(other)
	hs, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(seed.Public().(ed25519.PublicKey)))
	none := seg(map[string]string{"alg": "none"}) + "." + seg(claims) + "."
	for _, s := range []string{"", ".", "..", "a.b.c", expired, foreign, hs, none, "Bearer " + foreign} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		p, err := svc.VerifyToken(token)
		if err == nil {
			t.Fatalf("arbitrary token verified: %q → %+v", token, p)
		}
		if !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("err = %v, want ErrInvalidToken", err)
		}
	})
}
