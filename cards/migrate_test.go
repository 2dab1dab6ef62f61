package cards

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aliasgate/aliasgate/internal/pgtest"
	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/boltstore"
	"github.com/aliasgate/aliasgate/vault/memstore"
	"github.com/aliasgate/aliasgate/vault/pgstore"
	"github.com/aliasgate/aliasgate/vault/redisstore"
)

// migStore is a persistent store the migration runs on.
type migStore interface {
	vault.Store
	Store
	MigrationStore
}

// migrationStores are the stores the migration tests run on: persistent
// and volatile.
var migrationStores = []struct {
	name string
	open func(t *testing.T, now func() time.Time) (migStore, vault.Store)
}{
	{"memstore", func(t *testing.T, now func() time.Time) (migStore, vault.Store) {
		return memstore.New(memstore.Options{Now: now, SweepInterval: -1}), memstore.New(memstore.Options{Now: now, SweepInterval: -1})
	}},
	{"bolt", func(t *testing.T, now func() time.Time) (migStore, vault.Store) {
		p, err := boltstore.Open(filepath.Join(t.TempDir(), "vault.db"), boltstore.Options{Now: now})
		if err != nil {
			t.Fatal(err)
		}
		return p, memstore.New(memstore.Options{Now: now, SweepInterval: -1})
	}},
	{"postgres+redis", func(t *testing.T, now func() time.Time) (migStore, vault.Store) {
		ctx := context.Background()
		p, err := pgstore.Open(ctx, pgtest.NewDatabase(t, "aliasgate_cards"), pgstore.Options{Now: now})
		if err != nil {
			t.Fatal(err)
		}
		redisURL := os.Getenv("ALIASGATE_TEST_REDIS_URL")
		if redisURL == "" {
			redisURL = "redis://127.0.0.1:6379/0"
		}
		b := make([]byte, 6)
		rand.Read(b)
		v, err := redisstore.Open(ctx, redisURL, redisstore.Options{Now: now, Prefix: "agtest" + hex.EncodeToString(b) + ":"})
		if err != nil {
			t.Fatal(err)
		}
		return p, v
	}},
}

// migrationWorld is a vault written before accounts (every record the
// default account's, acct_main) with cards of several accounts over it.
type migrationWorld struct {
	store migStore
	svc   *vault.Service
	cards []migCard
	alias map[string]string // name → alias as written before the upgrade
}

// migCard is one card and the values its aliases must reveal for its
// account after the migration ("" for a reference that is gone).
type migCard struct {
	account, id       string
	pan, cvc, token   string // names in alias
	wantPAN, wantCVC  string
	wantToken         string
	reownPAN, copyPAN bool // the pan_alias stays (in place) / changes (copy)
}

const migDefault = "acct_main"

