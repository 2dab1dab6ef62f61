package pan

import (
	"math/rand/v2"
	"reflect"
	"testing"
)

// numbersAfterRun as it was before its quick return for a point it reads
// nothing at (pointOnly), which skipQuiet's chain loop and run now test
// before they call it: the oracle of TestNumbersAfterRunSameAsBefore and
// FuzzNumbersAfterRunAgainstBefore. Copied from the commit before the
// change; only the name differs.

// numbersAfterRunBefore reads the stops after a run of ASCII digits that ends
// at s[j] ('.', 'e' or 'E': numberByte), unless read already (j < ns.pos):
// s[j], and s[j+1] when s[j] is a '.' ("4111111111111111.e0"), read with
// it even past the end of the bytes a caller reads (numbersTo's end), so
// that the next reading, which starts there, need not look back. These are
// the stops that may find something: FindAll's hooks in Find's reading
// call it after each run of digits that reading meets, and numbersIn reads
// the escapes and UTF-8 characters it reads as units, in which a run may
// end unseen.
func numbersAfterRunBefore[T text](ns *numScan, s T, j int) {
	if j < ns.pos {
		return
	}
	if s[j] != '.' || !shortWhole(s, j) {
		numberStop(ns, s, j)
	}
	ns.pos = j + 1
	if s[j] == '.' && j+1 < len(s) && s[j+1]|0x20 == 'e' {
		numberStop(ns, s, j+1)
		ns.pos = j + 2
	}
}

// numbersAfterRunSameAsBefore fails t when numbersAfterRun, or a caller's
// pointOnly test before it (skipQuiet, run), leaves a numScan otherwise
// than numbersAfterRunBefore from the bytes of b that end a run of digits
// ('.', 'e', 'E': every place the callers call it) and from every other
// byte, with nothing read yet, read up to that byte, up to the next, and
// at two places between.
func numbersAfterRunSameAsBefore(t testing.TB, b []byte) {
	t.Helper()
	for j := range b {
		for _, pos := range []int{0, j / 2, j, j + 1, j + 2} {
			want := numScan{esc: -1, pos: pos}
			numbersAfterRunBefore(&want, b, j)
			got := numScan{esc: -1, pos: pos}
			numbersAfterRun(&got, b, j)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("numbersAfterRun(%q, %d) from %d = %+v; before %+v", b, j, pos, got, want)
			}
			caller := numScan{esc: -1, pos: pos}
			if pointOnly(&caller, b, j) {
				caller.pos = j + 1
			} else {
				numbersAfterRun(&caller, b, j)
			}
			if !reflect.DeepEqual(caller, want) {
				t.Fatalf("pointOnly or numbersAfterRun(%q, %d) from %d = %+v; before %+v", b, j, pos, caller, want)
			}
		}
	}
}

// TestNumbersAfterRunSameAsBefore: numbersAfterRun and its callers'
// pointOnly test read the texts of the FindAll differential test (one in
// twenty), spelled numbers and fractions, and amounts and addresses as
// before.
func TestNumbersAfterRunSameAsBefore(t *testing.T) {
	texts := spelledNumberTexts(rand.New(rand.NewPCG(173, 179)), 3000)
	for i, s := range findAllTexts(rand.New(rand.NewPCG(181, 191))) {
		if i%20 == 0 {
			texts = append(texts, s)
		}
	}
	texts = append(texts, "12.99", "203.0.113.7", "5.0", "123456789012.5", "1234567890123.4", "4111111111111110.9",
		"411111111111.e5", "12.e5", "12.E", "1.", ".5", "12..5", "4111111111111111000e-3", "4.1111111111111115e15")
	for _, s := range texts {
		numbersAfterRunSameAsBefore(t, []byte(s))
	}
	t.Logf("%d texts", len(texts))
}

// FuzzNumbersAfterRunAgainstBefore is TestNumbersAfterRunSameAsBefore on
// what the fuzzer makes.
func FuzzNumbersAfterRunAgainstBefore(f *testing.F) {
	for _, s := range spelledNumberTexts(rand.New(rand.NewPCG(193, 197)), 300) {
		f.Add([]byte(s))
	}
	f.Add([]byte("203.0.113.7"))
	f.Add([]byte("4111111111111110.9e0"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 1<<10 {
			return
		}
		numbersAfterRunSameAsBefore(t, b)
	})
}
