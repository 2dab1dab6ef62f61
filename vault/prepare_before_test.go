package vault

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// This file keeps the code of Service.prepare, acceptedClassifiers.check,
// Service.newRecord and ParseFormat as they were before the values'
// copies and the index keys shared one buffer, the remembered classifier
// lists were shared with the items, a record and its PutItem list were
// made in one allocation and format names were compared as strings first
// (prepareBefore, checkBefore, newRecordBefore, parseFormatBefore), and
// compares the new code with them.

// checkBefore is acceptedClassifiers.check as it was: a copy of a list
// remembered.
func checkBefore(a *acceptedClassifiers, in []string) ([]string, error) {
	if len(in) == 0 {
		return checkClassifiers(in)
	}
	for i := range a.lists {
		if l := a.lists[i].Load(); l != nil && slices.Equal(*l, in) {
			out := make([]string, len(in))
			copy(out, in)
			return out, nil
		}
	}
	out, err := checkClassifiers(in)
	if err == nil && len(out) == len(in) {
		l := slices.Clone(in)
		a.lists[a.next.Add(1)%acceptedLists].Store(&l)
	}
	return out, err
}

// parseFormatBefore is ParseFormat as it was, before names spelled as the
// constants were found by comparing strings.
func parseFormatBefore(s string) (Format, error) {
	if s == "" {
		return FormatUUID, nil
	}
	for _, k := range formats {
		if equalFoldASCII(s, string(k)) {
			return k, nil
		}
	}
	for _, k := range unsupported {
		if equalFoldASCII(s, string(k)) {
			return "", fmt.Errorf("%w: %s aliases are defined outside aliasgate", ErrFormatUnsupported, k)
		}
	}
	return "", fmt.Errorf("%w: unknown alias format", ErrInvalidFormat)
}

// compareParseFormat fails when ParseFormat(s) differs from
// parseFormatBefore(s).
func compareParseFormat(t *testing.T, s string) {
	t.Helper()
	got, gerr := ParseFormat(s)
	want, werr := parseFormatBefore(s)
	if got != want || fmt.Sprint(gerr) != fmt.Sprint(werr) || errors.Is(gerr, ErrInvalidFormat) != errors.Is(werr, ErrInvalidFormat) ||
		errors.Is(gerr, ErrFormatUnsupported) != errors.Is(werr, ErrFormatUnsupported) {
		t.Fatalf("ParseFormat(%q) = %q, %v; want %q, %v", s, got, gerr, want, werr)
	}
}

