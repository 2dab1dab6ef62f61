package vault_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/memstore"
)

// admissionSpy records what Redact asks and refuses when told to.
type admissionSpy struct {
	values   []string
	isNew    []bool
	volatile int
	asked    int
	actor    vault.Actor
	refuse   error
}

func (a *admissionSpy) Admit(ctx context.Context, values [][]byte, isNew []bool, volatile int) error {
	a.values, a.isNew, a.actor, a.volatile = nil, slices.Clone(isNew), vault.ActorFrom(ctx), volatile
	a.asked++
	for _, v := range values {
		a.values = append(a.values, string(v))
	}
	return a.refuse
}

func admissionFixture(t *testing.T, opts vault.Options) (*vault.Service, *memstore.Store, *memstore.Store) {
	t.Helper()
	p := memstore.New(memstore.Options{SweepInterval: -1})
	v := memstore.New(memstore.Options{SweepInterval: -1})
	t.Cleanup(func() { p.Close(); v.Close() })
	kr, err := vault.OpenKeyring(context.Background(), p, bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	opts.Env, opts.VolatileTTL = "test", time.Hour
	svc, err := vault.New(p, v, kr, opts)
	if err != nil {
		t.Fatal(err)
	}
	return svc, p, v
}

// TestAdmissionSeesNewValuesAndARefusalStoresNothing: the Admission gets
// every persistent value of a call with whether it is new, and the
// caller; a refusal leaves both stores as they were, including the
// volatile values of the same call.
func TestAdmissionSeesNewValuesAndARefusalStoresNothing(t *testing.T) {
	spy := &admissionSpy{}
	svc, p, v := admissionFixture(t, vault.Options{Admission: spy})
	ctx := vault.WithSource(vault.WithRoute(context.Background(), "checkout"), "203.0.113.9")
	if _, err := svc.Redact(ctx, []vault.RedactRequest{{Value: "4111111111111111"}}); err != nil {
		t.Fatal(err)
	}
	if spy.actor.Source != "203.0.113.9" || spy.actor.Route != "checkout" {
		t.Fatalf("actor %+v", spy.actor)
	}
	pBefore, vBefore := p.Len(), v.Len()

	spy.refuse = &vault.ThrottleError{Limit: "test", RetryAfter: time.Minute}
	_, err := svc.Redact(ctx, []vault.RedactRequest{
		{Value: "4111111111111111"}, {Value: "5555555555554444"}, {Value: "123", Storage: vault.StorageVolatile},
	})
	var te *vault.ThrottleError
	if !errors.As(err, &te) || !errors.Is(err, vault.ErrThrottled) || te.RetryAfter != time.Minute {
		t.Fatalf("refused call: %v", err)
	}
	if !slices.Equal(spy.values, []string{"4111111111111111", "5555555555554444"}) || !slices.Equal(spy.isNew, []bool{false, true}) || spy.volatile != 1 {
		t.Fatalf("Admit saw %q new %v, %d volatile; want the two persistent values, the first known, and 1 volatile", spy.values, spy.isNew, spy.volatile)
	}
	if p.Len() != pBefore || v.Len() != vBefore {
		t.Fatalf("a refused call stored records: persistent %d → %d, volatile %d → %d", pBefore, p.Len(), vBefore, v.Len())
	}
	// Volatile-only calls are asked too (a flood of CVCs evicts other
	// callers' CVCs), with their count and no persistent value; a refusal
	// stores nothing.
	asked := spy.asked
	_, err = svc.Redact(ctx, []vault.RedactRequest{{Value: "123", Storage: vault.StorageVolatile}, {Value: "456", Storage: vault.StorageVolatile}})
	if !errors.Is(err, vault.ErrThrottled) || spy.asked != asked+1 || spy.values != nil || spy.volatile != 2 || v.Len() != vBefore {
		t.Fatalf("a refused volatile-only call: err %v, asked %d times, saw %q and %d volatile, volatile store %d → %d",
			err, spy.asked-asked, spy.values, spy.volatile, vBefore, v.Len())
	}
}

// TestPerCallBounds: a call over MaxValuesPerCall or MaxNewPerCall is
// refused whole with ErrTooManyValues; known values do not count as new.
func TestPerCallBounds(t *testing.T) {
	svc, p, _ := admissionFixture(t, vault.Options{MaxValuesPerCall: 5, MaxNewPerCall: 3})
	ctx := context.Background()
	pans := func(from, n int) []vault.RedactRequest {
		out := make([]vault.RedactRequest, n)
		for i := range out {
			out[i] = vault.RedactRequest{Value: fmt.Sprintf("40000000000%05d", from+i)}
		}
		return out
	}
	if _, err := svc.Redact(ctx, pans(0, 3)); err != nil {
		t.Fatal(err)
	}
	before := p.Len()
	for name, reqs := range map[string][]vault.RedactRequest{
		"four new":       pans(10, 4),
		"six values":     pans(0, 6),
		"3 known, 4 new": append(pans(0, 1), pans(20, 4)...),
	} {
		_, err := svc.Redact(ctx, reqs)
		var be *vault.BatchError
		if !errors.Is(err, vault.ErrTooManyValues) || !errors.As(err, &be) {
			t.Errorf("%s: %v, want ErrTooManyValues", name, err)
		}
	}
	if p.Len() != before {
		t.Fatalf("refused calls stored records: %d → %d", before, p.Len())
	}
	// Three known and two new: five values, two new.
	if _, err := svc.Redact(ctx, append(pans(0, 3), pans(30, 2)...)); err != nil {
		t.Fatalf("within both bounds: %v", err)
	}
}

// TestRestoreIsNotAskedOfTheAdmission: a Redact with PurposeRestore (a
// card's number put back after a racing delete) stores its value although
// the Admission refuses the caller, and the Admission is not asked; any
// other purpose of the same caller is refused, and so is a restore that
// breaks the per-call bounds, which are not the Admission's.
func TestRestoreIsNotAskedOfTheAdmission(t *testing.T) {
	spy := &admissionSpy{refuse: &vault.ThrottleError{RetryAfter: time.Hour, Limit: "enumeration"}}
	svc, _, _ := admissionFixture(t, vault.Options{Admission: spy, MaxValuesPerCall: 1})
	ctx := vault.WithAccount(vault.WithClient(context.Background(), "ACHflagged"), "ACTa")
	for _, purpose := range []string{"", vault.PurposeRestore + "d", "create"} {
		if _, err := svc.Redact(vault.WithPurpose(ctx, purpose), []vault.RedactRequest{{Value: "4111111111111111"}}); !errors.Is(err, vault.ErrThrottled) {
			t.Fatalf("purpose %q: Redact = %v; want ErrThrottled", purpose, err)
		}
	}
	spy.values = nil
	rctx := vault.WithPurpose(ctx, vault.PurposeRestore)
	toks, err := svc.Redact(rctx, []vault.RedactRequest{{Value: "4111111111111111"}})
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	if spy.values != nil {
		t.Fatalf("the Admission was asked about a restore: %d values", len(spy.values))
	}
	out, err := svc.Reveal(ctx, []string{toks[0].Alias})
	if err != nil || out[0].Value != "4111111111111111" {
		t.Fatalf("the restored value: %v %v", out, err)
	}
	if _, err := svc.Redact(rctx, []vault.RedactRequest{{Value: "4012888888881881"}, {Value: "5555555555554444"}}); !errors.Is(err, vault.ErrTooManyValues) {
		t.Fatalf("a restore over MaxValuesPerCall = %v; want ErrTooManyValues", err)
	}
}

// keepingAdmission keeps the value slices it is given (which an Admission
// must not do), to see what becomes of them after the call.
type keepingAdmission struct {
	kept   [][]byte
	refuse error
}

func (a *keepingAdmission) Admit(_ context.Context, values [][]byte, _ []bool, _ int) error {
	a.kept = append(a.kept, values...)
	return a.refuse
}

// TestRedactWipesItsCopiesOfTheValues: the copies of the values a Redact
// call works on (those its Admission is shown) are wiped when the call
// returns, whether it stored them, found them stored, took them from an
// alias or was refused.
func TestRedactWipesItsCopiesOfTheValues(t *testing.T) {
	for _, refuse := range []error{nil, &vault.ThrottleError{Limit: "test", RetryAfter: time.Minute}} {
		adm := &keepingAdmission{}
		svc, _, _ := admissionFixture(t, vault.Options{Admission: adm})
		ctx := context.Background()
		first, err := svc.Redact(ctx, []vault.RedactRequest{{Value: "4111111111111111"}})
		if err != nil {
			t.Fatal(err)
		}
		adm.refuse = refuse
		_, err = svc.Redact(ctx, []vault.RedactRequest{
			{Value: "4111111111111111"}, {Value: "5555555555554444", Classifiers: []string{"pan"}},
			{Value: "123", Storage: vault.StorageVolatile}, {Alias: first[0].Alias, Format: vault.FormatPFPT},
		})
		if (err != nil) != (refuse != nil) {
			t.Fatalf("refuse %v: Redact: %v", refuse, err)
		}
		if len(adm.kept) != 1+3 {
			t.Fatalf("the Admission was shown %d values, want 4", len(adm.kept))
		}
		for i, v := range adm.kept {
			if len(v) == 0 || !bytes.Equal(v, make([]byte, len(v))) {
				t.Errorf("refuse %v: value %d after the call: %q, want it wiped", refuse, i, v)
			}
		}
	}
}

// TestVolatileShareIsPerAccountAndARefusalStoresNothing: Options.
// VolatileShare bounds each account's volatile values (the default account
// named or not is one account); a call over it is refused whole
// (ErrThrottled) before the Admission is asked and stores nothing, and a
// call the Admission refuses gives its count back.
func TestVolatileShareIsPerAccountAndARefusalStoresNothing(t *testing.T) {
	spy := &admissionSpy{}
	svc, p, v := admissionFixture(t, vault.Options{Admission: spy, VolatileShare: 3})
	cvcs := func(n int) []vault.RedactRequest {
		reqs := []vault.RedactRequest{{Value: "4111111111111111"}}
		for range n {
			reqs = append(reqs, vault.RedactRequest{Value: "123", Storage: vault.StorageVolatile})
		}
		return reqs
	}
	bg := context.Background()
	if _, err := svc.Redact(bg, cvcs(2)); err != nil {
		t.Fatal(err)
	}
	// The default account by its name is the same account.
	named := vault.WithAccount(bg, vault.DefaultAccountName)
	pBefore, vBefore, asked := p.Len(), v.Len(), spy.asked
	_, err := svc.Redact(named, cvcs(2))
	var te *vault.ThrottleError
	if !errors.As(err, &te) || te.Limit != vault.LimitVolatileShare || te.RetryAfter < time.Second || spy.asked != asked {
		t.Fatalf("over the share: %v, Admission asked %d times", err, spy.asked-asked)
	}
	if p.Len() != pBefore || v.Len() != vBefore {
		t.Fatalf("a refused call stored records: persistent %d → %d, volatile %d → %d", pBefore, p.Len(), vBefore, v.Len())
	}
	// Another account has a share of its own.
	other := vault.WithAccount(bg, "acct_other")
	spy.refuse = &vault.ThrottleError{Limit: "test", RetryAfter: time.Minute}
	if _, err := svc.Redact(other, cvcs(3)); !errors.Is(err, vault.ErrThrottled) {
		t.Fatalf("the Admission's refusal: %v", err)
	}
	spy.refuse = nil
	if _, err := svc.Redact(other, cvcs(3)); err != nil {
		t.Fatalf("after a call the Admission refused, the account's share: %v", err)
	}
	if _, err := svc.Redact(bg, cvcs(1)); err != nil {
		t.Fatalf("the default account's last value: %v", err)
	}
}

// nopAdmission admits every call.
type nopAdmission struct{}

func (nopAdmission) Admit(context.Context, [][]byte, []bool, int) error { return nil }

// TestAdmissionListsAreOneAllocation: asking the Admission about a call of
// a known card number and a CVC (the inbound proxy's checkout) costs one
// allocation for its lists, where their two appends made two.
func TestAdmissionListsAreOneAllocation(t *testing.T) {
	ctx := vault.WithSource(context.Background(), "203.0.113.9")
	reqs := []vault.RedactRequest{{Value: "4111111111111111"}, {Value: "123", Storage: vault.StorageVolatile}}
	allocs := func(opts vault.Options) float64 {
		svc, _, _ := admissionFixture(t, opts)
		if _, err := svc.Redact(ctx, reqs); err != nil {
			t.Fatal(err)
		}
		return testing.AllocsPerRun(50, func() {
			if _, err := svc.Redact(ctx, reqs); err != nil {
				t.Fatal(err)
			}
		})
	}
	without, with := allocs(vault.Options{}), allocs(vault.Options{Admission: nopAdmission{}})
	// Counted without the race detector (scripts/test runs this package
	// without it too): its sync.Pool drops what is put back now and then.
	if with-without != 1 && !raceEnabled {
		t.Errorf("Redact: %v allocations with an Admission, %v without; want one more", with, without)
	}
}
