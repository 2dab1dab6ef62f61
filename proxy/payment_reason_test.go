package proxy

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/aliasgate/aliasgate/routes"
)

// codedRefusal is a payment refusal as the Card Management API gives it
// (cards.PaymentError): a fixed code.
type codedRefusal string

func (c codedRefusal) Error() string       { return "cards: " + string(c) }
func (c codedRefusal) PaymentCode() string { return string(c) }

// TestPaymentRefusalsKeepTheirStatus: each refusal code the Card Management
// API gives a network_token filter reaches the merchant with its own status
// and code (wrapped or not), never as an internal error; an unknown code is
// an internal error; a response phase refusal is 502.
func TestPaymentRefusalsKeepTheirStatus(t *testing.T) {
	for _, tc := range []struct {
		code   string
		status int
	}{
		{"unknown_card", http.StatusUnprocessableEntity},
		{"no_active_network_token", http.StatusUnprocessableEntity},
		{"card_conflict", http.StatusConflict},
		{"token_service_unavailable", http.StatusBadGateway},
		{"made_up", http.StatusInternalServerError},
	} {
		err := fmt.Errorf("rewrite: filter pay: %w", codedRefusal(tc.code))
		r := reason(err)
		if r != tc.code {
			t.Errorf("%s: reason %q", tc.code, r)
		}
		je := refusal(routes.Request, r)
		if je.Status != tc.status || je.Objects[0].Code != tc.code {
			t.Errorf("%s: %d %q, want %d", tc.code, je.Status, je.Objects[0].Code, tc.status)
		}
		if je := refusal(routes.Response, r); je.Status != http.StatusBadGateway {
			t.Errorf("%s: response phase %d, want 502", tc.code, je.Status)
		}
	}
}
