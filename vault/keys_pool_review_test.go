package vault

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"
)

// TestIndexMACPoolsNeverMixKeyrings: two keyrings with different index
// keys, used at once from many goroutines through indexKeyFor and
// valueKeys (Known) for several accounts, each give the keys of their own
// index key: no pooled state crosses from one keyring to the other, nor
// from one account to another.
func TestIndexMACPoolsNeverMixKeyrings(t *testing.T) {
	krs := []*Keyring{{indexKey: bytes.Repeat([]byte{1}, 32)}, {indexKey: bytes.Repeat([]byte{2}, 32)}}
	svcs := []*Service{{keys: krs[0], maxValue: DefaultMaxValueLen}, {keys: krs[1], maxValue: DefaultMaxValueLen}}
	want := func(key []byte, owner string, f Format, v string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write(appendIndexInput(nil, owner, f, v))
		return m.Sum(nil)
	}
	owners := []string{"", "acct_a", "acct_b"}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 300 {
				k := (g + i) % 2
				o := owners[(g*7+i)%len(owners)]
				v := fmt.Sprintf("41111111111%05d", i)
				f := formats[i%len(formats)]
				if got := krs[k].indexKeyFor(o, f, v); !bytes.Equal(got, want(krs[k].indexKey, o, f, v)) {
					t.Errorf("keyring %d indexKeyFor(%q, %s, %q) is not its own key", k, o, f, v)
					return
				}
				keys, idx := svcs[1-k].valueKeys(o, []string{v, "737"})
				cands := []string{v, "737"}
				for j, key := range keys {
					ok := false
					for _, f := range formats {
						if f.Check(cands[idx[j]]) == nil && bytes.Equal(key, want(krs[1-k].indexKey, o, f, cands[idx[j]])) {
							ok = true
						}
					}
					if !ok {
						t.Errorf("keyring %d valueKeys(%q) key %d is not its own", 1-k, o, j)
						return
					}
				}
			}
		})
	}
	wg.Wait()
}
