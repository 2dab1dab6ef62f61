// Package vaulttest is the conformance suite every vault.Store must pass.
// A store's own _test.go calls Run with a Harness that opens it; new stores
// (PostgreSQL, Redis) prove themselves the same way.
package vaulttest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/vault"
)

// Clock is a settable clock for expiry tests.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock set to a fixed instant.
func NewClock() *Clock {
	return &Clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Harness opens the store under test.
type Harness struct {
	// Open returns a new, empty store whose expiry follows now. The suite
	// closes it.
	Open func(t *testing.T, now func() time.Time) vault.Store
	// Reopen, when the store is durable, returns a function that closes
	// store and opens the same data again; nil for a store that keeps
	// nothing across a restart (memstore), whose durability tests are then
	// not part of its suite.
	Reopen func(t *testing.T, store vault.Store, now func() time.Time) vault.Store
	// VolatileOnly marks a store that serves only as vault.volatile (Redis):
	// it keeps records, index entries and meta, but not cards, API clients
	// or exports, whose tests are then not part of its suite.
	VolatileOnly bool
}

// conformanceTest is one test of the suite.
type conformanceTest struct {
	name string
	fn   func(*testing.T, Harness)
}

// Run runs the whole suite.
func Run(t *testing.T, h Harness) {
	tests := []conformanceTest{
		{"PutThenGetReturnsTheRecord", testPutGet},
		{"GetOfUnknownAliasIsNil", testGetUnknown},
		{"SameIndexKeyGivesExistingRecord", testIndexExisting},
		{"SameIndexKeyInOneCallGivesOneRecord", testIndexSameCall},
		{"TakenAliasIsACollision", testCollision},
		{"DeleteRemovesAliasAndIndex", testDelete},
		{"ExpiredRecordsAreGone", testExpiry},
		{"LookupRecordsIsLookupIndexThenGet", testLookupRecords},
		{"LookupRecordsWhileReplaced", testLookupRecordsWhileReplaced},
		{"SetClassifiers", testSetClassifiers},
		{"MetaIsSetOnce", testMeta},
		{"ConcurrentWritersAgreeOnAliases", testConcurrent},
		{"ServiceDeterministicAliases", testServiceDeterministic},
		{"ServiceRedactIsAtomic", testRedactAtomic},
		{"ServiceVolatileExpires", testServiceVolatile},
		{"ServiceKnownTellsAliasesFromValues", testServiceKnown},
		{"ClosedStoreRefusesCalls", testClosed},
		{"RecordsKeepTheirOwner", testOwner},
		{"DeleteNeedsTheOwner", testDeleteOwner},
		{"ServiceScopesRecordsToTheirAccount", testServiceAccounts},
		{"ServiceAliasesArePerAccount", testServicePerAccountAliases},
		{"ServiceKnowsTheDefaultAccountUnderEitherName", testServiceKnowsTheDefaultAccountUnderEitherName},
		{"SetOwnerMovesARecordAndItsIndexEntry", testSetOwner},
		{"SetOwnerRacesHaveOneWinner", testSetOwnerRace},
		{"ServiceMigrateRecordGivesOnlyDefaultRecords", testServiceMigrateRecord},
		{"ServiceConcurrentCallsKeepTheirValues", testServiceConcurrentValues},
		{"ReleaseKeepsWhatWasHandedOut", testHandOutRelease},
		{"HandOutAndReleaseAreOrdered", testHandOutReleaseRace},
		{"ServiceReleaseKeepsWhatAnotherRedactWasGiven", testServiceReleaseRaces},
	}
	if !h.VolatileOnly {
		tests = append(tests,
			conformanceTest{"CardsAreScopedAndDeduplicated", testCards},
			conformanceTest{"CardsAreListedAndDeleted", testCardListDelete},
			conformanceTest{"CardsAreReissued", testCardReissue},
			conformanceTest{"CardWritesCompareAndSwap", testCardCAS},
			conformanceTest{"CardsAreFoundByFingerprint", testCardsByFingerprint},
			conformanceTest{"IdempotencyKeysAreClaimedOnce", testIdempotency},
			conformanceTest{"NumbersIndexFindsEveryAccountsLiveAliases", testNumbers},
			conformanceTest{"TokenAliasIndexFindsTheCardsOfAnAlias", testTokenAliases},
			conformanceTest{"ClientsAreSetOnce", testClients},
			conformanceTest{"ExportImportCopiesEverything", testExportImport},
			conformanceTest{"RekeyIsCompareAndSwap", testRekey},
			conformanceTest{"ServiceLargeValuesAndClassifierMerge", testServiceLargeValues},
		)
	}
	if h.Reopen != nil {
		tests = append(tests,
			conformanceTest{"ReopenKeepsData", testReopen},
			conformanceTest{"ReopenWithOtherMasterKeyFails", testWrongMasterKey},
		)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, h) })
	}
}

