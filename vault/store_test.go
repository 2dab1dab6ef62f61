package vault

import (
	"bytes"
	"testing"
	"time"
)

func TestRecordCodecRoundTrip(t *testing.T) {
	tests := []*Record{
		{Alias: "tok_a", Format: FormatUUID, Storage: StoragePersistent, KeyVersion: 1, Ciphertext: []byte{1, 2, 3},
			Classifiers: []string{"pan", "visa"}, CreatedAt: time.Unix(1700000000, 123).UTC(), IndexKey: bytes.Repeat([]byte{7}, 32)},
		{Alias: "123", Format: FormatNumLengthPreserving, Storage: StorageVolatile, KeyVersion: 300, Ciphertext: nil,
			CreatedAt: time.Unix(0, 0).UTC(), ExpiresAt: time.Unix(1700003600, 0).UTC()},
	}
	for _, r := range tests {
		got, err := UnmarshalRecord(r.Alias, MarshalRecord(r))
		if err != nil {
			t.Fatal(err)
		}
		if got.Format != r.Format || got.Storage != r.Storage || got.KeyVersion != r.KeyVersion ||
			!bytes.Equal(got.Ciphertext, r.Ciphertext) || !bytes.Equal(got.IndexKey, r.IndexKey) ||
			!got.CreatedAt.Equal(r.CreatedAt) || !got.ExpiresAt.Equal(r.ExpiresAt) || len(got.Classifiers) != len(r.Classifiers) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, r)
		}
	}
}

func TestUnmarshalRecordRefusesDamagedInput(t *testing.T) {
	good := MarshalRecord(&Record{Format: FormatUUID, Storage: StoragePersistent, KeyVersion: 1, Ciphertext: []byte("ct"), CreatedAt: time.Unix(1, 0)})
	for _, b := range [][]byte{nil, {9}, good[:len(good)-1], append(append([]byte{}, good...), 0)} {
		if _, err := UnmarshalRecord("a", b); err == nil {
			t.Errorf("UnmarshalRecord(%x) succeeded", b)
		}
	}
}

func FuzzUnmarshalRecord(f *testing.F) {
	f.Add(MarshalRecord(&Record{Format: FormatPFPT, Storage: StorageVolatile, Ciphertext: []byte("x"), Classifiers: []string{"a"}, IndexKey: []byte("k")}))
	f.Add([]byte{1, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := UnmarshalRecord("a", b)
		if err != nil {
			return
		}
		again, err := UnmarshalRecord("a", MarshalRecord(r))
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !bytes.Equal(MarshalRecord(again), MarshalRecord(r)) {
			t.Fatal("encoding is not stable")
		}
	})
}
