package proxy

// network_token filters (issue 22): the filter's card reference is
// resolved by CardPayments (the Card Management API, wired by serve) into
// the network token or PAN, expiry, cryptogram, ECI and CVC its targets
// receive. The merchant's request never carried them and its response must
// not: the response leak guard refuses a card-like number the processor
// echoes (a token PAN is Luhn-valid and no alias), and treats the
// cryptogram the request was given as card data too (echoedSecrets: masked
// in redact mode, refused in block mode, logged in log mode). A fallback
// CVC is not looked for: three or four digits are found in any answer.

import (
	"context"
	"errors"

	"github.com/aliasgate/aliasgate/routes"
	"github.com/aliasgate/aliasgate/routes/rewrite"
)

// CardPayments resolves the card reference (a card id or an alias of a
// card's PAN) of a network_token filter for the account in ctx's vault
// actor. An error with a PaymentCode() string method is a refusal (422
// with that code); others are failures.
type CardPayments interface {
	Payment(ctx context.Context, ref string, fallback bool, transactionType string) (rewrite.Payment, error)
}

// paymentCoder is an error that names a payment refusal.
type paymentCoder interface{ PaymentCode() string }

// paymentTokenizer is the pipeline's tokenizer with the card reference
// resolution of one network_token filter.
type paymentTokenizer struct {
	rewrite.Tokenizer
	pay CardPayments
	f   *routes.Filter
}

func (t paymentTokenizer) Payment(ctx context.Context, ref string) (rewrite.Payment, error) {
	if t.pay == nil {
		return nil, errNoPayments
	}
	pay, err := t.pay.Payment(ctx, ref, t.f.Fallback, t.f.TransactionType)
	if st := stateFrom(ctx); err == nil && st != nil && len(pay[rewrite.RoleCryptogram]) >= minEchoLen {
		// The response guard keeps it from the merchant (echoedSecrets),
		// the inspector from its page (Exchange.Secrets).
		st.sent = append(st.sent, pay[rewrite.RoleCryptogram])
		if st.rec != nil {
			st.rec.noteSecret(pay[rewrite.RoleCryptogram])
		}
	}
	return pay, err
}

var errNoPayments = errors.New("proxy: network_token filter without the Card Management API (cards.enabled: false)")

// tokenizerFor returns the tokenizer filter f applies with.
func (p *pipeline) tokenizerFor(f *routes.Filter) rewrite.Tokenizer {
	if f.Operation != rewrite.NetworkToken {
		return p.tok
	}
	return paymentTokenizer{Tokenizer: p.tok, pay: p.pay, f: f}
}

// paymentReason is the refusal code of a payment error, "" for others.
func paymentReason(err error) string {
	var pc paymentCoder
	switch {
	case errors.As(err, &pc):
		return pc.PaymentCode()
	case errors.Is(err, rewrite.ErrCardReference):
		return "card_reference"
	case errors.Is(err, errNoPayments), errors.Is(err, rewrite.ErrNoResolver):
		return "network_tokens_off"
	}
	return ""
}
