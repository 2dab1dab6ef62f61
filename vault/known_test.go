package vault_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/memstore"
)

// tamperingStore returns every record with its ciphertext altered and
// counts the records it returned: a Service that decrypted one would fail
// with ErrTampered.
type tamperingStore struct {
	vault.Store
	read atomic.Int64
}

func (s *tamperingStore) Get(ctx context.Context, aliases []string) ([]*vault.Record, error) {
	recs, err := s.Store.Get(ctx, aliases)
	s.tamper(recs)
	return recs, err
}

func (s *tamperingStore) LookupRecords(ctx context.Context, keys [][]byte) ([]string, []*vault.Record, error) {
	aliases, recs, err := s.Store.LookupRecords(ctx, keys)
	s.tamper(recs)
	return aliases, recs, err
}

func (s *tamperingStore) tamper(recs []*vault.Record) {
	for i, r := range recs {
		if r != nil {
			c := r.Clone()
			c.Ciphertext[len(c.Ciphertext)-1] ^= 1
			recs[i] = c
			s.read.Add(1)
		}
	}
}

// TestKnownTellsAliasesFromValuesWithoutDecryptingOrAuditing: Known finds
// persistent and volatile aliases and persistent values; a number that is
// both an alias and a stored value is a value; nothing is decrypted (the
// records it reads are tampered with) and nothing is audited.
func TestKnownTellsAliasesFromValuesWithoutDecryptingOrAuditing(t *testing.T) {
	f, a := auditedFixture(t)
	ctx := context.Background()
	toks, err := f.svc.Redact(ctx, []vault.RedactRequest{
		{Value: card, Format: vault.FormatFPESixTFour},
		{Value: "5555555555554444", Format: vault.FormatFPESixTFour},
		{Value: "4242", Format: vault.FormatNumLengthPreserving, Storage: vault.StorageVolatile},
		{Value: "378282246310005", Format: vault.FormatUUID},
	})
	if err != nil {
		t.Fatal(err)
	}
	// The FPE alias of card is Luhn-valid: redacting it as a value makes a
	// number that is both an alias and a stored value (flooding).
	if _, err := f.svc.Redact(ctx, []vault.RedactRequest{{Value: toks[0].Alias, Format: vault.FormatUUID}}); err != nil {
		t.Fatal(err)
	}
	kr, err := vault.OpenKeyring(ctx, f.persistent, masterKey)
	if err != nil {
		t.Fatal(err)
	}
	tp, tv := &tamperingStore{Store: f.persistent}, &tamperingStore{Store: f.volatile}
	svc, err := vault.New(tp, tv, kr, vault.Options{Env: "test", Now: f.clk.Now, Auditor: a})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Reveal(ctx, []string{toks[1].Alias}); !errors.Is(err, vault.ErrTampered) {
		t.Fatalf("Reveal through the tampering stores = %v, want ErrTampered", err)
	}
	a.take()
	tp.read.Store(0)

	cands := []string{toks[0].Alias, toks[1].Alias, toks[2].Alias, toks[3].Alias, card, "378282246310005", "5105105105105100", "",
		strings.Repeat("4", vault.DefaultMaxValueLen+1)}
	got, err := svc.Known(ctx, cands)
	if err != nil {
		t.Fatalf("Known: %v", err)
	}
	want := []vault.Presence{vault.PresenceValue, vault.PresenceAlias, vault.PresenceAlias, vault.PresenceAlias,
		vault.PresenceValue, vault.PresenceValue, vault.PresenceUnknown, vault.PresenceUnknown, vault.PresenceUnknown}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Known(candidate %d) = %s, want %s", i, got[i], want[i])
		}
	}
	if ev := a.take(); len(ev) != 0 {
		t.Fatalf("Known was audited: %+v", ev)
	}
	if tp.read.Load()+tv.read.Load() == 0 {
		t.Fatal("Known read no record: the test proves nothing")
	}

	// An expired volatile alias is unknown.
	f.clk.Advance(2 * time.Hour)
	if got, err := svc.Known(ctx, []string{toks[2].Alias}); err != nil || got[0] != vault.PresenceUnknown {
		t.Fatalf("Known(expired volatile alias) = %v, %v", got, err)
	}
}

