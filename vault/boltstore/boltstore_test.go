package boltstore_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/boltstore"
	"github.com/aliasgate/aliasgate/vault/vaulttest"
)

func harness(opts boltstore.Options) vaulttest.Harness {
	return vaulttest.Harness{
		Open: func(t *testing.T, now func() time.Time) vault.Store {
			o := opts
			o.Now = now
			s, err := boltstore.Open(filepath.Join(t.TempDir(), "vault.db"), o)
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		Reopen: func(t *testing.T, store vault.Store, now func() time.Time) vault.Store {
			path := store.(*boltstore.Store).Path()
			if err := store.Close(); err != nil {
				t.Fatal(err)
			}
			o := opts
			o.Now = now
			s, err := boltstore.Open(path, o)
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	}
}

func TestConformance(t *testing.T) {
	vaulttest.Run(t, harness(boltstore.Options{}))
}

func TestConformanceWithoutGroupCommit(t *testing.T) {
	vaulttest.Run(t, harness(boltstore.Options{NoGroupCommit: true}))
}

func TestSecondOpenFailsWithLockedWithinTwoSeconds(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vault.db")
	s, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	start := time.Now()
	_, err = boltstore.Open(path, boltstore.Options{})
	if !errors.Is(err, boltstore.ErrLocked) {
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("second Open took %s, want under 2s", d)
	}
}

func TestCorruptFileIsReported(t *testing.T) {
	tests := map[string][]byte{
		"garbage":   []byte("this is not a bbolt file, just some text that is long enough to be read as a page"),
		"zeros":     make([]byte, 64*1024),
		"truncated": nil, // filled below from a real file cut short
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	s, err := boltstore.Open(good, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	b, _ := os.ReadFile(good)
	tests["truncated"] = b[:4096+100]
	for name, content := range tests {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, name+".db")
			if err := os.WriteFile(p, content, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := boltstore.Open(p, boltstore.Options{})
			if err == nil {
				s.Close()
				t.Fatal("Open of a corrupt file succeeded")
			}
			if !errors.Is(err, boltstore.ErrCorrupt) {
				t.Fatalf("Open = %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestFileIsPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	path := filepath.Join(dir, "vault.db")
	s, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for p, want := range map[string]os.FileMode{path: 0o600, dir: 0o700} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s mode = %04o, want %04o", p, fi.Mode().Perm(), want)
		}
	}
}

func TestClientsAreNeverOverwritten(t *testing.T) {
	s, err := boltstore.Open(filepath.Join(t.TempDir(), "vault.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	if err := s.PutClient(ctx, "AC1", []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutClient(ctx, "AC1", []byte("two")); !errors.Is(err, boltstore.ErrClientExists) {
		t.Fatalf("second PutClient = %v, want ErrClientExists", err)
	}
	got, ok, err := s.GetClient(ctx, "AC1")
	if err != nil || !ok || string(got) != "one" {
		t.Fatalf("GetClient = %q, %v, %v", got, ok, err)
	}
	if _, ok, err := s.GetClient(ctx, "AC2"); ok || err != nil {
		t.Fatalf("GetClient(unknown) = %v, %v", ok, err)
	}
}
