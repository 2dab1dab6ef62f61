package vault_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/memstore"
	"github.com/aliasgate/aliasgate/vault/vaulttest"
)

const card = "4111111111111111"

// ssn is a value for the formats that do not take a card number.
const ssn = "078-05-1120"

type fixture struct {
	svc        *vault.Service
	persistent *memstore.Store
	volatile   *memstore.Store
	clk        *vaulttest.Clock
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	clk := vaulttest.NewClock()
	p := memstore.New(memstore.Options{Now: clk.Now, SweepInterval: -1})
	v := memstore.New(memstore.Options{Now: clk.Now, SweepInterval: -1})
	t.Cleanup(func() { p.Close(); v.Close() })
	kr, err := vault.OpenKeyring(context.Background(), p, bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := vault.New(p, v, kr, vault.Options{Env: "test", VolatileTTL: time.Hour, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{svc: svc, persistent: p, volatile: v, clk: clk}
}

func TestRedactRefusesBadItemsNamingTheFieldNotTheValue(t *testing.T) {
	f := newFixture(t)
	long := strings.Repeat("4", vault.DefaultMaxValueLen+1)
	tests := []struct {
		name  string
		req   vault.RedactRequest
		field string
		want  error
	}{
		{"empty value", vault.RedactRequest{Value: ""}, "value", vault.ErrInvalidValue},
		{"value too long", vault.RedactRequest{Value: long}, "value", vault.ErrInvalidValue},
		{"unknown format", vault.RedactRequest{Value: card, Format: "ALIAS"}, "format", vault.ErrInvalidFormat},
		{"unknown storage", vault.RedactRequest{Value: card, Storage: "FOREVER"}, "storage", vault.ErrInvalidStorage},
		{"format does not fit", vault.RedactRequest{Value: "not-a-" + card, Format: vault.FormatFPESixTFour}, "format", vault.ErrFormatNotApplicable},
		{"bad classifier", vault.RedactRequest{Value: card, Classifiers: []string{"has\nnewline"}}, "classifiers", vault.ErrInvalidClassifier},
		{"card number as classifier", vault.RedactRequest{Value: "x", Classifiers: []string{card}}, "classifiers", vault.ErrInvalidClassifier},
		{"unknown source alias", vault.RedactRequest{Alias: "tok_test_nope", Format: vault.FormatPFPT}, "alias", vault.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok := vault.RedactRequest{Value: "5555555555554444"}
			_, err := f.svc.Redact(context.Background(), []vault.RedactRequest{ok, tt.req})
			var be *vault.BatchError
			if !errors.As(err, &be) || len(be.Items) != 1 {
				t.Fatalf("Redact = %v, want a BatchError with one item", err)
			}
			if it := be.Items[0]; it.Index != 1 || it.Field != tt.field || !errors.Is(it.Err, tt.want) {
				t.Fatalf("item error = %+v (%v), want index 1 field %s %v", it, it.Err, tt.field, tt.want)
			}
			if strings.Contains(err.Error(), card) || strings.Contains(err.Error(), "4444") {
				t.Fatalf("error %q quotes a value", err)
			}
			if f.persistent.Len() != 0 {
				t.Fatal("a refused batch wrote records")
			}
		})
	}
}

func TestRedactAndRevealRoundTripEveryFormat(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var reqs []vault.RedactRequest
	for _, format := range vault.Formats() {
		v := card
		if format.Check(v) != nil {
			v = ssn
		}
		reqs = append(reqs, vault.RedactRequest{Value: v, Format: format, Classifiers: []string{"pan"}})
	}
	reqs = append(reqs, vault.RedactRequest{Value: "123", Storage: vault.StorageVolatile, Format: vault.FormatUUID})
	toks, err := f.svc.Redact(ctx, reqs)
	if err != nil {
		t.Fatal(err)
	}
	aliases := make([]string, len(toks))
	for i, tk := range toks {
		aliases[i] = tk.Alias
		if tk.Format != reqs[i].Format.OrDefault() {
			t.Errorf("token %d format %s, want %s", i, tk.Format, reqs[i].Format)
		}
	}
	got, err := f.svc.Reveal(ctx, aliases)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range got {
		want := reqs[i].Value
		if r.Err != nil || r.Value != want {
			t.Errorf("reveal %d (%s) = %q, %v", i, toks[i].Format, r.Value, r.Err)
		}
	}
	if got[len(got)-1].Storage != vault.StorageVolatile || f.volatile.Len() != 1 {
		t.Error("the volatile value did not go to the volatile store")
	}
}

// Every format: a persistent value keeps its alias (the same value and
// format give the same alias, found through the index), a volatile value
// gets a new alias each time, and no alias equals its value.
func TestEveryFormatIsDeterministicWhenPersistent(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, format := range vault.Formats() {
		v := card
		if format.Check(v) != nil {
			v = ssn
		}
		t.Run(string(format), func(t *testing.T) {
			var got [2][]vault.Token
			for round := range got {
				toks, err := f.svc.Redact(ctx, []vault.RedactRequest{
					{Value: v, Format: format},
					{Value: v, Format: format, Storage: vault.StorageVolatile},
				})
				if err != nil {
					t.Fatal(err)
				}
				for _, tk := range toks {
					if tk.Alias == v || tk.Format != format {
						t.Fatalf("token %+v for a %s value", tk.Format, format)
					}
				}
				got[round] = toks
			}
			if got[0][0].Alias != got[1][0].Alias || !got[0][0].Created || got[1][0].Created {
				t.Errorf("persistent aliases %v then %v: not deterministic", got[0][0].Created, got[1][0].Created)
			}
			if got[0][1].Alias == got[1][1].Alias {
				t.Error("a volatile value got the same alias twice")
			}
		})
	}
}

func TestDescribeListsEveryPersistentAliasOfTheValue(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	toks, err := f.svc.Redact(ctx, []vault.RedactRequest{
		{Value: card, Format: vault.FormatUUID},
		{Value: card, Format: vault.FormatPFPT},
		{Value: "5555555555554444", Format: vault.FormatUUID},
	})
	if err != nil {
		t.Fatal(err)
	}
	es, err := f.svc.Describe(ctx, []string{toks[1].Alias, "tok_test_missing"})
	if err != nil {
		t.Fatal(err)
	}
	e := es[0]
	if e.Value != card || len(e.Aliases) != 2 || e.Aliases[0].Alias != toks[1].Alias || e.Aliases[1].Alias != toks[0].Alias {
		t.Fatalf("Describe = %+v", e)
	}
	if !errors.Is(es[1].Err, vault.ErrNotFound) {
		t.Fatalf("Describe(missing) err = %v", es[1].Err)
	}
}

func TestRedactFromAliasAddsAnotherFormat(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	first, err := f.svc.Redact(ctx, []vault.RedactRequest{{Value: card, Classifiers: []string{"pan"}}})
	if err != nil {
		t.Fatal(err)
	}
	second, err := f.svc.Redact(ctx, []vault.RedactRequest{{Alias: first[0].Alias, Format: vault.FormatFPESixTFour}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(second[0].Alias, "411111") || !strings.HasSuffix(second[0].Alias, "1111") {
		t.Fatalf("FPE alias %q", second[0].Alias)
	}
	direct, _ := f.svc.Redact(ctx, []vault.RedactRequest{{Value: card, Format: vault.FormatFPESixTFour}})
	if direct[0].Alias != second[0].Alias {
		t.Fatal("alias from alias differs from alias from value")
	}
	got, _ := f.svc.Reveal(ctx, []string{second[0].Alias})
	if got[0].Value != card || !slices.Equal(got[0].Classifiers, []string{"pan"}) {
		t.Fatalf("reveal = %+v", got[0])
	}
}

func TestUpdateClassifiersAppliesToEveryAliasOfTheValue(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	toks, _ := f.svc.Redact(ctx, []vault.RedactRequest{{Value: card}, {Value: card, Format: vault.FormatRawUUID}})
	if err := f.svc.UpdateClassifiers(ctx, toks[0].Alias, []string{"pan", "visa", "pan"}); err != nil {
		t.Fatal(err)
	}
	got, _ := f.svc.Reveal(ctx, []string{toks[0].Alias, toks[1].Alias})
	for _, r := range got {
		if !slices.Equal(r.Classifiers, []string{"pan", "visa"}) {
			t.Fatalf("classifiers = %v", r.Classifiers)
		}
	}
	if err := f.svc.UpdateClassifiers(ctx, "tok_test_missing", nil); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("UpdateClassifiers(missing) = %v", err)
	}
	if err := f.svc.UpdateClassifiers(ctx, toks[0].Alias, []string{""}); !errors.Is(err, vault.ErrInvalidClassifier) {
		t.Fatalf("UpdateClassifiers(bad) = %v", err)
	}
}

func TestDeleteRemovesOneAliasAndTheValueMayBeRedactedAgain(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	toks, _ := f.svc.Redact(ctx, []vault.RedactRequest{{Value: card}, {Value: card, Format: vault.FormatPFPT}, {Value: "999", Storage: vault.StorageVolatile}})
	for _, a := range []string{toks[0].Alias, toks[2].Alias} {
		if err := f.svc.Delete(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := f.svc.Reveal(ctx, []string{toks[0].Alias, toks[1].Alias, toks[2].Alias})
	if !errors.Is(got[0].Err, vault.ErrNotFound) || got[1].Value != card || !errors.Is(got[2].Err, vault.ErrNotFound) {
		t.Fatalf("after delete: %+v", got)
	}
	if err := f.svc.Delete(ctx, toks[0].Alias); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("second delete = %v", err)
	}
	again, _ := f.svc.Redact(ctx, []vault.RedactRequest{{Value: card}})
	if again[0].Alias == toks[0].Alias || !again[0].Created {
		t.Fatal("a deleted alias came back")
	}
}

func TestVolatileValueIsNeverRevealedAfterTTL(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	toks, _ := f.svc.Redact(ctx, []vault.RedactRequest{{Value: "737", Storage: vault.StorageVolatile}})
	f.clk.Advance(time.Hour)
	got, err := f.svc.Reveal(ctx, []string{toks[0].Alias})
	if err != nil || !errors.Is(got[0].Err, vault.ErrNotFound) || got[0].Value != "" {
		t.Fatalf("reveal after TTL = %+v, %v", got[0], err)
	}
	if _, err := f.svc.Describe(ctx, []string{toks[0].Alias}); err != nil {
		t.Fatal(err)
	}
}

// TestRevealAnswersEachAliasInItsPlace: aliases of both stores, unknown,
// empty and another account's, in any order, each get their own answer in
// their own place (what one store does not hold is asked of the next).
func TestRevealAnswersEachAliasInItsPlace(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	toks, err := f.svc.Redact(ctx, []vault.RedactRequest{{Value: card}, {Value: "737", Storage: vault.StorageVolatile},
		{Value: "5555555555554444"}, {Value: "123", Storage: vault.StorageVolatile}})
	if err != nil {
		t.Fatal(err)
	}
	other, err := f.svc.Redact(vault.WithAccount(ctx, "acct_other"), []vault.RedactRequest{{Value: "4000056655665556"}})
	if err != nil {
		t.Fatal(err)
	}
	aliases := []string{"tok_test_nope", toks[1].Alias, toks[0].Alias, other[0].Alias, "", toks[3].Alias, toks[2].Alias, "tok_test_gone"}
	want := []string{"", "737", card, "", "", "123", "5555555555554444", ""}
	got, err := f.svc.Reveal(ctx, aliases)
	if err != nil {
		t.Fatal(err)
	}
	for i := range aliases {
		if got[i].Value != want[i] || (want[i] == "") != errors.Is(got[i].Err, vault.ErrNotFound) {
			t.Errorf("alias %d: %q, %v; want %q", i, got[i].Value, got[i].Err, want[i])
		}
	}
}

func TestMovedCiphertextFailsToDecrypt(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	toks, _ := f.svc.Redact(ctx, []vault.RedactRequest{{Value: card}, {Value: "5555555555554444"}})
	recs, _ := f.persistent.Get(ctx, []string{toks[0].Alias, toks[1].Alias})
	// Write record 0's ciphertext under a new alias, as an attacker with
	// write access to the store might.
	moved := recs[0].Clone()
	moved.Alias = "tok_test_moved"
	moved.IndexKey = nil
	if _, err := f.persistent.Put(ctx, []vault.PutItem{{Record: moved}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Reveal(ctx, []string{"tok_test_moved"}); !errors.Is(err, vault.ErrTampered) {
		t.Fatalf("reveal of moved ciphertext = %v, want ErrTampered", err)
	}
}

// TestDamagedCiphertextFailsToDecrypt: a record whose ciphertext was cut
// (shorter than a nonce, than a nonce and a tag, by one byte), lengthened
// or changed in one byte is ErrTampered, never a value.
func TestDamagedCiphertextFailsToDecrypt(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	toks, err := f.svc.Redact(ctx, []vault.RedactRequest{{Value: card}})
	if err != nil {
		t.Fatal(err)
	}
	recs, _ := f.persistent.Get(ctx, []string{toks[0].Alias})
	good := recs[0].Ciphertext
	flipped := bytes.Clone(good)
	flipped[len(flipped)-20] ^= 1
	for _, tc := range []struct {
		name       string
		ciphertext []byte
	}{
		{"empty", []byte{}},
		{"shorter than a nonce", good[:11]},
		{"a nonce only", good[:12]},
		{"a nonce and less than a tag", good[:12+15]},
		{"one byte cut", good[:len(good)-1]},
		{"one byte added", append(bytes.Clone(good), 0)},
		{"one byte changed", flipped},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := recs[0].Clone()
			r.Alias, r.IndexKey, r.Ciphertext = "tok_test_damaged", nil, tc.ciphertext
			if _, err := f.persistent.Put(ctx, []vault.PutItem{{Record: r}}); err != nil {
				t.Fatal(err)
			}
			defer f.persistent.Delete(ctx, r.Alias, r.Owner)
			got, err := f.svc.Reveal(ctx, []string{r.Alias})
			if !errors.Is(err, vault.ErrTampered) || got != nil {
				t.Fatalf("Reveal = %v, %v; want ErrTampered and nothing", got, err)
			}
		})
	}
	if got, err := f.svc.Reveal(ctx, []string{toks[0].Alias}); err != nil || got[0].Value != card {
		t.Fatalf("the intact record: %v, %v", got, err)
	}
}

func TestNewRefusesTTLUnderOneSecond(t *testing.T) {
	f := newFixture(t)
	kr, _ := vault.OpenKeyring(context.Background(), f.persistent, bytes.Repeat([]byte{1}, 32))
	if _, err := vault.New(f.persistent, f.volatile, kr, vault.Options{VolatileTTL: time.Millisecond}); err == nil {
		t.Fatal("New accepted a 1ms TTL")
	}
}

func TestLoadMasterKey(t *testing.T) {
	key := bytes.Repeat([]byte{9}, 32)
	b64 := base64.StdEncoding.EncodeToString(key)
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == vault.MasterKeyEnv {
				return v
			}
			return ""
		}
	}
	t.Run("env wins and creates no file", func(t *testing.T) {
		dir := t.TempDir()
		got, src, err := vault.LoadMasterKey(dir, env(b64), true)
		if err != nil || !bytes.Equal(got, key) || !strings.Contains(src, "env") {
			t.Fatalf("= %x, %q, %v", got, src, err)
		}
		if _, err := os.Stat(filepath.Join(dir, vault.MasterKeyFile)); !errors.Is(err, os.ErrNotExist) {
			t.Fatal("a key file was created although the env had the key")
		}
	})
	t.Run("file created 0600 on first run and read back", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		k1, _, err := vault.LoadMasterKey(dir, env(""), true)
		if err != nil || len(k1) != 32 {
			t.Fatalf("create: %x, %v", k1, err)
		}
		fi, err := os.Stat(filepath.Join(dir, vault.MasterKeyFile))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("key file mode %v, %v", fi.Mode(), err)
		}
		k2, _, err := vault.LoadMasterKey(dir, env(""), true)
		if err != nil || !bytes.Equal(k1, k2) {
			t.Fatal("second load gave another key")
		}
	})
	bad := []struct {
		name  string
		env   string
		file  string
		perm  os.FileMode
		inMsg string
	}{
		{"env not base64", "%%%", "", 0, "base64"},
		{"env wrong length", base64.StdEncoding.EncodeToString([]byte("short")), "", 0, "32"},
		{"file readable by others", "", b64, 0o644, "chmod"},
		{"file not base64", "", "garbage!", 0o600, "base64"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.file != "" {
				p := filepath.Join(dir, vault.MasterKeyFile)
				os.WriteFile(p, []byte(tt.file), tt.perm)
				os.Chmod(p, tt.perm)
			}
			_, _, err := vault.LoadMasterKey(dir, env(tt.env), true)
			if !errors.Is(err, vault.ErrBadMasterKey) || !strings.Contains(err.Error(), tt.inMsg) {
				t.Fatalf("err = %v, want ErrBadMasterKey mentioning %q", err, tt.inMsg)
			}
			if strings.Contains(err.Error(), b64) {
				t.Fatal("error shows key material")
			}
		})
	}
	t.Run("missing file without create", func(t *testing.T) {
		if _, _, err := vault.LoadMasterKey(t.TempDir(), env(""), false); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("err = %v, want not exist", err)
		}
	})
}

func TestFingerprintKeyIsStableAndDistinct(t *testing.T) {
	ctx := context.Background()
	p := memstore.New(memstore.Options{SweepInterval: -1})
	defer p.Close()
	k1, _ := vault.OpenKeyring(ctx, p, bytes.Repeat([]byte{1}, 32))
	k2, _ := vault.OpenKeyring(ctx, p, bytes.Repeat([]byte{1}, 32))
	q := memstore.New(memstore.Options{SweepInterval: -1})
	defer q.Close()
	k3, _ := vault.OpenKeyring(ctx, q, bytes.Repeat([]byte{3}, 32))
	if len(k1.FingerprintKey()) != 32 || !bytes.Equal(k1.FingerprintKey(), k2.FingerprintKey()) || bytes.Equal(k1.FingerprintKey(), k3.FingerprintKey()) {
		t.Fatal("fingerprint key not derived from the master key alone")
	}
	if bytes.Equal(k1.FingerprintKey(), bytes.Repeat([]byte{1}, 32)) {
		t.Fatal("fingerprint key is the master key")
	}
}
