package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/config"
	"github.com/aliasgate/aliasgate/routes"
)

// readmeBlock is a shell block of README.md marked runnable: its fence is
// "```sh runnable".
type readmeBlock struct {
	line int
	text string
}

// runnableBlocks returns the runnable shell blocks of a markdown file, in
// order.
func runnableBlocks(t *testing.T, path string) []readmeBlock {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []readmeBlock
	var cur *readmeBlock
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		l := sc.Text()
		switch {
		case cur == nil && strings.TrimSpace(l) == "```sh runnable":
			cur = &readmeBlock{line: n}
		case cur != nil && strings.TrimSpace(l) == "```":
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			cur.text += l + "\n"
		}
	}
	if cur != nil {
		t.Fatalf("%s: the runnable block of line %d is not closed", path, cur.line)
	}
	return out
}

// freePort returns a loopback port nothing listens on now.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// TestReadmeRuns is the README's executable check: every shell block
// marked runnable runs, in order, in one bash session (so variables carry
// from one step to the next, as they do for a reader), with the
// aliasgate binary built from this tree on PATH, in an empty directory,
// with the gateway's ports moved to free ones the way the README tells a
// reader to (ALIASGATE_LISTEN_* exported; the blocks follow them), and the
// demo app's and demo processor's ports moved in the text.
// Every block runs under set -euo pipefail, so a step that fails (a curl
// -f that gets an error, a missing variable) fails the test, naming the
// block's line. A README that drifts from the code fails CI. The blocks
// run twice, so that a reader who repeats them in the same clone is not
// stopped by what the first time left (a card that now is a duplicate, a
// former certificate file).
func TestReadmeRuns(t *testing.T) {
	blocks := runnableBlocks(t, filepath.Join("..", "..", "README.md"))
	if len(blocks) < 3 {
		t.Fatalf("README.md has %d runnable blocks; the walk-throughs must be runnable (fence them with ```sh runnable)", len(blocks))
	}
	// The blocks run from a directory that looks like a clone (each entry
	// of the repository linked in) but is the test's own, so what they
	// write (bin/, aliasgate-data/, routes files, logs) lands there.
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	entries, err := os.ReadDir(repo)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		switch e.Name() {
		case ".git", "bin", "aliasgate-data":
			continue
		}
		if err := os.Symlink(filepath.Join(repo, e.Name()), filepath.Join(work, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	// The gateway's ports move through ALIASGATE_LISTEN_* only, as the
	// README tells a reader whose defaults are taken; the demo app's and the
	// demo processor's move in the text.
	ports := map[string]string{}
	var pairs []string
	for _, p := range []string{"8080", "8081", "9090", "8090", "8443"} {
		ports[p] = freePort(t)
		if p == "8090" || p == "8443" {
			// The address, and the processor's port in its route.
			pairs = append(pairs, "127.0.0.1:"+p, "127.0.0.1:"+ports[p], "ports: ["+p+"]", "ports: ["+ports[p]+"]")
		}
	}
	moved := strings.NewReplacer(pairs...)

	var script strings.Builder
	script.WriteString("set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true' EXIT\n")
	// Twice, in the same directory: a reader repeats the walk-throughs (or
	// a step of them) in the clone they ran them in, with the files and
	// the vault of the first time still there.
	for run := 1; run <= 2; run++ {
		for i, b := range blocks {
			fmt.Fprintf(&script, "echo '### README.md block %d (line %d), run %d'\n%s\n", i+1, b.line, run, moved.Replace(b.text))
		}
	}
	// What a block starts in the background it stops (the gateway, the demo
	// app, the demo processor): a reader's shell keeps no process, nor a
	// port, that the walk-throughs leave behind.
	script.WriteString("if [ -n \"$(jobs -p)\" ]; then echo 'the README blocks left running:' >&2; jobs -l >&2; exit 1; fi\n")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script.String())
	cmd.Dir = work
	cmd.Env = append(os.Environ(),
		"ALIASGATE_LISTEN_INBOUND=127.0.0.1:"+ports["8080"],
		"ALIASGATE_LISTEN_OUTBOUND=127.0.0.1:"+ports["8081"],
		"ALIASGATE_LISTEN_ADMIN=127.0.0.1:"+ports["9090"])
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("the README's blocks did not finish within 4 minutes:\n%s", out)
	}
	if err != nil {
		t.Fatalf("the README's blocks failed (%v); the last block named below is the one that broke:\n%s", err, out)
	}
	// The README's routes are the ones a reader copies: `routes validate`
	// has nothing to warn about in them (a revealing route names its port,
	// as the README tells the reader to). Its demos' processor and webhook
	// receiver are on loopback, so their configurations allow private
	// destinations, as their comments say, which config check warns of
	// (config.Config.Warnings): that warning, and only it, is expected.
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "warning: ") && !strings.Contains(l, "allow_private_destinations: true) (line ") {
			t.Errorf("the README's routes draw a warning: %s", l)
		}
	}
	// What the blocks wrote where a reader runs them, the clone (binaries,
	// the data dir, logs — the demo processor's holds the card number it
	// received —, routes and configuration files), is ignored by git, so
	// that none of it is committed by accident.
	made, err := os.ReadDir(work)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range made {
		if e.Type()&os.ModeSymlink != 0 {
			continue
		}
		name := e.Name()
		if e.IsDir() {
			name += "/"
		}
		if out, err := exec.Command("git", "-C", repo, "check-ignore", "--no-index", "-q", name).CombinedOutput(); err != nil {
			t.Errorf("the README's blocks write %s in the clone, and .gitignore does not ignore it (git check-ignore: %v %s)", name, err, out)
		}
	}
	t.Logf("%d README blocks ran", len(blocks))
	if testing.Verbose() {
		t.Logf("output:\n%s", out)
	}
}

