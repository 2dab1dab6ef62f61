package proxy

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// prevBareMediaType is bareMediaType as it was before its byte table
// (notBareByte): the oracle of TestBareMediaTypeSameAsPrevious and
// FuzzParseMediaType.
func prevBareMediaType(ct string) bool {
	slash := -1
	for i := 0; i < len(ct); i++ {
		switch c := ct[i]; {
		case c == '/' && slash < 0 && i > 0 && i < len(ct)-1:
			slash = i
		case c <= ' ' || c >= 0x7f || ('A' <= c && c <= 'Z') || strings.IndexByte(`()<>@,;:\"/[]?=`, c) >= 0:
			return false
		}
	}
	return true
}

// TestBareMediaTypeSameAsPrevious: the byte table answers as the tests it
// replaced for each of the 256 bytes alone, as the first, middle and last
// byte of a type and of a subtype, next to a second '/', and in random
// strings of the bytes that matter.
func TestBareMediaTypeSameAsPrevious(t *testing.T) {
	var cts []string
	bare := 0
	for c := range 256 {
		b := string([]byte{byte(c)})
		cts = append(cts, b, b+"/x", "x/"+b, "a"+b+"b/json", "application/js"+b+"on", "text/"+b+"/x",
			"/"+b, b+"/", b+"/"+b, "a/b"+b, b+"a/b")
	}
	rng := rand.New(rand.NewPCG(5, 6))
	const alphabet = "ajsonAZ/+-.;= \t\x00\x7f\x80\xff\"()<>@,:\\[]?{}"
	for range 20000 {
		b := make([]byte, rng.IntN(24))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		cts = append(cts, string(b))
	}
	for _, ct := range cts {
		got, want := bareMediaType(ct), prevBareMediaType(ct)
		if got != want {
			t.Fatalf("bareMediaType(%q) = %v, before %v", ct, got, want)
		}
		if got {
			bare++
		}
	}
	if bare < 500 || len(cts)-bare < 500 {
		t.Fatalf("%d bare media types of %d", bare, len(cts))
	}
}
