package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/admin"
	"github.com/aliasgate/aliasgate/cards"
)

// failingSimulator answers every Simulate with err.
type failingSimulator struct{ err error }

func (f failingSimulator) Simulate(context.Context, cards.SimulateRequest) (cards.SimulateResult, error) {
	return cards.SimulateResult{}, f.err
}

// TestSimulateRefusalsThatARetryCannotFixAreNotOutages: a card-reissued
// event whose new number is another card of the account
// (cards.ErrReissueConflict) and an event whose token is no longer the
// card's (cards.ErrTokenMismatch: the card got another token meanwhile)
// answer 409 through POST /admin/tsp/simulate, saying why; they answered
// 503 "the event could not be applied", which tells the operator to
// retry the same event.
func TestSimulateRefusalsThatARetryCannotFixAreNotOutages(t *testing.T) {
	const token = "0123456789abcdef-token"
	for _, c := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("cards: reissue: store: %w", cards.ErrReissueConflict), "another card of the account"},
		{cards.ErrReissueConflict, "another card of the account"},
		{cards.ErrTokenMismatch, "not the card's"},
	} {
		srv := httptest.NewServer(admin.New(admin.Options{Token: token, TSP: adminTSP{failingSimulator{c.err}}}))
		req, _ := http.NewRequest("POST", srv.URL+"/admin/tsp/simulate",
			strings.NewReader(`{"account":"acct_1","card_id":"CRDx","event":"card-reissued","new_pan":true}`))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		srv.Close()
		if res.StatusCode != http.StatusConflict || !strings.Contains(string(body), c.want) {
			t.Errorf("%v: %d %s, want 409 saying %q", c.err, res.StatusCode, body, c.want)
		}
	}
}

// TestAdminURLAsListenAdminWritesIt: --admin given as host:port, the way
// listen.admin is written (and the gateway logs its address), reaches the
// admin listener: it failed with `parse "127.0.0.1:9090/admin/...": first
// path segment in URL cannot contain colon` (localhost:9090: `unsupported
// protocol scheme "localhost"`). And a token the gateway refuses is said
// to be the wrong one: the CLI sent it, and the answer "send
// Authorization: Bearer <admin.token>" read as if it had not.
func TestAdminURLAsListenAdminWritesIt(t *testing.T) {
	const token = "0123456789abcdef-token"
	srv := httptest.NewServer(admin.New(admin.Options{Token: token, TSP: adminTSP{failingSimulator{cards.ErrTokenMismatch}}}))
	defer srv.Close()
	hostPort := strings.TrimPrefix(srv.URL, "http://")
	_, port, _ := strings.Cut(hostPort, ":")
	args := []string{"tsp", "simulate", "token-suspended", "--account", "acct_1", "--card", "CRDx",
		"--data-dir", t.TempDir()}
	for _, base := range []string{srv.URL, hostPort, "localhost:" + port} {
		_, _, err := runCmd(t, testEnv(map[string]string{"ALIASGATE_ADMIN_TOKEN": token}), append(args, "--admin", base)...)
		if err == nil || !strings.Contains(err.Error(), "409") || !strings.Contains(err.Error(), "not the card's") {
			t.Errorf("--admin %s: %v; want the gateway's 409", base, err)
		}
	}
	_, _, err := runCmd(t, testEnv(map[string]string{"ALIASGATE_ADMIN_TOKEN": "another-token-0123456789"}), append(args, "--admin", hostPort)...)
	if err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "wrong admin token") {
		t.Errorf("a wrong admin token: %v; want 401 saying the token is wrong", err)
	}
}