func open(t *testing.T, h Harness, now func() time.Time) vault.Store {
	t.Helper()
	s := h.Open(t, now)
	t.Cleanup(func() { s.Close() })
	return s
}

// rec returns a record with a random ciphertext; index is hashed into an
// index key unless empty.
func rec(alias, index string, created time.Time) *vault.Record {
	ct := make([]byte, 40)
	rand.Read(ct)
	r := &vault.Record{Alias: alias, Format: vault.FormatUUID, Storage: vault.StoragePersistent, KeyVersion: 1,
		Ciphertext: ct, Classifiers: []string{"pan"}, CreatedAt: created}
	if index != "" {
		k := sha256.Sum256([]byte(index))
		r.IndexKey = k[:]
	}
	return r
}

// Put puts recs into s in one call and returns its results, failing t
// on an error or a result count other than len(recs).
func Put(t *testing.T, s vault.Store, recs ...*vault.Record) []vault.PutResult {
	t.Helper()
	items := make([]vault.PutItem, len(recs))
	for i, r := range recs {
		items[i] = vault.PutItem{Record: r}
	}
	res, err := s.Put(context.Background(), items)
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	if len(res) != len(recs) {
		t.Fatalf("Put returned %d results for %d items", len(res), len(recs))
	}
	return res
}

func get1(t *testing.T, s vault.Store, alias string) *vault.Record {
	t.Helper()
	got, err := s.Get(context.Background(), []string{alias})
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	return got[0]
}

func sameRecord(t *testing.T, got, want *vault.Record) {
	t.Helper()
	if got == nil {
		t.Fatalf("record %s missing", want.Alias)
	}
	if got.Alias != want.Alias || got.Format != want.Format || got.Storage != want.Storage ||
		got.KeyVersion != want.KeyVersion || !bytes.Equal(got.Ciphertext, want.Ciphertext) ||
		!bytes.Equal(got.IndexKey, want.IndexKey) || !got.CreatedAt.Equal(want.CreatedAt) ||
		!got.ExpiresAt.Equal(want.ExpiresAt) || fmt.Sprint(got.Classifiers) != fmt.Sprint(want.Classifiers) ||
		got.Owner != want.Owner {
		t.Fatalf("record differs:\n got %+v\nwant %+v", got, want)
	}
}

func testPutGet(t *testing.T, h Harness) {
	clk := NewClock()
	s := open(t, h, clk.Now)
	r := rec("tok_a", "v1", clk.Now())
	res := Put(t, s, r)
	if res[0].Status != vault.PutCreated {
		t.Fatalf("status = %v, want created", res[0].Status)
	}
	sameRecord(t, get1(t, s, "tok_a"), r)
	keys, err := s.LookupIndex(context.Background(), [][]byte{r.IndexKey, []byte("other")})
	if err != nil || keys[0] != "tok_a" || keys[1] != "" {
		t.Fatalf("LookupIndex = %q, %v", keys, err)
	}
}

func testGetUnknown(t *testing.T, h Harness) {
	s := open(t, h, NewClock().Now)
	got, err := s.Get(context.Background(), []string{"nope", ""})
	if err != nil || len(got) != 2 || got[0] != nil || got[1] != nil {
		t.Fatalf("Get(unknown) = %v, %v", got, err)
	}
}

