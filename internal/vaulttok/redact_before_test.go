package vaulttok

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/aliasgate/aliasgate/routes/rewrite"
	"github.com/aliasgate/aliasgate/vault"
)

// redactBefore is Tokenizer.Redact as it was before its requests and
// aliases shared one allocation.
func redactBefore(t *Tokenizer, ctx context.Context, items []rewrite.RedactItem) ([]string, error) {
	reqs := make([]vault.RedactRequest, len(items))
	for i, it := range items {
		reqs[i] = vault.RedactRequest{Value: it.Value, Format: vault.Format(it.Format),
			Storage: vault.Storage(it.Storage), Classifiers: it.Classifiers}
	}
	toks, err := t.v.Redact(ctx, reqs)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(toks))
	for i, tk := range toks {
		out[i] = tk.Alias
	}
	return out, nil
}

// scriptedVault answers Redact with extra tokens more (or fewer) than it
// was asked for, or with err, and records a copy of every call's requests.
type scriptedVault struct {
	Vault
	extra int
	err   error
	calls [][]vault.RedactRequest
}

func (v *scriptedVault) Redact(_ context.Context, reqs []vault.RedactRequest) ([]vault.Token, error) {
	v.calls = append(v.calls, slices.Clone(reqs))
	if v.err != nil {
		return nil, v.err
	}
	out := make([]vault.Token, max(len(reqs)+v.extra, 0))
	for i := range out {
		out[i].Alias = fmt.Sprintf("tok_%d", i)
		if i < len(reqs) {
			out[i].Alias += "_" + reqs[i].Value
		}
	}
	return out, nil
}

// TestRedactAgainstBefore: Redact asks the vault what it asked before and
// answers what it answered, for messages of 0 to 5 values, a vault that
// fails and one that answers more or fewer tokens than asked; the
// requests it handed the vault are cleared once it has answered.
func TestRedactAgainstBefore(t *testing.T) {
	ctx := context.Background()
	for n := range 6 {
		items := make([]rewrite.RedactItem, n)
		for i := range items {
			items[i] = rewrite.RedactItem{Value: fmt.Sprint(4111111111111111 + i), Format: "FPE_SIX_T_FOUR", Storage: "volatile",
				Classifiers: []string{"pan"}}
		}
		for _, v := range []*scriptedVault{{}, {extra: 1}, {extra: -1}, {err: errors.New("refused")}} {
			want, werr := redactBefore(&Tokenizer{v: v}, ctx, items)
			got, gerr := (&Tokenizer{v: v}).Redact(ctx, items)
			if fmt.Sprint(gerr) != fmt.Sprint(werr) || !errors.Is(gerr, v.err) {
				t.Fatalf("%d values, %+v: error %v, want %v", n, v, gerr, werr)
			}
			if !slices.Equal(got, want) || (got == nil) != (want == nil) || len(got) != cap(got) && n > 2 {
				t.Fatalf("%d values, %+v: %q, want %q", n, v, got, want)
			}
			if len(v.calls) != 2 || fmt.Sprintf("%+v", v.calls[0]) != fmt.Sprintf("%+v", v.calls[1]) {
				t.Fatalf("%d values: the vault was asked %+v, before %+v", n, v.calls[1:], v.calls[:1])
			}
		}
	}
}

// TestRedactClearsItsRequests: the requests Redact handed the vault hold
// no value once it returns (its answer may share their allocation).
func TestRedactClearsItsRequests(t *testing.T) {
	var seen []vault.RedactRequest
	v := &keepingVault{keep: &seen}
	if _, err := New(v).Redact(context.Background(), []rewrite.RedactItem{{Value: "4111111111111111"}, {Value: "123"}}); err != nil {
		t.Fatal(err)
	}
	for i, r := range seen {
		if r.Value != "" || r.Classifiers != nil {
			t.Fatalf("request %d still names %q", i, r.Value)
		}
	}
}

// keepingVault keeps the requests of its last Redact (the slice itself).
type keepingVault struct {
	Vault
	keep *[]vault.RedactRequest
}

func (v *keepingVault) Redact(_ context.Context, reqs []vault.RedactRequest) ([]vault.Token, error) {
	*v.keep = reqs
	return make([]vault.Token, len(reqs)), nil
}
