package pan

import (
	"encoding/base64"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestFindBase64String(t *testing.T) {
	const card = "4111111111111111"
	js := `{"card":"` + card + `"}`
	mixed := `{"card":"` + card + `","exp":"12/30","n":"???>>>"}`
	if std := base64.StdEncoding.EncodeToString([]byte(mixed)); !strings.ContainsAny(std, "+/") {
		t.Fatalf("%s: no '+' or '/' to mix", std)
	}
	for _, tc := range []struct {
		name, s string
		found   bool
	}{
		{"standard, padded", base64.StdEncoding.EncodeToString([]byte(js)), true},
		{"URL, unpadded", base64.RawURLEncoding.EncodeToString([]byte(js)), true},
		{"the number alone", base64.StdEncoding.EncodeToString([]byte(card)), true},
		{"grouped", base64.StdEncoding.EncodeToString([]byte("4111 1111 1111 1111")), true},
		{"exponent notation", base64.StdEncoding.EncodeToString([]byte(`{"n":4111111111111111000e-3}`)), true},
		{"after one letter", "v" + base64.StdEncoding.EncodeToString([]byte(js)), true},
		{"after two letters", "v1" + base64.StdEncoding.EncodeToString([]byte(js)), true},
		{"after three letters", "v12" + base64.RawURLEncoding.EncodeToString([]byte(js)), true},
		{"in a cookie", "s=" + base64.RawURLEncoding.EncodeToString([]byte(js)) + "; Path=/", true},
		{"a JWT's payload", "eyJhbGciOiJIUzI1NiJ9." + base64.RawURLEncoding.EncodeToString([]byte(js)) + ".sig", true},
		// Text of the other alphabet in the run (the standard encoding of
		// mixed holds '/' and '+'): it was not decoded at all.
		{"standard after an underscore", "user_" + base64.StdEncoding.EncodeToString([]byte(mixed)), true},
		{"standard after a hyphen", "s-" + base64.StdEncoding.EncodeToString([]byte(mixed)), true},
		{"standard, then -- and a digest", base64.RawStdEncoding.EncodeToString([]byte(mixed)) + "--0a1b2c3d4e5f60718293", true},
		{"URL, then a slash", base64.RawURLEncoding.EncodeToString([]byte(mixed)) + "/x", true},
		{"nested twice", base64.StdEncoding.EncodeToString([]byte(base64.StdEncoding.EncodeToString([]byte(js)))), false},
		{"no card number", base64.StdEncoding.EncodeToString([]byte(`{"card":"4111111111111112"}`)), false},
		{"too short a run", base64.StdEncoding.EncodeToString([]byte("4111111111111111"))[:17], false},
		{"plain text", "4111111111111111 is not base64 here", false},
	} {
		got := FindBase64String(tc.s)
		if slices.Contains(got, card) != tc.found {
			t.Errorf("%s: %q", tc.name, got)
		}
	}
}

// FuzzFindBase64 checks that FindBase64String returns only card numbers,
// and finds a card number that base64 text holds, whatever text comes
// before it in the run and around it in the encoded text.
func FuzzFindBase64(f *testing.F) {
	f.Add("", "", "", false)
	f.Add("v1", `{"card":"`, `"}`, true)
	f.Add("session=", "a", "b", false)
	f.Fuzz(func(t *testing.T, before, pre, post string, url bool) {
		for _, d := range FindBase64String(before + pre + post) {
			if len(d) < MinLen || len(d) > MaxLen || !Valid(d) {
				t.Fatalf("returned %q, not a card number", d)
			}
		}
		const card = "4111111111111111"
		enc := base64.StdEncoding
		if url {
			enc = base64.URLEncoding
		}
		// The number stands alone in the encoded text (a breaker on each
		// side), which ends with its padding or a character no run holds.
		s := before + enc.EncodeToString([]byte(pre+"\n"+card+"\n"+post)) + ";"
		if len(before) > 0 && base64Char(before[len(before)-1]) && strings.ContainsAny(before, "=") {
			return // a run the encoding does not start
		}
		if !slices.Contains(FindBase64String(s), card) {
			t.Fatalf("%q: the card number not found", s)
		}
	})
}

// prevFindBase64String is FindBase64String as it was before its table and
// its length test (base64Char a call per byte): the oracle of
// TestFindBase64StringSameAsPrevious.
func prevFindBase64String(s string) []string {
	var out []string
	for i := 0; i < len(s); {
		if !base64Char(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && base64Char(s[j]) {
			j++
		}
		if j-i >= minBase64Run {
			out = findInBase64(out, s[i:j])
		}
		i = j
	}
	return out
}

// TestFindBase64StringSameAsPrevious: the table is base64Char at every byte,
// and FindBase64String answers texts of every length around minBase64Run,
// base64 of card numbers cut anywhere among every byte value, as before.
func TestFindBase64StringSameAsPrevious(t *testing.T) {
	for c := range 256 {
		if isBase64[c] != base64Char(byte(c)) {
			t.Fatalf("isBase64[%#x] = %v, base64Char %v", c, isBase64[c], base64Char(byte(c)))
		}
	}
	rng := rand.New(rand.NewPCG(5, 6))
	enc := base64.StdEncoding.EncodeToString([]byte(`{"card":"4111111111111111"}`))
	texts := []string{"", enc, base64.RawURLEncoding.EncodeToString([]byte("4111111111111111"))}
	for n := 0; n <= len(enc); n++ {
		texts = append(texts, enc[:n], enc[n:], enc[:n]+";"+enc[n:])
	}
	var all strings.Builder
	for c := range 256 {
		all.WriteByte(byte(c))
	}
	texts = appendRandomTexts(texts, rng, 4000, 60, enc+all.String())
	for _, junk := range appendRandomTexts(nil, rng, 2000, 8, all.String()+"-_+/=") {
		k := rng.IntN(len(junk) + 1)
		texts = append(texts, junk[:k]+enc+junk[k:], junk+enc[rng.IntN(4):])
	}
	found := 0
	for _, s := range texts {
		got, want := FindBase64String(s), prevFindBase64String(s)
		if !slices.Equal(got, want) {
			t.Fatalf("FindBase64String(%q) = %q, before %q", s, got, want)
		}
		if len(got) > 0 {
			found++
		}
	}
	if found < 10 {
		t.Fatalf("only %d texts hold a card number", found)
	}
}
