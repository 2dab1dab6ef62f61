package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRoutesFileAnyUserMayWriteStopsTheStart: a routes file of mode 0666
// let every account of the host decide where the card data went; serve
// loaded it, and config check called it valid. Both refuse it now, naming
// the file and the chmod; at 0644 the gateway starts.
func TestRoutesFileAnyUserMayWriteStopsTheStart(t *testing.T) {
	dir := t.TempDir()
	routesFile := filepath.Join(dir, "routes.yaml")
	if err := os.WriteFile(routesFile, []byte("routes: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(routesFile, 0o666); err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(dir, "aliasgate.yaml")
	if err := os.WriteFile(cfgFile, []byte("data_dir: "+filepath.Join(dir, "data")+"\nroutes_file: "+routesFile+"\n"), 0o600); err != nil {
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
		if err == nil || !strings.Contains(err.Error(), routesFile) || !strings.Contains(err.Error(), "chmod o-w") {
			t.Errorf("%v with the routes file at mode 0666: err = %v, want a refusal naming the file and chmod o-w", args, err)
		}
	}
	if err := os.Chmod(routesFile, 0o644); err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, env, "--config", cfgFile)
	g.stop(t)
}
