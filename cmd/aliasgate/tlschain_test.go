package main

import (
	"context"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestListenerChainWithAnIntermediateNotValidYetIsRefused: a listener
// certificate file holds the leaf and the intermediates the clients need
// (certbot's fullchain.pem); every client checks the validity of each
// certificate of the chain, so an intermediate not valid yet (an issuing
// CA made on a machine whose clock ran ahead, a chain file assembled with
// a new intermediate staged early) makes every handshake fail as a leaf
// not valid yet does. Only the leaf was looked at: serve started and
// config check passed, naming nothing. Now the chain's certificates are
// held to the leaf's rule, the error naming the file and the time.
func TestListenerChainWithAnIntermediateNotValidYetIsRefused(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	from := now.Add(24 * time.Hour).UTC().Truncate(time.Second)
	certFile, keyFile, root, inter, leaf := writeChain(t, dir, from, now.AddDate(2, 0, 0), now.AddDate(1, 0, 0))
	// What a client does with that chain.
	roots := x509.NewCertPool()
	roots.AddCert(root)
	inters := x509.NewCertPool()
	inters.AddCert(inter)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters}); err == nil {
		t.Fatal("a client verified a chain whose intermediate is not valid yet")
	}

	cfgFile := filepath.Join(dir, "aliasgate.yaml")
	if err := os.WriteFile(cfgFile, []byte("data_dir: "+filepath.Join(dir, "data")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := testEnv(map[string]string{"ALIASGATE_LISTEN_INBOUND_CERT": certFile, "ALIASGATE_LISTEN_INBOUND_KEY": keyFile})
	for _, args := range [][]string{{"config", "check", "--config", cfgFile}, {"serve", "--config", cfgFile}} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		var out, errb syncBuffer
		err := run(ctx, args, env, &out, &errb)
		cancel()
		if err == nil || !strings.Contains(err.Error(), certFile) || !strings.Contains(err.Error(), "not yet valid") ||
			!strings.Contains(err.Error(), from.Format(time.RFC3339)) {
			t.Errorf("%v with an intermediate valid from %s: err = %v; want a refusal naming %s, not yet valid and the time", args, from.Format(time.RFC3339), err, certFile)
		}
	}
}