// prepareBefore is Service.prepare as it was.
func prepareBefore(s *Service, ctx context.Context, owner string, reqs []RedactRequest) (_ []item, err error) {
	items := make([]item, len(reqs))
	defer func() {
		if err != nil {
			wipeItems(items)
		}
	}()
	size := 0
	for _, r := range reqs {
		if r.Alias == "" && len(r.Value) <= s.maxValue { // at most what is copied below
			size += len(r.Value)
		}
	}
	values := make([]byte, 0, size)
	var bad []ItemError
	var fromAlias []int
	for i, r := range reqs {
		it := &items[i]
		it.owner = owner
		f, err := ParseFormat(string(r.Format))
		if err != nil {
			bad = append(bad, ItemError{Index: i, Field: "format", Err: err})
			continue
		}
		it.format = f
		it.detail = r.Detail
		if r.Alias != "" {
			fromAlias = append(fromAlias, i)
			continue
		}
		st, err := ParseStorage(string(r.Storage))
		if err != nil {
			bad = append(bad, ItemError{Index: i, Field: "storage", Err: err})
		}
		it.storage = st
		cls, err := checkBefore(&s.accepted, r.Classifiers)
		if err != nil {
			bad = append(bad, ItemError{Index: i, Field: "classifiers", Err: err})
		}
		it.classifiers = cls
		switch {
		case r.Value == "":
			bad = append(bad, ItemError{Index: i, Field: "value", Err: fmt.Errorf("%w: empty", ErrInvalidValue)})
		case len(r.Value) > s.maxValueLen(st):
			bad = append(bad, ItemError{Index: i, Field: "value", Err: fmt.Errorf("%w: longer than %d bytes (the most a %s value may hold)", ErrInvalidValue, s.maxValueLen(st), st)})
		default:
			if err := f.Check(r.Value); err != nil {
				bad = append(bad, ItemError{Index: i, Field: "format", Err: err})
			}
			values = append(values, r.Value...)
			it.value = values[len(values)-len(r.Value) : len(values) : len(values)]
		}
	}
	if len(fromAlias) > 0 && len(bad) == 0 {
		aliases := make([]string, len(fromAlias))
		for j, i := range fromAlias {
			aliases[j] = reqs[i].Alias
		}
		recs, err := s.lookup(ctx, opRedact, aliases)
		if err != nil {
			return nil, fmt.Errorf("vault: redact: %w", err)
		}
		for j, i := range fromAlias {
			it := &items[i]
			if recs[j].rec == nil {
				bad = append(bad, ItemError{Index: i, Field: "alias", Err: ErrNotFound})
				continue
			}
			v, err := s.keys.open(ctx, recs[j].rec)
			if err != nil {
				return nil, fmt.Errorf("vault: redact: %w", err)
			}
			if reqs[i].Text && !utf8.Valid(v) {
				clear(v)
				bad = append(bad, ItemError{Index: i, Field: "alias", Err: ErrNotText})
				continue
			}
			if err := it.format.Check(string(v)); err != nil {
				clear(v)
				bad = append(bad, ItemError{Index: i, Field: "format", Err: err})
				continue
			}
			it.value, it.storage = v, recs[j].rec.Storage
			it.classifiers, it.expiresAt = recs[j].rec.Classifiers, recs[j].rec.ExpiresAt
		}
		if len(bad) > 0 {
			if err := s.auditRefusedDetail(ctx, reqs, fromAlias, recs); err != nil {
				return nil, fmt.Errorf("vault: redact: %w", err)
			}
		}
	}
	if len(bad) > 0 {
		return nil, &BatchError{Items: bad}
	}
	for i := range items {
		if items[i].storage == StoragePersistent {
			items[i].indexKey = s.keys.indexKeyFor(owner, items[i].format, string(items[i].value))
		}
	}
	return items, nil
}

// newRecordBefore is Service.newRecord as it was.
func newRecordBefore(s *Service, it *item, now time.Time) (*Record, error) {
	alias, err := it.format.generate(string(it.value), s.env, s.rand)
	if err != nil {
		return nil, err
	}
	ver, ct, err := s.keys.seal(alias, it.value)
	if err != nil {
		return nil, err
	}
	rec := &Record{Alias: alias, Format: it.format, Storage: it.storage, KeyVersion: ver, Ciphertext: ct,
		Classifiers: it.classifiers, CreatedAt: now, IndexKey: it.indexKey, Owner: it.owner}
	if it.storage == StorageVolatile {
		rec.ExpiresAt = it.expiresAt
		if rec.ExpiresAt.IsZero() {
			rec.ExpiresAt = now.Add(s.ttl)
		}
	}
	return rec, nil
}

// aliasStore answers Get with the records it holds (the items of a
// Redact that name an alias); any other call of the Store panics.
type aliasStore struct {
	Store
	recs map[string]*Record
	fail error // Get's error, when set
}

func (a *aliasStore) Get(_ context.Context, aliases []string) ([]*Record, error) {
	if a.fail != nil {
		return nil, a.fail
	}
	out := make([]*Record, len(aliases))
	for i, al := range aliases {
		if r := a.recs[al]; r != nil {
			out[i] = r.Clone()
		}
	}
	return out, nil
}

// auditCount counts the audit events of a Service.
type auditCount struct{ events []AuditEvent }

func (a *auditCount) AuditVault(_ context.Context, e AuditEvent) error {
	a.events = append(a.events, e)
	return nil
}

