package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/vault"
)

// TestLeftoverMasterKeyFileIsNotOverruledSilently: a data dir holding the
// master.key of an earlier run and ALIASGATE_MASTER_KEY set to another
// key: `clients create` made a vault under the variable's key and `serve`
// started on it, the file ignored without a word. Both refuse now, naming
// the variable and the file, showing neither key, and write nothing.
func TestLeftoverMasterKeyFileIsNotOverruledSilently(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	fileKey, envKey := newMasterKey(), newMasterKey()
	if err := os.WriteFile(filepath.Join(data, vault.MasterKeyFile), []byte(fileKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := testEnv(map[string]string{vault.MasterKeyEnv: envKey})
	refused := func(what string, err error, stderr string) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s took ALIASGATE_MASTER_KEY over another key in master.key", what)
		}
		for _, want := range []string{vault.MasterKeyEnv, filepath.Join(data, vault.MasterKeyFile), "does not match"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: %v; does not say %q", what, err, want)
			}
		}
		if s := err.Error() + stderr; strings.Contains(s, fileKey) || strings.Contains(s, envKey) {
			t.Errorf("%s shows a master key: %s", what, s)
		}
	}
	_, stderr, err := runCmd(t, env, "clients", "create", "--data-dir", data, "--name", "shop", "--scopes", "aliases:write")
	refused("clients create", err, stderr)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var errb syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve", "--data-dir", data}, env, io.Discard, &errb) }()
	for {
		select {
		case err := <-done:
			refused("serve", err, errb.String())
			entries, _ := os.ReadDir(data)
			if len(entries) != 1 {
				t.Errorf("the data dir holds %d files, want master.key only", len(entries))
			}
			return
		case <-time.After(20 * time.Millisecond):
			if _, _, admin := listeners(errb.String()); admin != "" {
				cancel()
				<-done
				t.Fatalf("serve started under ALIASGATE_MASTER_KEY with another key in master.key:\n%s", errb.String())
			}
		}
	}
}
