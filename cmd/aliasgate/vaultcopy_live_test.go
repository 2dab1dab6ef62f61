package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/boltstore"
	"github.com/aliasgate/aliasgate/vault/memstore"
	"github.com/aliasgate/aliasgate/vault/pgstore"
)

// changingSource is a live source store: when the copy asks for the
// second page of its second scan (the first counts the records, the
// second copies them; or of scan at when set), during changes the vault,
// as a gateway serving the source would meanwhile.
type changingSource struct {
	persistentStore
	scans  int
	at     int
	once   sync.Once
	during func()
}

func (s *changingSource) ScanRecords(ctx context.Context, after string, limit int) ([]*vault.Record, error) {
	if after == "" {
		s.scans++
	} else if s.scans == max(s.at, 2) {
		s.once.Do(s.during)
	}
	return s.persistentStore.ScanRecords(ctx, after, limit)
}

// openTestPostgres opens a store on a fresh PostgreSQL database, closed
// when the test ends.
func openTestPostgres(t *testing.T) *pgstore.Store {
	t.Helper()
	pg, err := pgstore.Open(context.Background(), testPostgresURL(t), pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Close() })
	return pg
}

// openTestBolt opens (or makes) the bbolt store dir/vault.db, closed when
// the test ends (closing it before is allowed).
func openTestBolt(t *testing.T, dir string) *boltstore.Store {
	t.Helper()
	s, err := boltstore.Open(filepath.Join(dir, "vault.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// openService is a vault.Service over store with master's keys.
func openService(t *testing.T, store vault.Store, master []byte) *vault.Service {
	t.Helper()
	keys, err := vault.OpenKeyring(context.Background(), store, master)
	if err != nil {
		t.Fatal(err)
	}
	vol := memstore.New(memstore.Options{})
	t.Cleanup(func() { vol.Close() })
	svc, err := vault.New(store, vol, keys, vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func redactValues(t *testing.T, svc *vault.Service, prefix string, n int) map[string]string {
	t.Helper()
	reqs := make([]vault.RedactRequest, n)
	for i := range reqs {
		reqs[i] = vault.RedactRequest{Value: fmt.Sprintf("%s-%04d", prefix, i)}
	}
	toks, err := svc.Redact(context.Background(), reqs)
	if err != nil {
		t.Fatal(err)
	}
	byAlias := map[string]string{}
	for i, tok := range toks {
		byAlias[tok.Alias] = reqs[i].Value
	}
	return byAlias
}

// TestVaultCopyFromALiveSourceMissesNothing copies a PostgreSQL vault that
// a gateway keeps changing during the copy: records created behind the
// copy's cursor, a key rotation with every record re-encrypted, changed
// classifiers. The copy must end with every record of the source readable
// in the destination, as the source holds it, or fail: never report
// success with records missing or stale.
func TestVaultCopyFromALiveSourceMissesNothing(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	master := make([]byte, 32)
	for i := range master {
		master[i] = byte(i + 1)
	}
	pg := openTestPostgres(t)
	srcSvc := openService(t, pg, master)
	want := redactValues(t, srcSvc, "before", 200)
	var first string
	for a := range want {
		if first == "" || a < first {
			first = a
		}
	}

	src := &changingSource{persistentStore: pg}
	src.during = func() {
		for a, v := range redactValues(t, srcSvc, "during", 200) { // about half behind the cursor
			want[a] = v
		}
		keys, err := vault.OpenKeyring(ctx, pg, master)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := keys.Rotate(ctx); err != nil {
			t.Fatal(err)
		}
		rk, err := vault.NewReencryptor(pg, keys, vault.ReencryptOptions{Rate: -1})
		if err != nil {
			t.Fatal(err)
		}
		if err := rk.Run(ctx); err != nil {
			t.Fatal(err)
		}
		if err := srcSvc.UpdateClassifiers(ctx, first, []string{"changed"}); err != nil {
			t.Fatal(err)
		}
	}

	dst := openTestBolt(t, dir)
	c := &vaultCopier{out: io.Discard, batch: 20, checkpoint: filepath.Join(dir, copyCheckpointFile)}
	if err := c.copyStores(ctx, src, "source", dst, "destination", master); err != nil {
		t.Fatalf("vault copy of a live source: %v", err)
	}

	dstSvc := openService(t, dst, master)
	aliases := make([]string, 0, len(want))
	for a := range want {
		aliases = append(aliases, a)
	}
	got, err := dstSvc.Reveal(ctx, aliases)
	if err != nil {
		t.Fatalf("the copy reported success, but its records do not all reveal: %v", err)
	}
	missing := 0
	for i, r := range got {
		if r.Value != want[aliases[i]] {
			missing++
		}
	}
	if missing > 0 {
		t.Fatalf("the copy reported success, but %d of the source's %d records are not in the destination", missing, len(want))
	}
	recs, err := dst.Get(ctx, []string{first})
	if err != nil || recs[0] == nil || !slices.Equal(recs[0].Classifiers, []string{"changed"}) {
		t.Fatalf("classifiers changed in the source during the copy: destination has %+v, %v", recs[0], err)
	}
}

// everChangingSource gets a new record at the start of every scan, as a
// source under steady traffic.
type everChangingSource struct {
	persistentStore
	svc *vault.Service
	n   int
}

func (s *everChangingSource) ScanRecords(ctx context.Context, after string, limit int) ([]*vault.Record, error) {
	if after == "" {
		s.n++
		if _, err := s.svc.Redact(ctx, []vault.RedactRequest{{Value: fmt.Sprintf("steady-%04d", s.n)}}); err != nil {
			return nil, err
		}
	}
	return s.persistentStore.ScanRecords(ctx, after, limit)
}

// TestVaultCopyOfASourceThatKeepsChangingFails: when every pass finds new
// records, the copy cannot know it has them all; it fails, saying so,
// rather than report success.
func TestVaultCopyOfASourceThatKeepsChangingFails(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	master := make([]byte, 32)
	pg := openTestPostgres(t)
	svc := openService(t, pg, master)
	redactValues(t, svc, "before", 30)
	dst := openTestBolt(t, dir)
	var out strings.Builder
	c := &vaultCopier{out: &out, batch: 10, checkpoint: filepath.Join(dir, copyCheckpointFile)}
	err := c.copyStores(ctx, &everChangingSource{persistentStore: pg, svc: svc}, "source", dst, "destination", master)
	if err == nil || !strings.Contains(err.Error(), "stop its gateways and run the copy again") {
		t.Fatalf("copy of a source that kept changing: %v, want a failure naming it\n%s", err, out.String())
	}
	if strings.Contains(out.String(), "source holds") {
		t.Fatalf("a failed copy printed its final count:\n%s", out.String())
	}
}

// cardInTheBackSource gets a card that sorts first while the copy's
// second scan of the cards (its first catch-up pass) reads its second
// page: behind that scan's cursor.
type cardInTheBackSource struct {
	persistentStore
	scans int
	once  sync.Once
	err   error
}

func (s *cardInTheBackSource) ScanCards(ctx context.Context, after string, limit int) ([]vault.CardDump, error) {
	if after == "" {
		s.scans++
	} else if s.scans == 2 {
		s.once.Do(func() {
			_, s.err = s.persistentStore.PutCard(ctx, "acct_1", "c000", "fp000", []byte(`{"id":"c000"}`))
		})
	}
	return s.persistentStore.ScanCards(ctx, after, limit)
}

// TestVaultCopyGetsACardCreatedDuringItsLastPass: a card made in the
// source behind the cursor of what would be the copy's last pass is
// copied too (a recount after the pass sees it), or the copy fails.
func TestVaultCopyGetsACardCreatedDuringItsLastPass(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	master := make([]byte, 32)
	pg := openTestPostgres(t)
	redactValues(t, openService(t, pg, master), "before", 5)
	for i := 10; i < 35; i++ {
		id := fmt.Sprintf("c%03d", i)
		if _, err := pg.PutCard(ctx, "acct_1", id, "fp"+id, []byte(`{"id":"`+id+`"}`)); err != nil {
			t.Fatal(err)
		}
	}
	dst := openTestBolt(t, dir)
	src := &cardInTheBackSource{persistentStore: pg}
	c := &vaultCopier{out: io.Discard, batch: 20, checkpoint: filepath.Join(dir, copyCheckpointFile)}
	if err := c.copyStores(ctx, src, "source", dst, "destination", master); err != nil {
		t.Fatalf("vault copy: %v", err)
	}
	if src.err != nil || src.scans < 2 {
		t.Fatalf("the card was not made during the copy (%d scans): %v", src.scans, src.err)
	}
	if _, ok, err := dst.GetCard(ctx, "acct_1", "c000"); err != nil || !ok {
		t.Fatalf("the copy reported success without the card made during its last pass: %v %v", ok, err)
	}
}
