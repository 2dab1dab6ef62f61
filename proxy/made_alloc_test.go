package proxy

import (
	"context"
	"slices"
	"testing"

	"github.com/aliasgate/aliasgate/routes"
	"github.com/aliasgate/aliasgate/routes/rewrite"
)

// answerTokenizer answers each Redact with a new slice of its aliases, with
// room to spare past them.
type answerTokenizer struct{ aliases []string }

func (a answerTokenizer) Redact(_ context.Context, items []rewrite.RedactItem) ([]string, error) {
	out := make([]string, len(items), len(items)+4)
	copy(out, a.aliases)
	return out, nil
}

func (a answerTokenizer) Reveal(_ context.Context, aliases []string) ([]string, error) {
	return aliases, nil
}

// TestTimedRedactNotesWhatItMade: the aliases an exchange's redactions
// made (reqState.made, what the leak guard lets through) are every call's,
// in order; the first call's answer is kept as it is rather than copied
// (one allocation a request), and a later call's append does not write
// into the spare room of that answer, which its caller holds.
func TestTimedRedactNotesWhatItMade(t *testing.T) {
	sc := &stateCtx{Context: context.Background(), st: reqState{route: &routes.Route{ID: "r"}}}
	tt := timedTokenizer{answerTokenizer{aliases: []string{"tok_a", "tok_b"}}}
	first, err := tt.Redact(sc, []rewrite.RedactItem{{Value: "x"}, {Value: "y"}})
	if err != nil {
		t.Fatal(err)
	}
	spare := first[:cap(first)]
	if _, err := tt.Redact(sc, []rewrite.RedactItem{{Value: "z"}}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"tok_a", "tok_b", "tok_a"}; !slices.Equal(sc.st.made, want) {
		t.Fatalf("made = %q, want %q", sc.st.made, want)
	}
	if spare[2] != "" {
		t.Fatalf("the second call wrote %q into the first answer's spare room", spare[2])
	}
	items := []rewrite.RedactItem{{Value: "x"}}
	n := testing.AllocsPerRun(50, func() {
		sc.st.made = nil
		if _, err := tt.Redact(sc, items); err != nil {
			t.Fatal(err)
		}
	})
	if n > 1 { // the tokenizer's answer
		t.Errorf("Redact: %v allocations, want 1 (the answer)", n)
	}
}
