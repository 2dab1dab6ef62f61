package vaultapi_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/auth"
	"github.com/aliasgate/aliasgate/internal/obs/obstest"
	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/boltstore"
	"github.com/aliasgate/aliasgate/vault/memstore"
	"github.com/aliasgate/aliasgate/vaultapi"
)

// setupBolt is setup over a real bbolt vault file in t.TempDir(), whose
// path it returns: a writer and a reveal token of account "acct".
func setupBolt(t *testing.T) (e *env, file string) {
	t.Helper()
	return setupBoltWith(t, vault.Options{})
}

// setupBoltWith is setupBolt with the vault's options (Env and
// VolatileTTL are set here).
func setupBoltWith(t *testing.T, opts vault.Options) (e *env, file string) {
	t.Helper()
	file = filepath.Join(t.TempDir(), "vault.db")
	p, err := boltstore.Open(file, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	v := memstore.New(memstore.Options{SweepInterval: -1})
	t.Cleanup(func() { v.Close(); p.Close() })
	kr, err := vault.OpenKeyring(context.Background(), p, bytes.Repeat([]byte{5}, 32))
	if err != nil {
		t.Fatal(err)
	}
	opts.Env, opts.VolatileTTL = "sandbox", time.Hour
	svc, err := vault.New(p, v, kr, opts)
	if err != nil {
		t.Fatal(err)
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	log := obstest.Logger(t)
	as := auth.NewService(p, key, auth.Options{Logger: log})
	e = &env{}
	mk := func(scopes ...string) string {
		c, _, err := as.CreateClient(context.Background(), auth.ClientSpec{Name: "t", Account: "acct", Scopes: scopes})
		if err != nil {
			t.Fatal(err)
		}
		tok, _, err := as.IssueToken(c, nil)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	e.writer, e.reveal = mk(auth.ScopeAliasesWrite), mk(auth.ScopeAliasesReveal)
	e.srv = httptest.NewServer(vaultapi.New(svc, as, log))
	t.Cleanup(e.srv.Close)
	return e, file
}

// TestClassifiersRefuseCardNumbersAReaderSees: classifiers are stored in
// clear (the bbolt file, a PostgreSQL jsonb column) and shown in every
// reveal and create answer, and the vault refused card numbers in them as
// package pan reads text only (groups by space, '-', '.', '_' or ':'): a
// card number grouped by '/', '|', ',' or two spaces, or written in
// another script's digits, was stored and shown back, though a reader sees
// a card number there (pan.MaskShown, the rule the gateway applies to
// every text it shows, and to API client names). Such a classifier is
// refused (400 invalid_classifiers) on create and on PUT, and nothing of
// it reaches the vault file.
func TestClassifiersRefuseCardNumbersAReaderSees(t *testing.T) {
	e, file := setupBolt(t)
	recs := e.create(t, `{"data":[{"value":"v1","classifiers":["ok"]}]}`)
	alias := recs[0].Aliases[0].Alias
	for _, c := range []string{
		"4111/1111/1111/1111", "4111|1111|1111|1111", "4111,1111,1111,1111", "4111  1111  1111  1111",
		"4111 - 1111 - 1111 - 1111", "card#4111#1111#1111#1111", "٤١١١١١١١١١١١١١١١", "𝟒𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏",
	} {
		for _, r := range []resp{
			e.do(t, "POST", "/aliases", e.writer, "application/json", `{"data":[{"value":"v2","classifiers":["ok","`+c+`"]}]}`),
			e.do(t, "PUT", "/aliases/"+alias, e.writer, "application/json", `{"data":{"classifiers":["`+c+`"]}}`),
		} {
			if r.status != 400 || !strings.Contains(string(r.body), `"code":"invalid_classifiers"`) {
				t.Errorf("classifier %q: %d %s, want 400 invalid_classifiers", c, r.status, r.body)
			}
			if strings.Contains(string(r.body), c) {
				t.Errorf("the error repeats classifier %q", c)
			}
		}
	}
	if r := e.do(t, "GET", "/aliases/"+alias, e.reveal, "", ""); r.status != 200 || !strings.Contains(string(r.body), `"classifiers":["ok"]`) {
		t.Errorf("the record's classifiers changed: %d %s", r.status, r.body)
	}
	e.srv.Close()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"4111/1111", "4111|1111", "4111,1111", "4111  1111", "٤١١١", "𝟒𝟏𝟏𝟏"} {
		if bytes.Contains(b, []byte(s)) {
			t.Errorf("the vault file holds %q in clear", s)
		}
	}
}
