package vgs

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// FuzzConvert: Convert never panics; when it returns without error its
// output parses as YAML into the native route file (known keys only, values
// DESIGN.md allows) and the report has one line per item. (Determinism is
// TestOutputIsDeterministic's; a second Convert here would halve the rate.)
//
// Its inputs are whole exports (the fixtures, 3–6 KB). Fuzz it as
// scripts/fuzz does, with a minimization budget counted in runs:
//
//	go test ./routes/vgs -run '^$' -fuzz '^FuzzConvert$' -fuzzminimizetime 1000x -parallel 1
//
// Under go test's default budget (60 s of minimization per new input) the
// engine cannot finish minimizing such an input, kills the worker at the
// deadline and keeps nothing: a run of a minute or less executes only the
// seeds (scripts/fuzz says why). FuzzConvertNeverWider is the same.
func FuzzConvert(f *testing.F) {
	addFixtures(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		out, rep, err := Convert(in)
		if err != nil {
			if out != nil || !errors.Is(err, ErrNotExport) {
				t.Fatalf("error %v with output %q", err, out)
			}
			return
		}
		var file nativeFile
		dec := yaml.NewDecoder(bytes.NewReader(out))
		dec.KnownFields(true)
		if err := dec.Decode(&file); err != nil {
			t.Fatalf("output is not a native route file: %v\n%s", err, out)
		}
		if why := checkNative(file); why != "" {
			t.Fatalf("output breaks the native schema: %s\n%s", why, out)
		}
		if rep.Routes != len(file.Routes) {
			t.Fatalf("report counts %d routes, output has %d", rep.Routes, len(file.Routes))
		}
		for _, it := range rep.Items {
			if s := it.String(); strings.ContainsAny(s, "\r\n") {
				t.Fatalf("report item spans lines: %q", s)
			}
		}
	})
}

// addFixtures seeds a fuzz target with every export in testdata.
func addFixtures(f *testing.F) {
	fixtures, err := filepath.Glob("testdata/*.yaml")
	if err != nil || len(fixtures) == 0 {
		f.Fatalf("no fixtures (%v)", err)
	}
	for _, p := range fixtures {
		src, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
}
