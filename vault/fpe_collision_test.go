package vault_test

import (
	"context"
	"crypto/rand"
	"sync"
	"testing"

	"github.com/aliasgate/aliasgate/internal/pan"
	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/memstore"
)

// armedRand is crypto/rand, except that the next read after arm returns
// the armed bytes (the rest of that read zero).
type armedRand struct {
	mu   sync.Mutex
	next []byte
}

func (r *armedRand) arm(b []byte) { r.mu.Lock(); r.next = b; r.mu.Unlock() }

func (r *armedRand) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.next == nil {
		return rand.Read(p)
	}
	clear(p)
	copy(p, r.next)
	r.next = nil
	return len(p), nil
}

// TestFormatPreservingAliasIsNeverAStoredCard: an FPE_SIX_T_FOUR alias is
// a Luhn-valid number with the value's first 6 and last 4 digits, so the
// random draw can give a card number the account stores as a value (5 free
// digits for 16-digit cards, 2 for 13-digit ones). Such an alias would be
// card data sent out as an alias (the leak guard lets the aliases a filter
// made through without asking the vault), and the same alias in a later
// message would be refused as card data (Known says value). The vault
// draws again instead.
func TestFormatPreservingAliasIsNeverAStoredCard(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct{ name, stored, value string }{
		{"16 digits", "4111111111111111", "4111119876541111"},
		{"13 digits", "4222222222222", "4222220002222"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// value: stored's first 6 and last 4, Luhn-valid, another number.
			v := []byte(tc.value)
			for d := byte('0'); d <= '9'; d++ {
				v[len(v)-5] = d
				if pan.Valid(string(v)) && string(v) != tc.stored {
					break
				}
			}
			value := string(v)
			if !pan.Valid(tc.stored) || !pan.Valid(value) || value == tc.stored || value[:6] != tc.stored[:6] {
				t.Fatalf("bad test numbers %s %s", tc.stored, value)
			}
			p := memstore.New(memstore.Options{SweepInterval: -1})
			vol := memstore.New(memstore.Options{SweepInterval: -1})
			t.Cleanup(func() { p.Close(); vol.Close() })
			kr, err := vault.OpenKeyring(ctx, p, masterKey)
			if err != nil {
				t.Fatal(err)
			}
			rnd := &armedRand{}
			svc, err := vault.New(p, vol, kr, vault.Options{Env: "test", Rand: rnd})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := svc.Redact(ctx, []vault.RedactRequest{{Value: tc.stored, Format: vault.FormatUUID}}); err != nil {
				t.Fatal(err)
			}
			// The draw of the FPE alias's free digits gives stored's.
			mid := []byte(tc.stored[6 : len(tc.stored)-4])
			for i := range mid {
				mid[i] -= '0'
			}
			rnd.arm(mid)
			toks, err := svc.Redact(ctx, []vault.RedactRequest{{Value: value, Format: vault.FormatFPESixTFour}})
			if err != nil {
				t.Fatal(err)
			}
			a := toks[0].Alias
			if a == tc.stored {
				t.Fatalf("the FPE alias of a card is another card the account stores")
			}
			if a[:6] != value[:6] || a[len(a)-4:] != value[len(value)-4:] || !pan.Valid(a) {
				t.Fatalf("alias %s is not an FPE_SIX_T_FOUR alias of the value", a)
			}
			got, err := svc.Known(ctx, []string{a, tc.stored})
			if err != nil {
				t.Fatal(err)
			}
			if got[0] != vault.PresenceAlias || got[1] != vault.PresenceValue {
				t.Fatalf("Known(alias, stored) = %v, want alias, value", got)
			}
		})
	}
}
