package auth

// scopeSynonyms maps the scope names VGS clients use to the aliasgate
// scope each stands for (issue 22). Both name reading cards:
//   - cards:read-pci is cards:read. It grants no clear card data by
//     itself: pan and cvc are shown to clients created with --pci
//     (Client.PCI), an operator's decision a token request cannot make.
//   - network-tokens:read is cards:read: network tokens are read as part
//     of their card (GET /cards/{id}?include=network_tokens); the token
//     operations (provision, delete, cryptogram) stay network-tokens:write.
var scopeSynonyms = map[string]string{
	"cards:read-pci":      ScopeCardsRead,
	"network-tokens:read": ScopeCardsRead,
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