func newMigrationWorld(t *testing.T, open func(*testing.T, func() time.Time) (migStore, vault.Store)) *migrationWorld {
	t.Helper()
	clk := func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }
	p, v := open(t, clk)
	t.Cleanup(func() { p.Close(); v.Close() })
	kr, err := vault.OpenKeyring(context.Background(), p, make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := vault.New(p, v, kr, vault.Options{Env: "sandbox", VolatileTTL: time.Hour, Now: clk, DefaultAccount: migDefault})
	if err != nil {
		t.Fatal(err)
	}
	w := &migrationWorld{store: p, svc: svc, alias: map[string]string{}}
	bg := context.Background()
	// Before accounts: one namespace, so the same PAN of two accounts'
	// cards had one alias.
	toks, err := svc.Redact(bg, []vault.RedactRequest{
		{Value: "378282246310005"},                                   // a: acct_a's card only
		{Value: "1234", Storage: vault.StorageVolatile},              // a's CVC
		{Value: "4895370000000013"},                                  // a's network token PAN
		{Value: "5555555555554444"},                                  // shared by acct_a and acct_b
		{Value: "4111111111111111"},                                  // shared by the default account and acct_b
		{Value: "6011111111111117"},                                  // deleted before the upgrade
		{Value: "4242424242424242", Format: vault.FormatFPESixTFour}, // acct_b, through a second card of its own
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range []string{"a", "a_cvc", "a_token", "ab", "db", "gone", "b_own"} {
		w.alias[n] = toks[i].Alias
	}
	if err := svc.Delete(bg, w.alias["gone"]); err != nil {
		t.Fatal(err)
	}
	// A record another account already owns (written since the upgrade):
	// never moved, whoever references it.
	c, err := svc.Redact(vault.WithAccount(bg, "acct_c"), []vault.RedactRequest{{Value: "371449635398431"}})
	if err != nil {
		t.Fatal(err)
	}
	w.alias["c_own"] = c[0].Alias
	w.cards = []migCard{
		{account: "acct_a", id: "CRD1", pan: "a", cvc: "a_cvc", token: "a_token", wantPAN: "378282246310005", wantCVC: "1234", wantToken: "4895370000000013", reownPAN: true},
		{account: "acct_a", id: "CRD2", pan: "ab", wantPAN: "5555555555554444", copyPAN: true},
		{account: "acct_b", id: "CRD3", pan: "ab", wantPAN: "5555555555554444", copyPAN: true},
		{account: migDefault, id: "CRD4", pan: "db", wantPAN: "4111111111111111", reownPAN: true},
		{account: "acct_b", id: "CRD5", pan: "db", wantPAN: "4111111111111111", copyPAN: true},
		{account: "acct_b", id: "CRD6", pan: "gone"},
		{account: "acct_b", id: "CRD7", pan: "c_own"},
		{account: "acct_b", id: "CRD8", pan: "b_own", wantPAN: "4242424242424242", reownPAN: true},
	}
	for _, c := range w.cards {
		rec := record{ID: c.id, PANAlias: w.alias[c.pan], CVCAlias: w.alias[c.cvc], Fingerprint: "fp" + c.id, Meta: map[string]string{"k": "v"}}
		if c.token != "" {
			rec.Tokens = []tokenRecord{{ID: "NTK" + c.id, PANAlias: w.alias[c.token], State: TokenActive}}
		}
		b, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.PutCard(bg, c.account, c.id, rec.Fingerprint, b); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

func (w *migrationWorld) card(t *testing.T, c migCard) record {
	t.Helper()
	b, ok, err := w.store.GetCard(context.Background(), c.account, c.id)
	if err != nil || !ok {
		t.Fatalf("card %s: %v", c.id, err)
	}
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func (w *migrationWorld) reveal(t *testing.T, account, alias string) string {
	t.Helper()
	got, err := w.svc.Reveal(vault.WithAccount(context.Background(), account), []string{alias})
	if err != nil {
		t.Fatal(err)
	}
	return got[0].Value
}

// check asserts the state after a finished migration: every card's aliases
// reveal its values for its account and for no other.
func (w *migrationWorld) check(t *testing.T, strict bool) {
	t.Helper()
	accounts := []string{migDefault, "acct_a", "acct_b", "acct_c"}
	for _, c := range w.cards {
		r := w.card(t, c)
		if r.Meta["k"] != "v" || r.Fingerprint != "fp"+c.id {
			t.Fatalf("card %s lost fields: %+v", c.id, r)
		}
		refs := []struct{ alias, want string }{{r.PANAlias, c.wantPAN}}
		if c.cvc != "" {
			refs = append(refs, struct{ alias, want string }{r.CVCAlias, c.wantCVC})
		}
		if c.token != "" {
			refs = append(refs, struct{ alias, want string }{r.Tokens[0].PANAlias, c.wantToken})
		}
		for _, ref := range refs {
			if got := w.reveal(t, c.account, ref.alias); got != ref.want {
				t.Fatalf("card %s of %s reveals %q, want %q", c.id, c.account, got, ref.want)
			}
			for _, other := range accounts {
				if other != c.account && ref.want != "" && w.reveal(t, other, ref.alias) != "" {
					t.Fatalf("card %s's alias is reached by %s too", c.id, other)
				}
			}
		}
		if strict {
			if c.reownPAN && r.PANAlias != w.alias[c.pan] || c.copyPAN && r.PANAlias == w.alias[c.pan] || c.wantPAN == "" && r.PANAlias != w.alias[c.pan] {
				t.Fatalf("card %s's pan_alias %s (before %s): reown %v, copy %v", c.id, r.PANAlias, w.alias[c.pan], c.reownPAN, c.copyPAN)
			}
		}
	}
	// Records no card of another account references stay where they were.
	if w.reveal(t, "acct_c", w.alias["c_own"]) != "371449635398431" {
		t.Fatal("acct_c lost its record")
	}
}

func TestMigrateAccountsGivesEachCardItsRecords(t *testing.T) {
	for _, st := range migrationStores {
		t.Run(st.name, func(t *testing.T) { testMigrateAccounts(t, newMigrationWorld(t, st.open)) })
	}
}

func testMigrateAccounts(t *testing.T, w *migrationWorld) {
	ctx := context.Background()
	res, err := MigrateAccounts(ctx, w.store, w.svc, migDefault)
	if err != nil {
		t.Fatal(err)
	}
	// Non-default cards: 7. In place: CRD1's PAN, CVC and token, CRD8's
	// PAN. Copies: CRD2, CRD3, CRD5. Gone: CRD6, CRD7.
	if want := (MigrationResult{Done: true, Cards: 7, Reowned: 4, Copied: 3, Gone: 2}); res != want {
		t.Fatalf("MigrateAccounts = %+v, want %+v", res, want)
	}
	w.check(t, true)
	// The default account keeps the alias its own card shares.
	if w.reveal(t, migDefault, w.alias["db"]) != "4111111111111111" || w.reveal(t, migDefault, w.alias["a"]) != "" {
		t.Fatal("the default account's records after the migration")
	}
	// Once done it does not run again: a card of acct_b put since over a
	// record of the default account stays as it is.
	b, _ := json.Marshal(record{ID: "CRD9", PANAlias: w.alias["db"], Fingerprint: "fpCRD9"})
	if _, err := w.store.PutCard(ctx, "acct_b", "CRD9", "fpCRD9", b); err != nil {
		t.Fatal(err)
	}
	res, err = MigrateAccounts(ctx, w.store, w.svc, migDefault)
	if err != nil || res != (MigrationResult{}) {
		t.Fatalf("a second MigrateAccounts = %+v, %v; want nothing done", res, err)
	}
	if w.reveal(t, "acct_b", w.alias["db"]) != "" || w.reveal(t, migDefault, w.alias["db"]) == "" {
		t.Fatal("a second MigrateAccounts moved a record")
	}
}

// failing fails the n-th call of MigrateRecord and of ReplaceCard (counted
// together), as a crash or a store failing half way would stop the
// migration.
type failing struct {
	migStore
	svc   *vault.Service
	calls *int
	n     int
}

var errCrash = errors.New("crash")

func (f failing) step() error {
	*f.calls++
	if *f.calls == f.n {
		return errCrash
	}
	return nil
}

func (f failing) MigrateRecord(ctx context.Context, alias, account string, reown bool) (string, error) {
	if err := f.step(); err != nil {
		return "", err
	}
	return f.svc.MigrateRecord(ctx, alias, account, reown)
}

func (f failing) ReplaceCard(ctx context.Context, account, id string, old, record []byte) error {
	if err := f.step(); err != nil {
		return err
	}
	return f.migStore.ReplaceCard(ctx, account, id, old, record)
}

func (f failing) PutMetaIfAbsent(ctx context.Context, key string, value []byte) ([]byte, error) {
	if err := f.step(); err != nil {
		return nil, err
	}
	return f.migStore.PutMetaIfAbsent(ctx, key, value)
}

// TestMigrateAccountsResumesAfterACrash stops the migration at every step
// in turn; the next run finishes it, and every card works for its account
// and no other.
func TestMigrateAccountsResumesAfterACrash(t *testing.T) {
	for _, st := range migrationStores {
		t.Run(st.name, func(t *testing.T) { testMigrateAccountsResumes(t, st.open) })
	}
}

func testMigrateAccountsResumes(t *testing.T, open func(*testing.T, func() time.Time) (migStore, vault.Store)) {
	ctx := context.Background()
	for n := 1; ; n++ {
		w := newMigrationWorld(t, open)
		calls := 0
		f := failing{migStore: w.store, svc: w.svc, calls: &calls, n: n}
		_, err := MigrateAccounts(ctx, f, f, migDefault)
		if err == nil {
			if n == 1 {
				t.Fatal("no step to fail")
			}
			t.Logf("%d steps, each failed in turn", n-1)
			break // n is past the last step
		}
		if !errors.Is(err, errCrash) {
			t.Fatalf("step %d: %v", n, err)
		}
		if _, err := w.store.GetMeta(ctx, AccountsMigratedMeta); !errors.Is(err, vault.ErrNotFound) {
			t.Fatalf("step %d: the migration is marked done after a crash: %v", n, err)
		}
		res, err := MigrateAccounts(ctx, w.store, w.svc, migDefault)
		if err != nil || !res.Done {
			t.Fatalf("step %d: the resumed migration = %+v, %v", n, res, err)
		}
		w.check(t, false)
	}
}

// FuzzMigrationRecord: a stored card record the migration reads and
// writes back keeps every field but the aliases it changes, and the
// aliases read back are the ones written.
func FuzzMigrationRecord(f *testing.F) {
	seed, _ := json.Marshal(record{ID: "CRD1", PANAlias: "tok_a", CVCAlias: "tok_c", Meta: map[string]string{"k": "<v>"},
		Tokens: []tokenRecord{{ID: "NTK1", PANAlias: "tok_t"}, {ID: "NTK2"}}})
	for _, s := range []string{string(seed), `{}`, `null`, `[]`, `{"pan_alias":1}`, `{"network_tokens":[null]}`, `{"network_tokens":{}}`, `{"x":{"y":[1,2]}}`} {
		f.Add([]byte(s), "tok_new")
	}
	f.Fuzz(func(t *testing.T, b []byte, alias string) {
		r, err := parseMigrationRecord(b)
		if err != nil || !utf8.ValidString(alias) { // vault aliases are ASCII
			return
		}
		var before map[string]any
		if err := json.Unmarshal(b, &before); err != nil {
			t.Fatalf("parsed a record that is not a JSON object: %v", err)
		}
		r.PANAlias, r.CVCAlias = alias, alias
		for i := range r.Tokens {
			r.Tokens[i].TokenAlias = alias
		}
		out, err := r.marshal()
		if err != nil {
			t.Fatal(err)
		}
		again, err := parseMigrationRecord(out)
		if err != nil {
			t.Fatalf("the written record does not parse: %v", err)
		}
		if alias != "" && (again.PANAlias != alias || again.CVCAlias != alias) || len(again.Tokens) != len(r.Tokens) {
			t.Fatalf("aliases after a round trip: %+v, want %q", again, alias)
		}
		var after map[string]any
		if err := json.Unmarshal(out, &after); err != nil {
			t.Fatal(err)
		}
		for k, v := range before {
			if k == "pan_alias" || k == "cvc_alias" || k == "network_tokens" {
				continue
			}
			if w, _ := json.Marshal(v); string(w) != mustJSON(t, after[k]) {
				t.Fatalf("field %s changed: %s, was %s", k, mustJSON(t, after[k]), w)
			}
		}
	})
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// meddling is a store on which another gateway changes each card (its
// meta "other") just before the migration's first write of it.
type meddling struct {
	migStore
	t    *testing.T
	done map[string]bool
}

func (m meddling) ReplaceCard(ctx context.Context, account, id string, old, record []byte) error {
	if !m.done[account+"/"+id] {
		m.done[account+"/"+id] = true
		b, _, err := m.migStore.GetCard(ctx, account, id)
		if err != nil {
			m.t.Fatal(err)
		}
		var r map[string]any
		if err := json.Unmarshal(b, &r); err != nil {
			m.t.Fatal(err)
		}
		r["meta"] = map[string]string{"k": "v", "other": "gateway"}
		nb, _ := json.Marshal(r)
		if err := m.migStore.ReplaceCard(ctx, account, id, b, nb); err != nil {
			m.t.Fatal(err)
		}
	}
	return m.migStore.ReplaceCard(ctx, account, id, old, record)
}

// TestMigrateAccountsKeepsAConcurrentChange: a card another gateway
// changes while the migration runs keeps that change: the migration's
// compare-and-swap write is refused, the card read again and its aliases
// mapped again without giving any alias twice (the counts are those of a
// quiet run).
func TestMigrateAccountsKeepsAConcurrentChange(t *testing.T) {
	for _, st := range migrationStores {
		t.Run(st.name, func(t *testing.T) {
			w := newMigrationWorld(t, st.open)
			m := meddling{migStore: w.store, t: t, done: map[string]bool{}}
			res, err := MigrateAccounts(context.Background(), m, w.svc, migDefault)
			if err != nil {
				t.Fatal(err)
			}
			if want := (MigrationResult{Done: true, Cards: 7, Reowned: 4, Copied: 3, Gone: 2}); res != want {
				t.Fatalf("MigrateAccounts = %+v, want %+v", res, want)
			}
			if len(m.done) != 3 { // the copies rewrite CRD2, CRD3, CRD5
				t.Fatalf("cards rewritten: %v", m.done)
			}
			w.check(t, true)
			for _, c := range w.cards {
				if r := w.card(t, c); m.done[c.account+"/"+c.id] && r.Meta["other"] != "gateway" {
					t.Errorf("card %s lost the other gateway's change: %v", c.id, r.Meta)
				}
			}
		})
	}
}
