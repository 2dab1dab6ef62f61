package fuzzlist

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// notNetworkInput are the fuzz targets scripts/fuzz leaves out: their input
// never comes from the network (alias generation, the store's record
// encoding, base58 round trips, the configuration file), or they are the
// card-number finder's brute-force comparison (FuzzFind), which runs with the
// package's tests and which FuzzScrub and the proxy targets exercise on
// network input anyway. FuzzFindHidden is in the script: the leak guard
// runs the finder on every request.
var notNetworkInput = map[string]bool{
	"./vault:FuzzGenerate":            true,
	"./vault:FuzzUnmarshalRecord":     true,
	"./internal/base58:FuzzRoundTrip": true,
	"./config:FuzzLoad":               true,
	"./internal/pan:FuzzFind":         true,
	"./internal/account:FuzzCheck":    true, // account names come from the CLI, the configuration and route files
	"./cards:FuzzMigrationRecord":     true, // stored card records, which the gateway wrote
}

var (
	fuzzFunc   = regexp.MustCompile(`(?m)^func (Fuzz\w+)\(f \*testing\.F\)`)
	scriptLine = regexp.MustCompile(`(?m)^\s+(\./[\w/.-]+):(Fuzz\w+)`)
)

// TestScriptRunsEveryNetworkFuzzTarget: every `func FuzzX(f *testing.F)` in
// a _test.go file is in scripts/fuzz's list or in notNetworkInput, and
// everything the script lists exists.
func TestScriptRunsEveryNetworkFuzzTarget(t *testing.T) {
	root := filepath.Join("..", "..")
	script, err := os.ReadFile(filepath.Join(root, "scripts", "fuzz"))
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, m := range scriptLine.FindAllStringSubmatch(string(script), -1) {
		listed[m[1]+":"+m[2]] = true
	}
	found := map[string]bool{}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && p != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(p))
		for _, m := range fuzzFunc.FindAllStringSubmatch(string(b), -1) {
			found["./"+filepath.ToSlash(rel)+":"+m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for target := range found {
		if !listed[target] && !notNetworkInput[target] {
			t.Errorf("%s is not run by scripts/fuzz: add it to the script's list (or to notNetworkInput here, saying why)", target)
		}
	}
	for target := range listed {
		if !found[target] {
			t.Errorf("scripts/fuzz lists %s, which does not exist", target)
		}
	}
	if len(listed) < 10 {
		t.Fatalf("read only %d targets from scripts/fuzz", len(listed))
	}
}

// TestScriptMinimizesByRuns: scripts/fuzz gives "go test" a minimization
// budget counted in runs (-fuzzminimizetime Nx), never a time. With a time
// budget, go test gives up on the worker at the moment the worker's own
// budget ends, kills it and keeps nothing of the minimization, so a target
// whose inputs cannot be minimized in time (VGS exports, routes files)
// spends the whole run minimizing: FuzzConvert ran 13 inputs in 60 s.
func TestScriptMinimizesByRuns(t *testing.T) {
	script, err := os.ReadFile(filepath.Join("..", "..", "scripts", "fuzz"))
	if err != nil {
		t.Fatal(err)
	}
	flags := regexp.MustCompile(`(?m)^[^#\n]*-fuzzminimizetime[ =](\S+)`).FindAllStringSubmatch(string(script), -1)
	if len(flags) != 1 || flags[0][1] != `"$minimize"` {
		t.Fatalf(`scripts/fuzz should pass -fuzzminimizetime "$minimize" once, found %q`, flags)
	}
	def := regexp.MustCompile(`(?m)^minimize=\$\{FUZZ_MINIMIZE:-([^}]*)\}$`).FindStringSubmatch(string(script))
	if def == nil {
		t.Fatal("scripts/fuzz sets no default minimization budget (minimize=${FUZZ_MINIMIZE:-Nx})")
	}
	if !regexp.MustCompile(`^[1-9][0-9]*x$`).MatchString(def[1]) {
		t.Errorf("scripts/fuzz minimizes by %q: give a number of runs (such as 1000x), not a time", def[1])
	}
}

// TestScriptToleratesOnlyTheDeadlineRace runs scripts/fuzz on a copy of the
// repository's script with a stand-in `go` first on PATH: a target whose
// fuzzing ends with Go 1.26's bare "context deadline exceeded"
// (go.dev/issue/75804) passes only when it wrote no failing input and its
// corpus replays clean; every other failure fails the run.
func TestScriptToleratesOnlyTheDeadlineRace(t *testing.T) {
	script, err := os.ReadFile(filepath.Join("..", "..", "scripts", "fuzz"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		fuzz    string // the stand-in's output and exit status for -fuzz
		crasher bool   // the stand-in writes a failing input
		replay  int    // exit status of the corpus replay
		want    string
		wantRC  int
	}{
		{"race", "--- FAIL: FuzzParse (15.0s)\n    context deadline exceeded\nFAIL\n", false, 0, "PASS (go.dev/issue/75804", 0},
		{"race with a failing input", "--- FAIL: FuzzParse (15.0s)\n    context deadline exceeded\nFAIL\n", true, 0, " FAIL", 1},
		{"race whose corpus fails", "--- FAIL: FuzzParse (15.0s)\n    context deadline exceeded\nFAIL\n", false, 1, " FAIL", 1},
		{"a finding", "--- FAIL: FuzzParse (0.1s)\n    fuzz_test.go:9: wrong\nFAIL\n", true, 0, " FAIL", 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.MkdirAll(filepath.Join(dir, "scripts"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "scripts", "fuzz"), script, 0o755); err != nil {
				t.Fatal(err)
			}
			crash := ""
			if c.crasher {
				crash = `mkdir -p routes/testdata/fuzz/FuzzParse && echo x > routes/testdata/fuzz/FuzzParse/new`
			}
			stub := "#!/bin/sh\ncase \"$*\" in\n*-fuzz*) printf '%s' '" + c.fuzz + "'; " + crash + "\n exit 1;;\n" +
				"*) exit " + strconv.Itoa(c.replay) + ";;\nesac\n"
			bin := filepath.Join(dir, "bin")
			if err := os.MkdirAll(bin, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(bin, "go"), []byte(stub), 0o755); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("bash", filepath.Join(dir, "scripts", "fuzz"), "1s", "FuzzParse")
			cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "FUZZ_LOG="+filepath.Join(dir, "log"))
			out, err := cmd.CombinedOutput()
			rc := 0
			if ee, ok := err.(*exec.ExitError); ok {
				rc = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if rc != c.wantRC || !strings.Contains(string(out), c.want) {
				t.Errorf("exit %d, want %d; output lacks %q:\n%s", rc, c.wantRC, c.want, out)
			}
		})
	}
}
