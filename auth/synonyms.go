package auth

import "fmt"

// scopeSynonyms maps the scope names VGS clients use to the aliasgate
// scope each stands for, at clients create and in a token request:
//   - cards:read-pci is cards:read (issue 22). It grants no clear card
//     data by itself: pan and cvc are shown to clients created with --pci
//     (Client.PCI), an operator's decision a token request cannot make.
//   - network-tokens:read is cards:read: network tokens are read as part
//     of their card (GET /cards/{id}?include=network_tokens); the token
//     operations (provision, delete, cryptogram) stay network-tokens:write.
//   - aliases:read is aliases:reveal: both read the value behind an alias
//     (VGS's Vault API scope, reveal endpoints included).
var scopeSynonyms = map[string]string{
	"cards:read-pci":      ScopeCardsRead,
	"network-tokens:read": ScopeCardsRead,
	"aliases:read":        ScopeAliasesReveal,
}

// requestSynonyms are VGS scope names a token request may ask for but a
// client cannot be granted, as the wider aliasgate scope that covers them:
//   - aliases:delete is aliases:write, the scope of every alias delete. A
//     VGS client asks for "aliases:read aliases:write aliases:delete";
//     its token gets the aliases:write the client holds. At clients create
//     it is refused: aliasgate has no delete-only scope, and granting
//     aliases:write for it would let the client create aliases too.
var requestSynonyms = map[string]string{
	"aliases:delete": ScopeAliasesWrite,
}

// CanonicalScope returns the aliasgate scope scope names: a VGS synonym's
// scope, else scope itself.
func CanonicalScope(scope string) string {
	if c, ok := scopeSynonyms[scope]; ok {
		return c
	}
	return scope
}

// canonicalScopes maps every scope through CanonicalScope.
func canonicalScopes(scopes []string) []string {
	out := make([]string, len(scopes))
	for i, s := range scopes {
		out[i] = CanonicalScope(s)
	}
	return out
}

// requestedScopes maps the scopes of a token request through
// CanonicalScope and requestSynonyms.
func requestedScopes(scopes []string) []string {
	out := canonicalScopes(scopes)
	for i, s := range out {
		if c, ok := requestSynonyms[s]; ok {
			out[i] = c
		}
	}
	return out
}

// grantableScope returns an error for a scope name a token request may use
// but a client cannot be granted (requestSynonyms), naming the scope to
// grant instead; nil for any other name.
func grantableScope(scope string) error {
	if c, ok := requestSynonyms[scope]; ok {
		return fmt.Errorf("auth: scope %q can only be asked for in a token request (aliasgate has no such scope; grant %s, which covers it): %w",
			scope, c, ErrInvalidScope)
	}
	return nil
}
