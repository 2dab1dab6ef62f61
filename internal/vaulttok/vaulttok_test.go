package vaulttok

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/aliasgate/aliasgate/routes/rewrite"
	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/memstore"
)

func newVault(t *testing.T) *vault.Service {
	t.Helper()
	p, v := memstore.New(memstore.Options{}), memstore.New(memstore.Options{})
	t.Cleanup(func() { p.Close(); v.Close() })
	kr, err := vault.OpenKeyring(context.Background(), p, bytes.Repeat([]byte{2}, 32))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := vault.New(p, v, kr, vault.Options{Env: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func TestRedactAndRevealThroughAProgram(t *testing.T) {
	tok := New(newVault(t))
	ctx := context.Background()
	red, err := rewrite.Compile(rewrite.Redact, []rewrite.TargetSpec{
		{Kind: rewrite.KindJSON, Path: "pan", Format: "FPE_SIX_T_FOUR", Storage: "PERSISTENT"},
		{Kind: rewrite.KindJSON, Path: "cvc", Storage: "VOLATILE"},
	})
	if err != nil {
		t.Fatal(err)
	}
	msg := &rewrite.Message{Body: []byte(`{"pan":4111111111111111,"cvc":"123"}`)}
	if _, err := red.Apply(ctx, msg, tok); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(msg.Body, []byte("4111111111111111")) || !bytes.HasPrefix(msg.Body, []byte(`{"pan":411111`)) {
		t.Fatalf("redacted body %s", msg.Body)
	}
	rev, _ := rewrite.Compile(rewrite.Reveal, []rewrite.TargetSpec{{Kind: rewrite.KindJSON, Path: "pan"}, {Kind: rewrite.KindJSON, Path: "cvc"}, {Kind: rewrite.KindJSON, Path: "other"}})
	msg.Body = append(msg.Body[:len(msg.Body)-1], []byte(`,"other":"not-an-alias"}`)...)
	if _, err := rev.Apply(ctx, msg, tok); err != nil {
		t.Fatal(err)
	}
	if string(msg.Body) != `{"pan":4111111111111111,"cvc":"123","other":"not-an-alias"}` {
		t.Fatalf("revealed body %s", msg.Body)
	}
}

func TestVaultRefusalFailsTheMessage(t *testing.T) {
	tok := New(newVault(t))
	p, _ := rewrite.Compile(rewrite.Redact, []rewrite.TargetSpec{{Kind: rewrite.KindJSON, Path: "pan", Format: "FPE_SIX_T_FOUR"}})
	msg := &rewrite.Message{Body: []byte(`{"pan":"not digits"}`)}
	_, err := p.Apply(context.Background(), msg, tok)
	if !errors.Is(err, rewrite.ErrTokenizer) || !errors.Is(err, vault.ErrFormatNotApplicable) {
		t.Fatalf("err = %v", err)
	}
}
