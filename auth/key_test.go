package auth

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"
)

func TestDeriveSigningKey(t *testing.T) {
	m1, m2 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	a, err := DeriveSigningKey(m1)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := DeriveSigningKey(m1)
	c, _ := DeriveSigningKey(m2)
	if !a.Equal(b) {
		t.Fatal("the same master key gave two signing keys (gateways sharing a vault would reject each other's tokens)")
	}
	if a.Equal(c) {
		t.Fatal("two master keys gave one signing key")
	}
	if bytes.Contains(a, m1) || bytes.Contains(a.Public().(ed25519.PublicKey), m1) {
		t.Fatal("the signing key contains the master key")
	}
	sig := ed25519.Sign(a, []byte("msg"))
	if !ed25519.Verify(b.Public().(ed25519.PublicKey), []byte("msg"), sig) {
		t.Fatal("a token signed by one gateway does not verify on another")
	}
	for _, n := range []int{0, 16, 31, 33, 64} {
		if _, err := DeriveSigningKey(make([]byte, n)); !errors.Is(err, ErrBadMasterKey) {
			t.Errorf("DeriveSigningKey(%d bytes) = %v, want ErrBadMasterKey", n, err)
		}
	}
}
