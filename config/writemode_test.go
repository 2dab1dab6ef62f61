package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigFileAnyUserMayWriteIsRefused: a configuration file of mode
// 0666 was loaded, so any account of the host could set its inline routes
// (where the card data goes), its data_dir or its routes_file. It is
// refused, naming the file and the chmod, as the routes file is
// (routes TestRoutesFileOthersMayWriteIsRefused); 0664 and 0644 load.
func TestConfigFileAnyUserMayWriteIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "aliasgate.yaml")
	if err := os.WriteFile(path, []byte("data_dir: ./d\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path, nil); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "chmod o-w") {
		t.Fatalf("Load of a file any user may write: %v; want a refusal naming the file and chmod o-w", err)
	}
	for _, mode := range []os.FileMode{0o664, 0o644} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(path, nil); err != nil {
			t.Fatalf("mode %04o: %v", mode, err)
		}
	}
}
