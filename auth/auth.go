// Package auth holds aliasgate's API clients and how they prove who they are.
//
// A client is created once (aliasgate clients create) and gets an id
// ("AC" + 22 base58 characters) and a secret (44 base58 characters, 32 random
// bytes) that is shown once and stored only as a salted hash. A client
// authenticates either directly with HTTP Basic (the VGS vault API v1 way,
// where the endpoint allows it, and always for the outbound proxy) or by
// exchanging its credentials at POST /oauth/token (OAuth 2.0 client
// credentials grant, RFC 6749 §4.4) for a short-lived JWT signed with
// Ed25519 (EdDSA), which it then sends as "Authorization: Bearer <jwt>".
//
// Any gateway node holding the same signing key verifies a token issued by
// another node. A token is valid until it expires (Options.TokenTTL, 15
// minutes by default) unless its client is revoked (RevokeClient) or gets a
// new secret (RotateSecret) meanwhile: verification checks the client's
// record through a cache that trusts it for at most Options.ClientCacheTTL
// (5 s by default), so such a change stops the client's tokens on every
// node within that bound (see lifecycle.go). Verification allows a fixed
// clock skew of 5 seconds between nodes.
//
// Scopes limit what a client may do (see the Scope constants); the pci flag
// of a client decides whether the Card Management API shows it card numbers
// and CVCs in clear. Outbound clients (Outbound true) hold credentials for
// the outbound forward proxy only and are never accepted by an API.
//
// Error shapes: the APIs guarded by Service.Require answer authentication
// failures with JSON:API error documents (internal/jsonapi), as every other
// aliasgate API does. The token endpoint (Service.TokenHandler) speaks OAuth
// and answers with the RFC 6749 §5.2 error shape
// {"error":"invalid_client","error_description":"…"}, which OAuth client
// libraries understand. No error text ever contains a token or a secret.
//
// Guesses: with Options.Lockout, every credential check of Require and of
// the token endpoint is charged to the request's source address
// (Options.Source) in an internal/lockout table before it runs; past the
// free failures the address is answered 429 with Retry-After, in the
// answer's own shape (JSON:API locked_out, OAuth temporarily_unavailable),
// and its credentials are not checked (guess.go).
package auth

import (
	"errors"
	"slices"
)

// Scopes a client can be granted.
const (
	// ScopeAliasesWrite allows creating, updating and deleting aliases
	// through the vault API.
	ScopeAliasesWrite = "aliases:write"
	// ScopeAliasesReveal allows revealing the value behind an alias through
	// the vault API.
	ScopeAliasesReveal = "aliases:reveal"
	// ScopeCardsRead allows reading cards of the client's account.
	ScopeCardsRead = "cards:read"
	// ScopeCardsWrite allows creating and updating cards of the client's
	// account.
	ScopeCardsWrite = "cards:write"
	// ScopeNetworkTokensWrite allows provisioning and deleting network tokens
	// and requesting cryptograms.
	ScopeNetworkTokensWrite = "network-tokens:write"
)

// knownScopes lists the scopes in the order in which they are stored and
// shown.
var knownScopes = [...]string{
	ScopeAliasesWrite,
	ScopeAliasesReveal,
	ScopeCardsRead,
	ScopeCardsWrite,
	ScopeNetworkTokensWrite,
}

// KnownScopes returns every scope a client can be granted. The slice is a
// fresh copy the caller may modify.
func KnownScopes() []string {
	return slices.Clone(knownScopes[:])
}

// IsKnownScope reports whether scope is one of the Scope constants.
func IsKnownScope(scope string) bool {
	return slices.Contains(knownScopes[:], scope)
}

// Sentinel errors. Returned errors wrap them with context; test with
// errors.Is.
var (
	// ErrInvalidCredentials means a client id is unknown or its secret is
	// wrong. The two cases are deliberately not told apart.
	ErrInvalidCredentials = errors.New("auth: invalid client credentials")
	// ErrNoCredentials means a request carries no Authorization header, or
	// one with a scheme the endpoint does not accept.
	ErrNoCredentials = errors.New("auth: no credentials")
	// ErrOutboundOnly means the client holds outbound proxy credentials and
	// may not use an API or get a token.
	ErrOutboundOnly = errors.New("auth: client is for the outbound proxy only")
	// ErrInvalidToken means a bearer token is malformed, not signed by this
	// gateway's key with EdDSA, expired, not yet valid, or for another
	// issuer or audience. The wrapping error says which, for logs.
	ErrInvalidToken = errors.New("auth: invalid token")
	// ErrInvalidScope means a scope is unknown or not granted to the client.
	ErrInvalidScope = errors.New("auth: invalid scope")
	// ErrInvalidClientSpec means a ClientSpec failed validation; the wrapping
	// error names the field.
	ErrInvalidClientSpec = errors.New("auth: invalid client spec")
)
