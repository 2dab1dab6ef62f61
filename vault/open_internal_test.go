package vault

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

// sealed returns the record of value under alias, sealed by kr.
func sealed(t *testing.T, kr *Keyring, alias, value string) *Record {
	t.Helper()
	ver, ct, err := kr.seal(alias, []byte(value))
	if err != nil {
		t.Fatal(err)
	}
	return &Record{Alias: alias, Format: FormatUUID, Storage: StoragePersistent, KeyVersion: ver, Ciphertext: ct}
}

// TestOpenAppend: openAppend decrypts into the room dst has, after what
// it holds, and into a buffer of its own when dst has too little (dst is
// then left as it was); a record that does not decrypt appends nothing.
func TestOpenAppend(t *testing.T) {
	kr := testKeyring(t)
	ctx := context.Background()
	a, b := sealed(t, kr, "tok_a", "4111111111111111"), sealed(t, kr, "tok_b", "737")
	buf := make([]byte, 0, openLen(a)+openLen(b))
	buf, va, err := kr.openAppend(ctx, buf, a)
	if err != nil || string(va) != "4111111111111111" || cap(va) != len(va) {
		t.Fatalf("openAppend(a) = %q (cap %d), %v", va, cap(va), err)
	}
	head := &buf[0]
	buf, vb, err := kr.openAppend(ctx, buf, b)
	if err != nil || string(vb) != "737" || &buf[0] != head || string(buf) != "tok_a4111111111111111tok_b737" {
		t.Fatalf("openAppend(b) = %q, %v; buffer %q, moved %v", vb, err, buf, &buf[0] != head)
	}
	full := append([]byte(nil), buf...)
	own, vc, err := kr.openAppend(ctx, buf[:len(buf):len(buf)], a) // no room left
	if err != nil || string(vc) != "4111111111111111" || string(own) != "tok_a4111111111111111" || !bytes.Equal(buf, full) {
		t.Fatalf("openAppend without room = %q, %v; old buffer %q, new %q", vc, err, buf, own)
	}
	moved := *a
	moved.Alias = "tok_x" // a ciphertext moved to another alias
	if got, v, err := kr.openAppend(ctx, buf[:0], &moved); !errors.Is(err, ErrTampered) || v != nil || len(got) != 0 {
		t.Fatalf("openAppend(moved) = %q, %q, %v; want nothing and ErrTampered", got, v, err)
	}
}

// TestDecryptWipesWhatItDecryptedWhenARecordFails: decrypt gives every
// value of a call, in one allocation; when one record does not decrypt,
// the values it decrypted before it are wiped.
func TestDecryptWipesWhatItDecryptedWhenARecordFails(t *testing.T) {
	kr := testKeyring(t)
	s := &Service{keys: kr}
	ctx := context.Background()
	a, b := sealed(t, kr, "tok_a", "4111111111111111"), sealed(t, kr, "tok_b", "737")
	moved := *sealed(t, kr, "tok_c", "5555555555554444")
	moved.Alias = "tok_t" // a ciphertext moved to another alias

	recs := []found{{rec: a}, {}, {rec: b}}
	if err := s.decrypt(ctx, recs); err != nil || string(recs[0].value) != "4111111111111111" || recs[1].value != nil || string(recs[2].value) != "737" {
		t.Fatalf("decrypt = %+v, %v", recs, err)
	}
	if n := testing.AllocsPerRun(100, func() {
		if err := s.decrypt(ctx, []found{{rec: a}, {}, {rec: b}}); err != nil {
			t.Fatal(err)
		}
	}); n > 1 {
		t.Errorf("decrypt of two records: %v allocations, want 1", n)
	}

	recs = []found{{rec: a}, {rec: b}, {rec: &moved}}
	if err := s.decrypt(ctx, recs); !errors.Is(err, ErrTampered) {
		t.Fatalf("decrypt with a moved record: %v, want ErrTampered", err)
	}
	for i, r := range recs[:2] {
		if len(r.value) == 0 || !bytes.Equal(r.value, make([]byte, len(r.value))) {
			t.Errorf("value %d after the failure: %q, want it wiped", i, r.value)
		}
	}
}

// TestOpenAppendLeavesNoValueWhenItFails: a record that does not decrypt
// (moved to another alias, or its tag altered) leaves none of its value in
// the room openAppend was given (whatever order the AEAD decrypts and
// checks the tag in): the room is the caller's buffer, which the caller
// wipes only through the values it was given.
func TestOpenAppendLeavesNoValueWhenItFails(t *testing.T) {
	kr := testKeyring(t)
	ctx := context.Background()
	const value = "4111111111111111"
	r := sealed(t, kr, "tok_a", value)
	moved := *r
	moved.Alias = "tok_b"
	tampered := *r
	tampered.Ciphertext = bytes.Clone(r.Ciphertext)
	tampered.Ciphertext[len(tampered.Ciphertext)-1] ^= 1
	for _, bad := range []*Record{&moved, &tampered} {
		room := make([]byte, 0, openLen(bad))
		if _, v, err := kr.openAppend(ctx, room, bad); !errors.Is(err, ErrTampered) || v != nil {
			t.Fatalf("openAppend(%s) = %q, %v; want ErrTampered", bad.Alias, v, err)
		}
		if all := room[:cap(room)]; bytes.Contains(all, []byte(value[:8])) || bytes.Contains(all, []byte(value[8:])) {
			t.Fatalf("openAppend(%s) failed and left %q in the room it was given", bad.Alias, all)
		}
	}
}

// TestDecryptHoldsToTheRevealLimit: under WithRevealLimit, decrypt
// refuses values longer together than the bound (a value counted for
// each record naming it) with ErrRevealTooLarge, decrypting nothing, and
// decrypts values exactly as long as the bound.
func TestDecryptHoldsToTheRevealLimit(t *testing.T) {
	kr := testKeyring(t)
	s := &Service{keys: kr}
	a, b := sealed(t, kr, "tok_a", "4111111111111111"), sealed(t, kr, "tok_b", "737")
	for _, c := range []struct {
		name  string
		recs  []found
		limit int64
		ok    bool
	}{
		{"exactly the bound", []found{{rec: a}, {}, {rec: b}}, 19, true},
		{"a byte over", []found{{rec: a}, {rec: b}}, 18, false},
		{"one record twice", []found{{rec: a}, {rec: a}}, 31, false},
		{"one record twice, room for both", []found{{rec: a}, {rec: a}}, 32, true},
	} {
		err := s.decrypt(WithRevealLimit(context.Background(), c.limit), c.recs)
		if c.ok != (err == nil) || !c.ok && !errors.Is(err, ErrRevealTooLarge) {
			t.Errorf("%s: %v", c.name, err)
		}
		for _, r := range c.recs {
			if !c.ok && r.value != nil {
				t.Errorf("%s: a value was decrypted", c.name)
			}
		}
	}
}
