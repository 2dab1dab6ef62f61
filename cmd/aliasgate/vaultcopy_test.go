package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/boltstore"
	"github.com/aliasgate/aliasgate/vault/memstore"
	"github.com/aliasgate/aliasgate/vault/pgstore"
	"github.com/aliasgate/aliasgate/webhooks"
)

// execCommand is the aliasgate binary with args and extra environment.
func execCommand(t *testing.T, env []string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(aliasgateBinary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

// fillBolt redacts n new values into the bbolt vault of dataDir and returns
// a sample of value → alias.
func fillBolt(t *testing.T, dataDir string, n int) map[string]string {
	return fillBoltAs(t, dataDir, n, "")
}

// fillBoltAs is fillBolt acting for account ("": the default account).
func fillBoltAs(t *testing.T, dataDir string, n int, account string) map[string]string {
	t.Helper()
	ctx := context.Background()
	master, _, err := vault.LoadMasterKey(dataDir, func(string) string { return "" }, true)
	if err != nil {
		t.Fatal(err)
	}
	store, err := boltstore.Open(filepath.Join(dataDir, "vault.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	keys, err := vault.OpenKeyring(ctx, store, master)
	if err != nil {
		t.Fatal(err)
	}
	vol := memstore.New(memstore.Options{})
	defer vol.Close()
	svc, err := vault.New(store, vol, keys, vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if account != "" {
		ctx = vault.WithAccount(ctx, account)
	}
	sample := map[string]string{}
	const batch = 1000
	for start := 0; start < n; start += batch {
		reqs := make([]vault.RedactRequest, 0, batch)
		for i := start; i < min(start+batch, n); i++ {
			reqs = append(reqs, vault.RedactRequest{Value: fmt.Sprintf("value-%07d", i), Classifiers: []string{"test"}})
		}
		toks, err := svc.Redact(ctx, reqs)
		if err != nil {
			t.Fatal(err)
		}
		for i, tok := range toks {
			if (start+i)%5003 == 0 { // 20 samples of 100,000: the most one reveal call takes
				sample[reqs[i].Value] = tok.Alias
			}
		}
	}
	return sample
}

// TestVaultCopyBoltToPostgres moves a bbolt vault of 100,000 aliases and an
// API client to PostgreSQL with `aliasgate vault copy`, killed (-9) after its
// first progress line and run again (it resumes), then reveals a sample
// through a gateway on PostgreSQL with the copied client.
func TestVaultCopyBoltToPostgres(t *testing.T) {
	const n = 100_000
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	c := createClient(t, testEnv(nil), data, "--name", "shop", "--account", "acct_1", "--scopes", "aliases:reveal")
	c2 := createClient(t, testEnv(nil), data, "--name", "shop2", "--account", "acct_2", "--scopes", "aliases:reveal")
	sample := fillBolt(t, data, n)
	owned := fillBoltAs(t, data, 3, "acct_2") // owners are copied: acct_2's records stay acct_2's

	from := filepath.Join(dir, "bolt.yaml")
	to := filepath.Join(dir, "pg.yaml")
	os.WriteFile(from, []byte("data_dir: "+data+"\n"), 0o600)
	os.WriteFile(to, []byte(fmt.Sprintf(`data_dir: %s
listen: {inbound: "127.0.0.1:0", outbound: "127.0.0.1:0", admin: "127.0.0.1:0"}
vault: {store: postgres, postgres_url: %q}
vault_api: {enabled: true}
`, data, testPostgresURL(t))), 0o600)

	// First run: killed at its first progress line.
	cmd := execCommand(t, nil, "vault", "copy", "--from-config", from, "--to-config", to, "--batch", "500")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	killed := false
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "records: ") && !strings.HasPrefix(sc.Text(), "records: 0/") {
			cmd.Process.Kill()
			killed = true
			break
		}
	}
	cmd.Wait()
	if !killed {
		t.Fatal("vault copy ended before its first progress line; the interruption was not tested")
	}
	if _, err := os.Stat(filepath.Join(data, copyCheckpointFile)); err != nil {
		t.Fatalf("no checkpoint after the interrupted copy: %v", err)
	}

	// Second run: resumes and completes.
	out, err := execCommand(t, nil, "vault", "copy", "--from-config", from, "--to-config", to).CombinedOutput()
	if err != nil {
		t.Fatalf("vault copy (resumed): %v\n%s", err, out)
	}
	for _, want := range []string{"resuming after", fmt.Sprintf("source holds %d persistent records, destination %d", n+3, n+3), "2 clients"} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("vault copy output lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(data, copyCheckpointFile)); !os.IsNotExist(err) {
		t.Fatalf("checkpoint left after a complete copy: %v", err)
	}

	// A third run copies nothing new and still verifies.
	out, err = execCommand(t, nil, "vault", "copy", "--from-config", from, "--to-config", to).CombinedOutput()
	if err != nil || !strings.Contains(string(out), fmt.Sprintf("copied %d records (0 new", n+3)) {
		t.Fatalf("vault copy (again): %v\n%s", err, out)
	}

	g := startChild(t, to)
	tok := token(t, g.inbound, c)
	var aliases []string
	for _, a := range sample {
		aliases = append(aliases, a)
	}
	status, body := call(t, "GET", g.inbound+"/aliases?aliases="+strings.Join(aliases, ","), "", "", bearerAuth(tok))
	if status != 200 {
		t.Fatalf("reveal on PostgreSQL: %d %s", status, body)
	}
	var got struct {
		Data map[string]struct{ Value string }
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	for value, alias := range sample {
		if got.Data[alias].Value != value {
			t.Fatalf("alias %s revealed %q on PostgreSQL, want %q", alias, got.Data[alias].Value, value)
		}
	}
	// acct_2's record is acct_2's on PostgreSQL too.
	for value, alias := range owned {
		if status, body := call(t, "GET", g.inbound+"/aliases/"+alias, "", "", bearerAuth(tok)); status != 404 {
			t.Fatalf("acct_1 revealed acct_2's copied alias: %d %s", status, body)
		}
		status, body := call(t, "GET", g.inbound+"/aliases/"+alias, "", "", bearerAuth(token(t, g.inbound, c2)))
		if status != 200 || !strings.Contains(string(body), `"value":"`+value+`"`) {
			t.Fatalf("acct_2's copied alias on PostgreSQL: %d %s", status, body)
		}
	}
	t.Logf("%d records copied; %d sampled aliases reveal through a gateway on PostgreSQL", n+3, len(sample)+len(owned))
}

// TestVaultCopyRefusals covers the mistakes vault copy must refuse before
// writing anything.
func TestVaultCopyRefusals(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.yaml")
	os.WriteFile(a, []byte("data_dir: "+filepath.Join(dir, "a")+"\n"), 0o600)
	b := filepath.Join(dir, "b.yaml")
	os.WriteFile(b, []byte("data_dir: "+filepath.Join(dir, "b")+"\n"), 0o600)
	fillBolt(t, filepath.Join(dir, "a"), 10)

	if _, _, err := runCmd(t, testEnv(nil), "vault", "copy", "--from-config", a, "--to-config", a); err == nil || !strings.Contains(err.Error(), "same store") {
		t.Errorf("copy onto itself: %v", err)
	}
	if _, _, err := runCmd(t, testEnv(nil), "vault", "copy", "--from-config", a); err == nil {
		t.Error("copy without --to-config succeeded")
	}
	if _, _, err := runCmd(t, testEnv(nil), "vault", "copy", "--from-config", a, "--to-config", b, "--delete-missing", "--keep-missing"); err == nil || !strings.Contains(err.Error(), "contradict") {
		t.Errorf("copy with --delete-missing and --keep-missing: %v", err)
	}
	// b has no master key: refused, and nothing created there.
	_, _, err := runCmd(t, testEnv(nil), "vault", "copy", "--from-config", a, "--to-config", b)
	if err == nil || !strings.Contains(err.Error(), "no master key") {
		t.Fatalf("copy to a data dir without the master key: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "b", "vault.db")); !os.IsNotExist(err) {
		t.Fatal("the refused copy created the destination vault")
	}
	// b with another master key: refused.
	fillBolt(t, filepath.Join(dir, "b"), 1)
	if _, _, err = runCmd(t, testEnv(nil), "vault", "copy", "--from-config", a, "--to-config", b); err == nil || !strings.Contains(err.Error(), "not the source's") {
		t.Fatalf("copy to a vault with another master key: %v", err)
	}
	// b with the same master key but its own data keys: another vault.
	key, _ := os.ReadFile(filepath.Join(dir, "a", "master.key"))
	os.Remove(filepath.Join(dir, "b", "vault.db"))
	os.WriteFile(filepath.Join(dir, "b", "master.key"), key, 0o600)
	fillBolt(t, filepath.Join(dir, "b"), 1)
	if _, _, err = runCmd(t, testEnv(nil), "vault", "copy", "--from-config", a, "--to-config", b); err == nil || !strings.Contains(err.Error(), "another vault") {
		t.Fatalf("copy into another vault with the same master key: %v", err)
	}
}

// TestMigrate applies the PostgreSQL schema once, then finds it up to
// date; on bbolt there is nothing to migrate.
func TestMigrate(t *testing.T) {
	dir := t.TempDir()
	pg := filepath.Join(dir, "pg.yaml")
	os.WriteFile(pg, []byte(fmt.Sprintf("data_dir: %s\nvault: {store: postgres, postgres_url: %q}\n", dir, testPostgresURL(t))), 0o600)
	out, _, err := runCmd(t, testEnv(nil), "migrate", "--config", pg)
	if err != nil || !strings.HasPrefix(out, "applied migrations [1") {
		t.Fatalf("first migrate: %q, %v", out, err)
	}
	out, _, err = runCmd(t, testEnv(nil), "migrate", "--config", pg)
	if err != nil || !strings.HasPrefix(out, "schema is up to date") {
		t.Fatalf("second migrate: %q, %v", out, err)
	}
	bolt := filepath.Join(dir, "bolt.yaml")
	os.WriteFile(bolt, []byte("data_dir: "+dir+"\n"), 0o600)
	if out, _, err = runCmd(t, testEnv(nil), "migrate", "--config", bolt); err != nil || !strings.Contains(out, "nothing to migrate") {
		t.Fatalf("migrate on bbolt: %q, %v", out, err)
	}
	if _, _, err = runCmd(t, testEnv(nil), "migrate"); err == nil {
		t.Fatal("migrate without --config succeeded")
	}
	// An unreachable server fails within the connect timeout, naming it without a password.
	down := filepath.Join(dir, "down.yaml")
	os.WriteFile(down, []byte(fmt.Sprintf("data_dir: %s\nvault: {store: postgres, postgres_url: \"postgres://u:hunter2@127.0.0.1:1/x\"}\n", dir)), 0o600)
	_, _, err = runCmd(t, testEnv(nil), "migrate", "--config", down)
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("migrate against a closed port: %v", err)
	}
	_, _, err = runCmd(t, testEnv(nil), "serve", "--config", down)
	if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "postgres") {
		t.Fatalf("serve against a closed port: %v", err)
	}
	// The same for Redis: serve stops with a clear error, no listener opened.
	noRedis := filepath.Join(dir, "noredis.yaml")
	os.WriteFile(noRedis, []byte(fmt.Sprintf("data_dir: %s\nvault: {volatile: redis, redis_url: \"redis://:hunter2@127.0.0.1:1/0\"}\n", dir)), 0o600)
	_, errOut, err := runCmd(t, testEnv(nil), "serve", "--config", noRedis)
	if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "redis") || strings.Contains(errOut, `"msg":"listening"`) {
		t.Fatalf("serve against a closed Redis port: %v\n%s", err, errOut)
	}
}

// TestVaultCopyCheckpointMustMatchTheDestination interrupts a copy to
// PostgreSQL (a record in the way makes its third page fail), then runs it
// again into a destination that does not hold what the checkpoint says was
// copied: the same database emptied since, and another database. The copy
// starts over instead of resuming, so every record is copied, rather than
// leaving the first pages out and failing on the count (or, with records
// already in the destination to make up the count, not failing at all).
func TestVaultCopyCheckpointMustMatchTheDestination(t *testing.T) {
	const n = 1000
	ctx := context.Background()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	fillBolt(t, data, n)
	src, err := boltstore.Open(filepath.Join(data, "vault.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	page, err := src.ScanRecords(ctx, "", n)
	src.Close()
	if err != nil || len(page) != n {
		t.Fatalf("scan: %d records, %v", len(page), err)
	}
	from := filepath.Join(dir, "bolt.yaml")
	os.WriteFile(from, []byte("data_dir: "+data+"\n"), 0o600)
	to := filepath.Join(dir, "pg.yaml")
	copyTo := func(pgURL string) (string, error) {
		os.WriteFile(to, []byte(fmt.Sprintf("data_dir: %s\nvault: {store: postgres, postgres_url: %q}\n", data, pgURL)), 0o600)
		out, errOut, err := runCmd(t, testEnv(nil), "vault", "copy", "--from-config", from, "--to-config", to, "--batch", "100")
		return out + errOut, err
	}
	// interrupted copies into pgURL, failing at its third page (the record
	// in the way is removed with the database or left behind).
	interrupted := func(pgURL string) {
		t.Helper()
		s, err := pgstore.Open(ctx, pgURL, pgstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		in := page[250]
		_, err = s.Put(ctx, []vault.PutItem{{Record: &vault.Record{Alias: in.Alias, Format: in.Format, Storage: vault.StoragePersistent,
			KeyVersion: 1, Ciphertext: []byte("in the way"), IndexKey: []byte(randomHex(16)), CreatedAt: time.Now()}}})
		s.Close()
		if err != nil {
			t.Fatal(err)
		}
		if out, err := copyTo(pgURL); err == nil || !strings.Contains(err.Error(), "conflicts") {
			t.Fatalf("copy with a record in the way: %v\n%s", err, out)
		}
		if _, err := os.Stat(filepath.Join(data, copyCheckpointFile)); err != nil {
			t.Fatalf("no checkpoint after the interrupted copy: %v", err)
		}
	}
	complete := func(pgURL, why string) {
		t.Helper()
		out, err := copyTo(pgURL)
		if err != nil || !strings.Contains(out, fmt.Sprintf("source holds %d persistent records, destination %d", n, n)) ||
			strings.Contains(out, "resuming after") {
			t.Fatalf("copy %s: %v\n%s", why, err, out)
		}
		t.Logf("copy %s:\n%s", why, out)
	}

	// The same database, emptied (dropped and made again) since.
	db1 := testPostgresURL(t)
	interrupted(db1)
	conn, err := pgx.Connect(ctx, db1)
	if err != nil {
		t.Fatal(err)
	}
	_, err = conn.Exec(ctx, "DROP SCHEMA public CASCADE; CREATE SCHEMA public")
	conn.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	complete(db1, "into the emptied database")

	// Another database than the interrupted copy's.
	interrupted(testPostgresURL(t))
	complete(testPostgresURL(t), "into another database")
}

// TestVaultCopyCarriesWebhookDeliveries: the webhook outbox moves with the
// vault. A delivery the stopped bbolt gateway had not made yet (pending,
// still leased to it) is claimed by a gateway on PostgreSQL after the
// copy, and the delivery log keeps the finished ones with their attempts;
// a second copy duplicates nothing.
func TestVaultCopyCarriesWebhookDeliveries(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	fillBolt(t, data, 3)
	now := time.Now().UTC().Truncate(time.Millisecond)
	payload := json.RawMessage(`{"type":"card.created"}`)
	pending := webhooks.Delivery{ID: "dlv_0001", EventID: "evt_1", EventType: "card.created", Account: "acct_1", Endpoint: "ep_1",
		Payload: payload, State: webhooks.StatePending, CreatedAt: now.Add(-time.Hour), UpdatedAt: now.Add(-time.Minute),
		Due: now.Add(-time.Minute), LeaseOwner: "gw-stopped",
		Attempts: []webhooks.Attempt{{At: now.Add(-30 * time.Minute), By: "gw-stopped", Error: "connection_refused"}}}
	delivered := webhooks.Delivery{ID: "dlv_0002", EventID: "evt_2", EventType: "card.updated", Account: "acct_1", Endpoint: "ep_1",
		Payload: payload, State: webhooks.StateDelivered, CreatedAt: now.Add(-time.Hour), UpdatedAt: now.Add(-time.Hour),
		Attempts: []webhooks.Attempt{{At: now.Add(-time.Hour), By: "gw-stopped", Status: 200}}}
	src, err := boltstore.Open(filepath.Join(data, "vault.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = src.AddDeliveries(ctx, []webhooks.Delivery{pending, delivered})
	src.Close()
	if err != nil {
		t.Fatal(err)
	}
	from := filepath.Join(dir, "bolt.yaml")
	os.WriteFile(from, []byte("data_dir: "+data+"\n"), 0o600)
	pgURL := testPostgresURL(t)
	to := filepath.Join(dir, "pg.yaml")
	os.WriteFile(to, []byte(fmt.Sprintf("data_dir: %s\nvault: {store: postgres, postgres_url: %q}\n", data, pgURL)), 0o600)
	var outputs []string
	for run := 1; run <= 2; run++ {
		out, errOut, err := runCmd(t, testEnv(nil), "vault", "copy", "--from-config", from, "--to-config", to)
		if err != nil {
			t.Fatalf("copy %d: %v\n%s%s", run, err, out, errOut)
		}
		outputs = append(outputs, out+errOut)
	}

	dst, err := pgstore.Open(ctx, pgURL, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	log, err := dst.ListDeliveries(ctx, webhooks.Filter{})
	if err != nil || len(log) != 2 || log[0].ID != delivered.ID || log[1].ID != pending.ID ||
		len(log[0].Attempts) != 1 || log[0].Attempts[0].Status != 200 || log[0].State != webhooks.StateDelivered ||
		len(log[1].Attempts) != 1 || log[1].Attempts[0].Error != "connection_refused" {
		t.Fatalf("delivery log on PostgreSQL: %+v, %v", log, err)
	}
	claimed, err := dst.ClaimDeliveries(ctx, "gw-pg", time.Now(), time.Now().Add(time.Minute), 10)
	if err != nil || len(claimed) != 1 || claimed[0].ID != pending.ID || string(claimed[0].Payload) != string(payload) {
		t.Fatalf("claim on PostgreSQL: %+v, %v", claimed, err)
	}
	for i, out := range outputs {
		if !strings.Contains(out, "2 webhook deliveries (1 pending)") {
			t.Errorf("copy %d does not count the deliveries:\n%s", i+1, out)
		}
	}
}
