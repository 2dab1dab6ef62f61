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
