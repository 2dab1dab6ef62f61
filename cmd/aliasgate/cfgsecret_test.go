package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestConfigFileHoldingTheAdminTokenIsASecretFile: a configuration file
// holding admin.token that its group or others may read was loaded, so any
// local user could read the token and, through rotate-secret, take any
// client's credentials. serve and config check refuse it, naming chmod 600,
// without printing the token; the same file at 0600 starts.
func TestConfigFileHoldingTheAdminTokenIsASecretFile(t *testing.T) {
	const token = "s3cret-admin-token-0123456789"
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "aliasgate.yaml")
	if err := os.WriteFile(cfgFile, []byte("data_dir: "+filepath.Join(dir, "data")+"\nadmin:\n  token: "+token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(cfgFile, 0o644); err != nil {
		t.Fatal(err)
	}
	env := testEnv(nil)
	for _, args := range [][]string{{"serve", "--config", cfgFile}, {"config", "check", "--config", cfgFile}} {
		// A serve that starts runs until its context ends: it would
		// return nil then, a failure, rather than block the test.
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		var out, errb syncBuffer
		err := run(ctx, args, env, &out, &errb)
		cancel()
		stdout, stderr := out.String(), errb.String()
		if err == nil || !strings.Contains(err.Error(), "admin.token") || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("%v with the file at mode 0644: err = %v, want a refusal naming admin.token and chmod 600", args, err)
		}
		if strings.Contains(stdout+stderr+fmt.Sprint(err), token) {
			t.Errorf("%v: the token was printed", args)
		}
	}
	if err := os.Chmod(cfgFile, 0o600); err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, env, "--config", cfgFile)
	g.stop(t)
}
