package vault

import (
	"crypto/cipher"
	"maps"
	"sync"
)

// RecordDecryptions makes the data keys kr holds now keep every value they
// decrypt (the slice Open returns, not a copy) and returns a function that
// lists them: a test can then tell whether the vault wiped each buffer that
// held a clear value once it was done with it.
func RecordDecryptions(kr *Keyring) func() [][]byte {
	rec := &recordingOpens{}
	st := kr.state.Load()
	next := &keyState{current: st.current, aeads: maps.Clone(st.aeads), wrapped: st.wrapped}
	for v, a := range next.aeads {
		next.aeads[v] = recordingAEAD{AEAD: a, rec: rec}
	}
	kr.state.Store(next)
	return func() [][]byte {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return append([][]byte(nil), rec.opened...)
	}
}

type recordingOpens struct {
	mu     sync.Mutex
	opened [][]byte
}

// recordingAEAD is an AEAD that keeps the plaintexts it opens.
type recordingAEAD struct {
	cipher.AEAD
	rec *recordingOpens
}

func (a recordingAEAD) Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error) {
	p, err := a.AEAD.Open(dst, nonce, ciphertext, additionalData)
	if err == nil {
		a.rec.mu.Lock()
		a.rec.opened = append(a.rec.opened, p[len(dst):])
		a.rec.mu.Unlock()
	}
	return p, err
}

// KeyringOn returns a Keyring holding kr's keys over another store (a
// gateway whose store failed over to another server).
func KeyringOn(kr *Keyring, store Store) *Keyring {
	out := &Keyring{store: store, wrap: kr.wrap, indexKey: kr.indexKey, fingerprintKey: kr.fingerprintKey, rand: kr.rand}
	out.state.Store(kr.state.Load())
	return out
}
