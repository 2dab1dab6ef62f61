package vaultapi_test

import (
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/vault"
)

// zeroReader is a source of randomness that draws the same alias every
// time: the second value of a short format finds its alias taken at every
// draw, as it does once a format's few aliases are all used
// (NUM_LENGTH_PRESERVING of a 4-digit value has 9,000, shared by every
// account).
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestExhaustedAliasSpaceIsAConflict: when no free alias of the requested
// format is left for a value, the create answers 409 alias_space_exhausted
// (a longer format is the way out), not 500 internal_error, which told the
// client the gateway had failed.
func TestExhaustedAliasSpaceIsAConflict(t *testing.T) {
	e, _ := setupBoltWith(t, vault.Options{Rand: zeroReader{}})
	if recs := e.create(t, `{"data":[{"value":"1234","format":"NUM_LENGTH_PRESERVING"}]}`); len(recs) != 1 {
		t.Fatalf("first create: %+v", recs)
	}
	r := e.do(t, "POST", "/aliases", e.writer, "application/json", `{"data":[{"value":"5678","format":"NUM_LENGTH_PRESERVING"}]}`)
	if r.status != 409 || !strings.Contains(string(r.body), `"alias_space_exhausted"`) {
		t.Fatalf("create with no free alias: %d %s", r.status, r.body)
	}
	if strings.Contains(string(r.body), "5678") {
		t.Fatalf("the answer echoes the value: %s", r.body)
	}
}
