package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/aliasgate/aliasgate/cards"
	"github.com/aliasgate/aliasgate/cards/tsp"
	"github.com/aliasgate/aliasgate/config"
	"github.com/aliasgate/aliasgate/internal/sleep"
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
		NetworkTokens:         c.NetworkTokens || slices.Contains(c.NetworkTokenAccounts, account),
		DuplicateDetectionOff: !c.DuplicateDetection || slices.Contains(c.DuplicateDetectionOffAccounts, account)}
}

// Pacing of the background provisioning of stored cards
// (cards.provision_stored): a page of cards, then a pause; a failed page
// is tried again after provisionRetry.
const (
	provisionPage  = 20
	provisionPause = 200 * time.Millisecond
	provisionRetry = 30 * time.Second
)

// startProvisioner runs cards.Handler.ProvisionStored over the accounts
// with network tokens once, in the background, when
// cards.provision_stored is on: the accounts named in
// cards.network_token_accounts, or with cards.network_tokens every account
// a client acts for and the default account. The returned function stops
// it and waits.
func (gw *gateway) startProvisioner(ctx context.Context) (stop func()) {
	h, ok := gw.cardsAPI.(*cards.Handler)
	if !ok || h == nil || !gw.cfg.Cards.ProvisionStored {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		accounts := slices.Clone(gw.cfg.Cards.NetworkTokenAccounts)
		if gw.cfg.Cards.NetworkTokens {
			accounts = append(accounts, gw.vault.DefaultAccount())
			list, err := gw.auth.ListClients(ctx)
			if err != nil {
				gw.logger.Warn("cards: provision stored cards: the accounts could not be listed", "error", err.Error())
			}
			for _, c := range list {
				accounts = append(accounts, c.Account)
			}
		}
		slices.Sort(accounts)
		for _, account := range slices.Compact(accounts) {
			if !gw.provisionAccount(ctx, h, account) {
				return
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// provisionAccount provisions the stored cards of one account; false when
// ctx ended.
func (gw *gateway) provisionAccount(ctx context.Context, h *cards.Handler, account string) bool {
	after, total := "", 0
	for {
		next, n, err := h.ProvisionStored(ctx, account, after, provisionPage)
		total += n
		wait := provisionPause
		if err != nil {
			gw.logger.Warn("cards: provision stored cards: a page failed; trying again", "account_id", account,
				"error", err.Error(), "retry_in", provisionRetry.String())
			wait = provisionRetry
		} else if next == "" {
			if total > 0 {
				gw.logger.Info("cards: stored cards provisioned", "account_id", account, "network_tokens", total)
			}
			return true
		} else {
			after = next
		}
		if sleep.For(ctx, wait) != nil {
			return false
		}
	}
}
