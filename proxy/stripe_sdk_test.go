package proxy

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"net/url"
	"testing"

	"github.com/stripe/stripe-go/v82"
)

const stripeRoutes = `routes:
  - id: stripe
    direction: outbound
    host: psp.example.com
    filters:
      - id: reveal-card
        phase: request
        match: {content_type: form}
        operation: reveal
        targets:
          - {form: "card[number]"}
`

// TestStripeGoThroughOutbound runs the official Stripe Go library through
// the outbound proxy against a Stripe API stand-in: a token request with an
// alias reaches the processor with the card number, and an unknown alias
// comes back as a *stripe.Error of type aliasgate_error, code
// unknown_alias, status 422, with nothing sent.
func TestStripeGoThroughOutbound(t *testing.T) {
	psp := newTLSUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"tok_1","object":"token","type":"card","used":false}`)
	})
	g := newOutGateway(t, nil, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()}, routes: stripeRoutes})
	panA, _ := aliases(t, g.vault)
	b := stripe.GetBackendWithConfig(stripe.APIBackend, &stripe.BackendConfig{
		URL:               stripe.String("https://psp.example.com:" + psp.port()),
		HTTPClient:        g.client(),
		MaxNetworkRetries: stripe.Int64(0),
		LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelNull},
	})
	sc := stripe.NewClient("sk_test_aliasgate", stripe.WithBackends(&stripe.Backends{API: b, Connect: b, Uploads: b, MeterEvents: b}))
	ctx := context.Background()

	tok, err := sc.V1Tokens.Create(ctx, &stripe.TokenCreateParams{Card: &stripe.CardParams{
		Number: stripe.String(panA), ExpMonth: stripe.String("12"), ExpYear: stripe.String("2030")}})
	if err != nil || tok.ID != "tok_1" {
		t.Fatalf("token: %v %+v", err, tok)
	}
	form, err := url.ParseQuery(string(psp.last(t).Body))
	if err != nil || form.Get("card[number]") != testPAN {
		t.Fatalf("processor got %q (%v)", psp.last(t).Body, err)
	}

	_, err = sc.V1Tokens.Create(ctx, &stripe.TokenCreateParams{Card: &stripe.CardParams{
		Number: stripe.String("tok_test_1111111111111111111111"), ExpMonth: stripe.String("12"), ExpYear: stripe.String("2030")}})
	var se *stripe.Error
	if !errors.As(err, &se) || se.Type != ErrorType || string(se.Code) != "unknown_alias" || se.HTTPStatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("unknown alias: %T %v", err, err)
	}
	if n := len(psp.requests()); n != 1 {
		t.Fatalf("processor received %d requests, want 1", n)
	}
}