func testIndexExisting(t *testing.T, h Harness) {
	clk := NewClock()
	s := open(t, h, clk.Now)
	first := rec("tok_1", "same", clk.Now())
	Put(t, s, first)
	res := Put(t, s, rec("tok_2", "same", clk.Now()))
	if res[0].Status != vault.PutExisting || res[0].Record == nil || res[0].Record.Alias != "tok_1" {
		t.Fatalf("second put = %+v, want existing tok_1", res[0])
	}
	if get1(t, s, "tok_2") != nil {
		t.Fatal("the losing alias was written")
	}
}

func testIndexSameCall(t *testing.T, h Harness) {
	clk := NewClock()
	s := open(t, h, clk.Now)
	res := Put(t, s, rec("tok_x", "dup", clk.Now()), rec("tok_y", "dup", clk.Now()), rec("tok_z", "other", clk.Now()))
	if res[0].Status != vault.PutCreated || res[1].Status != vault.PutExisting || res[1].Record.Alias != "tok_x" || res[2].Status != vault.PutCreated {
		t.Fatalf("results = %+v", res)
	}
}

func testCollision(t *testing.T, h Harness) {
	clk := NewClock()
	s := open(t, h, clk.Now)
	orig := rec("tok_c", "v1", clk.Now())
	Put(t, s, orig)
	res := Put(t, s, rec("tok_c", "v2", clk.Now()))
	if res[0].Status != vault.PutCollision {
		t.Fatalf("status = %v, want collision", res[0].Status)
	}
	sameRecord(t, get1(t, s, "tok_c"), orig)
	keys, _ := s.LookupIndex(context.Background(), [][]byte{rec("", "v2", clk.Now()).IndexKey})
	if keys[0] != "" {
		t.Fatal("a collided item left an index entry")
	}
}

func testDelete(t *testing.T, h Harness) {
	clk := NewClock()
	s := open(t, h, clk.Now)
	r := rec("tok_d", "val", clk.Now())
	Put(t, s, r)
	ctx := context.Background()
	if err := s.Delete(ctx, "tok_d", ""); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if get1(t, s, "tok_d") != nil {
		t.Fatal("deleted alias still returned")
	}
	keys, _ := s.LookupIndex(ctx, [][]byte{r.IndexKey})
	if keys[0] != "" {
		t.Fatal("index entry survived delete")
	}
	if err := s.Delete(ctx, "tok_d", ""); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("second Delete = %v, want ErrNotFound", err)
	}
	if res := Put(t, s, rec("tok_e", "val", clk.Now())); res[0].Status != vault.PutCreated {
		t.Fatalf("re-put after delete = %v, want created", res[0].Status)
	}
}

func testExpiry(t *testing.T, h Harness) {
	clk := NewClock()
	s := open(t, h, clk.Now)
	ctx := context.Background()
	r := rec("tok_v", "", clk.Now())
	r.Storage = vault.StorageVolatile
	r.ExpiresAt = clk.Now().Add(time.Hour)
	Put(t, s, r)
	clk.Advance(time.Hour - time.Millisecond)
	sameRecord(t, get1(t, s, "tok_v"), r)
	clk.Advance(time.Millisecond)
	if get1(t, s, "tok_v") != nil {
		t.Fatal("expired record returned")
	}
	if err := s.Delete(ctx, "tok_v", ""); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("Delete(expired) = %v, want ErrNotFound", err)
	}
	if err := s.SetClassifiers(ctx, []string{"tok_v"}, []string{"x"}); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("SetClassifiers(expired) = %v, want ErrNotFound", err)
	}
	// The alias of an expired record is free again.
	if res := Put(t, s, rec("tok_v", "", clk.Now())); res[0].Status != vault.PutCreated {
		t.Fatalf("put over expired alias = %v, want created", res[0].Status)
	}
	// An expired record behind an index key does not block a new one.
	ix := rec("tok_i1", "indexed", clk.Now())
	ix.ExpiresAt = clk.Now().Add(time.Second)
	Put(t, s, ix)
	clk.Advance(2 * time.Second)
	keys, _ := s.LookupIndex(ctx, [][]byte{ix.IndexKey})
	if keys[0] != "" {
		// Stores may keep the entry; the record must not come back though.
		if get1(t, s, keys[0]) != nil {
			t.Fatal("index points at an expired record that is still returned")
		}
	}
	if res := Put(t, s, rec("tok_i2", "indexed", clk.Now())); res[0].Status != vault.PutCreated {
		t.Fatalf("put after indexed record expired = %v, want created", res[0].Status)
	}
}

