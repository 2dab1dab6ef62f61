package main

import (
	"context"
	"fmt"
	"slices"

	"github.com/aliasgate/aliasgate/cards"
	"github.com/aliasgate/aliasgate/cards/tsp"
	"github.com/aliasgate/aliasgate/config"
	"github.com/aliasgate/aliasgate/proxy"
	"github.com/aliasgate/aliasgate/routes/rewrite"
	"github.com/aliasgate/aliasgate/vault"
)

// cardPayments is the outbound proxy's proxy.CardPayments: the Card
// Management API's Payment for the proxy client's account (the vault's
// default account for a proxy without authentication).
type cardPayments struct {
	cards      *cards.Handler
	defAccount string
}

var _ proxy.CardPayments = cardPayments{}

func (c cardPayments) Payment(ctx context.Context, ref string, fallback bool, transactionType string) (rewrite.Payment, error) {
	var use tsp.Use // "": the token type's
	if transactionType != "" {
		u, err := tsp.ParseUse(transactionType)
		if err != nil {
			return nil, fmt.Errorf("transaction type %q: %w", transactionType, err)
		}
		use = u
	}
	account := vault.ActorFrom(ctx).Account
	if account == "" {
		account = c.defAccount
	}
	v, err := c.cards.Payment(ctx, account, ref, fallback, use)
	if err != nil {
		return nil, err
	}
	return rewrite.Payment{rewrite.RoleCard: v.PAN, rewrite.RoleExpMonth: v.ExpMonth, rewrite.RoleExpYear: v.ExpYear,
		rewrite.RoleCryptogram: v.Cryptogram, rewrite.RoleECI: v.ECI, rewrite.RoleCVC: v.CVC}, nil
}

// payments returns the outbound proxy's CardPayments; nil when the Card
// Management API is off.
func (gw *gateway) payments() proxy.CardPayments {
	h, ok := gw.cardsAPI.(*cards.Handler)
	if !ok || h == nil {
		return nil
	}
	return cardPayments{cards: h, defAccount: gw.vault.DefaultAccount()}
}

// cardSettings gives the Card Management API each account's settings from
// the cards configuration.
type cardSettings config.Cards

func (c cardSettings) CardSettings(account string) cards.AccountSettings {
	return cards.AccountSettings{TokenType: c.TokenType,
		NetworkTokens: c.NetworkTokens || slices.Contains(c.NetworkTokenAccounts, account)}
}
