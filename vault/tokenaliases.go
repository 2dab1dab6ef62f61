package vault

// TokenAlias is an entry of the cards' token alias index (cards.Store):
// the account's card Card has a network token whose PAN the vault holds
// under Alias, a persistent alias of that account. The Card Management
// API keeps the index so that the vault API's delete of such an alias is
// refused as a card's pan_alias is (cards.AliasUse, vault.Options.InUse).
// No number is in it: an alias says nothing of its value.
type TokenAlias struct {
	Account, Alias, Card string
}
