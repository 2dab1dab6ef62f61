package pgstore_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aliasgate/aliasgate/internal/faultnet"
	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/pgstore"
	"github.com/aliasgate/aliasgate/vault/vaulttest"
)

var bg = context.Background()

// rec returns a persistent record; index "" leaves the index key nil.
func rec(alias, index string, now time.Time) *vault.Record {
	r := &vault.Record{Alias: alias, Format: vault.FormatUUID, Storage: vault.StoragePersistent, KeyVersion: 1,
		Ciphertext: []byte("ct " + alias), Classifiers: []string{"pan"}, CreatedAt: now}
	if index != "" {
		k := sha256.Sum256([]byte(index))
		r.IndexKey = k[:]
	}
	return r
}

func items(recs ...*vault.Record) []vault.PutItem {
	out := make([]vault.PutItem, len(recs))
	for i, r := range recs {
		out[i] = vault.PutItem{Record: r}
	}
	return out
}

func count(t *testing.T, s string, u string, args ...any) int {
	t.Helper()
	var n int
	q := strings.ReplaceAll(s, "$schema", schemaOf(t, u))
	if err := testDB.QueryRow(bg, q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func schemaOf(t *testing.T, u string) string {
	t.Helper()
	_, q, _ := strings.Cut(u, "search_path=")
	q, _, _ = strings.Cut(q, "&")
	if q == "" {
		t.Fatal("no search_path in URL")
	}
	return q
}

func TestMigrationsAreIdempotentAndConcurrent(t *testing.T) {
	u := newSchema(t)
	// Several gateways starting at once on an empty schema.
	const n = 6
	var wg sync.WaitGroup
	errs := make([]error, n)
	stores := make([]*pgstore.Store, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = pgstore.Open(bg, u, pgstore.Options{MaxConns: 2})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent Open %d: %v", i, err)
		}
		stores[i].Close()
	}
	if got := count(t, `SELECT count(*) FROM $schema.schema_migrations WHERE version > 0`, u); got != pgstore.SchemaVersion() {
		t.Fatalf("schema_migrations has %d versions, want %d", got, pgstore.SchemaVersion())
	}
	applied, err := pgstore.Migrate(bg, u)
	if err != nil || len(applied) != 0 {
		t.Fatalf("Migrate of a current schema = %v, %v; want nothing applied", applied, err)
	}
	// Migrate on an empty schema applies everything once.
	u2 := newSchema(t)
	applied, err = pgstore.Migrate(bg, u2)
	if err != nil || len(applied) != pgstore.SchemaVersion() || applied[0] != 1 {
		t.Fatalf("Migrate of an empty schema = %v, %v", applied, err)
	}
	s := openStore(t, u2, pgstore.Options{NoMigrate: true})
	s.Close()
}

func TestSchemaNewerThanBinaryIsRefused(t *testing.T) {
	u := newSchema(t)
	openStore(t, u, pgstore.Options{}).Close()
	if _, err := testDB.Exec(bg, `INSERT INTO `+schemaOf(t, u)+`.schema_migrations (version, name) VALUES ($1, 'future')`,
		pgstore.SchemaVersion()+1); err != nil {
		t.Fatal(err)
	}
	_, err := pgstore.Open(bg, u, pgstore.Options{})
	if !errors.Is(err, pgstore.ErrSchemaTooNew) {
		t.Fatalf("Open of a newer schema = %v, want ErrSchemaTooNew", err)
	}
	if !strings.Contains(err.Error(), fmt.Sprintf("version %d", pgstore.SchemaVersion()+1)) {
		t.Fatalf("error does not say which version: %v", err)
	}
	if _, err := pgstore.Migrate(bg, u); !errors.Is(err, pgstore.ErrSchemaTooNew) {
		t.Fatalf("Migrate of a newer schema = %v, want ErrSchemaTooNew", err)
	}
	if _, err := pgstore.Open(bg, u, pgstore.Options{NoMigrate: true}); !errors.Is(err, pgstore.ErrSchemaTooNew) {
		t.Fatalf("Open(NoMigrate) of a newer schema = %v, want ErrSchemaTooNew", err)
	}
	// NoMigrate on an empty schema asks for `aliasgate migrate`.
	if _, err := pgstore.Open(bg, newSchema(t), pgstore.Options{NoMigrate: true}); !errors.Is(err, pgstore.ErrSchemaOutdated) {
		t.Fatalf("Open(NoMigrate) of an empty schema = %v, want ErrSchemaOutdated", err)
	}
}

// Two pools on one database behave like two gateway processes: racing Puts
// of the same new values (in different orders, in batches) must agree on one
// alias per value.
func TestTwoGatewaysAgreeOnAliases(t *testing.T) {
	u := newSchema(t)
	clk := vaulttest.NewClock()
	a := openStore(t, u, pgstore.Options{Now: clk.Now})
	b := openStore(t, u, pgstore.Options{Now: clk.Now})
	t.Cleanup(func() { a.Close(); b.Close() })
	const values, batch, workers = 300, 25, 4
	var mu sync.Mutex
	got := map[string][]string{} // value → aliases seen
	created := map[string]int{}
	var wg sync.WaitGroup
	errs := make(chan error, 2*workers)
	for g, s := range []*pgstore.Store{a, b, a, b, a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			order := rand.Perm(values)
			for start := 0; start < values; start += batch {
				var recs []*vault.Record
				for _, v := range order[start : start+batch] {
					recs = append(recs, rec(fmt.Sprintf("tok_g%d_v%d", g, v), fmt.Sprint("value ", v), clk.Now()))
				}
				res, err := s.Put(bg, items(recs...))
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				for j, r := range res {
					v := fmt.Sprint("value ", order[start+j])
					if r.Status == vault.PutCollision || r.Record == nil {
						mu.Unlock()
						errs <- fmt.Errorf("%s: status %v", v, r.Status)
						return
					}
					got[v] = append(got[v], r.Record.Alias)
					if r.Status == vault.PutCreated {
						created[v]++
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for v, aliases := range got {
		if len(slices.Compact(slices.Sorted(slices.Values(aliases)))) != 1 {
			t.Fatalf("%s got several aliases: %v", v, aliases)
		}
		if created[v] != 1 {
			t.Fatalf("%s was created %d times", v, created[v])
		}
	}
	if n := count(t, `SELECT count(*) FROM $schema.records`, u); n != values {
		t.Fatalf("%d records stored, want %d", n, values)
	}
}

// A Put of many items is a constant number of round trips, and so are Get
// and LookupIndex.
func TestBatchesAreConstantRoundTrips(t *testing.T) {
	tr := &countingTracer{}
	clk := vaulttest.NewClock()
	s := openStore(t, newSchema(t), pgstore.Options{Now: clk.Now, Tracer: tr, MaxConns: 1})
	t.Cleanup(func() { s.Close() })
	const n = 500
	var recs, again []*vault.Record
	var aliases []string
	var keys [][]byte
	for i := range n {
		r := rec(fmt.Sprintf("tok_%04d", i), fmt.Sprint("v", i), clk.Now())
		recs = append(recs, r)
		aliases = append(aliases, r.Alias)
		keys = append(keys, r.IndexKey)
		// Half of them again under new aliases, plus duplicates inside the call.
		if i%2 == 0 {
			again = append(again, rec(fmt.Sprintf("tok_again_%04d", i), fmt.Sprint("v", i), clk.Now()))
		} else {
			again = append(again, rec(fmt.Sprintf("tok_new_%04d", i), fmt.Sprint("new ", i), clk.Now()))
		}
	}
	again = append(again, rec("tok_dup", "v1", clk.Now()), rec("tok_dup2", "new 1", clk.Now()))

	// Warm the statement cache (preparing is an extra round trip per
	// statement and connection, once).
	if _, err := s.Put(bg, items(rec("tok_warm", "warm", clk.Now()), rec("tok_warm2", "warm", clk.Now()))); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(bg, items(rec("tok_warm3", "warm", clk.Now()))); err != nil {
		t.Fatal(err)
	}

	calls := tr.calls(func() {
		res, err := s.Put(bg, items(recs...))
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			if r.Status != vault.PutCreated {
				t.Fatalf("item %d: %v", i, r.Status)
			}
		}
	})
	if calls > 2 {
		t.Fatalf("Put of %d new items took %d calls, want 2 (batch, commit)", n, calls)
	}
	calls = tr.calls(func() {
		res, err := s.Put(bg, items(again...))
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res[:n] {
			want := vault.PutCreated
			if i%2 == 0 {
				want = vault.PutExisting
			}
			if r.Status != want {
				t.Fatalf("item %d: %v, want %v", i, r.Status, want)
			}
			if want == vault.PutExisting && r.Record.Alias != recs[i].Alias {
				t.Fatalf("item %d: existing %s, want %s", i, r.Record.Alias, recs[i].Alias)
			}
		}
		if res[n].Status != vault.PutExisting || res[n].Record.Alias != recs[1].Alias ||
			res[n+1].Status != vault.PutExisting || res[n+1].Record.Alias != again[1].Alias {
			t.Fatalf("duplicates in the call: %+v %+v", res[n], res[n+1])
		}
	})
	if calls > 3 {
		t.Fatalf("Put of %d items, half existing, took %d calls, want 3 (batch, select, commit)", len(again), calls)
	}
	calls = tr.calls(func() {
		got, err := s.Get(bg, aliases)
		if err != nil || len(got) != n || got[n-1] == nil || got[n-1].Alias != aliases[n-1] {
			t.Fatalf("Get: %v", err)
		}
	})
	if calls != 1 {
		t.Fatalf("Get of %d aliases took %d calls, want 1", n, calls)
	}
	calls = tr.calls(func() {
		got, err := s.LookupIndex(bg, keys)
		if err != nil || got[7] != aliases[7] {
			t.Fatalf("LookupIndex: %v", err)
		}
	})
	if calls != 1 {
		t.Fatalf("LookupIndex of %d keys took %d calls, want 1", n, calls)
	}
}

// countingTracer counts queries and batches sent (each one round trip once
// its statements are prepared).
type countingTracer struct{ n atomic.Int64 }

func (c *countingTracer) calls(fn func()) int {
	before := c.n.Load()
	fn()
	return int(c.n.Load() - before)
}

func (c *countingTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}
func (c *countingTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (c *countingTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	c.n.Add(1)
	return ctx
}
func (c *countingTracer) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (c *countingTracer) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

func TestVolatileRecordsHaveNoIndexEntry(t *testing.T) {
	clk := vaulttest.NewClock()
	u := newSchema(t)
	s := openStore(t, u, pgstore.Options{Now: clk.Now})
	t.Cleanup(func() { s.Close() })
	var recs []*vault.Record
	for i := range 3 {
		r := rec(fmt.Sprint("tok_vol", i), "", clk.Now())
		r.Storage, r.ExpiresAt, r.Classifiers = vault.StorageVolatile, clk.Now().Add(time.Minute), nil
		recs = append(recs, r)
	}
	res, err := s.Put(bg, items(recs...))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Status != vault.PutCreated {
			t.Fatalf("status %v", r.Status)
		}
	}
	if n := count(t, `SELECT count(*) FROM $schema.records WHERE index_key IS NULL`, u); n != 3 {
		t.Fatalf("%d records without index key, want 3", n)
	}
	clk.Advance(time.Minute)
	if n, err := s.Sweep(bg); err != nil || n != 3 {
		t.Fatalf("Sweep = %d, %v; want 3", n, err)
	}
}

// The pool of a gateway whose connections the server dropped recovers by
// itself: the next call succeeds (a dropped connection is retried once),
// and at worst one call fails, with vault.ErrUnavailable.
func TestKilledConnectionsRecover(t *testing.T) {
	app := "aliasgate_kill_" + randHex(4)
	clk := vaulttest.NewClock()
	s := openStore(t, newSchema(t, "application_name", app), pgstore.Options{Now: clk.Now, MaxConns: 4})
	t.Cleanup(func() { s.Close() })
	if _, err := s.Put(bg, items(rec("tok_k", "k", clk.Now()))); err != nil {
		t.Fatal(err)
	}
	failures := 0
	for round := range 5 {
		// Use several connections, so that the pool holds several to kill.
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() { defer wg.Done(); s.Get(bg, []string{"tok_k"}) }()
		}
		wg.Wait()
		var killed int
		if err := testDB.QueryRow(bg, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&killed); err != nil {
			t.Fatal(err)
		}
		if killed == 0 {
			t.Fatalf("round %d: no connection of the store found to kill", round)
		}
		ok := false
		for attempt := range 2 {
			got, err := s.Get(bg, []string{"tok_k"})
			if err == nil {
				if got[0] == nil {
					t.Fatal("record missing after reconnect")
				}
				ok = true
				break
			}
			if !errors.Is(err, vault.ErrUnavailable) {
				t.Fatalf("round %d attempt %d: %v, want ErrUnavailable", round, attempt, err)
			}
			failures++
		}
		if !ok {
			t.Fatalf("round %d: the store did not recover after one error", round)
		}
		// Writes too.
		if _, err := s.Put(bg, items(rec(fmt.Sprint("tok_k", round), fmt.Sprint("k", round), clk.Now()))); err != nil {
			if !errors.Is(err, vault.ErrUnavailable) {
				t.Fatalf("Put after kill: %v", err)
			}
			failures++
		}
	}
	t.Logf("%d calls failed over 5 kills", failures)
}

// A server that goes away makes calls fail with vault.ErrUnavailable (the
// proxy answers 503); when it comes back the same store works again.
func TestServerOutageIsUnavailableThenRecovers(t *testing.T) {
	cfg, err := pgx.ParseConfig(serverURL)
	if err != nil {
		t.Fatal(err)
	}
	target := net.JoinHostPort(cfg.Host, fmt.Sprint(cfg.Port))
	network := "tcp"
	if strings.HasPrefix(cfg.Host, "/") {
		network, target = "unix", fmt.Sprintf("%s/.s.PGSQL.%d", cfg.Host, cfg.Port)
	}
	p := faultnet.New(t, network, target)
	u := newSchema(t)
	// The same database through the proxy, with a password the messages
	// must never show (trust auth ignores it).
	proxied := strings.Replace(withParams(u, "", map[string]string{"connect_timeout": "2"}), "@"+hostPort(t, u), "@"+p.Addr(), 1)
	proxied = strings.Replace(proxied, "://"+cfg.User+"@", "://"+cfg.User+":S3cret-pw@", 1)
	clk := vaulttest.NewClock()
	s := openStore(t, proxied, pgstore.Options{Now: clk.Now, MaxConns: 2})
	t.Cleanup(func() { s.Close() })
	if _, err := s.Put(bg, items(rec("tok_o", "o", clk.Now()))); err != nil {
		t.Fatal(err)
	}

	p.Down()
	ctx, cancel := context.WithTimeout(bg, 5*time.Second)
	defer cancel()
	checks := map[string]error{}
	_, checks["get"] = s.Get(ctx, []string{"tok_o"})
	_, checks["put"] = s.Put(ctx, items(rec("tok_o2", "o2", clk.Now())))
	_, checks["lookup index"] = s.LookupIndex(ctx, [][]byte{rec("", "o", clk.Now()).IndexKey})
	checks["ping"] = s.Ping(ctx)
	_, _, checks["get card"] = s.GetCard(ctx, "a", "b")
	t.Logf("get with the server away: %v", checks["get"])
	for op, err := range checks {
		if !errors.Is(err, vault.ErrUnavailable) {
			t.Fatalf("%s with the server away = %v, want ErrUnavailable", op, err)
		}
		if !strings.Contains(err.Error(), "pgstore: "+op) || strings.Contains(err.Error(), "S3cret") {
			t.Fatalf("%s error lacks context or shows the password: %v", op, err)
		}
	}
	// A new gateway cannot start meanwhile, and says where it tried.
	_, err = pgstore.Open(ctx, proxied, pgstore.Options{})
	if !errors.Is(err, vault.ErrUnavailable) || !strings.Contains(err.Error(), "pgstore: connect postgres://"+cfg.User+"@"+p.Addr()) ||
		strings.Contains(err.Error(), "S3cret") {
		t.Fatalf("Open with the server away = %v", err)
	}
	t.Logf("Open with the server away: %v", err)

	p.Up()
	got, err := s.Get(bg, []string{"tok_o"})
	if err != nil || got[0] == nil {
		t.Fatalf("Get after the server came back = %v, %v", got, err)
	}
	if _, err := s.Put(bg, items(rec("tok_o3", "o3", clk.Now()))); err != nil {
		t.Fatalf("Put after the server came back: %v", err)
	}
}

// A server that stops answering without closing its connections (a
// network path dropping packets, a hung server) makes calls fail with
// vault.ErrUnavailable once Options.OpTimeout has passed, even when the
// caller's context has no deadline (an HTTP request's), and saying why;
// when it answers again the same store works again.
func TestHungServerIsUnavailableThenRecovers(t *testing.T) {
	cfg, err := pgx.ParseConfig(serverURL)
	if err != nil {
		t.Fatal(err)
	}
	network, target := "tcp", net.JoinHostPort(cfg.Host, fmt.Sprint(cfg.Port))
	if strings.HasPrefix(cfg.Host, "/") {
		network, target = "unix", fmt.Sprintf("%s/.s.PGSQL.%d", cfg.Host, cfg.Port)
	}
	p := faultnet.New(t, network, target)
	u := newSchema(t)
	proxied := strings.Replace(u, "@"+hostPort(t, u), "@"+p.Addr(), 1)
	clk := vaulttest.NewClock()
	s := openStore(t, proxied, pgstore.Options{Now: clk.Now, MaxConns: 2, OpTimeout: 500 * time.Millisecond})
	t.Cleanup(func() { s.Close() })
	if _, err := s.Put(bg, items(rec("tok_h", "h", clk.Now()))); err != nil {
		t.Fatal(err)
	}

	p.Stall()
	t.Cleanup(p.Resume) // before Close, which waits for the calls in progress
	// Each call in a goroutine: without a bound they would wait for ever,
	// and the test reports that instead of hanging.
	calls := map[string]func() error{
		"get":          func() error { _, err := s.Get(bg, []string{"tok_h"}); return err },
		"put":          func() error { _, err := s.Put(bg, items(rec("tok_h2", "h2", clk.Now()))); return err },
		"lookup index": func() error { _, err := s.LookupIndex(bg, [][]byte{rec("", "h", clk.Now()).IndexKey}); return err },
		"ping":         func() error { return s.Ping(bg) },
		"get card":     func() error { _, _, err := s.GetCard(bg, "a", "b"); return err },
	}
	for op, call := range calls {
		done := make(chan error, 1)
		go func() { done <- call() }()
		select {
		case err := <-done:
			if !errors.Is(err, vault.ErrUnavailable) || !strings.Contains(err.Error(), "pgstore: "+op) ||
				!strings.Contains(err.Error(), "did not answer within 500ms") {
				t.Fatalf("%s with the server hung = %v, want ErrUnavailable saying so", op, err)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("%s with the server hung did not return", op)
		}
	}

	p.Resume()
	got, err := s.Get(bg, []string{"tok_h"})
	if err != nil || got[0] == nil {
		t.Fatalf("Get after the server answered again = %v, %v", got, err)
	}
	if _, err := s.Put(bg, items(rec("tok_h3", "h3", clk.Now()))); err != nil {
		t.Fatalf("Put after the server answered again: %v", err)
	}
}

func hostPort(t *testing.T, u string) string {
	t.Helper()
	_, rest, _ := strings.Cut(u, "@")
	hp, _, _ := strings.Cut(rest, "/")
	return hp
}

func TestOpenFailsFastWithoutPassword(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	start := time.Now()
	_, err = pgstore.Open(bg, "postgres://gw:Very-Secret@"+addr+"/vault?sslmode=disable", pgstore.Options{})
	if err == nil || time.Since(start) > 3*time.Second {
		t.Fatalf("Open of a closed port = %v after %s", err, time.Since(start))
	}
	if !errors.Is(err, vault.ErrUnavailable) || !strings.HasPrefix(err.Error(), "pgstore: connect postgres://gw@"+addr+"/vault: ") ||
		strings.Contains(err.Error(), "Very-Secret") {
		t.Fatalf("Open error = %v", err)
	}
	for _, bad := range []string{
		"postgres://gw:Very-Secret@host:notaport/db",
		"host=h password=Very-Secret port=notaport",
		"postgres://gw:Very-Secret@host/db?pool_max_conns=x",
	} {
		_, err := pgstore.Open(bg, bad, pgstore.Options{})
		if err == nil || strings.Contains(err.Error(), "Very-Secret") || !strings.HasPrefix(err.Error(), "pgstore: connect ") {
			t.Fatalf("Open(%q) = %v", strings.ReplaceAll(bad, "Very-Secret", "…"), err)
		}
	}
}

func TestRekeyIsCompareAndSwapAcrossGateways(t *testing.T) {
	u := newSchema(t)
	clk := vaulttest.NewClock()
	a := openStore(t, u, pgstore.Options{Now: clk.Now})
	b := openStore(t, u, pgstore.Options{Now: clk.Now})
	t.Cleanup(func() { a.Close(); b.Close() })
	const n = 200
	var recs []*vault.Record
	var rk []vault.RekeyItem
	for i := range n {
		recs = append(recs, rec(fmt.Sprintf("tok_r%03d", i), fmt.Sprint("r", i), clk.Now()))
		rk = append(rk, vault.RekeyItem{Alias: recs[i].Alias, OldVersion: 1, NewVersion: 2, Ciphertext: []byte("new")})
	}
	if _, err := a.Put(bg, items(recs...)); err != nil {
		t.Fatal(err)
	}
	var changed atomic.Int64
	var wg sync.WaitGroup
	for _, s := range []*pgstore.Store{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := slices.Clone(rk)
			rand.Shuffle(len(mine), func(i, j int) { mine[i], mine[j] = mine[j], mine[i] })
			k, err := s.Rekey(bg, mine)
			if err != nil {
				t.Error(err)
			}
			changed.Add(int64(k))
		}()
	}
	wg.Wait()
	if changed.Load() != n {
		t.Fatalf("concurrent Rekeys changed %d records in all, want %d (each once)", changed.Load(), n)
	}
	// Repeated aliases in one call are applied in order.
	k, err := a.Rekey(bg, []vault.RekeyItem{
		{Alias: "tok_r000", OldVersion: 2, NewVersion: 3, Ciphertext: []byte("v3")},
		{Alias: "tok_r000", OldVersion: 3, NewVersion: 4, Ciphertext: []byte("v4")},
	})
	if err != nil || k != 2 {
		t.Fatalf("chained Rekey = %d, %v; want 2", k, err)
	}
	got, _ := a.Get(bg, []string{"tok_r000"})
	if got[0].KeyVersion != 4 || string(got[0].Ciphertext) != "v4" || !slices.Equal(got[0].IndexKey, recs[0].IndexKey) {
		t.Fatalf("after chained Rekey: %+v", got[0])
	}
}

// Cards: a card added by two gateways at once is stored once, and updates
// of one card from several gateways are all kept, in order.
func TestCardsAcrossGateways(t *testing.T) {
	u := newSchema(t)
	a := openStore(t, u, pgstore.Options{})
	b := openStore(t, u, pgstore.Options{})
	t.Cleanup(func() { a.Close(); b.Close() })
	for round := range 20 {
		fp := fmt.Sprint("fp", round)
		var wg sync.WaitGroup
		ex := make([]string, 4)
		for g, s := range []*pgstore.Store{a, b, a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var err error
				ex[g], err = s.PutCard(bg, "acct", fmt.Sprintf("CRD%d_%d", round, g), fp, []byte("card"))
				if err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		winners := 0
		for g, e := range ex {
			if e == "" {
				winners++
				continue
			}
			if _, ok, _ := a.GetCard(bg, "acct", e); !ok {
				t.Fatalf("round %d: gateway %d was sent to %s, which does not exist", round, g, e)
			}
		}
		if winners != 1 {
			t.Fatalf("round %d: %d gateways stored the card", round, winners)
		}
	}
	if _, err := a.PutCard(bg, "acct", "CRDU", "fpu", []byte("v0")); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g, s := range []*pgstore.Store{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				u := []byte(fmt.Sprintf("g%d-%02d", g, i))
				for { // compare-and-swap: read, write, again when another gateway wrote first
					old, _, err := s.GetCard(bg, "acct", "CRDU")
					if err != nil {
						t.Error(err)
						return
					}
					err = s.UpdateCard(bg, "acct", "CRDU", old, u, u)
					if errors.Is(err, vault.ErrCardChanged) {
						continue
					}
					if err != nil {
						t.Error(err)
					}
					break
				}
			}
		}()
	}
	wg.Wait()
	ups, err := b.CardUpdates(bg, "acct", "CRDU")
	if err != nil || len(ups) != 40 {
		t.Fatalf("CardUpdates = %d, %v; want 40", len(ups), err)
	}
	last := map[byte]string{}
	for _, up := range ups {
		g := up[1]
		if string(up) <= last[g] {
			t.Fatalf("updates of gateway %c out of order: %q after %q", g, up, last[g])
		}
		last[g] = string(up)
	}
	if err := a.UpdateCard(bg, "other", "CRDU", []byte("v0"), []byte("x"), []byte("y")); !errors.Is(err, pgstore.ErrCardNotFound) {
		t.Fatalf("UpdateCard of another account = %v, want ErrCardNotFound", err)
	}
	if err := a.PutClient(bg, "cl", []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := b.PutClient(bg, "cl", []byte("two")); !errors.Is(err, pgstore.ErrClientExists) {
		t.Fatalf("PutClient of a taken id = %v, want ErrClientExists", err)
	}
}

// Exports follow byte order whatever the database's collation.
func TestScanOrderIsByteOrder(t *testing.T) {
	clk := vaulttest.NewClock()
	s := openStore(t, newSchema(t), pgstore.Options{Now: clk.Now})
	t.Cleanup(func() { s.Close() })
	aliases := []string{"b", "B", "_a", "a_", "Z", "é", "aa", "a"}
	var recs []*vault.Record
	for _, a := range aliases {
		recs = append(recs, rec(a, a, clk.Now()))
		if err := s.PutClient(bg, a, []byte(a)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.PutCard(bg, a, "id", "fp", []byte(a)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Put(bg, items(recs...)); err != nil {
		t.Fatal(err)
	}
	want := slices.Sorted(slices.Values(aliases))
	var got []string
	for after := ""; ; {
		page, err := s.ScanRecords(bg, after, 3)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page {
			got = append(got, r.Alias)
			after = r.Alias
		}
		if len(page) < 3 {
			break
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("ScanRecords order %q, want %q", got, want)
	}
	cls, err := s.ScanClients(bg, "", 100)
	if err != nil || len(cls) != len(want) {
		t.Fatalf("ScanClients = %v, %v", cls, err)
	}
	for i, c := range cls {
		if c.ID != want[i] {
			t.Fatalf("ScanClients order: %s at %d, want %s", c.ID, i, want[i])
		}
	}
	cds, err := s.ScanCards(bg, "a", 100) // a cursor that is an account name: its cards and after
	if err != nil {
		t.Fatal(err)
	}
	var accts []string
	for _, c := range cds {
		accts = append(accts, c.Account)
	}
	if wantAccts := want[slices.Index(want, "a"):]; !slices.Equal(accts, wantAccts) {
		t.Fatalf("ScanCards after \"a\" = %q, want %q", accts, wantAccts)
	}
}

// Keys that come from requests and cannot be PostgreSQL text (invalid
// UTF-8, a zero byte) name nothing: not found, not a server error.
func TestKeysThatCannotBeTextAreNotFound(t *testing.T) {
	clk := vaulttest.NewClock()
	s := openStore(t, newSchema(t), pgstore.Options{Now: clk.Now})
	t.Cleanup(func() { s.Close() })
	if _, err := s.Put(bg, items(rec("tok_ok", "ok", clk.Now()))); err != nil {
		t.Fatal(err)
	}
	bad := []string{"tok_\xff", "tok_\x00", "tok_ok"}
	got, err := s.Get(bg, bad)
	if err != nil || got[0] != nil || got[1] != nil || got[2] == nil || got[2].Alias != "tok_ok" {
		t.Fatalf("Get = %v, %v", got, err)
	}
	if err := s.Delete(bg, "\xff", ""); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("Delete = %v, want ErrNotFound", err)
	}
	if err := s.SetClassifiers(bg, []string{"\x00"}, []string{"x"}); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("SetClassifiers = %v, want ErrNotFound", err)
	}
	if _, ok, err := s.GetCard(bg, "acct", "\xff"); ok || err != nil {
		t.Fatalf("GetCard = %v, %v", ok, err)
	}
	if _, ok, err := s.GetClient(bg, "a\x00"); ok || err != nil {
		t.Fatalf("GetClient = %v, %v", ok, err)
	}
	if ups, err := s.CardUpdates(bg, "\xff", "x"); len(ups) != 0 || err != nil {
		t.Fatalf("CardUpdates = %v, %v", ups, err)
	}
	if err := s.ReplaceCard(bg, "\xff", "x", nil, []byte("r")); !errors.Is(err, pgstore.ErrCardNotFound) {
		t.Fatalf("ReplaceCard = %v", err)
	}
}

// TestSameStore: two stores opened with URLs that spell one store
// differently are the same store (vault copy refuses to copy a vault
// into itself); stores in other schemas of one database are not.
func TestSameStore(t *testing.T) {
	ctx := context.Background()
	u := newSchema(t)
	a := openStore(t, u, pgstore.Options{})
	defer a.Close()
	b := openStore(t, u+"&application_name=other", pgstore.Options{})
	defer b.Close()
	c := openStore(t, newSchema(t), pgstore.Options{})
	defer c.Close()
	if same, err := a.SameStore(ctx, b); err != nil || !same {
		t.Errorf("one store under two URLs: same %v, %v", same, err)
	}
	if same, err := a.SameStore(ctx, c); err != nil || same {
		t.Errorf("stores in two schemas of one database: same %v, %v", same, err)
	}
	if same, err := a.SameStore(ctx, a); err != nil || !same {
		t.Errorf("a store and itself: same %v, %v", same, err)
	}
}
