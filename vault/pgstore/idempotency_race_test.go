package pgstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aliasgate/aliasgate/vault/pgstore"
)

// TestClaimOfAKeyThatWentAwayMeanwhileIsAClaim: a claim that meets a live
// record of its key, which then goes away before it is read (the first
// request failed and released it, or another gateway's sweep removed it
// once expired), claims the key. It was answered an error that no rule
// made transient (500 without Retry-After, "retried by the caller's
// retry", which nothing did), for a race the next statement mends. A
// statement trigger of the test's own removes the key right after the
// claim's INSERT met it, once: the window between the INSERT and the read,
// every time.
func TestClaimOfAKeyThatWentAwayMeanwhileIsAClaim(t *testing.T) {
	u := newSchema(t)
	s := openStore(t, u, pgstore.Options{})
	t.Cleanup(func() { s.Close() })
	ctx := context.Background()
	now := time.Now()
	if ex, err := s.ClaimIdempotency(ctx, "acct1", "key1", []byte("first"), now, now.Add(time.Minute)); err != nil || ex != nil {
		t.Fatalf("first claim: %q, %v", ex, err)
	}
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, q := range []string{
		`CREATE TABLE race_once (armed boolean)`,
		`INSERT INTO race_once VALUES (true)`,
		`CREATE FUNCTION race_release() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF EXISTS (SELECT 1 FROM race_once WHERE armed) THEN
				UPDATE race_once SET armed = false;
				DELETE FROM idempotency_keys WHERE account = 'acct1' AND key = 'key1';
			END IF;
			RETURN NULL;
		END $$`,
		`CREATE TRIGGER race_release AFTER INSERT ON idempotency_keys FOR EACH STATEMENT EXECUTE FUNCTION race_release()`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	now = time.Now()
	ex, err := s.ClaimIdempotency(ctx, "acct1", "key1", []byte("second"), now, now.Add(time.Minute))
	if err != nil || ex != nil {
		t.Fatalf("claim of a key that went away meanwhile: %q, %v; want the key claimed", ex, err)
	}
	var armed bool
	if err := conn.QueryRow(ctx, `SELECT armed FROM race_once`).Scan(&armed); err != nil || armed {
		t.Fatalf("the race was not set up (armed %v, %v)", armed, err)
	}
	var rec []byte
	if err := conn.QueryRow(ctx, `SELECT record FROM idempotency_keys WHERE account = 'acct1' AND key = 'key1'`).Scan(&rec); err != nil || string(rec) != "second" {
		t.Fatalf("stored record %q, %v; want the second claim's", rec, err)
	}
	// A live claim is still seen (regression cover).
	if ex, err := s.ClaimIdempotency(ctx, "acct1", "key1", []byte("third"), now, now.Add(time.Minute)); err != nil || string(ex) != "second" {
		t.Fatalf("claim of a live key: %q, %v", ex, err)
	}
}
