package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/aliasgate/aliasgate/internal/base58"
)

const (
	// clockSkew is the leeway VerifyToken allows on exp, nbf and iat, for
	// gateway nodes whose clocks differ slightly.
	clockSkew = 5 * time.Second
	// maxTokenLen bounds the size of a token VerifyToken parses. Issued
	// tokens are well under 1 KiB.
	maxTokenLen = 8 << 10
)

// tokenClaims are the claims of an aliasgate access token.
type tokenClaims struct {
	jwt.RegisteredClaims
	Account     string `json:"acct"`
	Scope       string `json:"scope"`
	PCI         bool   `json:"pci"`
	Fingerprint string `json:"fpt"`
}

// Principal is an authenticated caller, from a verified token or from HTTP
// Basic credentials.
type Principal struct {
	// ClientID is the client id (JWT "sub").
	ClientID string
	// Account is the merchant account the client acts for.
	Account string
	// Scopes lists the granted scopes.
	Scopes []string
	// PCI allows card numbers and CVCs in clear.
	PCI bool
	// Fingerprint identifies the credential (see Client.Fingerprint).
	Fingerprint string
	// ExpiresAt is the token's expiry; zero for HTTP Basic credentials.
	ExpiresAt time.Time
}

// HasScope reports whether the principal was granted scope.
func (p Principal) HasScope(scope string) bool {
	return slices.Contains(p.Scopes, scope)
}

// grantScopes returns the scopes a token for c gets when requested is asked
// for: all of c's scopes when requested is empty, else requested
// (deduplicated, in request order, VGS synonyms mapped to their scope,
// aliases:delete to aliases:write), which must be a subset of c's.
func grantScopes(c Client, requested []string) ([]string, error) {
	if len(requested) == 0 {
		return slices.Clone(c.Scopes), nil
	}
	requested = requestedScopes(requested)
	out := make([]string, 0, len(requested))
	for _, sc := range requested {
		if !slices.Contains(c.Scopes, sc) {
			if !IsKnownScope(sc) {
				return nil, fmt.Errorf("auth: unknown scope %q: %w", sc, ErrInvalidScope)
			}
			return nil, fmt.Errorf("auth: scope %q not granted to client %s: %w", sc, c.ID, ErrInvalidScope)
		}
		if !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	return out, nil
}

// IssueToken returns a signed access token for c, which must come from
// Authenticate (or CreateClient), and its lifetime. scopes narrows the
// token's scopes; nil or empty means all of the client's. A scope the client
// does not hold gives ErrInvalidScope; an outbound client gives
// ErrOutboundOnly.
//
// The token is a JWT signed with EdDSA (Ed25519) with the claims iss, aud,
// sub (client id), iat, nbf, exp, jti (random), acct (account), scope
// (space-separated), pci and fpt (credential fingerprint).
func (s *Service) IssueToken(c Client, scopes []string) (string, time.Duration, error) {
	if c.Outbound {
		return "", 0, fmt.Errorf("auth: issue token for %s: %w", c.ID, ErrOutboundOnly)
	}
	if c.ID == "" || c.fingerprint == "" {
		return "", 0, errors.New("auth: issue token: client was not authenticated")
	}
	granted, err := grantScopes(c, scopes)
	if err != nil {
		return "", 0, err
	}
	if len(granted) == 0 {
		return "", 0, fmt.Errorf("auth: issue token for %s: client has no scopes: %w", c.ID, ErrInvalidScope)
	}
	now := s.now().Truncate(time.Second)
	claims := tokenClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    s.issuer,
			Subject:   c.ID,
			Audience:  jwt.ClaimStrings{s.audience},
			ExpiresAt: jwt.NewNumericDate(now.Add(s.ttl)),
			NotBefore: jwt.NewNumericDate(now),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        base58.EncodeFixed(randomBytes(16), 22),
		},
		Account:     c.Account,
		Scope:       strings.Join(granted, " "),
		PCI:         c.PCI,
		Fingerprint: c.fingerprint,
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims).SignedString(s.key)
	if err != nil {
		return "", 0, fmt.Errorf("auth: sign token: %w", err)
	}
	return tok, s.ttl, nil
}

// VerifyToken is VerifyTokenContext with a background context.
func (s *Service) VerifyToken(token string) (Principal, error) {
	return s.VerifyTokenContext(context.Background(), token)
}

// VerifyTokenContext checks an access token and returns its principal.
// Every failure wraps ErrInvalidToken with the reason (for logs; the
// reason never quotes the token): a malformed token, an algorithm other
// than EdDSA (including "none" and HMAC keyed with the public key), a bad
// signature, a missing or past exp, a future nbf or iat (5 s clock skew
// allowed), a wrong iss or aud, and a client that does not exist, is
// revoked, or whose secret was rotated after the token was issued (fpt
// differs; see lifecycle.go for the cache that bounds how soon that is
// seen). Only a failure of the client store is returned as itself (503
// for Require). The time comes from Options.Now.
func (s *Service) VerifyTokenContext(ctx context.Context, token string) (Principal, error) {
	if len(token) > maxTokenLen {
		return Principal{}, fmt.Errorf("%w: token longer than %d bytes", ErrInvalidToken, maxTokenLen)
	}
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(s.issuer),
		jwt.WithAudience(s.audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(clockSkew),
		jwt.WithTimeFunc(s.now),
		jwt.WithStrictDecoding(),
	)
	var claims tokenClaims
	_, err := p.ParseWithClaims(token, &claims, func(t *jwt.Token) (any, error) {
		// WithValidMethods already refuses other algorithms; this keeps the
		// key from ever meeting another method.
		if _, ok := t.Method.(*jwt.SigningMethodEd25519); !ok {
			return nil, errors.New("unexpected signing method")
		}
		return s.pub, nil
	})
	if err != nil {
		return Principal{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if !validClientID(claims.Subject) {
		return Principal{}, fmt.Errorf("%w: sub is not a client id", ErrInvalidToken)
	}
	if claims.Account == "" {
		return Principal{}, fmt.Errorf("%w: acct is missing", ErrInvalidToken)
	}
	if err := s.checkTokenClient(ctx, claims.Subject, claims.Fingerprint, claims.IssuedAt.Time); err != nil {
		return Principal{}, err
	}
	return Principal{
		ClientID:    claims.Subject,
		Account:     claims.Account,
		Scopes:      strings.Fields(claims.Scope),
		PCI:         claims.PCI,
		Fingerprint: claims.Fingerprint,
		ExpiresAt:   claims.ExpiresAt.Time,
	}, nil
}
