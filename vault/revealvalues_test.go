package vault_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/vaulttok"
	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/memstore"
)

// valuesBefore is what internal/vaulttok made of Service.Reveal before
// it asked for RevealValues: each Revealed turned into its value. With
// vault.RevealBefore (the old Service.Reveal), the oracle of
// TestRevealValuesAgainstBefore. Do not change it.
func valuesBefore(ctx context.Context, v *vault.Service, aliases []string) ([]string, error) {
	got, err := vault.RevealBefore(ctx, v, aliases)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(got))
	for i, r := range got {
		switch {
		case r.Err == nil:
			out[i] = r.Value
		case errors.Is(r.Err, vault.ErrNotFound):
		default:
			return nil, r.Err
		}
	}
	return out, nil
}

// holdingAuditor is a recordingAuditor whose next call, once hold is
// set, says so on entered and waits until hold is closed.
type holdingAuditor struct {
	recordingAuditor
	holdMu        sync.Mutex
	hold, entered chan struct{}
}

func (a *holdingAuditor) AuditVault(ctx context.Context, e vault.AuditEvent) error {
	a.holdMu.Lock()
	hold, entered := a.hold, a.entered
	a.hold = nil
	a.holdMu.Unlock()
	if hold != nil {
		entered <- struct{}{}
		<-hold
	}
	return a.recordingAuditor.AuditVault(ctx, e)
}

// TestRevealValuesAgainstBefore: Service.Reveal answers every call as
// before, and RevealValues (and the Tokenizer of internal/vaulttok over
// it) as the values made of the old Reveal's answer ("" for what is not a
// live alias of the account, the same errors); the vault audits each
// alike: the same events, the same refusals (a failing audit log, a
// reveal limit, a canceled context, no slot free).
func TestRevealValuesAgainstBefore(t *testing.T) {
	p, v := memstore.New(memstore.Options{SweepInterval: -1}), memstore.New(memstore.Options{SweepInterval: -1})
	t.Cleanup(func() { p.Close(); v.Close() })
	kr, err := vault.OpenKeyring(context.Background(), p, bytes.Repeat([]byte{2}, 32))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	aud := &holdingAuditor{}
	svc, err := vault.New(p, v, kr, vault.Options{Env: "test", Auditor: aud, Now: func() time.Time { return now },
		VolatileTTL: time.Minute, MaxConcurrent: 1, MaxWait: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	tok := vaulttok.New(svc)
	mine := vault.WithAccount(vault.WithClient(context.Background(), "CLTmine"), "acct_a")
	theirs := vault.WithAccount(vault.WithRoute(context.Background(), "in"), "acct_b")
	redact := func(ctx context.Context, reqs ...vault.RedactRequest) []string {
		toks, err := svc.Redact(ctx, reqs)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, tk := range toks {
			out = append(out, tk.Alias)
		}
		return out
	}
	a := redact(mine, vault.RedactRequest{Value: "4111111111111111", Format: vault.FormatFPESixTFour, Classifiers: []string{"pan"}},
		vault.RedactRequest{Value: "123", Storage: vault.StorageVolatile}, vault.RedactRequest{Value: "x"},
		vault.RedactRequest{Value: "café \x00 日本"})
	b := redact(theirs, vault.RedactRequest{Value: "5555555555554444", Format: vault.FormatFPESixTFour},
		vault.RedactRequest{Value: "999", Storage: vault.StorageVolatile})
	gone := redact(mine, vault.RedactRequest{Value: "456", Storage: vault.StorageVolatile})
	aud.take()

	calls := [][]string{
		{a[0], a[1]}, {a[1], a[0], a[2], a[3]}, {a[0], a[0], a[1], a[0]}, {b[0], b[1]}, {a[0], b[0], "tok_test_nope", ""},
		{strings.Repeat("x", 5000), a[1]}, {"4111111111111111"}, {}, nil, {gone[0]},
	}
	long := make([]string, 40)
	for i := range long {
		long[i] = []string{a[0], a[1], b[0], fmt.Sprint("tok_test_", i)}[i%4]
	}
	calls = append(calls, long)
	check := func(name string, ctx context.Context, aliases []string) {
		t.Helper()
		wantRevealed, wantErr := vault.RevealBefore(ctx, svc, aliases)
		wantEvents := aud.take()
		want, _ := valuesBefore(ctx, svc, aliases)
		aud.take()
		gotRevealed, gotRevealedErr := svc.Reveal(ctx, aliases)
		gotRevealedEvents := aud.take()
		if !reflect.DeepEqual(gotRevealed, wantRevealed) || fmt.Sprint(gotRevealedErr) != fmt.Sprint(wantErr) ||
			!reflect.DeepEqual(gotRevealedEvents, wantEvents) {
			t.Fatalf("%s %q: Reveal = %+v, %v, audited %+v; before %+v, %v, audited %+v", name, aliases,
				gotRevealed, gotRevealedErr, gotRevealedEvents, wantRevealed, wantErr, wantEvents)
		}
		for _, reveal := range []func(context.Context, []string) ([]string, error){svc.RevealValues, tok.Reveal} {
			got, gotErr := reveal(ctx, aliases)
			gotEvents := aud.take()
			if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || errors.Is(gotErr, vault.ErrAuditUnavailable) != errors.Is(wantErr, vault.ErrAuditUnavailable) ||
				errors.Is(gotErr, vault.ErrRevealTooLarge) != errors.Is(wantErr, vault.ErrRevealTooLarge) ||
				errors.Is(gotErr, vault.ErrBusy) != errors.Is(wantErr, vault.ErrBusy) {
				t.Fatalf("%s %q: error %v, before %v", name, aliases, gotErr, wantErr)
			}
			if !reflect.DeepEqual(got, want) && (wantErr == nil || got != nil) {
				t.Fatalf("%s %q: values %q, before %q", name, aliases, got, want)
			}
			if !reflect.DeepEqual(gotEvents, wantEvents) {
				t.Fatalf("%s %q: audited %+v, before %+v", name, aliases, gotEvents, wantEvents)
			}
		}
	}
	now = now.Add(2 * time.Minute) // gone's volatile value, and the others', expired
	for _, ctx := range []context.Context{mine, theirs, context.Background()} {
		for _, c := range calls[len(calls)-2:] {
			check("expired", ctx, c)
		}
	}
	now = now.Add(-2 * time.Minute)
	for _, ctx := range []context.Context{mine, theirs, context.Background(), vault.WithPurpose(mine, "create")} {
		for _, c := range calls {
			check("call", ctx, c)
			check("limited", vault.WithRevealLimit(ctx, 3), c)
			canceled, cancel := context.WithCancel(ctx)
			cancel()
			check("canceled", canceled, c)
			aud.mu.Lock()
			aud.fail = errors.New("disk full")
			aud.mu.Unlock()
			check("audit failing", ctx, c)
			aud.mu.Lock()
			aud.fail = nil
			aud.mu.Unlock()
		}
	}
	// No slot free: a reveal holds the one slot, waiting in the auditor.
	hold, entered := make(chan struct{}), make(chan struct{})
	aud.holdMu.Lock()
	aud.hold, aud.entered = hold, entered
	aud.holdMu.Unlock()
	held := make(chan error)
	go func() { _, err := svc.Reveal(mine, calls[0]); held <- err }()
	<-entered
	aud.take()
	check("busy", mine, calls[0])
	if _, err := svc.RevealValues(mine, calls[0]); !errors.Is(err, vault.ErrBusy) {
		t.Fatalf("with no slot free: %v, want ErrBusy", err)
	}
	close(hold)
	if err := <-held; err != nil {
		t.Fatal(err)
	}
}
