package vgs

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

var update = flag.Bool("update", false, "rewrite the .golden files in testdata/")

// The golden file holds the native YAML, then the report lines as comments.
func goldenText(out []byte, rep Report) []byte {
	var b bytes.Buffer
	b.Write(out)
	b.WriteString("# --- report (not part of the route file) ---\n")
	for _, it := range rep.Items {
		b.WriteString("# " + it.String() + "\n")
	}
	return b.Bytes()
}

func TestGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(inputs) < 3 {
		t.Fatalf("want at least 3 fixtures, have %d", len(inputs))
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".yaml")
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			out, rep, err := Convert(src)
			if err != nil {
				t.Fatalf("Convert: %v", err)
			}
			decodeNative(t, out)
			got := goldenText(out, rep)
			golden := strings.TrimSuffix(in, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s (go test -update rewrites it):\n%s", golden, got)
			}
		})
	}
}

// decodeNative decodes out into the mirror of DESIGN.md's route schema,
// refusing unknown keys, and checks the values the schema allows.
func decodeNative(t testing.TB, out []byte) nativeFile {
	t.Helper()
	var f nativeFile
	dec := yaml.NewDecoder(bytes.NewReader(out))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("output is not a native route file: %v\n%s", err, out)
	}
	if err := checkNative(f); err != "" {
		t.Fatalf("output breaks the native schema: %s\n%s", err, out)
	}
	return f
}
