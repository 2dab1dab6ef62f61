package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestRefusedRouteKeepsTheAliasTheVaultAPIGaveMeanwhile: request A, a
// POST /cards through acct_a's route in front of internal:cards, carries
// a card number the vault does not hold: the route's redaction makes its
// alias, the API refuses the create (422, an invalid expiry) and releases
// what the route made. Request B, a POST /aliases of the same number by
// acct_a's vault API client, comes while A's release is under way: the
// test holds A's DELETE in PostgreSQL (a trigger on records waits for an
// advisory lock the test holds) and lets it go once B has its answer or
// waits on the row itself. B's alias must then be revealable: the vault
// API's client keeps what it was given. Before, B was given A's alias
// (the vault's one per value and account) with nothing recorded, and A's
// release deleted it: B held a dead alias (a merchant's upstream keeps
// it; nothing repairs it there). Now B records the hand-out of a young
// alias in the row, so that the release, a compare-and-delete, keeps it;
// here B's mark waits behind A's delete, finds the row gone and makes a
// new alias.
func TestRefusedRouteKeepsTheAliasTheVaultAPIGaveMeanwhile(t *testing.T) {
	const number = "6011000990139424"
	pgURL := testPostgresURL(t)
	g, _, shop, api, reader, _ := refusalReleaseGateway(t, map[string]string{
		"ALIASGATE_VAULT_STORE": "postgres", "ALIASGATE_VAULT_POSTGRES_URL": pgURL})
	ctx := t.Context()
	hold, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hold.Close(context.Background()) })
	// Every DELETE of a record waits while the test holds advisory lock
	// 7411 (the trigger locks the row first: BEFORE ROW triggers run on
	// the locked row).
	for _, stmt := range []string{
		`CREATE FUNCTION hold_record_delete() RETURNS trigger LANGUAGE plpgsql AS $$
		 BEGIN PERFORM pg_advisory_xact_lock_shared(7411); RETURN OLD; END $$`,
		`CREATE TRIGGER hold_record_delete BEFORE DELETE ON records FOR EACH ROW EXECUTE FUNCTION hold_record_delete()`,
		`SELECT pg_advisory_lock(7411)`,
	} {
		if _, err := hold.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	held := true
	unhold := func() {
		if held {
			held = false
			if _, err := hold.Exec(ctx, `SELECT pg_advisory_unlock(7411)`); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Cleanup(unhold)
	// waiting counts the sessions of the database waiting for a lock of
	// type: advisory (A's delete), transactionid or tuple (a row another
	// session holds).
	waiting := func(types ...string) int {
		var n int
		if err := hold.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event = ANY($1)`, types).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	type answer struct {
		status int
		body   string
		err    error
	}
	send := func(method, url, body string, setup func(*http.Request)) <-chan answer {
		out := make(chan answer, 1)
		go func() {
			req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
			if err != nil {
				out <- answer{err: err}
				return
			}
			setup(req)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				out <- answer{err: err}
				return
			}
			defer res.Body.Close()
			b, err := io.ReadAll(res.Body)
			out <- answer{res.StatusCode, string(b), err}
		}()
		return out
	}

	shopBearer := bearerToken(t, g, shop)
	a := send("POST", g.inbound+"/cards",
		`{"data":{"type":"cards","attributes":{"pan_alias":"`+number+`","exp_month":13,"exp_year":2031}}}`,
		onHost("cards.a.test", func(r *http.Request) { shopBearer(r); r.Header.Set("Content-Type", jsonAPIType) }))
	if !waitFor(30*time.Second, func() bool { return waiting("advisory") == 1 }) {
		t.Fatal("A's release did not reach its DELETE")
	}
	b := send("POST", g.inbound+"/aliases", `{"data":[{"value":"`+number+`","format":"UUID"}]}`,
		func(r *http.Request) { basicAuth(api)(r); r.Header.Set("Content-Type", "application/json") })
	var bAnswer answer
	got := false
	if !waitFor(30*time.Second, func() bool {
		select {
		case bAnswer = <-b:
			got = true
			return true
		default:
			return waiting("transactionid", "tuple") > 0 // B waits on the row A deletes
		}
	}) {
		t.Fatal("B neither answered nor waited on the row A deletes")
	}
	unhold()
	aAnswer := <-a
	if !got {
		bAnswer = <-b
	}
	if aAnswer.err != nil || aAnswer.status != http.StatusUnprocessableEntity {
		t.Fatalf("A: %d %s %v, want 422", aAnswer.status, aAnswer.body, aAnswer.err)
	}
	var created struct {
		Data []struct {
			Aliases []struct{ Alias, Format string }
		}
	}
	if bAnswer.err != nil || bAnswer.status != http.StatusCreated || json.Unmarshal([]byte(bAnswer.body), &created) != nil ||
		len(created.Data) != 1 || len(created.Data[0].Aliases) == 0 {
		t.Fatalf("B: %d %s %v", bAnswer.status, bAnswer.body, bAnswer.err)
	}
	for _, al := range created.Data[0].Aliases {
		status, body := call(t, "GET", g.inbound+"/aliases/"+al.Alias, "", "", basicAuth(reader))
		if status != http.StatusOK || !strings.Contains(string(body), number) {
			t.Errorf("B's alias %s (%s) after A's release: %d %s; want its number", al.Alias, al.Format, status, body)
		}
	}
	if strings.Contains(g.stderr.String(), "was not released") {
		t.Errorf("A's release failed (the test must see it run):\n%s", g.stderr.String())
	}
}
