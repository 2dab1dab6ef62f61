package rewrite

import (
	"context"
	"fmt"
	"sync"
)

// recordingTokenizer is a reversible tokenizer. The alias of v is "tok_"+v,
// or with numbered set "tok_<n>_" (n counting distinct values), an alias a
// pattern can find again in any text. Reveal answers only aliases it made
// ("" otherwise). It records every call.
type recordingTokenizer struct {
	mu       sync.Mutex
	numbered bool
	toAlias  map[string]string
	toValue  map[string]string
	redacts  [][]RedactItem
	reveals  [][]string
}

func newRecordingTokenizer(numbered bool) *recordingTokenizer {
	return &recordingTokenizer{numbered: numbered, toAlias: map[string]string{}, toValue: map[string]string{}}
}

func (f *recordingTokenizer) Redact(_ context.Context, items []RedactItem) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.redacts = append(f.redacts, items)
	out := make([]string, len(items))
	for i, it := range items {
		a, ok := f.toAlias[it.Value]
		if !ok {
			a = "tok_" + it.Value
			if f.numbered {
				a = fmt.Sprintf("tok_%d_", len(f.toAlias)+1)
			}
			f.toAlias[it.Value] = a
			f.toValue[a] = it.Value
		}
		out[i] = a
	}
	return out, nil
}

func (f *recordingTokenizer) Reveal(_ context.Context, aliases []string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reveals = append(f.reveals, aliases)
	out := make([]string, len(aliases))
	for i, a := range aliases {
		out[i] = f.toValue[a]
	}
	return out, nil
}
