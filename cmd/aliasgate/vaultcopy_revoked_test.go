package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aliasgate/aliasgate/auth"
	"github.com/aliasgate/aliasgate/vault"
)

// clientScanSource runs during before its scan of the clients number at
// starts (1: the first pass's copy, 2: the first catch-up pass's copy, 3:
// the read of the source after that pass).
type clientScanSource struct {
	persistentStore
	scans  int
	at     int
	once   sync.Once
	during func()
}

func (s *clientScanSource) ScanClients(ctx context.Context, after string, limit int) ([]vault.ClientDump, error) {
	if after == "" {
		if s.scans++; s.scans == s.at {
			s.once.Do(s.during)
		}
	}
	return s.persistentStore.ScanClients(ctx, after, limit)
}

// TestClientRevokedDuringTheCopyIsNotActiveInTheDestination: an API client
// revoked in a PostgreSQL source in service after what would be the copy's
// last pass copied it is not left active in the destination: the copy
// brings the revocation over or fails, never reports success with the
// client as it was (the count of clients was the same, so it did).
func TestClientRevokedDuringTheCopyIsNotActiveInTheDestination(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	master := make([]byte, 32)
	pg := openTestPostgres(t)
	redactValues(t, openService(t, pg, master), "value", 5)
	_, key, _ := ed25519.GenerateKey(nil)
	clients := auth.NewService(pg, key, auth.Options{})
	cl, _, err := clients.CreateClient(ctx, auth.ClientSpec{Name: "checkout", Account: "acct_1", Scopes: []string{auth.ScopeCardsRead}})
	if err != nil {
		t.Fatal(err)
	}
	src := &clientScanSource{persistentStore: pg, at: 3}
	src.during = func() {
		if _, _, err := clients.RevokeClient(ctx, cl.ID); err != nil {
			t.Error(err)
		}
	}
	dst := openTestBolt(t, dir)
	var out strings.Builder
	c := &vaultCopier{out: &out, batch: 10, checkpoint: filepath.Join(dir, copyCheckpointFile)}
	err = c.copyStores(ctx, src, "source", dst, "destination", master)
	if src.scans < 3 {
		t.Fatalf("the client was not revoked during the copy (%d scans)", src.scans)
	}
	want, _, _ := pg.GetClient(ctx, cl.ID)
	got, ok, gerr := dst.GetClient(ctx, cl.ID)
	if gerr != nil {
		t.Fatal(gerr)
	}
	if err == nil && (!ok || !bytes.Equal(got, want)) {
		t.Fatalf("the copy reported success with the client revoked during it not revoked in the destination:\n%s", out.String())
	}
	if err != nil && !strings.Contains(err.Error(), "stop its gateways") && !strings.Contains(err.Error(), "conflict") {
		t.Fatalf("copy: %v", err)
	}
}

// TestClientRevokedOrRotatedDuringTheCopyIsSoInTheDestination: a client
// revoked, or given a new secret, in a PostgreSQL source in service after
// the copy's first pass copied it is brought over by a later pass: the
// copy succeeds with the destination's client revoked, or taking only the
// new secret. It failed before (a conflict), for good: the destination kept
// the old record, so every run again failed too. A destination whose client
// is revoked where the source's is not is never made active again.
func TestClientRevokedOrRotatedDuringTheCopyIsSoInTheDestination(t *testing.T) {
	ctx := context.Background()
	master := make([]byte, 32)
	_, key, _ := ed25519.GenerateKey(nil)
	for _, change := range []string{"revoke", "rotate", "rotate-then-revoke"} {
		t.Run(change, func(t *testing.T) {
			dir := t.TempDir()
			pg := openTestPostgres(t)
			redactValues(t, openService(t, pg, master), "value", 5)
			clients := auth.NewService(pg, key, auth.Options{})
			cl, secret, err := clients.CreateClient(ctx, auth.ClientSpec{Name: "checkout", Account: "acct_1", Scopes: []string{auth.ScopeCardsRead}})
			if err != nil {
				t.Fatal(err)
			}
			src := &clientScanSource{persistentStore: pg, at: 2} // the first catch-up pass's copy
			var newSecret string
			src.during = func() {
				var err error
				if strings.HasPrefix(change, "rotate") {
					if _, newSecret, err = clients.RotateSecret(ctx, cl.ID); err != nil {
						t.Error(err)
					}
				}
				if strings.HasSuffix(change, "revoke") {
					if _, _, err = clients.RevokeClient(ctx, cl.ID); err != nil {
						t.Error(err)
					}
				}
			}
			dst := openTestBolt(t, dir)
			var out strings.Builder
			c := &vaultCopier{out: &out, batch: 10, checkpoint: filepath.Join(dir, copyCheckpointFile)}
			if err := c.copyStores(ctx, src, "source", dst, "destination", master); err != nil {
				t.Fatalf("copy with a client %sd during it: %v\n%s", change, err, out.String())
			}
			want, _, _ := pg.GetClient(ctx, cl.ID)
			got, _, err := dst.GetClient(ctx, cl.ID)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("the destination's client is not the source's: %v", err)
			}
			dstClients := auth.NewService(dst, key, auth.Options{ClientCacheTTL: -1})
			if _, err := dstClients.Authenticate(ctx, cl.ID, secret); err == nil {
				t.Fatal("the old secret authenticates in the destination")
			}
			if change == "rotate" {
				if _, err := dstClients.Authenticate(ctx, cl.ID, newSecret); err != nil {
					t.Fatalf("the new secret does not authenticate in the destination: %v", err)
				}
			}
		})
	}
	t.Run("never un-revoked", func(t *testing.T) {
		dir := t.TempDir()
		pg := openTestPostgres(t)
		clients := auth.NewService(pg, key, auth.Options{})
		cl, _, err := clients.CreateClient(ctx, auth.ClientSpec{Name: "checkout", Account: "acct_1", Scopes: []string{auth.ScopeCardsRead}})
		if err != nil {
			t.Fatal(err)
		}
		dst := openTestBolt(t, dir)
		c := &vaultCopier{out: io.Discard, batch: 10, checkpoint: filepath.Join(dir, copyCheckpointFile)}
		if err := c.copyStores(ctx, pg, "source", dst, "destination", master); err != nil {
			t.Fatal(err)
		}
		if _, _, err := auth.NewService(dst, key, auth.Options{}).RevokeClient(ctx, cl.ID); err != nil {
			t.Fatal(err)
		}
		revoked, _, _ := dst.GetClient(ctx, cl.ID)
		err = c.copyStores(ctx, pg, "source", dst, "destination", master)
		if got, _, _ := dst.GetClient(ctx, cl.ID); !bytes.Equal(got, revoked) {
			t.Fatalf("a copy run again made the destination's revoked client active again (copy: %v)", err)
		}
		if !errors.Is(err, vault.ErrConflict) {
			t.Fatalf("copy over a client revoked in the destination: %v, want a conflict", err)
		}
	})
}
