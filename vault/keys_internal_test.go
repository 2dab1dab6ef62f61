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
// HMAC-SHA256(index key, format ‖ 0 ‖ value) whichever pooled state
// computes it, from many goroutines at once and for values longer than
// the stack buffer.
func TestIndexKeyForWithPooledStates(t *testing.T) {
	kr := &Keyring{indexKey: bytes.Repeat([]byte{7}, 32)}
	want := func(f Format, v string) []byte {
		m := hmac.New(sha256.New, kr.indexKey)
		m.Write([]byte(string(f) + "\x00" + v))
		return m.Sum(nil)
	}
	values := []string{"", "4111111111111111", "737", strings.Repeat("x", 200)}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				f := formats[(g+i)%len(formats)]
				v := values[i%len(values)] + fmt.Sprint(g)
				if got := kr.indexKeyFor(f, v); !bytes.Equal(got, want(f, v)) {
					t.Errorf("indexKeyFor(%s, %q) = %x, want %x", f, v, got, want(f, v))
					return
				}
			}
		})
	}
	wg.Wait()
}
