package vault

import (
	"bytes"
	"context"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// TestIndexKeyForWithPooledStates: the index key of a value is
// HMAC-SHA256(index key, format ‖ 0 ‖ value) in the default account and
// HMAC-SHA256(index key, 1 ‖ uvarint(len(owner)) ‖ owner ‖ format ‖ 0 ‖
// value) in another, whichever pooled state computes it, from many
// goroutines at once and for inputs longer than the stack buffer.
func TestIndexKeyForWithPooledStates(t *testing.T) {
	kr := &Keyring{indexKey: bytes.Repeat([]byte{7}, 32)}
	want := func(owner string, f Format, v string) []byte {
		m := hmac.New(sha256.New, kr.indexKey)
		if owner != "" {
			m.Write(append([]byte{1, byte(len(owner))}, owner...)) // len < 128: one uvarint byte
		}
		m.Write([]byte(string(f) + "\x00" + v))
		return m.Sum(nil)
	}
	owners := []string{"", "acct_1", strings.Repeat("o", 100)}
	values := []string{"", "4111111111111111", "737", strings.Repeat("x", 200), strings.Repeat("y", 3000)} // the last in pieces
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				f := formats[(g+i)%len(formats)]
				v := values[i%len(values)] + fmt.Sprint(g)
				o := owners[(g+i/3)%len(owners)]
				if got := kr.indexKeyFor(o, f, v); !bytes.Equal(got, want(o, f, v)) {
					t.Errorf("indexKeyFor(%q, %s, %q) = %x, want %x", o, f, v, got, want(o, f, v))
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestIndexMACWipesItsInput: the input buffer a pooled index HMAC state
// keeps between uses holds no byte of the last value hashed (nor of its
// account's name), and Known's keys (valueKeys, one state for every key)
// are those indexKeyFor computes.
func TestIndexMACWipesItsInput(t *testing.T) {
	kr := &Keyring{indexKey: bytes.Repeat([]byte{7}, 32)}
	for _, owner := range []string{"", "acct_1"} {
		var key []byte
		var m *indexMAC
		for range 100 { // the race detector's pool drops some states
			// A long value first: hashed in pieces, each leaving bytes in
			// the buffer a shorter one does not overwrite.
			m = kr.getIndexMAC()
			m.sum(nil, owner, FormatUUID, strings.Repeat("4111111111111111", 40)+"41111")
			kr.putIndexMAC(m)
			key = kr.indexKeyFor(owner, FormatFPESixTFour, "4111111111111111")
			if m = kr.getIndexMAC(); cap(m.in) > 0 {
				break
			}
		}
		if cap(m.in) == 0 {
			t.Fatal("the state never came back with its buffer: the test sees nothing")
		}
		if in := m.in[:cap(m.in)]; !bytes.Equal(in, make([]byte, len(in))) {
			t.Fatalf("the pooled input buffer still holds %q", in)
		}
		// The state is reset: it computes the same key again.
		if got := m.sum(nil, owner, FormatFPESixTFour, "4111111111111111"); !bytes.Equal(got, key) {
			t.Fatalf("a pooled state gives %x, want %x", got, key)
		}
		kr.putIndexMAC(m)
	}
	s := &Service{keys: kr, maxValue: DefaultMaxValueLen}
	cands := []string{"4111111111111111", "737", "", "tok_x", "4000056655665556"}
	for _, owner := range []string{"", "acct_1"} {
		keys, idx := s.valueKeys(owner, cands)
		j := 0
		for i, c := range cands {
			for _, f := range formats {
				if c == "" || f.Check(c) != nil {
					continue
				}
				if idx[j] != i || !bytes.Equal(keys[j], kr.indexKeyFor(owner, f, c)) {
					t.Fatalf("valueKeys key %d (%q, %s) differs from indexKeyFor", j, c, f)
				}
				j++
			}
		}
		if j != len(keys) {
			t.Fatalf("valueKeys made %d keys, want %d", len(keys), j)
		}
	}
}

// testKeyring returns a Keyring with one data key (version 1) and no store.
func testKeyring(t testing.TB) *Keyring {
	t.Helper()
	aead, err := newAEAD(bytes.Repeat([]byte{9}, 32))
	if err != nil {
		t.Fatal(err)
	}
	kr := &Keyring{rand: rand.Reader}
	kr.state.Store(&keyState{current: 1, aeads: map[uint32]cipher.AEAD{1: aead}})
	return kr
}

// TestSealAllocatesOnce: seal makes nonce ‖ ciphertext in one allocation
// (the alias it is bound to included), capped at its end; it opens under
// its alias only.
func TestSealAllocatesOnce(t *testing.T) {
	kr := testKeyring(t)
	value := []byte("4111111111111111")
	if n := testing.AllocsPerRun(100, func() {
		if _, _, err := kr.seal("tok_live_alias", value); err != nil {
			t.Fatal(err)
		}
	}); n > 1 {
		t.Errorf("seal: %v allocations, want 1", n)
	}
	ver, ct, err := kr.seal("4111119876541111", value)
	if err != nil {
		t.Fatal(err)
	}
	if cap(ct) != len(ct) || len(ct) != 12+len(value)+16 {
		t.Fatalf("ciphertext of length %d and capacity %d, want both %d", len(ct), cap(ct), 12+len(value)+16)
	}
	r := &Record{Alias: "4111119876541111", KeyVersion: ver, Ciphertext: ct}
	got, err := kr.open(context.Background(), r)
	if err != nil || !bytes.Equal(got, value) {
		t.Fatalf("open = %q, %v; want the value", got, err)
	}
	r.Alias = "4111119876541112"
	if _, err := kr.open(context.Background(), r); !errors.Is(err, ErrTampered) {
		t.Fatalf("open under another alias: %v, want ErrTampered", err)
	}
}
