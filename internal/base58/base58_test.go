package base58

import (
	"bytes"
	"crypto/rand"
	"testing"
)

func TestEncodeKnownVectors(t *testing.T) {
	tests := []struct {
		in   []byte
		want string
	}{
		{nil, ""},
		{[]byte{0}, "1"},
		{[]byte{0, 0, 1}, "112"},
		{[]byte("hello world"), "StV1DL6CwTryKyV"},
		{[]byte{0xff}, "5Q"},
	}
	for _, tt := range tests {
		if got := Encode(tt.in); got != tt.want {
			t.Errorf("Encode(%x) = %q, want %q", tt.in, got, tt.want)
		}
		back, err := Decode(tt.want)
		if err != nil || !bytes.Equal(back, tt.in) && !(len(back) == 0 && len(tt.in) == 0) {
			t.Errorf("Decode(%q) = %x, %v; want %x", tt.want, back, err, tt.in)
		}
	}
}

func TestEncodeFixedPadsTo22For128Bits(t *testing.T) {
	for i := 0; i < 2000; i++ {
		b := make([]byte, 16)
		rand.Read(b)
		if i%10 == 0 {
			b[0] = 0 // exercise leading zeros
		}
		s := EncodeFixed(b, 22)
		if len(s) != 22 || !Valid(s) {
			t.Fatalf("EncodeFixed(%x) = %q (len %d)", b, s, len(s))
		}
		back, err := Decode(s)
		if err != nil {
			t.Fatal(err)
		}
		// padding adds zero bytes in front; the value is the same.
		if !bytes.Equal(bytes.TrimLeft(back, "\x00"), bytes.TrimLeft(b, "\x00")) {
			t.Fatalf("round trip of %x gave %x", b, back)
		}
	}
}

// TestAppendFixedAppendsEncodeFixed: AppendFixed writes after what the
// buffer holds exactly what EncodeFixed returns (which round-trips through
// Decode), for inputs on both sides of its 64-byte stack buffer, and
// appends a 128-bit body to a buffer with room without allocating.
func TestAppendFixedAppendsEncodeFixed(t *testing.T) {
	for _, n := range []int{0, 1, 16, 32, 63, 64, 65, 100} {
		for _, zeros := range []int{0, 2} {
			b := make([]byte, n)
			rand.Read(b)
			for i := 0; i < zeros && i < n; i++ {
				b[i] = 0
			}
			for _, width := range []int{0, 22, 200} {
				got := AppendFixed([]byte("tok_"), b, width)
				want := "tok_" + EncodeFixed(b, width)
				if string(got) != want {
					t.Fatalf("AppendFixed(%x, %d) = %q, want %q", b, width, got, want)
				}
				back, err := Decode(want[4:])
				if err != nil || !bytes.Equal(bytes.TrimLeft(back, "\x00"), bytes.TrimLeft(b, "\x00")) {
					t.Fatalf("EncodeFixed(%x, %d) = %q decodes to %x, %v", b, width, want[4:], back, err)
				}
			}
		}
	}
	b, dst := make([]byte, 16), make([]byte, 0, 64)
	rand.Read(b)
	if n := testing.AllocsPerRun(100, func() { dst = AppendFixed(dst[:0], b, 22) }); n != 0 {
		t.Fatalf("AppendFixed of 16 bytes into a buffer with room: %v allocations", n)
	}
}

func TestDecodeRejectsCharactersOutsideAlphabet(t *testing.T) {
	for _, s := range []string{"0", "O", "I", "l", "ab+c", "é"} {
		if _, err := Decode(s); err == nil {
			t.Errorf("Decode(%q) succeeded", s)
		}
		if Valid(s) {
			t.Errorf("Valid(%q) = true", s)
		}
	}
}

func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte{0, 1, 2})
	f.Add([]byte("hello"))
	f.Fuzz(func(t *testing.T, b []byte) {
		back, err := Decode(Encode(b))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(back, b) && !(len(b) == 0 && len(back) == 0) {
			t.Fatalf("round trip %x → %x", b, back)
		}
	})
}