// TestReadmeFieldHelperTakesTheFirstMatch: the README's field helper, which
// the walk-throughs use to pick a value out of an answer, returns the first
// "NAME":"…" of the JSON, as its comment says. A greedy match returned the
// last one: the vault walk-through's PAN_ALIAS was then the CVC's alias (the
// second item of the create answer), and the reveal, PUT and DELETE that
// follow acted on the CVC while the text said they acted on the PAN.
func TestReadmeFieldHelperTakesTheFirstMatch(t *testing.T) {
	blocks := runnableBlocks(t, filepath.Join("..", "..", "README.md"))
	var helper string
	for _, b := range blocks {
		for _, l := range strings.Split(b.text, "\n") {
			if strings.HasPrefix(l, "field()") {
				helper = l
			}
		}
	}
	if helper == "" {
		t.Fatal("README.md defines no field() helper in a runnable block")
	}
	for _, c := range []struct{ in, name, want string }{
		// The shape of the vault walk-through's create answer: the PAN's
		// record first, the CVC's second.
		{`{"data":[{"value":"4111111111111111","aliases":[{"alias":"4111114549901111","format":"FPE_SIX_T_FOUR"}]},{"value":"123","aliases":[{"alias":"tok_sandbox_7v9URXXHDfXpZ6kGWXkFCw","format":"UUID"}]}]}`,
			"alias", "4111114549901111"},
		{`{"client_id":"AC1","client_secret":"s3"}`, "client_id", "AC1"},
		{`{"client_id":"AC1","client_secret":"s3"}`, "client_secret", "s3"},
		// "id" is the card's id, not the end of "trace_id" or "client_id".
		{`{"data":{"id":"CRD1","type":"cards"},"metadata":{"observability":{"trace_id":"t","client_id":"c"}}}`, "id", "CRD1"},
		{"{\"access_token\": \"eyJ\",\n\"token_type\":\"Bearer\"}", "access_token", "eyJ"},
	} {
		cmd := exec.Command("bash", "-c", "set -euo pipefail\n"+helper+"\nfield \"$1\"", "bash", c.name)
		cmd.Stdin = strings.NewReader(c.in)
		out, err := cmd.CombinedOutput()
		if got := strings.TrimSpace(string(out)); err != nil || got != c.want {
			t.Errorf("field %s on %s = %q (%v), want %q", c.name, c.in, got, err, c.want)
		}
	}
}