// TestKnownGoesThroughTheConcurrencyBound: Known waits for a slot like the
// other calls and fails with ErrBusy.
func TestKnownGoesThroughTheConcurrencyBound(t *testing.T) {
	p := memstore.New(memstore.Options{SweepInterval: -1})
	v := memstore.New(memstore.Options{SweepInterval: -1})
	t.Cleanup(func() { p.Close(); v.Close() })
	kr, err := vault.OpenKeyring(context.Background(), p, bytes.Repeat([]byte{3}, 32))
	if err != nil {
		t.Fatal(err)
	}
	bv := &blockingStore{Store: v, entered: make(chan struct{}, 8), release: make(chan struct{})}
	svc, err := vault.New(p, bv, kr, vault.Options{MaxConcurrent: 1, MaxWait: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	errs := make(chan error, 1)
	go func() {
		_, err := svc.Known(ctx, []string{"tok_sandbox_x"})
		errs <- err
	}()
	<-bv.entered
	if _, err := svc.Known(ctx, []string{card}); !errors.Is(err, vault.ErrBusy) {
		t.Fatalf("Known over the bound = %v, want ErrBusy", err)
	}
	close(bv.release)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
}

// TestRedactDetailAnswersLikeDescribe: a Redact with Detail returns what
// Describe would for the same alias, decrypting nothing of the values sent
// (the persistent store tampers with every record read) and auditing only
// the values of existing aliases it returns.
func TestRedactDetailAnswersLikeDescribe(t *testing.T) {
	f, a := auditedFixture(t)
	ctx := context.Background()
	first, err := f.svc.Redact(ctx, []vault.RedactRequest{{Value: card, Classifiers: []string{"pan"}}})
	if err != nil {
		t.Fatal(err)
	}
	kr, err := vault.OpenKeyring(ctx, f.persistent, masterKey)
	if err != nil {
		t.Fatal(err)
	}
	tp := &tamperingStore{Store: f.persistent}
	svc, err := vault.New(tp, f.volatile, kr, vault.Options{Env: "test", Now: f.clk.Now, Auditor: a})
	if err != nil {
		t.Fatal(err)
	}
	f.clk.Advance(time.Minute)
	toks, err := svc.Redact(ctx, []vault.RedactRequest{
		{Value: card, Classifiers: []string{"merged"}, Detail: true}, // existing record
		{Value: card, Format: vault.FormatFPESixTFour, Detail: true}, // new, same value
		{Value: "123", Storage: vault.StorageVolatile, Detail: true},
		{Value: "5555555555554444"}, // no Detail: no record fields
	})
	if err != nil {
		t.Fatal(err)
	}
	if tp.read.Load() == 0 {
		t.Fatal("the existing record was not read")
	}
	if ev := a.take(); len(ev) != 0 {
		t.Fatalf("a Redact of values was audited: %+v", ev)
	}
	check := func(tok vault.Token) {
		t.Helper()
		es, err := f.svc.Describe(ctx, []string{tok.Alias})
		if err != nil {
			t.Fatal(err)
		}
		e := es[0]
		aliases := append([]vault.AliasInfo{{Alias: tok.Alias, Format: tok.Format}}, tok.Others...)
		if tok.Value != e.Value || strings.Join(tok.Classifiers, ",") != strings.Join(e.Classifiers, ",") ||
			!tok.CreatedAt.Equal(e.CreatedAt) || !tok.ExpiresAt.Equal(e.ExpiresAt) || tok.Storage != e.Storage ||
			len(aliases) != len(e.Aliases) {
			t.Fatalf("token %+v, Describe %+v", tok, e)
		}
		for i := range aliases {
			if aliases[i] != e.Aliases[i] {
				t.Fatalf("aliases %v, Describe %v", aliases, e.Aliases)
			}
		}
	}
	if toks[0].Alias != first[0].Alias || toks[0].Created || strings.Join(toks[0].Classifiers, ",") != "pan,merged" || len(toks[0].Others) != 1 {
		t.Fatalf("existing value: %+v", toks[0])
	}
	for _, tok := range toks[:3] {
		check(tok)
	}
	if tk := toks[3]; tk.Value != "" || tk.Classifiers != nil || !tk.CreatedAt.IsZero() || tk.Others != nil {
		t.Fatalf("a token without Detail has record fields: %+v", tk)
	}
	a.take()

	// From an alias: the value returned is a reveal, audited.
	toks, err = f.svc.Redact(vault.WithPurpose(ctx, "create"), []vault.RedactRequest{{Alias: first[0].Alias, Format: vault.FormatPFPT, Detail: true}})
	if err != nil {
		t.Fatal(err)
	}
	ev := a.take()
	check(toks[0])
	if len(ev) != 1 || ev[0].Op != vault.AuditReveal || ev[0].Actor.Purpose != "create" || len(ev[0].Aliases) != 1 ||
		ev[0].Aliases[0] != first[0].Alias || ev[0].Found != 1 || ev[0].Outcome != vault.OutcomeOK {
		t.Fatalf("audit of a Redact from an alias: %+v", ev)
	}
	a.fail = errors.New("disk full")
	if _, err := f.svc.Redact(ctx, []vault.RedactRequest{{Alias: first[0].Alias, Format: vault.FormatFPETFour, Detail: true}}); !errors.Is(err, vault.ErrAuditUnavailable) {
		t.Fatalf("Redact from an alias with a failing audit = %v", err)
	}
}

// proberStore is a persistent store with a Probe, which counts its calls
// and refuses Get, LookupIndex and LookupRecords.
type proberStore struct {
	vault.Store
	probes atomic.Int64
}

func (p *proberStore) Probe(ctx context.Context, owners, aliases []string, keys [][]byte) ([]bool, []bool, error) {
	p.probes.Add(1)
	recs, err := p.Store.Get(ctx, aliases)
	if err != nil {
		return nil, nil, err
	}
	found, err := p.Store.LookupIndex(ctx, keys)
	if err != nil {
		return nil, nil, err
	}
	live, indexed := make([]bool, len(recs)), make([]bool, len(found))
	for i := range recs {
		live[i] = recs[i] != nil && slices.Contains(owners, recs[i].Owner)
	}
	for i := range found {
		indexed[i] = found[i] != ""
	}
	return live, indexed, nil
}

func (p *proberStore) Get(context.Context, []string) ([]*vault.Record, error) {
	return nil, errors.New("Get called")
}

func (p *proberStore) LookupIndex(context.Context, [][]byte) ([]string, error) {
	return nil, errors.New("LookupIndex called")
}

func (p *proberStore) LookupRecords(context.Context, [][]byte) ([]string, []*vault.Record, error) {
	return nil, nil, errors.New("LookupRecords called")
}

// TestKnownProbesAPersistentProberOnce: with a persistent store that is a
// vault.Prober, Known makes one Probe of it and asks the volatile store
// only about what it did not find.
func TestKnownProbesAPersistentProberOnce(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	toks, err := f.svc.Redact(ctx, []vault.RedactRequest{
		{Value: card, Format: vault.FormatFPESixTFour},
		{Value: "4242", Format: vault.FormatNumLengthPreserving, Storage: vault.StorageVolatile},
	})
	if err != nil {
		t.Fatal(err)
	}
	kr, err := vault.OpenKeyring(ctx, f.persistent, bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	pp := &proberStore{Store: f.persistent}
	tv := &tamperingStore{Store: f.volatile}
	svc, err := vault.New(pp, tv, kr, vault.Options{Env: "test", Now: f.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	got, err := svc.Known(ctx, []string{toks[0].Alias, toks[1].Alias, card, "5105105105105100", ""})
	if err != nil {
		t.Fatal(err)
	}
	want := []vault.Presence{vault.PresenceAlias, vault.PresenceAlias, vault.PresenceValue, vault.PresenceUnknown, vault.PresenceUnknown}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Known(candidate %d) = %s, want %s", i, got[i], want[i])
		}
	}
	if pp.probes.Load() != 1 || tv.read.Load() != 1 {
		t.Fatalf("%d probes, %d volatile records read; want 1 and 1", pp.probes.Load(), tv.read.Load())
	}
}
