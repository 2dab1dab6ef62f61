package vault

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/aliasgate/aliasgate/internal/base58"
)

// randomAliasBefore is randomAlias as it was before it read its random
// bits through readRandom (into the alias's heap buffer, then a copy):
// the reference of the differential tests.
func randomAliasBefore(env, last4 string, rnd io.Reader) (string, error) {
	const bits = 16
	b := make([]byte, 0, len("tok_")+len(env)+1+uuidBodyLen+1+len(last4))
	b = append(append(append(b, "tok_"...), env...), '_')
	room := b[len(b) : len(b)+bits]
	if _, err := io.ReadFull(rnd, room); err != nil {
		return "", fmt.Errorf("vault: random: %w", err)
	}
	var r [bits]byte
	copy(r[:], room)
	b = base58.AppendFixed(b, r[:], uuidBodyLen)
	if last4 != "" {
		b = append(append(b, '_'), last4...)
	}
	return string(b), nil
}

// checkRandomAlias compares randomAlias with randomAliasBefore on the same
// random stream: the same alias, the same bytes consumed, the same error.
func checkRandomAlias(t *testing.T, env, last4 string, stream []byte) {
	t.Helper()
	r1, r2 := bytes.NewReader(stream), bytes.NewReader(stream)
	got, gerr := randomAlias(env, last4, r1)
	want, werr := randomAliasBefore(env, last4, r2)
	if got != want || (gerr == nil) != (werr == nil) || gerr != nil && gerr.Error() != werr.Error() || r1.Len() != r2.Len() {
		t.Fatalf("randomAlias(%q, %q) = %q, %v (%d bytes left); before: %q, %v (%d left)", env, last4, got, gerr, r1.Len(), want, werr, r2.Len())
	}
}

// TestRandomAliasAgainstBefore: the same aliases from the same random
// bytes, for short and long environments (the stack buffer and past it)
// and a stream too short.
func TestRandomAliasAgainstBefore(t *testing.T) {
	stream := bytes.Repeat([]byte{0, 0xff, 7, 0x80, 1}, 8)
	for _, env := range []string{"", "sandbox", "live", string(bytes.Repeat([]byte("e"), 80))} {
		for _, last4 := range []string{"", "1111"} {
			for _, n := range []int{0, 5, 15, 16, 17, 40} {
				checkRandomAlias(t, env, last4, stream[:n])
			}
			checkRandomAlias(t, env, last4, stream)
		}
	}
}

// FuzzRandomAliasAgainstBefore: randomAlias gives randomAliasBefore's alias
// for any environment, last four and random stream.
func FuzzRandomAliasAgainstBefore(f *testing.F) {
	f.Add("sandbox", "", []byte("0123456789abcdef"))
	f.Add("live", "4242", []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add("x", "1", []byte{1})
	f.Fuzz(func(t *testing.T, env, last4 string, stream []byte) {
		checkRandomAlias(t, env, last4, stream)
	})
}

// TestReadRandom: from crypto/rand's Reader, readRandom fills b (two
// reads differ); from any other reader it reads exactly len(b) bytes, as
// io.ReadFull does, and fails as it does.
func TestReadRandom(t *testing.T) {
	var a, b [16]byte
	if err := readRandom(rand.Reader, a[:]); err != nil {
		t.Fatal(err)
	}
	if err := readRandom(rand.Reader, b[:]); err != nil {
		t.Fatal(err)
	}
	if a == b || a == [16]byte{} {
		t.Fatalf("two reads from crypto/rand: %x and %x", a, b)
	}
	r := bytes.NewReader([]byte("0123456789abcdefXYZ"))
	if err := readRandom(r, a[:]); err != nil || string(a[:]) != "0123456789abcdef" || r.Len() != 3 {
		t.Fatalf("from a stream: %q, %v, %d left", a, err, r.Len())
	}
	if err := readRandom(r, b[:]); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("from a short stream: %v", err)
	}
}