// TestReadmeLayoutNamesEveryPackage: the README's Layout block, a new
// reader's map of the tree, names every package directory of the module
// (as "dir/" or "dir:"), and every directory it names exists. A package
// added without a line there (internal/abuse, internal/account, bench…
// were missing) fails here.
func TestReadmeLayoutNamesEveryPackage(t *testing.T) {
	repo := filepath.Join("..", "..")
	readme, err := os.ReadFile(filepath.Join(repo, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "\n## Layout\n")
	if !ok {
		t.Fatal("README.md has no Layout section")
	}
	_, rest, ok = strings.Cut(rest, "```\n")
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("README.md's Layout section has no code block")
	}
	var pkgs []string
	err = filepath.WalkDir(repo, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() && path != repo && (strings.HasPrefix(name, ".") || name == "testdata" || name == "bin" || name == "aliasgate-data") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		dir, _ := filepath.Rel(repo, filepath.Dir(path))
		if dir != "." && !slices.Contains(pkgs, filepath.ToSlash(dir)) {
			pkgs = append(pkgs, filepath.ToSlash(dir))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) < 20 {
		t.Fatalf("found only %d package directories: %v", len(pkgs), pkgs)
	}
	for _, p := range pkgs {
		if !strings.Contains(block, p+"/") && !strings.Contains(block, p+":") {
			t.Errorf("README.md's Layout does not name %s/", p)
		}
	}
	// Every top-level "dir/" that starts a line of the block exists.
	for _, l := range strings.Split(block, "\n") {
		f, _, _ := strings.Cut(strings.TrimSpace(l), " ")
		if l == "" || l[0] == ' ' || !strings.HasSuffix(f, "/") {
			continue
		}
		if st, err := os.Stat(filepath.Join(repo, f)); err != nil || !st.IsDir() {
			t.Errorf("README.md's Layout names %s, which is not a directory of the repository", f)
		}
	}
}

// TestReadmeYAMLBlocksLoad: every YAML example of README.md and
// config/README.md loads as what it shows: a configuration (config.Load,
// unknown keys refused), a route file, a route list item or a filter list
// (wrapped into a route file). An example a reader copies must not be
// refused.
func TestReadmeYAMLBlocksLoad(t *testing.T) {
	n := 0
	for _, f := range []string{"README.md", "config/README.md"} {
		b, err := os.ReadFile(filepath.Join("..", "..", f))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(b), "\n")
		for i := 0; i < len(lines); i++ {
			if strings.TrimSpace(lines[i]) != "```yaml" {
				continue
			}
			start := i + 1
			var block strings.Builder
			for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
				block.WriteString(lines[i] + "\n")
			}
			n++
			text := block.String()
			name := fmt.Sprintf("%s:%d", f, start)
			switch first := strings.TrimSpace(strings.SplitN(text, "\n", 2)[0]); {
			case strings.HasPrefix(first, "routes:"):
				if _, err := routes.Parse([]byte(text), name, routeOptions()); err != nil {
					t.Errorf("%s: the routes do not load: %v", name, err)
				}
			case strings.HasPrefix(first, "- id:"):
				if _, err := routes.Parse([]byte("routes:\n"+text), name, routeOptions()); err != nil {
					t.Errorf("%s: the route does not load: %v", name, err)
				}
			case strings.HasPrefix(first, "filters:"):
				wrapped := "routes:\n  - id: example\n    direction: inbound\n    host: \"*\"\n    upstream: http://127.0.0.1:1\n"
				for _, l := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
					wrapped += "    " + l + "\n"
				}
				if _, err := routes.Parse([]byte(wrapped), name, routeOptions()); err != nil {
					t.Errorf("%s: the filters do not load: %v", name, err)
				}
			default:
				p := filepath.Join(t.TempDir(), "aliasgate.yaml")
				if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
					t.Fatal(err)
				}
				if _, err := config.Load(p, func(string) string { return "" }); err != nil {
					t.Errorf("%s: the configuration does not load: %v", name, err)
				}
			}
		}
	}
	if n < 6 {
		t.Fatalf("found only %d YAML examples", n)
	}
}

// readmeFunc returns the shell function name() of the README's runnable
// blocks, from its "name() {" line to its closing "}".
func readmeFunc(t *testing.T, name string) string {
	t.Helper()
	for _, b := range runnableBlocks(t, filepath.Join("..", "..", "README.md")) {
		start := strings.Index(b.text, "\n"+name+"() {\n")
		if start < 0 {
			continue
		}
		end := strings.Index(b.text[start:], "\n}\n")
		if end < 0 {
			t.Fatalf("README.md: the function %s is not closed", name)
		}
		return b.text[start+1 : start+end+3]
	}
	t.Fatalf("README.md defines no %s() in a runnable block", name)
	return ""
}

// TestReadmeReadyWaitsForItsOwnGateway: the README's ready helper, which
// each walk-through calls after starting a gateway in the background,
// reports a gateway that exits at start (a port another program holds, a
// bad setting) with its log, even when something else answers /readyz on
// the admin address: a gateway a former, aborted run of the walk-through
// left behind. Before, ready asked /readyz only, the old gateway answered,
// and the next step's token request went to the old gateway's vault and
// got 401, with nothing saying why (seen re-running the walk-through after
// a block had failed).
func TestReadmeReadyWaitsForItsOwnGateway(t *testing.T) {
	ready := readmeFunc(t, "ready")
	// The old gateway: its admin listener answers /readyz.
	old := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"status":"ok"}`)
	}))
	defer old.Close()
	dir := t.TempDir()
	// The new one exits at once, as serve does when its port is taken.
	script := "set -euo pipefail\n" + ready + "\nADMIN=" + strings.TrimPrefix(old.URL, "http://") + "\n" +
		`(echo 'aliasgate: inbound listener: listen tcp 127.0.0.1:8080: bind: address already in use' >&2; exit 1) 2>gateway.log &
GATEWAY=$!
ready
echo "ready returned 0"
`
	cmd := exec.Command("bash", "-c", script)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err == nil || strings.Contains(string(out), "ready returned 0") {
		t.Fatalf("ready took another program's /readyz for the gateway it waits for (%v):\n%s", err, out)
	}
	if !strings.Contains(string(out), "address already in use") {
		t.Errorf("ready did not show the gateway's log:\n%s", out)
	}
}
