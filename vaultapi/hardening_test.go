package vaultapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aliasgate/aliasgate/internal/obs/obstest"
	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vaultapi"
)

// switchable fails every call with err while it is set: a full disk
// (vault.ErrUnavailable from a write) or a busy vault (vault.ErrBusy).
type switchable struct {
	vaultapi.Vault
	err atomic.Pointer[error]
}

func (s *switchable) failing() error {
	if p := s.err.Load(); p != nil {
		return *p
	}
	return nil
}

func (s *switchable) Redact(ctx context.Context, reqs []vault.RedactRequest) ([]vault.Token, error) {
	if err := s.failing(); err != nil {
		return nil, err
	}
	return s.Vault.Redact(ctx, reqs)
}

func (s *switchable) Describe(ctx context.Context, aliases []string) ([]vault.Entry, error) {
	if err := s.failing(); err != nil {
		return nil, err
	}
	return s.Vault.Describe(ctx, aliases)
}

// TestUnavailableVaultIs503AndLosesNothing: a vault whose store cannot
// write (full disk) or that is over its concurrency bound answers 503 with
// Retry-After and no detail; what was stored before is still there.
func TestUnavailableVaultIs503AndLosesNothing(t *testing.T) {
	var sw *switchable
	e := setup(t, func(v vaultapi.Vault) vaultapi.Vault { sw = &switchable{Vault: v}; return sw })
	recs := e.create(t, `{"data":[{"value":"`+card+`"}]}`)
	alias := recs[0].Aliases[0].Alias
	for name, err := range map[string]error{
		"full disk": fmt.Errorf("vault: redact: %w: write vault.db: no space left on device", vault.ErrUnavailable),
		"busy":      fmt.Errorf("vault: reveal: %w", vault.ErrBusy),
	} {
		sw.err.Store(&err)
		for _, r := range []resp{
			e.do(t, "POST", "/aliases", e.writer, "application/json", `{"data":[{"value":"5555555555554444"}]}`),
			e.do(t, "GET", "/aliases/"+alias, e.reveal, "", ""),
		} {
			if r.status != 503 || r.header.Get("Retry-After") == "" || strings.Contains(string(r.body), "no space") {
				t.Errorf("%s: %d Retry-After %q %s", name, r.status, r.header.Get("Retry-After"), r.body)
			}
			obstest.AssertNoPAN(t, name+" answer", r.body)
		}
		sw.err.Store(nil)
	}
	if r := e.do(t, "GET", "/aliases/"+alias, e.reveal, "", ""); r.status != 200 || !strings.Contains(string(r.body), card) {
		t.Fatalf("after recovery: %d %s", r.status, r.body)
	}
}

// TestAmbiguousDocumentsAreRefused: a create or update whose document
// repeats a member (so parsers disagree on the value) or nests too deeply
// is refused with 400, names the member, and stores nothing.
func TestAmbiguousDocumentsAreRefused(t *testing.T) {
	e := setup(t, nil)
	recs := e.create(t, `{"data":[{"value":"`+card+`","classifiers":["a"]}]}`)
	alias := recs[0].Aliases[0].Alias
	tests := []struct {
		name, method, path, body, pointer string
	}{
		{"repeated value", "POST", "/aliases", `{"data":[{"value":"5555555555554444","value":"` + card + `"}]}`, "/data/0/value"},
		{"repeated data", "POST", "/aliases", `{"data":[{"value":"1"}],"data":[{"value":"2"}]}`, "/data"},
		{"repeated classifiers", "PUT", "/aliases/" + alias, `{"data":{"classifiers":["b"],"classifiers":["c"]}}`, "/data/classifiers"},
		{"deep", "POST", "/aliases", `{"data":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(t, tt.method, tt.path, e.both, "application/json", tt.body)
			var doc errorDoc
			if r.status != 400 || json.Unmarshal(r.body, &doc) != nil || len(doc.Errors) == 0 {
				t.Fatalf("%d %s", r.status, r.body)
			}
			if tt.pointer != "" && doc.Errors[0].Source.Pointer != tt.pointer {
				t.Fatalf("pointer %q, want %q", doc.Errors[0].Source.Pointer, tt.pointer)
			}
			obstest.AssertNoPAN(t, "error body", r.body)
		})
	}
	if r := e.do(t, "GET", "/aliases/"+alias, e.reveal, "", ""); !strings.Contains(string(r.body), `"classifiers":["a"]`) {
		t.Errorf("a refused update changed the record: %s", r.body)
	}
}