// prepareService returns a Service for prepare: a test keyring (with an
// index key) and a store holding sealed records under the aliases
// tok_card, tok_cvc, tok_bin (not UTF-8) and tok_other (another owner).
func prepareService(t testing.TB) (*Service, *auditCount) {
	t.Helper()
	kr := testKeyring(t)
	kr.indexKey = bytes.Repeat([]byte{5}, 32)
	seal := func(alias, value string, st Storage, cls []string, owner string) *Record {
		ver, ct, err := kr.seal(alias, []byte(value))
		if err != nil {
			t.Fatal(err)
		}
		r := &Record{Alias: alias, Format: FormatUUID, Storage: st, KeyVersion: ver, Ciphertext: ct, Classifiers: cls,
			CreatedAt: time.Unix(1_700_000_000, 0).UTC(), Owner: owner}
		if st == StorageVolatile {
			r.ExpiresAt = time.Now().Add(time.Hour)
		}
		return r
	}
	store := &aliasStore{recs: map[string]*Record{
		"tok_card":  seal("tok_card", "4111111111111111", StoragePersistent, []string{"pan"}, ""),
		"tok_cvc":   seal("tok_cvc", "123", StorageVolatile, nil, ""),
		"tok_bin":   seal("tok_bin", "\xff\xfe1234", StoragePersistent, []string{"raw", "x"}, ""),
		"tok_other": seal("tok_other", "4242424242424242", StoragePersistent, nil, "acme"),
	}}
	au := &auditCount{}
	return &Service{persistent: store, volatile: store, keys: kr, env: "test", ttl: time.Hour, now: time.Now, rand: crand.Reader,
		maxValue: 64, defAccount: DefaultAccountName, auditor: au}, au
}

// sameItems reports how two prepared item lists differ, "" when they do
// not (the values, classifiers and index keys compared by content).
func sameItems(a, b []item) string {
	if len(a) != len(b) {
		return fmt.Sprintf("%d items, want %d", len(a), len(b))
	}
	for i := range a {
		x, y := a[i], b[i]
		switch {
		case !bytes.Equal(x.value, y.value) || (x.value == nil) != (y.value == nil) || cap(x.value) != len(x.value):
			return fmt.Sprintf("item %d: value %q (cap %d), want %q", i, x.value, cap(x.value), y.value)
		case x.format != y.format || x.storage != y.storage || x.owner != y.owner || x.done != y.done || x.detail != y.detail:
			return fmt.Sprintf("item %d: %s %s %q %v %v, want %s %s %q %v %v", i, x.format, x.storage, x.owner, x.done, x.detail,
				y.format, y.storage, y.owner, y.done, y.detail)
		case !slices.Equal(x.classifiers, y.classifiers) || (x.classifiers == nil) != (y.classifiers == nil):
			return fmt.Sprintf("item %d: classifiers %q, want %q", i, x.classifiers, y.classifiers)
		case !x.expiresAt.Equal(y.expiresAt):
			return fmt.Sprintf("item %d: expires %v, want %v", i, x.expiresAt, y.expiresAt)
		case !bytes.Equal(x.indexKey, y.indexKey) || (x.indexKey == nil) != (y.indexKey == nil) || cap(x.indexKey) != len(x.indexKey):
			return fmt.Sprintf("item %d: index key %x (cap %d), want %x", i, x.indexKey, cap(x.indexKey), y.indexKey)
		}
	}
	return ""
}

// comparePrepare runs prepare and prepareBefore on reqs (twice each, in
// turns, so that the remembered classifier lists are met and missed) and
// fails when their items, errors or audit events differ.
func comparePrepare(t *testing.T, ctx context.Context, reqs []RedactRequest) {
	t.Helper()
	s, au := prepareService(t)
	owner := s.owner(ctx)
	for round := range 2 {
		n := len(au.events)
		want, werr := prepareBefore(s, ctx, owner, reqs)
		wantEvents := slices.Clone(au.events[n:])
		n = len(au.events)
		got, keys, gerr := s.prepare(ctx, owner, reqs)
		if len(keys) != 0 || gerr == nil && keys != nil && cap(keys) != len(reqs) {
			t.Fatalf("round %d, %+v: key list of %d (capacity %d)", round, reqs, len(keys), cap(keys))
		}
		gotEvents := au.events[n:]
		if fmt.Sprint(gerr) != fmt.Sprint(werr) || errors.Is(gerr, ErrNotFound) != errors.Is(werr, ErrNotFound) {
			t.Fatalf("round %d, %+v: error %v, want %v", round, reqs, gerr, werr)
		}
		var gb, wb *BatchError
		if errors.As(gerr, &gb) != errors.As(werr, &wb) || gb != nil && itemErrors(gb) != itemErrors(wb) {
			t.Fatalf("round %d, %+v: batch error %s, want %s", round, reqs, itemErrors(gb), itemErrors(wb))
		}
		if fmt.Sprintf("%+v", gotEvents) != fmt.Sprintf("%+v", wantEvents) {
			t.Fatalf("round %d, %+v: audit %+v, want %+v", round, reqs, gotEvents, wantEvents)
		}
		if d := sameItems(got, want); d != "" {
			t.Fatalf("round %d, %+v: %s", round, reqs, d)
		}
		for i := range got {
			it := &got[i]
			if it.sharedClassifiers {
				// Only the remembered lists are shared, and they are
				// never the request's own slice.
				if len(it.classifiers) > 0 && i < len(reqs) && len(reqs[i].Classifiers) > 0 && &it.classifiers[0] == &reqs[i].Classifiers[0] {
					t.Fatalf("item %d: the request's classifiers are shared", i)
				}
			}
		}
		compareNewRecord(t, s, got, want)
		wipeItems(got)
		wipeItems(want)
	}
}

