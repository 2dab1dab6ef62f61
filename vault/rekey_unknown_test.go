package vault_test

import (
	"context"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/vault"
)

// TestReencryptionSkipsARecordOfAnUnknownKeyVersion: a record sealed under
// a version the vault has no data key for (a corrupt row, or one copied
// without its key) cannot be re-encrypted. The re-encryption counts it as
// failed, like a record that does not decrypt, moves every other record and
// finishes; it spun before, re-reading the store without end (the record
// looked like another gateway's rotation each time).
func TestReencryptionSkipsARecordOfAnUnknownKeyVersion(t *testing.T) {
	stores(t, func(t *testing.T, open func() rekeyStore) {
		ctx := context.Background()
		s := open()
		svc, kr := newService(t, s)
		want := redactN(t, svc, 0, 30)
		for _, v := range []uint32{7, 0} { // newer than any key, and none at all
			stray := &vault.Record{Alias: "tok_stray_" + string(rune('a'+v)), Format: vault.FormatUUID, Storage: vault.StoragePersistent,
				KeyVersion: v, Ciphertext: make([]byte, 40), CreatedAt: time.Now().UTC(), IndexKey: []byte{byte(v), 1, 2, 3}}
			if _, err := s.Put(ctx, []vault.PutItem{{Record: stray}}); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := kr.Rotate(ctx); err != nil {
			t.Fatal(err)
		}
		r, err := vault.NewReencryptor(s, kr, vault.ReencryptOptions{Rate: -1})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("re-encryption with a record of an unknown key version: %v", err)
			}
		case <-time.After(20 * time.Second): // a hang, not a speed
			t.Fatalf("re-encryption did not end with a record of an unknown key version: %+v", r.Progress())
		}
		p := r.Progress()
		if !p.Done || p.Failed != 2 || p.Rekeyed != uint64(len(want)) {
			t.Fatalf("progress: %+v, want done, 2 failed, %d moved", p, len(want))
		}
		if got := versions(t, s); got[2] != len(want) || got[7] != 1 || got[0] != 1 {
			t.Fatalf("records by version: %v", got)
		}
		revealAll(t, svc, want)
	})
}