// appendFixedReference is the byte-by-byte conversion AppendFixed used
// before it divided by 58^5: the reference of the differential tests.
func appendFixedReference(dst, b []byte, width int) []byte {
	zeros := 0
	for zeros < len(b) && b[zeros] == 0 {
		zeros++
	}
	size := (len(b)-zeros)*138/100 + 1
	digits := make([]byte, size)
	high := size - 1
	for _, c := range b[zeros:] {
		carry := int(c)
		j := size - 1
		for ; j > high || carry != 0; j-- {
			carry += 256 * int(digits[j])
			digits[j] = byte(carry % 58)
			carry /= 58
		}
		high = j
	}
	i := 0
	for i < size && digits[i] == 0 {
		i++
	}
	for n := zeros + size - i; n < width; n++ {
		dst = append(dst, '1')
	}
	for range zeros {
		dst = append(dst, '1')
	}
	for ; i < size; i++ {
		dst = append(dst, Alphabet[digits[i]])
	}
	return dst
}

// TestAppendFixedMatchesReference compares AppendFixed with the byte-by-byte
// conversion for every length 0..130 (on both sides of the stack buffers
// and of each limb edge), with random bytes, leading zeros, all-0xff and
// single set bits, at widths below and above the text's length.
func TestAppendFixedMatchesReference(t *testing.T) {
	check := func(b []byte) {
		t.Helper()
		for _, width := range []int{0, 1, 22, 200} {
			got, want := AppendFixed([]byte("x_"), b, width), appendFixedReference([]byte("x_"), b, width)
			if !bytes.Equal(got, want) {
				t.Fatalf("AppendFixed(%x, %d) = %q, want %q", b, width, got, want)
			}
		}
	}
	for n := 0; n <= 130; n++ {
		for rep := 0; rep < 20; rep++ {
			b := make([]byte, n)
			rand.Read(b)
			for i := 0; i < rep%6 && i < n; i++ {
				b[i] = 0
			}
			check(b)
		}
		ff := bytes.Repeat([]byte{0xff}, n)
		check(ff)
		for bit := 0; bit < 8*n; bit += 7 {
			b := make([]byte, n)
			b[bit/8] = 1 << (bit % 8)
			check(b)
		}
	}
}

// FuzzAppendFixed compares AppendFixed with the byte-by-byte conversion it
// replaced, and checks that its text decodes to the same value.
func FuzzAppendFixed(f *testing.F) {
	f.Add([]byte{}, 0)
	f.Add([]byte{0, 0, 1}, 22)
	f.Add(bytes.Repeat([]byte{0xff}, 65), 3)
	f.Fuzz(func(t *testing.T, b []byte, width int) {
		// Both conversions take time quadratic in the length: ids and
		// alias bodies are at most 64 bytes, so longer inputs only stall
		// the fuzzer.
		if len(b) > 160 {
			b = b[:160]
		}
		width %= 300
		got, want := AppendFixed(nil, b, width), appendFixedReference(nil, b, width)
		if !bytes.Equal(got, want) {
			t.Fatalf("AppendFixed(%x, %d) = %q, want %q", b, width, got, want)
		}
		back, err := Decode(string(got))
		if err != nil || !bytes.Equal(bytes.TrimLeft(back, "\x00"), bytes.TrimLeft(b, "\x00")) {
			t.Fatalf("%q decodes to %x, %v; want the value of %x", got, back, err, b)
		}
	})
}

func BenchmarkAppendFixed16(b *testing.B) {
	in, dst := make([]byte, 16), make([]byte, 0, 32)
	rand.Read(in)
	for b.Loop() {
		dst = AppendFixed(dst[:0], in, 22)
	}
}

func BenchmarkAppendFixed16Reference(b *testing.B) {
	in, dst := make([]byte, 16), make([]byte, 0, 32)
	rand.Read(in)
	for b.Loop() {
		dst = appendFixedReference(dst[:0], in, 22)
	}
}