func testSetClassifiers(t *testing.T, h Harness) {
	clk := NewClock()
	s := open(t, h, clk.Now)
	ctx := context.Background()
	Put(t, s, rec("tok_s1", "a", clk.Now()), rec("tok_s2", "b", clk.Now()))
	if err := s.SetClassifiers(ctx, []string{"tok_s1", "tok_s2", "missing"}, []string{"pan", "test"}); err != nil {
		t.Fatalf("SetClassifiers: %v", err)
	}
	for _, a := range []string{"tok_s1", "tok_s2"} {
		if got := get1(t, s, a).Classifiers; fmt.Sprint(got) != "[pan test]" {
			t.Fatalf("%s classifiers = %v", a, got)
		}
	}
	if err := s.SetClassifiers(ctx, []string{"missing"}, nil); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("SetClassifiers(missing) = %v, want ErrNotFound", err)
	}
}

func testMeta(t *testing.T, h Harness) {
	s := open(t, h, NewClock().Now)
	ctx := context.Background()
	if _, err := s.GetMeta(ctx, "k"); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("GetMeta(unset) = %v, want ErrNotFound", err)
	}
	v, err := s.PutMetaIfAbsent(ctx, "k", []byte("one"))
	if err != nil || string(v) != "one" {
		t.Fatalf("first PutMetaIfAbsent = %q, %v", v, err)
	}
	v, err = s.PutMetaIfAbsent(ctx, "k", []byte("two"))
	if err != nil || string(v) != "one" {
		t.Fatalf("second PutMetaIfAbsent = %q, %v; want the first value", v, err)
	}
	if v, err := s.GetMeta(ctx, "k"); err != nil || string(v) != "one" {
		t.Fatalf("GetMeta = %q, %v", v, err)
	}
}

func testConcurrent(t *testing.T, h Harness) {
	clk := NewClock()
	s := open(t, h, clk.Now)
	const workers, perWorker, values = 16, 40, 50
	var mu sync.Mutex
	seen := map[string]string{} // index value → alias
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				v := fmt.Sprintf("value-%d", (w*7+i)%values)
				res, err := s.Put(context.Background(), []vault.PutItem{{Record: rec(fmt.Sprintf("tok_%d_%d", w, i), v, clk.Now())}})
				if err != nil {
					errs <- err
					return
				}
				if res[0].Status == vault.PutCollision {
					errs <- fmt.Errorf("unexpected collision")
					return
				}
				mu.Lock()
				if prev, ok := seen[v]; ok && prev != res[0].Record.Alias {
					mu.Unlock()
					errs <- fmt.Errorf("%s got aliases %s and %s", v, prev, res[0].Record.Alias)
					return
				}
				seen[v] = res[0].Record.Alias
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(seen) != values {
		t.Fatalf("saw %d values, want %d", len(seen), values)
	}
	for v, a := range seen {
		k := sha256.Sum256([]byte(v))
		got, err := s.LookupIndex(context.Background(), [][]byte{k[:]})
		if err != nil || got[0] != a {
			t.Fatalf("index of %s = %q, %v; want %s", v, got, err, a)
		}
	}
}