// itemErrors spells out the items of a BatchError: index, field, message
// and the sentinel errors each wraps.
func itemErrors(b *BatchError) string {
	if b == nil {
		return ""
	}
	var out string
	for _, it := range b.Items {
		out += fmt.Sprintf("[%d %s %q", it.Index, it.Field, it.Err)
		for _, e := range []error{ErrInvalidValue, ErrInvalidFormat, ErrFormatUnsupported, ErrFormatNotApplicable,
			ErrInvalidStorage, ErrInvalidClassifier, ErrNotFound, ErrNotText} {
			if errors.Is(it.Err, e) {
				out += " is " + e.Error()
			}
		}
		out += "]"
	}
	return out
}

// seededReader is a deterministic io.Reader.
type seededReader struct{ r *rand.ChaCha8 }

func (s seededReader) Read(p []byte) (int, error) { return s.r.Read(p) }

// compareNewRecord makes the record of each item with newRecord and with
// newRecordBefore, from the same random bytes, and fails when they differ
// or the new record shares the remembered classifier list.
func compareNewRecord(t *testing.T, s *Service, got, want []item) {
	t.Helper()
	now := time.Unix(1_800_000_000, 5).UTC()
	for i := range got {
		if len(got[i].value) == 0 {
			continue
		}
		var seed [32]byte
		seed[0] = byte(i)
		s.rand, s.keys.rand = seededReader{rand.NewChaCha8(seed)}, seededReader{rand.NewChaCha8(seed)}
		wrec, werr := newRecordBefore(s, &want[i], now)
		s.rand, s.keys.rand = seededReader{rand.NewChaCha8(seed)}, seededReader{rand.NewChaCha8(seed)}
		puts := newPuts(1)
		gerr := s.newRecord(puts[0].Record, &got[i], now)
		if fmt.Sprint(gerr) != fmt.Sprint(werr) {
			t.Fatalf("item %d: newRecord error %v, want %v", i, gerr, werr)
		}
		if werr != nil {
			continue
		}
		g := puts[0].Record
		if !sameRecord(g, wrec) {
			t.Fatalf("item %d: record %+v, want %+v", i, g, wrec)
		}
		if got[i].sharedClassifiers && len(g.Classifiers) > 0 && &g.Classifiers[0] == &got[i].classifiers[0] {
			t.Fatalf("item %d: the record shares the remembered classifier list", i)
		}
	}
	s.rand, s.keys.rand = crand.Reader, crand.Reader
}

// sameRecord compares two records by content.
func sameRecord(a, b *Record) bool {
	return a.Alias == b.Alias && a.Format == b.Format && a.Storage == b.Storage && a.KeyVersion == b.KeyVersion &&
		bytes.Equal(a.Ciphertext, b.Ciphertext) && slices.Equal(a.Classifiers, b.Classifiers) &&
		(a.Classifiers == nil) == (b.Classifiers == nil) && cap(a.Classifiers) == cap(b.Classifiers) &&
		a.CreatedAt.Equal(b.CreatedAt) && a.ExpiresAt.Equal(b.ExpiresAt) && bytes.Equal(a.IndexKey, b.IndexKey) &&
		(a.IndexKey == nil) == (b.IndexKey == nil) && a.Owner == b.Owner
}

