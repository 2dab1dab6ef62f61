package vault

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"strings"
	"testing"
)

// TestIndexKeyInPiecesIsTheWholeInputsKey: the index key computed with the
// value hashed in pieces through the pooled buffer is the key computed
// before (the whole input, 0x01 ‖ uvarint(len(owner)) ‖ owner ‖ format ‖ 0
// ‖ value, or format ‖ 0 ‖ value in the default account, hashed at once:
// reimplemented here as it was), for every format, owners whose prefix
// takes 0, 1, 2 uvarint bytes or fills the buffer, and value lengths around
// every piece boundary up to DefaultMaxValueLen: existing vaults still find
// their values (Known, Redact's reuse of an alias, migrate).
func TestIndexKeyInPiecesIsTheWholeInputsKey(t *testing.T) {
	kr := &Keyring{indexKey: bytes.Repeat([]byte{9}, 32)}
	old := func(owner string, f Format, v string) []byte {
		var in []byte
		if owner != "" {
			in = append(in, 1)
			in = binary.AppendUvarint(in, uint64(len(owner)))
			in = append(in, owner...)
		}
		in = append(append(append(in, f...), 0), v...)
		m := hmac.New(sha256.New, kr.indexKey)
		m.Write(in)
		return m.Sum(nil)
	}
	owners := []string{"", "a", "acct_1", strings.Repeat("o", 127), strings.Repeat("p", 128), strings.Repeat("q", 250), strings.Repeat("r", 300)}
	var lengths []int
	for _, b := range []int{0, 256, 512, 768, 2560} {
		for d := -20; d <= 20; d++ {
			if b+d >= 0 {
				lengths = append(lengths, b+d)
			}
		}
	}
	lengths = append(lengths, 4096, 65535, 65536, 65537)
	// A value of all byte values, so that a piece taken from the wrong
	// offset changes the key.
	src := make([]byte, DefaultMaxValueLen+1)
	for i := range src {
		src[i] = byte(i*7 + i/256)
	}
	for _, f := range formats {
		for _, o := range owners {
			for _, n := range lengths {
				v := string(src[:n])
				if got, want := kr.indexKeyFor(o, f, v), old(o, f, v); !bytes.Equal(got, want) {
					t.Fatalf("format %s, owner of %d bytes, value of %d bytes: key %x, before %x", f, len(o), n, got, want)
				}
			}
		}
	}
	for _, n := range []int{DefaultMaxValueLen - 1, DefaultMaxValueLen, DefaultMaxValueLen + 1} {
		for _, o := range []string{"", "acct_1"} {
			v := string(src[:n])
			if got, want := kr.indexKeyFor(o, FormatUUID, v), old(o, FormatUUID, v); !bytes.Equal(got, want) {
				t.Fatalf("owner %q, value of %d bytes: key differs from before", o, n)
			}
		}
	}
}
