package vault

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"
)

func TestRecordCodecRoundTrip(t *testing.T) {
	tests := []*Record{
		{Alias: "tok_a", Format: FormatUUID, Storage: StoragePersistent, KeyVersion: 1, Ciphertext: []byte{1, 2, 3},
			Classifiers: []string{"pan", "visa"}, CreatedAt: time.Unix(1700000000, 123).UTC(), IndexKey: bytes.Repeat([]byte{7}, 32)},
		{Alias: "123", Format: FormatNumLengthPreserving, Storage: StorageVolatile, KeyVersion: 300, Ciphertext: nil,
			CreatedAt: time.Unix(0, 0).UTC(), ExpiresAt: time.Unix(1700003600, 0).UTC()},
		{Alias: "tok_o", Format: FormatUUID, Storage: StoragePersistent, KeyVersion: 2, Ciphertext: []byte{4},
			CreatedAt: time.Unix(1700000000, 0).UTC(), IndexKey: []byte{1}, Owner: "acct_b"},
		// More classifiers and bytes than a recordBox holds.
		{Alias: "tok_big", Format: FormatUUID, Storage: StoragePersistent, KeyVersion: 1, Ciphertext: bytes.Repeat([]byte{5}, 300),
			Classifiers: []string{"pan", "", "visa", "café"}, CreatedAt: time.Unix(1700000000, 9).UTC(), IndexKey: bytes.Repeat([]byte{6}, 32), Owner: "acct_c"},
		{Alias: "tok_c", Format: FormatUUID, Storage: StorageVolatile, KeyVersion: 1, Ciphertext: []byte{1},
			Classifiers: []string{"only"}, CreatedAt: time.Unix(1, 0).UTC(), ExpiresAt: time.Unix(2, 0).UTC(), Owner: "acct_d"},
	}
	for _, r := range tests {
		got, err := UnmarshalRecord(r.Alias, MarshalRecord(r))
		if err != nil {
			t.Fatal(err)
		}
		if got.Format != r.Format || got.Storage != r.Storage || got.KeyVersion != r.KeyVersion ||
			!bytes.Equal(got.Ciphertext, r.Ciphertext) || !bytes.Equal(got.IndexKey, r.IndexKey) ||
			!got.CreatedAt.Equal(r.CreatedAt) || !got.ExpiresAt.Equal(r.ExpiresAt) || !slices.Equal(got.Classifiers, r.Classifiers) ||
			(got.Classifiers == nil) != (r.Classifiers == nil) || got.Owner != r.Owner || got.Alias != r.Alias {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, r)
		}
	}
}