// TestPrepareAgainstBefore: prepare and newRecord give what they gave
// before, for calls of card numbers, CVCs, aliases and refused items.
func TestPrepareAgainstBefore(t *testing.T) {
	ctx := context.Background()
	acme := WithAccount(ctx, "acme")
	calls := [][]RedactRequest{
		{{Value: "4111111111111111", Format: FormatFPESixTFour, Classifiers: []string{"pan"}}, {Value: "123", Storage: StorageVolatile}},
		{{Value: "4111111111111111", Format: "fpe_six_t_four", Classifiers: []string{"pan", "pan"}}, {Value: "123", Storage: "volatile"}},
		{{Value: "4111111111111111"}, {Value: "4111111111111111", Format: FormatPFPT}, {Value: "x", Storage: "bad"}},
		{{Value: ""}, {Value: "12", Format: "CUSTOM"}, {Value: "123", Classifiers: []string{"4111111111111111"}}},
		{{Value: string(bytes.Repeat([]byte{'9'}, 65))}, {Value: string(bytes.Repeat([]byte{'9'}, 64)), Storage: StorageVolatile}},
		{{Alias: "tok_card", Format: FormatFPESixTFour, Detail: true}, {Value: "737", Storage: StorageVolatile}},
		{{Alias: "tok_cvc"}, {Alias: "tok_card", Format: FormatFPETFour}, {Alias: "tok_card"}},
		{{Alias: "tok_bin", Text: true, Detail: true}, {Alias: "tok_missing", Detail: true}},
		{{Alias: "tok_bin"}, {Alias: "tok_other", Detail: true}},
		{{Alias: "tok_card", Format: FormatFPESSNTFour}, {Value: "123"}},
		{},
	}
	for _, c := range calls {
		comparePrepare(t, ctx, c)
		comparePrepare(t, acme, c)
	}
	for _, f := range append(formats[:len(formats):len(formats)], unsupported[:]...) {
		for _, s := range []string{string(f), strings.ToLower(string(f)), string(f)[:len(f)-1], string(f) + " ", "x" + string(f)} {
			compareParseFormat(t, s)
		}
	}
	compareParseFormat(t, "")
	compareParseFormat(t, "uuıd")
}

// FuzzPrepareAgainstBefore: prepare and newRecord against their code
// before, on calls of up to three fuzzed requests.
func FuzzPrepareAgainstBefore(f *testing.F) {
	f.Add("4111111111111111", "FPE_SIX_T_FOUR", "", "pan", "123", "", "volatile", "", uint8(0))
	f.Add("4111111111111111", "", "", "", "", "tok_card", "", "x", uint8(7))
	f.Add("", "pfpt", "PERSISTENT", "4111 1111 1111 1111", "123-45-6789", "", "", "", uint8(3))
	f.Add("12", "fpe_ssn_t_four", "volatile", "\x00", "", "tok_bin", "", "a", uint8(255))
	f.Fuzz(func(t *testing.T, v1, f1, st1, c1, v2, a2, st2, c2 string, bits uint8) {
		cls := func(c string, b uint8) []string {
			switch b % 4 {
			case 0:
				return nil
			case 1:
				return []string{c}
			case 2:
				return []string{c, "pan"}
			}
			return []string{"pan"}
		}
		reqs := []RedactRequest{
			{Value: v1, Format: Format(f1), Storage: Storage(st1), Classifiers: cls(c1, bits), Detail: bits&4 != 0},
			{Value: v2, Alias: a2, Format: Format(f1), Storage: Storage(st2), Classifiers: cls(c2, bits>>3), Text: bits&32 != 0, Detail: bits&64 != 0},
		}
		if bits&128 != 0 {
			reqs = append(reqs, RedactRequest{Value: v1 + v2, Storage: StorageVolatile, Classifiers: cls(c1, bits>>1)})
		}
		ctx := context.Background()
		if bits&16 != 0 {
			ctx = WithAccount(ctx, "acme")
		}
		comparePrepare(t, ctx, reqs)
		compareParseFormat(t, f1)
		compareParseFormat(t, st1)
	})
}

// TestNewPutsAreDistinctZeroRecords: newPuts gives n PutItems naming n
// distinct zeroed records.
func TestNewPutsAreDistinctZeroRecords(t *testing.T) {
	for n := range 6 {
		puts := newPuts(n)
		if len(puts) != n {
			t.Fatalf("newPuts(%d): %d items", n, len(puts))
		}
		seen := map[*Record]bool{}
		for _, p := range puts {
			if p.Record == nil || seen[p.Record] || fmt.Sprintf("%#v", *p.Record) != fmt.Sprintf("%#v", Record{}) {
				t.Fatalf("newPuts(%d): %+v", n, puts)
			}
			seen[p.Record] = true
		}
	}
}