// service returns a vault.Service over s (both storage classes) with a
// fixed master key.
func service(t *testing.T, s vault.Store, clk *Clock, master []byte) *vault.Service {
	t.Helper()
	kr, err := vault.OpenKeyring(context.Background(), s, master)
	if err != nil {
		t.Fatalf("OpenKeyring: %v", err)
	}
	svc, err := vault.New(s, s, kr, vault.Options{Env: "test", VolatileTTL: time.Minute, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

var testMaster = bytes.Repeat([]byte{7}, 32)

func testServiceDeterministic(t *testing.T, h Harness) {
	clk := NewClock()
	s := open(t, h, clk.Now)
	svc := service(t, s, clk, testMaster)
	ctx := context.Background()
	req := []vault.RedactRequest{
		{Value: "4111111111111111", Format: vault.FormatUUID},
		{Value: "4111111111111111", Format: vault.FormatFPESixTFour},
		{Value: "4111111111111111", Format: vault.FormatUUID},
	}
	a, err := svc.Redact(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := svc.Redact(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if a[0].Alias != a[2].Alias || a[0].Alias != b[0].Alias || a[1].Alias != b[1].Alias {
		t.Fatalf("aliases not deterministic: %v / %v", a, b)
	}
	if a[0].Alias == a[1].Alias {
		t.Fatal("two formats gave one alias")
	}
	if !a[0].Created || a[2].Created || b[0].Created {
		t.Fatalf("Created flags wrong: %+v %+v", a, b)
	}
	got, err := svc.Reveal(ctx, []string{a[0].Alias, a[1].Alias, "tok_test_unknown"})
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Value != "4111111111111111" || got[1].Value != "4111111111111111" || !errors.Is(got[2].Err, vault.ErrNotFound) {
		t.Fatalf("Reveal = %+v", got)
	}
}

// testServiceLargeValues: a persistent value of several MiB round-trips
// through the store, and a second redaction of it merges its classifiers
// into the value's aliases (the store's SetClassifiers).
func testServiceLargeValues(t *testing.T, h Harness) {
	clk := NewClock()
	s := open(t, h, clk.Now)
	ctx := context.Background()
	kr, err := vault.OpenKeyring(ctx, s, testMaster)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := vault.New(s, s, kr, vault.Options{Env: "test", VolatileTTL: time.Minute, Now: clk.Now, MaxValueLen: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("0123456789abcdef", (6<<20)/16) // 6 MiB
	a, err := svc.Redact(ctx, []vault.RedactRequest{
		{Value: big, Format: vault.FormatVGSFixedLenGeneric, Classifiers: []string{"document"}},
		{Value: big, Format: vault.FormatUUID, Classifiers: []string{"document"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := svc.Redact(ctx, []vault.RedactRequest{{Value: big, Format: vault.FormatVGSFixedLenGeneric, Classifiers: []string{"bank details"}}})
	if err != nil {
		t.Fatal(err)
	}
	if b[0].Alias != a[0].Alias || b[0].Created {
		t.Fatal("the large value got a second alias")
	}
	got, err := svc.Reveal(ctx, []string{a[0].Alias, a[1].Alias})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range got {
		if r.Value != big || strings.Join(r.Classifiers, ",") != "document,bank details" {
			t.Fatalf("alias %d: %d bytes, classifiers %v", i, len(r.Value), r.Classifiers)
		}
	}
}

func testServiceVolatile(t *testing.T, h Harness) {
	clk := NewClock()
	s := open(t, h, clk.Now)
	svc := service(t, s, clk, testMaster)
	ctx := context.Background()
	toks, err := svc.Redact(ctx, []vault.RedactRequest{{Value: "123", Storage: vault.StorageVolatile}, {Value: "123", Storage: vault.StorageVolatile}})
	if err != nil {
		t.Fatal(err)
	}
	if toks[0].Alias == toks[1].Alias {
		t.Fatal("volatile aliases of equal values are equal")
	}
	clk.Advance(time.Minute - time.Second)
	if got, _ := svc.Reveal(ctx, []string{toks[0].Alias}); got[0].Value != "123" {
		t.Fatalf("reveal before TTL = %+v", got[0])
	}
	clk.Advance(time.Second)
	got, err := svc.Reveal(ctx, []string{toks[0].Alias})
	if err != nil || !errors.Is(got[0].Err, vault.ErrNotFound) || got[0].Value != "" {
		t.Fatalf("reveal after TTL = %+v, %v; want not found", got[0], err)
	}
}

// testServiceKnown: Known reports live aliases of both storage classes and
// persistent values, and a number that is both an alias and a stored value
// (a format-preserving alias redacted as a value) as a value.
func testServiceKnown(t *testing.T, h Harness) {
	clk := NewClock()
	s := open(t, h, clk.Now)
	svc := service(t, s, clk, testMaster)
	ctx := context.Background()
	toks, err := svc.Redact(ctx, []vault.RedactRequest{
		{Value: "4111111111111111", Format: vault.FormatFPESixTFour},
		{Value: "5555555555554444", Format: vault.FormatFPETFour},
		{Value: "4242", Format: vault.FormatNumLengthPreserving, Storage: vault.StorageVolatile},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Redact(ctx, []vault.RedactRequest{{Value: toks[0].Alias}}); err != nil {
		t.Fatal(err)
	}
	got, err := svc.Known(ctx, []string{toks[0].Alias, toks[1].Alias, toks[2].Alias,
		"4111111111111111", "5555555555554444", "4012888888881881", "tok_test_unknown", ""})
	if err != nil {
		t.Fatalf("Known: %v", err)
	}
	want := []vault.Presence{vault.PresenceValue, vault.PresenceAlias, vault.PresenceAlias,
		vault.PresenceValue, vault.PresenceValue, vault.PresenceUnknown, vault.PresenceUnknown, vault.PresenceUnknown}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Known(candidate %d) = %s, want %s", i, got[i], want[i])
		}
	}
	clk.Advance(time.Minute)
	if got, err := svc.Known(ctx, []string{toks[2].Alias, toks[1].Alias}); err != nil ||
		got[0] != vault.PresenceUnknown || got[1] != vault.PresenceAlias {
		t.Fatalf("Known after the volatile TTL = %v, %v; want [unknown alias]", got, err)
	}
}

func testClosed(t *testing.T, h Harness) {
	s := h.Open(t, NewClock().Now)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	ctx := context.Background()
	if _, err := s.Get(ctx, []string{"a"}); !errors.Is(err, vault.ErrClosed) {
		t.Fatalf("Get after Close = %v, want ErrClosed", err)
	}
	if _, err := s.Put(ctx, []vault.PutItem{{Record: rec("a", "", time.Now())}}); !errors.Is(err, vault.ErrClosed) {
		t.Fatalf("Put after Close = %v, want ErrClosed", err)
	}
	if err := s.SetOwner(ctx, "a", "", "acct_a", nil); !errors.Is(err, vault.ErrClosed) {
		t.Fatalf("SetOwner after Close = %v, want ErrClosed", err)
	}
}

func testReopen(t *testing.T, h Harness) {
	clk := NewClock()
	s := h.Open(t, clk.Now)
	svc := service(t, s, clk, testMaster)
	ctx := context.Background()
	toks, err := svc.Redact(ctx, []vault.RedactRequest{{Value: "5555555555554444", Classifiers: []string{"pan"}}})
	if err != nil {
		t.Fatal(err)
	}
	s = h.Reopen(t, s, clk.Now)
	t.Cleanup(func() { s.Close() })
	svc = service(t, s, clk, testMaster)
	got, err := svc.Reveal(ctx, []string{toks[0].Alias})
	if err != nil || got[0].Value != "5555555555554444" {
		t.Fatalf("reveal after reopen = %+v, %v", got, err)
	}
	again, err := svc.Redact(ctx, []vault.RedactRequest{{Value: "5555555555554444"}})
	if err != nil || again[0].Alias != toks[0].Alias || again[0].Created {
		t.Fatalf("redact after reopen = %+v, %v; want %s", again, err, toks[0].Alias)
	}
}

func testWrongMasterKey(t *testing.T, h Harness) {
	clk := NewClock()
	s := h.Open(t, clk.Now)
	service(t, s, clk, testMaster)
	s = h.Reopen(t, s, clk.Now)
	t.Cleanup(func() { s.Close() })
	_, err := vault.OpenKeyring(context.Background(), s, bytes.Repeat([]byte{8}, 32))
	if !errors.Is(err, vault.ErrWrongMasterKey) {
		t.Fatalf("OpenKeyring(other key) = %v, want ErrWrongMasterKey", err)
	}
}

// CardStore is the byte-level card storage of the Card Management API
// (cards.Store); every vault store implements it.
type CardStore interface {
	PutCard(ctx context.Context, account, id, fingerprint string, record []byte) (string, error)
	GetCard(ctx context.Context, account, id string) ([]byte, bool, error)
	UpdateCard(ctx context.Context, account, id string, old, record, update []byte) error
	ReplaceCard(ctx context.Context, account, id string, old, record []byte) error
	CardUpdates(ctx context.Context, account, id string) ([][]byte, error)
}

func testCards(t *testing.T, h Harness) {
	s := open(t, h, NewClock().Now)
	cs, ok := s.(CardStore)
	if !ok {
		t.Fatalf("%T does not implement CardStore", s)
	}
	ctx := context.Background()
	if ex, err := cs.PutCard(ctx, "acct_a", "CRD1", "fp1", []byte("one")); err != nil || ex != "" {
		t.Fatalf("first PutCard = %q, %v", ex, err)
	}
	if ex, err := cs.PutCard(ctx, "acct_a", "CRD2", "fp1", []byte("two")); err != nil || ex != "CRD1" {
		t.Fatalf("duplicate PutCard = %q, %v; want CRD1", ex, err)
	}
	if _, ok, _ := cs.GetCard(ctx, "acct_a", "CRD2"); ok {
		t.Fatal("the duplicate was stored")
	}
	if ex, err := cs.PutCard(ctx, "acct_b", "CRD3", "fp1", []byte("three")); err != nil || ex != "" {
		t.Fatalf("same fingerprint in another account = %q, %v", ex, err)
	}
	if _, ok, _ := cs.GetCard(ctx, "acct_b", "CRD1"); ok {
		t.Fatal("another account reads the card")
	}
	for i, u := range []string{"u1", "u2", "u3"} {
		old := "one"
		if i > 0 {
			old = fmt.Sprintf("v%d", i+1)
		}
		if err := cs.UpdateCard(ctx, "acct_a", "CRD1", []byte(old), []byte(fmt.Sprintf("v%d", i+2)), []byte(u)); err != nil {
			t.Fatal(err)
		}
	}
	rec, ok, err := cs.GetCard(ctx, "acct_a", "CRD1")
	if err != nil || !ok || string(rec) != "v4" {
		t.Fatalf("GetCard after updates = %q, %v, %v", rec, ok, err)
	}
	ups, err := cs.CardUpdates(ctx, "acct_a", "CRD1")
	if err != nil || len(ups) != 3 || string(ups[0]) != "u1" || string(ups[2]) != "u3" {
		t.Fatalf("CardUpdates = %q, %v", ups, err)
	}
	if ups, _ := cs.CardUpdates(ctx, "acct_b", "CRD1"); len(ups) != 0 {
		t.Fatal("another account sees the updates")
	}
	if err := cs.UpdateCard(ctx, "acct_b", "CRD1", []byte("one"), []byte("x"), []byte("y")); err == nil {
		t.Fatal("UpdateCard of another account's card succeeded")
	}
	if err := cs.ReplaceCard(ctx, "acct_a", "CRD1", []byte("v4"), []byte("v5")); err != nil {
		t.Fatal(err)
	}
	if rec, _, _ := cs.GetCard(ctx, "acct_a", "CRD1"); string(rec) != "v5" {
		t.Fatalf("after ReplaceCard: %q", rec)
	}
	if ups, _ := cs.CardUpdates(ctx, "acct_a", "CRD1"); len(ups) != 3 {
		t.Fatal("ReplaceCard recorded an update")
	}
	if err := cs.ReplaceCard(ctx, "acct_b", "CRD1", []byte("v5"), []byte("x")); err == nil {
		t.Fatal("ReplaceCard of another account's card succeeded")
	}
}
