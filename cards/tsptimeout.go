package cards

// Bounded token service calls.
//
// Every call to the token service runs under the card's lock (cards.go:
// lock), and the background provisioning makes them one card after the
// other: a token service that accepts a call and never answers held that
// card, and the backfill, for good. boundedTSP gives each call a deadline
// of its own (Options.TokenServiceTimeout); the error of a call that
// passed it is the call's failure like any other (errTokenService, 502
// token_service_unavailable), and the card and its token are left as they
// were, since every caller writes only after the token service answered.
// A Provider must return when its context ends, as an HTTP client does.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aliasgate/aliasgate/cards/tsp"
)

// DefaultTokenServiceTimeout bounds one token service call when
// Options.TokenServiceTimeout is 0.
const DefaultTokenServiceTimeout = 10 * time.Second

// errTokenServiceTimeout is the cause of a token service call's context
// when its bound expires.
var errTokenServiceTimeout = errors.New("the token service did not answer in time")

// ts returns the Handler's token service with its calls bounded: every
// call to it goes through ts.
func (h *Handler) ts() boundedTSP { return boundedTSP{p: h.tsp, d: h.tspTimeout} }

// boundedTSP is a tsp.Provider whose calls each end at d.
type boundedTSP struct {
	p tsp.Provider
	d time.Duration
}

func (b boundedTSP) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(ctx, b.d, errTokenServiceTimeout)
}

// expired wraps err, the error of a call made under ctx, with the bound
// when the bound ended the call.
func (b boundedTSP) expired(ctx context.Context, err error) error {
	if err != nil && errors.Is(context.Cause(ctx), errTokenServiceTimeout) {
		return fmt.Errorf("%w (%s): %w", errTokenServiceTimeout, b.d, err)
	}
	return err
}

func (b boundedTSP) Provision(ctx context.Context, pan, expMonth, expYear string) (tsp.Token, error) {
	ctx, cancel := b.call(ctx)
	defer cancel()
	tok, err := b.p.Provision(ctx, pan, expMonth, expYear)
	return tok, b.expired(ctx, err)
}

func (b boundedTSP) Update(ctx context.Context, tokenPAN, expMonth, expYear string) error {
	ctx, cancel := b.call(ctx)
	defer cancel()
	return b.expired(ctx, b.p.Update(ctx, tokenPAN, expMonth, expYear))
}

func (b boundedTSP) Delete(ctx context.Context, ref, tokenPAN string) error {
	ctx, cancel := b.call(ctx)
	defer cancel()
	return b.expired(ctx, b.p.Delete(ctx, ref, tokenPAN))
}

func (b boundedTSP) Cryptogram(ctx context.Context, tokenPAN string, counter uint64, use tsp.Use, now time.Time) (tsp.Cryptogram, error) {
	ctx, cancel := b.call(ctx)
	defer cancel()
	c, err := b.p.Cryptogram(ctx, tokenPAN, counter, use, now)
	return c, b.expired(ctx, err)
}

func (b boundedTSP) Verify(tokenPAN string, c tsp.Cryptogram, counter uint64, now time.Time) error {
	return b.p.Verify(tokenPAN, c, counter, now)
}

func (b boundedTSP) Subscribe(sink tsp.Sink) { b.p.Subscribe(sink) }

var _ tsp.Provider = boundedTSP{}
