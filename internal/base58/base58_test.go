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
