package vault_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/memstore"
	"github.com/aliasgate/aliasgate/vault/vaulttest"
)

// failingAuditor refuses to record anything while fail is set.
type failingAuditor struct{ fail bool }

func (a *failingAuditor) AuditVault(context.Context, vault.AuditEvent) error {
	if a.fail {
		return errors.New("audit disk full")
	}
	return nil
}

// notInUse answers that no alias is in use.
type notInUse struct{}

func (notInUse) AliasInUse(context.Context, string, string, []byte) (bool, error) { return false, nil }

// TestEveryDecryptedValueIsWiped: whatever a call does with the values it
// decrypts (Reveal, Describe, Redact of an alias with Detail, a Redact item
// refused for its format, UpdateClassifiers, Delete asking InUse) and
// however it ends (answered, the audit failing, the context canceled), the
// buffer each value was decrypted into holds zeros once the call returns.
func TestEveryDecryptedValueIsWiped(t *testing.T) {
	clk := vaulttest.NewClock()
	p := memstore.New(memstore.Options{Now: clk.Now, SweepInterval: -1})
	v := memstore.New(memstore.Options{Now: clk.Now, SweepInterval: -1})
	t.Cleanup(func() { p.Close(); v.Close() })
	ctx := context.Background()
	kr, err := vault.OpenKeyring(ctx, p, bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	aud := &failingAuditor{}
	svc, err := vault.New(p, v, kr, vault.Options{Env: "test", VolatileTTL: time.Hour, Now: clk.Now, Auditor: aud, InUse: notInUse{}})
	if err != nil {
		t.Fatal(err)
	}
	opened := vault.RecordDecryptions(kr)
	toks, err := svc.Redact(ctx, []vault.RedactRequest{{Value: card, Classifiers: []string{"pan"}},
		{Value: "737", Storage: vault.StorageVolatile}, {Value: "hello world"}})
	if err != nil {
		t.Fatal(err)
	}
	pa, va, ua := toks[0].Alias, toks[1].Alias, toks[2].Alias
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	for _, step := range []struct {
		name  string
		fail  bool // the Auditor fails
		call  func() error
		opens bool // the call decrypts something
	}{
		{"Reveal", false, func() error { _, err := svc.Reveal(ctx, []string{pa, va, ua, "tok_test_absent"}); return err }, true},
		{"Reveal, audit failing", true, func() error { _, err := svc.Reveal(ctx, []string{pa, va}); return err }, true},
		{"Describe", false, func() error { _, err := svc.Describe(ctx, []string{pa, va, ua}); return err }, true},
		{"Describe, audit failing", true, func() error { _, err := svc.Describe(ctx, []string{pa, va}); return err }, true},
		{"Redact of aliases with Detail", false, func() error {
			_, err := svc.Redact(ctx, []vault.RedactRequest{{Alias: pa, Format: vault.FormatPFPT, Detail: true},
				{Alias: va, Format: vault.FormatUUID, Detail: true}})
			return err
		}, true},
		{"Redact of an alias that does not fit the format", false, func() error {
			_, err := svc.Redact(ctx, []vault.RedactRequest{{Alias: pa, Format: vault.FormatPFPT}, {Alias: ua, Format: vault.FormatFPESixTFour}})
			return err
		}, true},
		{"Redact of aliases, audit failing", true, func() error {
			_, err := svc.Redact(ctx, []vault.RedactRequest{{Alias: pa, Format: vault.FormatUUID, Detail: true}})
			return err
		}, true},
		{"UpdateClassifiers", false, func() error { return svc.UpdateClassifiers(ctx, pa, []string{"pan", "visa"}) }, true},
		{"UpdateClassifiers, context canceled", false, func() error { return svc.UpdateClassifiers(canceled, pa, []string{"pan"}) }, false},
		{"Delete asking InUse", false, func() error { return svc.Delete(ctx, ua) }, true},
	} {
		before := len(opened())
		aud.fail = step.fail
		err := step.call()
		aud.fail = false
		t.Logf("%s: %v", step.name, err)
		got := opened()[before:]
		if step.opens && len(got) == 0 {
			t.Errorf("%s: decrypted nothing; the test no longer sees what it checks", step.name)
		}
		for i, b := range got {
			if len(b) == 0 || !bytes.Equal(b, make([]byte, len(b))) {
				t.Errorf("%s: decrypted value %d still holds %q after the call", step.name, i, b)
			}
		}
	}
}
