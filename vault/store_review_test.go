package vault

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"
)

// unmarshalRecordReference is UnmarshalRecord as it was before it decoded
// into a recordBox (a string and an append per classifier, one buffer for
// the ciphertext and index key): the reference the box decoder must agree
// with on every input.
func unmarshalRecordReference(alias string, b []byte) (*Record, error) {
	d := decoder{b: b}
	v := d.byte()
	if v != recordVersion && v != recordVersionOwned {
		return nil, fmt.Errorf("vault: record version %d is not supported", v)
	}
	r := &Record{Alias: alias}
	r.Format = formatOf(d.raw())
	r.Storage = storageOf(d.raw())
	r.KeyVersion = uint32(d.uvarint())
	ciphertext := d.raw()
	n := d.uvarint()
	if n > 1024 {
		d.err = errCorrupt
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		r.Classifiers = append(r.Classifiers, string(d.raw()))
	}
	r.CreatedAt = time.Unix(0, d.varint()).UTC()
	if exp := d.varint(); exp != 0 {
		r.ExpiresAt = time.Unix(0, exp).UTC()
	}
	indexKey := d.raw()
	if v == recordVersionOwned {
		if r.Owner = string(d.raw()); r.Owner == "" && d.err == nil {
			d.err = errCorrupt
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = errCorrupt
	}
	if d.err != nil {
		return nil, fmt.Errorf("vault: decode record: %w", d.err)
	}
	buf := make([]byte, len(ciphertext)+len(indexKey))
	r.Ciphertext = buf[:copy(buf, ciphertext):len(ciphertext)]
	if len(indexKey) != 0 {
		r.IndexKey = buf[len(ciphertext):]
		copy(r.IndexKey, indexKey)
	}
	return r, nil
}

// checkDecodeAgainstReference fails t unless UnmarshalRecord and the
// reference decoder agree on b (both refuse it, or both give equal
// records), the record keeps its fields when b is overwritten afterwards,
// and none of its slices can grow into another's bytes.
func checkDecodeAgainstReference(t *testing.T, b []byte) {
	t.Helper()
	want, werr := unmarshalRecordReference("a", b)
	in := bytes.Clone(b)
	got, err := UnmarshalRecord("a", in)
	if (err == nil) != (werr == nil) {
		t.Fatalf("UnmarshalRecord(%x): error %v, the reference's %v", b, err, werr)
	}
	if err != nil {
		if !errors.Is(err, errCorrupt) && werr.Error() != err.Error() {
			t.Fatalf("UnmarshalRecord(%x): error %q, the reference's %q", b, err, werr)
		}
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("UnmarshalRecord(%x):\n got %+v\nwant %+v", b, got, want)
	}
	for i := range in {
		in[i] = 0xAA
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("UnmarshalRecord(%x): the record changed with its input:\n got %+v\nwant %+v", b, got, want)
	}
	if cap(got.Ciphertext) != len(got.Ciphertext) || cap(got.IndexKey) != len(got.IndexKey) || cap(got.Classifiers) != len(got.Classifiers) {
		t.Fatalf("UnmarshalRecord(%x): capacities %d/%d, %d/%d, %d/%d: a slice may grow into another", b,
			len(got.Ciphertext), cap(got.Ciphertext), len(got.IndexKey), cap(got.IndexKey), len(got.Classifiers), cap(got.Classifiers))
	}
}

// TestUnmarshalRecordAgreesWithTheReference: the box decoder gives the
// records the previous decoder gave and refuses what it refused: a
// ciphertext and index key that fill the box's 80 bytes exactly, one byte
// past, each alone, classifier counts of 0, 1 (the box's), 2 and 1024,
// 1025, a count larger than the bytes left, an owner alone, fields cut at
// every byte, and records with a byte appended.
func TestUnmarshalRecordAgreesWithTheReference(t *testing.T) {
	box := len(recordBox{}.b)
	var recs []*Record
	for _, sizes := range [][2]int{{box - 32, 32}, {box - 31, 32}, {box, 0}, {box + 1, 0}, {0, box}, {0, box + 1}, {44, 32}, {0, 0}, {1, 0}} {
		for _, cls := range [][]string{nil, {"pan"}, {""}, {"pan", "visa"}, {"a", "", "b"}} {
			for _, owner := range []string{"", "acct_a"} {
				recs = append(recs, &Record{Format: FormatFPESixTFour, Storage: StoragePersistent, KeyVersion: 7,
					Ciphertext: bytes.Repeat([]byte{0xC1}, sizes[0]), IndexKey: bytes.Repeat([]byte{0x1D}, sizes[1]),
					Classifiers: cls, CreatedAt: time.Unix(1700000000, 5).UTC(), ExpiresAt: time.Unix(1700003600, 0).UTC(), Owner: owner})
			}
		}
	}
	many := make([]string, 1024)
	for i := range many {
		many[i] = fmt.Sprint(i)
	}
	recs = append(recs, &Record{Format: "ELSE", Storage: "ELSEWHERE", Ciphertext: []byte("c"), Classifiers: many, Owner: "o"},
		&Record{Format: FormatUUID, Storage: StorageVolatile, Ciphertext: []byte("c"), Classifiers: append(many, "one more")})
	for _, r := range recs {
		enc := MarshalRecord(r)
		for i := 0; i <= len(enc); i++ {
			checkDecodeAgainstReference(t, enc[:i])
		}
		checkDecodeAgainstReference(t, append(bytes.Clone(enc), 0))
	}
	// A classifier count larger than the bytes that follow, and one that
	// does not fit in 64 bits.
	head := []byte{recordVersionOwned}
	head = appendString(head, string(FormatUUID))
	head = appendString(head, string(StoragePersistent))
	head = binary.AppendUvarint(head, 1)
	head = appendString(head, "ct")
	for _, n := range []uint64{2, 3, 1024, 1 << 40} {
		b := binary.AppendUvarint(bytes.Clone(head), n)
		b = appendString(b, "x")
		checkDecodeAgainstReference(t, b)
	}
	checkDecodeAgainstReference(t, append(bytes.Clone(head), 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01))
}

// FuzzUnmarshalRecordReference: on any input, the box decoder agrees with
// the reference decoder (checkDecodeAgainstReference).
func FuzzUnmarshalRecordReference(f *testing.F) {
	f.Add(MarshalRecord(&Record{Format: FormatPFPT, Storage: StorageVolatile, Ciphertext: []byte("x"), Classifiers: []string{"a"}, IndexKey: []byte("k"), Owner: "acct"}))
	f.Add(MarshalRecord(&Record{Format: FormatFPESixTFour, Storage: StoragePersistent, Ciphertext: make([]byte, 48), Classifiers: []string{"a", "b"}, IndexKey: make([]byte, 32)}))
	f.Add([]byte{1, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) { checkDecodeAgainstReference(t, b) })
}
