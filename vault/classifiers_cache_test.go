package vault

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
)

// checkAccepted checks one list through a, against checkClassifiers: the
// same classifiers in the same order and the same error; a remembered list
// (shared) is never the input, and its copy (ownClassifiers, what a new
// record gets) and an answer not shared are slices of the same length and
// capacity that share nothing with the input or with the lists a
// remembers.
func checkAccepted(t *testing.T, a *acceptedClassifiers, in []string) {
	t.Helper()
	want, werr := checkClassifiers(in)
	got, shared, gerr := a.check(in)
	if shared {
		if gerr != nil || !slices.Equal(got, want) {
			t.Fatalf("%q: remembered %q (%v), want %q (%v)", in, got, gerr, want, werr)
		}
		if len(in) > 0 && &got[0] == &in[0] {
			t.Fatalf("%q: the remembered list is the input", in)
		}
		got = ownClassifiers(got)
	}
	if (werr == nil) != (gerr == nil) || werr != nil && (werr.Error() != gerr.Error() || !errors.Is(gerr, ErrInvalidClassifier)) {
		t.Fatalf("%q: error %v, want %v", in, gerr, werr)
	}
	if werr != nil {
		if got != nil {
			t.Fatalf("%q: %q with the error", in, got)
		}
		return
	}
	if !slices.Equal(got, want) || len(got) != len(want) || cap(got) != cap(want) || got == nil {
		t.Fatalf("%q: got %q (cap %d), want %q (cap %d)", in, got, cap(got), want, cap(want))
	}
	if len(got) > 0 {
		got[0] = "changed"
		for i := range a.lists {
			if l := a.lists[i].Load(); l != nil && slices.Contains(*l, "changed") {
				t.Fatalf("%q: the answer shares the list remembered", in)
			}
		}
		if len(in) > 0 && in[0] == "changed" {
			t.Fatalf("%q: the answer shares the input", in)
		}
	}
}

// classifierLists are lists that checkClassifiers accepts, accepts with
// duplicates dropped, or refuses (control characters, card numbers in
// several spellings, too long, too many).
var classifierLists = [][]string{
	nil, {}, {"pan"}, {"pan", "cvc"}, {"cvc", "pan"}, {"pan", "pan"}, {"a", "b", "a"},
	{"pci", "tier 1", "ñandú"}, {"bad\x00"}, {"4111111111111111"}, {"4111 1111 1111 1111"},
	{"card_4111_1111_1111_1111"}, {""}, {strings.Repeat("x", maxClassifierLen)},
	{strings.Repeat("x", maxClassifierLen+1)}, {"ok", "\u200b"}, {"\xff"},
	slices.Repeat([]string{"x"}, maxClassifiers+1), {"a", "b", "c", "d", "e"},
}

// TestAcceptedClassifiersAgainstCheck: whatever the lists asked before
// (remembered, replaced, asked again in another order), every answer is
// checkClassifiers's.
func TestAcceptedClassifiersAgainstCheck(t *testing.T) {
	var a acceptedClassifiers
	for round := range 3 {
		for i := range classifierLists {
			checkAccepted(t, &a, classifierLists[(i*(round+1))%len(classifierLists)])
			checkAccepted(t, &a, slices.Clone(classifierLists[i]))
		}
	}
	// A list one element off a remembered one is checked again.
	checkAccepted(t, &a, []string{"pan"})
	checkAccepted(t, &a, []string{"pan", "4111111111111111"})
	checkAccepted(t, &a, []string{"4111111111111111"})
}

// TestAcceptedClassifiersConcurrent: lists asked from many goroutines at
// once, replacing one another's slots, get checkClassifiers's answers.
func TestAcceptedClassifiersConcurrent(t *testing.T) {
	var a acceptedClassifiers
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				checkAccepted(t, &a, slices.Clone(classifierLists[(g+i)%len(classifierLists)]))
			}
		}()
	}
	wg.Wait()
}

// FuzzAcceptedClassifiersAgainstCheck: the remembered lists answer as
// checkClassifiers does, for lists made of fuzzed classifiers asked in
// turn (so that equal and near-equal lists meet remembered ones).
func FuzzAcceptedClassifiersAgainstCheck(f *testing.F) {
	f.Add("pan", "cvc", uint8(3))
	f.Add("4111111111111111", "pan", uint8(1))
	f.Add("tier 1", "\x00", uint8(7))
	f.Fuzz(func(t *testing.T, c1, c2 string, order uint8) {
		var a acceptedClassifiers
		lists := [][]string{{c1}, {c2}, {c1, c2}, {c2, c1}, {c1, c1}, {c1, "pan"}, {"pan"}, nil}
		for i := range 3 * len(lists) {
			checkAccepted(t, &a, slices.Clone(lists[(i*int(order|1))%len(lists)]))
		}
	})
}