// TestAppendRecordReusesItsBuffer: AppendRecord writes MarshalRecord's
// bytes after what the buffer holds, and a reused buffer gives each record
// its own bytes.
func TestAppendRecordReusesItsBuffer(t *testing.T) {
	a := &Record{Format: FormatUUID, Storage: StorageVolatile, KeyVersion: 1, Ciphertext: []byte("ciphertext of a"),
		CreatedAt: time.Unix(1, 0), ExpiresAt: time.Unix(3600, 0)}
	b := &Record{Format: FormatPFPT, Storage: StoragePersistent, KeyVersion: 2, Ciphertext: []byte("b"),
		Classifiers: []string{"pan"}, CreatedAt: time.Unix(2, 0), IndexKey: []byte("ik"), Owner: "acct_b"}
	buf := AppendRecord([]byte("head"), a)
	if !bytes.Equal(buf, append([]byte("head"), MarshalRecord(a)...)) {
		t.Fatalf("AppendRecord after a head = %q", buf)
	}
	for _, r := range []*Record{a, b, a} {
		buf = AppendRecord(buf[:0], r)
		if !bytes.Equal(buf, MarshalRecord(r)) {
			t.Fatalf("AppendRecord into a reused buffer = %q, want %q", buf, MarshalRecord(r))
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

// TestRecordEncodingOfTheDefaultAccountIsVersion1 pins the bytes of a record
// without an owner to the encoding of the code before accounts (version 1,
// nothing after the index key), so that a vault of the default account stays
// readable by it and its records are read back as the default account's.
func TestRecordEncodingOfTheDefaultAccountIsVersion1(t *testing.T) {
	r := &Record{Format: FormatUUID, Storage: StoragePersistent, KeyVersion: 1, Ciphertext: []byte("ct"),
		Classifiers: []string{"pan"}, CreatedAt: time.Unix(1, 0), IndexKey: []byte("ik")}
	// Written by MarshalRecord of main at 012da5e.
	old := []byte("\x01\x04UUID\x0aPERSISTENT\x01\x02ct\x01\x03pan\x80\xa8\xd6\xb9\x07\x00\x02ik")
	if got := MarshalRecord(r); !bytes.Equal(got, old) {
		t.Fatalf("MarshalRecord = %q, want %q", got, old)
	}
	got, err := UnmarshalRecord("a", old)
	if err != nil || got.Owner != "" {
		t.Fatalf("UnmarshalRecord(version 1) = %+v, %v; want owner \"\"", got, err)
	}
	r.Owner = "acct_b"
	owned := MarshalRecord(r)
	if owned[0] != recordVersionOwned || !bytes.Equal(owned[1:len(old)], old[1:]) {
		t.Fatalf("an owned record = %q: want version 2, then the version 1 fields, then the owner", owned)
	}
	// Version 2 with an empty owner is not an encoding MarshalRecord writes.
	if _, err := UnmarshalRecord("a", append(append([]byte{2}, old[1:]...), 0)); err == nil {
		t.Fatal("version 2 with an empty owner decoded")
	}
}

func FuzzUnmarshalRecord(f *testing.F) {
	f.Add(MarshalRecord(&Record{Format: FormatPFPT, Storage: StorageVolatile, Ciphertext: []byte("x"), Classifiers: []string{"a"}, IndexKey: []byte("k"), Owner: "acct"}))
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

// TestUnmarshalRecordCopiesItsInput: a decoded record shares no memory
// with the bytes it was decoded from (bbolt's are valid only inside the
// transaction that read them), whether its format and storage are names
// the decoder knows (returned as constants) or not (copied).
func TestUnmarshalRecordCopiesItsInput(t *testing.T) {
	for _, r := range []*Record{
		{Format: FormatFPESixTFour, Storage: StoragePersistent, KeyVersion: 3, Ciphertext: []byte("ciphertext"),
			Classifiers: []string{"pan"}, CreatedAt: time.Unix(1, 0).UTC(), IndexKey: []byte("index-key"), Owner: "acct_a"},
		{Format: "SOMETHING_ELSE", Storage: "ELSEWHERE", Ciphertext: []byte("c"), CreatedAt: time.Unix(2, 0).UTC()},
	} {
		b := MarshalRecord(r)
		got, err := UnmarshalRecord("a", b)
		if err != nil {
			t.Fatal(err)
		}
		for i := range b {
			b[i] = 0xAA
		}
		if got.Format != r.Format || got.Storage != r.Storage || !bytes.Equal(got.Ciphertext, r.Ciphertext) ||
			!bytes.Equal(got.IndexKey, r.IndexKey) || got.Owner != r.Owner || len(got.Classifiers) != len(r.Classifiers) ||
			(len(r.Classifiers) > 0 && got.Classifiers[0] != r.Classifiers[0]) {
			t.Errorf("the decoded record changed with its input:\n got %+v\nwant %+v", got, r)
		}
	}
}

// TestUnmarshalRecordAllocations: a card number's record (a 16-digit
// value's ciphertext, an index key, a classifier) decodes in two
// allocations, and a CVC's (no classifier, no owner) in one.
func TestUnmarshalRecordAllocations(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    *Record
		max  float64
	}{
		{"card number", &Record{Format: FormatFPESixTFour, Storage: StoragePersistent, KeyVersion: 1, Ciphertext: make([]byte, 12+16+16),
			Classifiers: []string{"pan"}, CreatedAt: time.Unix(1700000000, 0), IndexKey: make([]byte, 32)}, 2},
		{"card number of an account", &Record{Format: FormatFPESixTFour, Storage: StoragePersistent, KeyVersion: 1, Ciphertext: make([]byte, 12+16+16),
			Classifiers: []string{"pan"}, CreatedAt: time.Unix(1700000000, 0), IndexKey: make([]byte, 32), Owner: "acct_a"}, 2},
		{"cvc", &Record{Format: FormatNumLengthPreserving, Storage: StorageVolatile, KeyVersion: 1, Ciphertext: make([]byte, 12+3+16),
			CreatedAt: time.Unix(1700000000, 0), ExpiresAt: time.Unix(1700003600, 0)}, 1},
	} {
		enc := MarshalRecord(tc.r)
		n := testing.AllocsPerRun(100, func() {
			if _, err := UnmarshalRecord("tok_live_abc", enc); err != nil {
				t.Fatal(err)
			}
		})
		if n > tc.max {
			t.Errorf("%s: %v allocations, want at most %v", tc.name, n, tc.max)
		}
	}
}

func BenchmarkUnmarshalRecord(b *testing.B) {
	enc := MarshalRecord(&Record{Format: FormatFPESixTFour, Storage: StoragePersistent, KeyVersion: 1, Ciphertext: make([]byte, 44),
		Classifiers: []string{"pan"}, CreatedAt: time.Unix(1700000000, 0), IndexKey: make([]byte, 32), Owner: "acct_a"})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := UnmarshalRecord("tok_live_abc", enc); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDecodedCiphertextAndIndexKeyAreApart: UnmarshalRecord copies the
// ciphertext and the index key into one allocation; appending to the
// ciphertext leaves the index key as it was, an empty ciphertext is empty but not nil and
// an empty index key is nil.
func TestDecodedCiphertextAndIndexKeyAreApart(t *testing.T) {
	for _, tc := range []struct {
		name           string
		ciphertext, ik []byte
	}{
		{"both", []byte("ciphertext"), []byte("index-key")},
		{"no index key", []byte("ciphertext"), nil},
		{"empty ciphertext", nil, []byte("index-key")},
		{"neither", nil, nil},
		{"larger than the box", bytes.Repeat([]byte("c"), 70), []byte("index-key-of-32-bytes-----------")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := UnmarshalRecord("a", MarshalRecord(&Record{Format: FormatUUID, Storage: StoragePersistent,
				Ciphertext: tc.ciphertext, IndexKey: tc.ik, CreatedAt: time.Unix(1, 0)}))
			if err != nil {
				t.Fatal(err)
			}
			if got.Ciphertext == nil || !bytes.Equal(got.Ciphertext, tc.ciphertext) {
				t.Fatalf("ciphertext %q (nil %v), want %q and not nil", got.Ciphertext, got.Ciphertext == nil, tc.ciphertext)
			}
			if (got.IndexKey == nil) != (len(tc.ik) == 0) || !bytes.Equal(got.IndexKey, tc.ik) {
				t.Fatalf("index key %q (nil %v), want %q", got.IndexKey, got.IndexKey == nil, tc.ik)
			}
			_ = append(got.Ciphertext, 'X') // within the capacity of one shared array, it would overwrite the key
			if !bytes.Equal(got.IndexKey, tc.ik) || !bytes.Equal(got.Ciphertext, tc.ciphertext) {
				t.Fatalf("after appending to the ciphertext: ciphertext %q, index key %q; want %q, %q", got.Ciphertext, got.IndexKey, tc.ciphertext, tc.ik)
			}
		})
	}
}

// TestParseStorage: a storage class is read whatever the case of its
// ASCII letters, and without an allocation (Redact parses one per value).
func TestParseStorage(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Storage
		ok   bool
	}{
		{"", StoragePersistent, true},
		{"PERSISTENT", StoragePersistent, true},
		{"persistent", StoragePersistent, true},
		{"VOLATILE", StorageVolatile, true},
		{"volatile", StorageVolatile, true},
		{"Volatile", StorageVolatile, true},
		{"volatil", "", false},
		{"volatile ", "", false},
		{"temporary", "", false},
		// Only ASCII letters change case: the Unicode spellings that
		// strings.ToUpper (dotless i) or strings.EqualFold (long s) map
		// to the names are refused.
		{"persiſtent", "", false},
		{"PERſISTENT", "", false},
		{"volatıle", "", false},
		{"VOLATİLE", "", false},
		{"VOLATILE\x00", "", false},
		{"VOLATILF", "", false},
		{"VOLATIL\xc5", "", false},
	} {
		got, err := ParseStorage(tc.in)
		if got != tc.want || (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrInvalidStorage)) {
			t.Errorf("ParseStorage(%q) = %q, %v; want %q, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = ParseStorage("volatile") }); n != 0 {
		t.Errorf("ParseStorage: %v allocations, want 0", n)
	}
}

// TestAppendRecordAllocatesNothing: a record appended to a buffer with room
// costs no allocation (the memory store encodes the CVC of every inbound
// request so): the ciphertext and the index key were each copied into a
// string first. The bytes are the same (TestRecordCodecRoundTrip, TestRecordEncodingOfTheDefaultAccountIsVersion1 and
// the stores' tests that compare them with MarshalRecord's).
func TestAppendRecordAllocatesNothing(t *testing.T) {
	r := &Record{Alias: "tok_x", Format: FormatUUID, Storage: StorageVolatile, KeyVersion: 3,
		Ciphertext: bytes.Repeat([]byte{7}, 40), IndexKey: bytes.Repeat([]byte{9}, 32),
		Classifiers: []string{"pan"}, CreatedAt: time.Unix(1, 2), ExpiresAt: time.Unix(3, 4), Owner: "acct"}
	buf := make([]byte, 0, 512)
	want := MarshalRecord(r)
	if got := AppendRecord(buf, r); !bytes.Equal(got, want) {
		t.Fatalf("AppendRecord = %x, want %x", got, want)
	}
	if n := testing.AllocsPerRun(100, func() { AppendRecord(buf, r) }); n != 0 {
		t.Errorf("AppendRecord: %v allocations, want 0", n)
	}
}
