package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

func TestLoadOrCreateSigningKeyCreates0600AndReloads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jwt.key")
	k1, err := LoadOrCreateSigningKey(path)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %04o, want 0600", fi.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	if blk, _ := pem.Decode(b); blk == nil || blk.Type != "PRIVATE KEY" {
		t.Errorf("file is not a PKCS#8 PEM block: %q", b)
	}
	k2, err := LoadOrCreateSigningKey(path)
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	if !k1.Equal(k2) {
		t.Error("reloaded key differs from the created one")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the key (temp file left behind?)", len(entries))
	}
}

func TestLoadOrCreateSigningKeyConcurrentCallersAgree(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jwt.key")
	const n = 8
	keys := make([][]byte, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			k, err := LoadOrCreateSigningKey(path)
			if err != nil {
				t.Error(err)
				return
			}
			keys[i] = k
		})
	}
	wg.Wait()
	for i := 1; i < n; i++ {
		if string(keys[i]) != string(keys[0]) {
			t.Fatal("concurrent callers got different keys")
		}
	}
}

func TestLoadOrCreateSigningKeyRefuses(t *testing.T) {
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ecKey)
	tests := []struct {
		name    string
		content []byte
		mode    os.FileMode
		want    error
	}{
		{"group and other readable", nil, 0o644, ErrInsecureKeyFile},
		{"group readable", nil, 0o640, ErrInsecureKeyFile},
		{"not PEM", []byte("hello"), 0o600, ErrCorruptKeyFile},
		{"empty", []byte{}, 0o600, ErrCorruptKeyFile},
		{"wrong PEM type", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}}), 0o600, ErrCorruptKeyFile},
		{"garbage DER", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}}), 0o600, ErrCorruptKeyFile},
		{"ECDSA key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER}), 0o600, ErrCorruptKeyFile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if runtime.GOOS == "windows" && tt.want == ErrInsecureKeyFile {
				t.Skip("no Unix permission bits")
			}
			path := filepath.Join(t.TempDir(), "jwt.key")
			content := tt.content
			if content == nil {
				// A valid key with loose permissions.
				if _, err := LoadOrCreateSigningKey(path); err != nil {
					t.Fatal(err)
				}
				content, _ = os.ReadFile(path)
			}
			if err := os.WriteFile(path, content, tt.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			_, err := LoadOrCreateSigningKey(path)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the path", err)
			}
			after, _ := os.ReadFile(path)
			if string(after) != string(content) {
				t.Error("the refused file was changed")
			}
		})
	}
}

func TestLoadOrCreateSigningKeyMissingDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "jwt.key")
	_, err := LoadOrCreateSigningKey(path)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v, want an error naming %s", err, path)
	}
}
