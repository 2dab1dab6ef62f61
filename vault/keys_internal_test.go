package vault

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
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
	values := []string{"", "4111111111111111", "737", strings.Repeat("x", 200)}
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
