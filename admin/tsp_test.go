package admin

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/vault"
)

// fakeTSP answers by the card id: "CRDok" succeeds, others fail with the
// error named after "CRD".
type fakeTSP struct{ got []TSPEvent }

func (f *fakeTSP) SimulateTSP(_ context.Context, ev TSPEvent) (any, error) {
	f.got = append(f.got, ev)
	switch ev.CardID {
	case "CRDok":
		return map[string]any{"card_id": ev.CardID, "network_token_state": "suspended"}, nil
	case "CRDmissing":
		return nil, fmt.Errorf("wrapped: %w", ErrNoCard)
	case "CRDnotoken":
		return nil, ErrNoNetworkToken
	case "CRDbad":
		return nil, fmt.Errorf("%w: expiry", ErrInvalidTSPEvent)
	case "CRDnotsim":
		return nil, ErrNotSimulator
	case "CRDrefused":
		return nil, fmt.Errorf("store: %w", vault.ErrStoreRefused)
	}
	return nil, fmt.Errorf("store down: %w", vault.ErrUnavailable)
}

// TestTSPSimulateEndpoint: POST /admin/tsp/simulate needs admin.token and
// a JSON body naming account, card and event (unknown fields refused,
// nothing of a bad body echoed); the simulator's errors map to 404, 409,
// 422, 501 and 503.
func TestTSPSimulateEndpoint(t *testing.T) {
	const token = "0123456789abcdef-token"
	f := &fakeTSP{}
	srv := httptest.NewServer(New(Options{Token: token, TSP: f}))
	t.Cleanup(srv.Close)
	post := func(authz, ctype, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", srv.URL+"/admin/tsp/simulate", strings.NewReader(body))
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	ok := `{"account":"acct_1","card_id":"CRDok","event":"token-suspended"}`
	for _, authz := range []string{"", "Bearer wrong-token-wrong", "Basic " + token} {
		if s, _ := post(authz, "application/json", ok); s != 401 {
			t.Errorf("authorization %q: %d", authz, s)
		}
	}
	if len(f.got) != 0 {
		t.Fatalf("reached the simulator without the token")
	}
	bearer := "Bearer " + token
	cases := []struct {
		ctype, body string
		want        int
	}{
		{"application/json", ok, 200},
		{"text/plain", ok, 415},
		{"application/json", `{"account":"acct_1","card_id":"CRDok","event":"card-reissued","new_pan":"4111111111111111"}`, 400},
		{"application/json", `{"account":"acct_1","card_id":"CRDok","event":"x","4111111111111111":1}`, 400},
		{"application/json", `{"account":"acct_1","card_id":"CRDok","event":"x","pan":"4111111111111111"}`, 400},
		{"application/json", ok + `{"x":1}`, 400},
		{"application/json", `{"card_id":"CRDok","event":"token-suspended"}`, 400},
		{"application/json", `{"account":"acct_1","card_id":"CRDmissing","event":"token-suspended"}`, 404},
		{"application/json", `{"account":"acct_1","card_id":"CRDnotoken","event":"token-suspended"}`, 409},
		{"application/json", `{"account":"acct_1","card_id":"CRDbad","event":"token-updated"}`, 422},
		{"application/json", `{"account":"acct_1","card_id":"CRDnotsim","event":"token-updated"}`, 501},
		{"application/json", `{"account":"acct_1","card_id":"CRDdown","event":"token-updated"}`, 503},
		{"application/json", `{"account":"acct_1","card_id":"CRDrefused","event":"token-updated"}`, 500},
	}
	for _, c := range cases {
		s, b := post(bearer, c.ctype, c.body)
		if s != c.want || strings.Contains(b, "4111111111111111") || !strings.HasPrefix(b, "{") {
			t.Errorf("%s: %d %s, want %d", c.body, s, b, c.want)
		}
	}
	if s, b := post(bearer, "application/json", ok); s != 200 || !strings.Contains(b, `"network_token_state":"suspended"`) {
		t.Errorf("success: %d %s", s, b)
	}
	// Without a TSP the endpoint is not served.
	srv2 := httptest.NewServer(New(Options{Token: token}))
	defer srv2.Close()
	req, _ := http.NewRequest("POST", srv2.URL+"/admin/tsp/simulate", strings.NewReader(ok))
	req.Header.Set("Authorization", bearer)
	res, err := srv2.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 404 {
		t.Errorf("without a TSP: %d", res.StatusCode)
	}
}
