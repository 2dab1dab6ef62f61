package main

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/pan"
)

// TestConfigAndRouteProblemsNeverEchoACardNumber: a card number pasted
// into the wrong place of a configuration or routes file (a key, a value,
// a route id) is refused, and the problem printed names the key and line
// without the number.
func TestConfigAndRouteProblemsNeverEchoACardNumber(t *testing.T) {
	dir := t.TempDir()
	routesFile := filepath.Join(dir, "routes.yaml")
	os.WriteFile(routesFile, []byte(`routes:
  - id: "4111111111111111"
    direction: 4111 1111 1111 1111
    host: "*"
    upstream: http://127.0.0.1:1
    leak_guard: "4111-1111-1111-1111"
    filters:
      - id: "5555555555554444"
        group: "4111111111111111"
        operation: redact
        targets: [{regex: '\d+', luhn: "4111111111111111"}]
`), 0o600)
	cfgFile := filepath.Join(dir, "c.yaml")
	os.WriteFile(cfgFile, []byte(`data_dir: `+dir+`
4111111111111111: x
limits:
  read_timeout: 4111111111111111
  max_body: "4111 1111 1111 1111 B"
vault:
  redis_prefix: "4111111111111111 x"
`), 0o600)
	for _, args := range [][]string{
		{"routes", "validate", routesFile},
		{"config", "check", "--config", cfgFile},
	} {
		stdout, stderr, err := runCmd(t, testEnv(nil), args...)
		if err == nil {
			t.Fatalf("%v: accepted", args)
		}
		var shown strings.Builder
		if code := exitCode(err, &shown); code != 1 {
			t.Errorf("%v: exit code %d", args, code)
		}
		all := stdout + stderr + err.Error() + shown.String()
		if pan.ContainsAllString(all) {
			t.Errorf("%v: a card number is shown:\n%s", args, all)
		}
		if !strings.Contains(all, "line") && !strings.Contains(all, ".yaml:") {
			t.Errorf("%v: no line named:\n%s", args, all)
		}
	}
}

// TestEmptyFlagValueIsRefused: `serve --data-dir "$DATA"` with DATA unset
// ran on ./aliasgate-data, a new vault with a new master key, and
// `serve --config "$CFG"` on the built-in defaults, without a word. A flag
// given an empty value is a usage error (exit 2) and nothing is made.
func TestEmptyFlagValueIsRefused(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, args := range [][]string{
		{"serve", "--data-dir", ""},
		{"serve", "--config="},
		{"clients", "list", "--data-dir="},
		{"keys", "status", "--config", ""},
		{"vault", "compact", "--data-dir", ""},
		{"ca", "cert", "--data-dir="},
	} {
		// The old code served on the defaults: the deadline only ends that.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		var stdout, stderr syncBuffer
		err := run(ctx, args, testEnv(nil), &stdout, &stderr)
		cancel()
		var shown strings.Builder
		if code := exitCode(err, &shown); code != 2 || !strings.Contains(shown.String(), "empty") {
			t.Errorf("%v: exit %d: %s", args, code, shown.String())
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("made %v in the working directory", entries)
	}
}

// TestSIGHUPWithoutARoutesFileKeepsTheGatewayRunning: SIGHUP was handled
// only with a routes_file; with inline routes (or none) its default action
// ended the gateway at once (exit 129), dropping requests in flight, when
// an operator or a unit's ExecReload asked for a reload. It is logged as
// having nothing to reload, and the gateway keeps serving.
func TestSIGHUPWithoutARoutesFileKeepsTheGatewayRunning(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "aliasgate.yaml")
	os.WriteFile(cfg, []byte(`data_dir: `+filepath.Join(dir, "data")+`
listen: {inbound: "127.0.0.1:0", outbound: "127.0.0.1:0", admin: "127.0.0.1:0"}
routes:
  - id: app
    direction: inbound
    host: "*"
    upstream: http://127.0.0.1:9
`), 0o600)
	g := startChild(t, cfg, "ALIASGATE_MASTER_KEY="+newMasterKey())
	if err := g.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	const said = "SIGHUP: no routes_file to reload"
	for !strings.Contains(g.stderr.String(), said) {
		select {
		case err := <-g.done:
			g.done <- err
			t.Fatalf("the gateway ended on SIGHUP: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	if code, _ := call(t, "GET", g.admin+"/healthz", "", "", nil); code != 200 {
		t.Errorf("healthz %d after SIGHUP", code)
	}
}

// TestRouteWarningsNeverEchoACardNumber: the warnings of a valid route
// file (routes validate, config check on stderr) quoted the route's
// upstream URL, card number and all.
func TestRouteWarningsNeverEchoACardNumber(t *testing.T) {
	file := filepath.Join(t.TempDir(), "routes.yaml")
	os.WriteFile(file, []byte(`routes:
  - id: app
    direction: inbound
    host: "*"
    upstream: http://127.0.0.1:1/4111111111111111
`), 0o600)
	var stdout, stderr syncBuffer
	err := run(context.Background(), []string{"routes", "validate", file}, testEnv(nil), &stdout, &stderr)
	if err != nil || !strings.Contains(stderr.String(), "warning: route app") {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	if pan.ContainsAllString(stdout.String() + stderr.String()) {
		t.Errorf("a card number is shown:\n%s%s", stdout.String(), stderr.String())
	}
}

// TestSIGHUPWhileStartingIsKeptForLater: SIGHUP was caught only once the
// listeners were open, so one that came while the gateway opened its vault
// (seconds on a busy PostgreSQL) ended it. It is caught from the start and
// handled once the gateway serves.
func TestSIGHUPWhileStartingIsKeptForLater(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "aliasgate.yaml")
	os.WriteFile(cfg, []byte(`data_dir: `+filepath.Join(dir, "data")+`
listen: {inbound: "127.0.0.1:0", outbound: "127.0.0.1:0", admin: "127.0.0.1:0"}
`), 0o600)
	g := &childGateway{stderr: &syncBuffer{}, done: make(chan error, 1)}
	g.cmd = exec.Command(aliasgateBinary(t), "serve", "--config", cfg)
	// An unknown variable makes serve log a warning before it opens the
	// vault: the signal goes then.
	g.cmd.Env = append(os.Environ(), "ALIASGATE_MASTER_KEY="+newMasterKey(), "ALIASGATE_NOT_A_SETTING=1")
	g.cmd.Stdout, g.cmd.Stderr = io.Discard, g.stderr
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { g.done <- g.cmd.Wait() }()
	t.Cleanup(func() { g.stop(t) })
	waitLog := func(what string) {
		t.Helper()
		for !strings.Contains(g.stderr.String(), what) {
			select {
			case err := <-g.done:
				g.done <- err
				t.Fatalf("the gateway ended before logging %q: %v\n%s", what, err, g.stderr.String())
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
	waitLog("ALIASGATE_NOT_A_SETTING is not a setting")
	if err := g.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog("SIGHUP: no routes_file to reload")
	if g.inbound, g.outbound, g.admin = listeners(g.stderr.String()); g.admin == "" {
		t.Fatalf("the SIGHUP was handled before the gateway served:\n%s", g.stderr.String())
	}
}

// TestProblemsNeverEchoACardNumberGroupedByUnderscoresOrColons: YAML
// reads 4111_1111_1111_1111 as the number 4111111111111111, and ids and
// account names allow '_' and ':' between digits, but the masks read '_'
// and ':' as breakers: such a card number was printed back in the problem
// list (config check, routes validate), and taken as a route id, filter id,
// group or account name (metric labels, log fields, audit lines). Problems
// now mask it, and names holding it are refused.
func TestProblemsNeverEchoACardNumberGroupedByUnderscoresOrColons(t *testing.T) {
	dir := t.TempDir()
	loose := strings.NewReplacer("_", "-", ":", "-")
	routesFile := filepath.Join(dir, "routes.yaml")
	os.WriteFile(routesFile, []byte(`routes:
  - id: 4111_1111_1111_1111
    direction: outbound
    host: api.psp.example
    leak_guard: "4111:1111:1111:1111"
    accounts: [acct_4111_1111_1111_1111]
    filters:
      - id: "5555:5555:5555:4444"
        group: 4111_1111_1111_1111
        operation: reveal
        targets: [{json: card.number}]
`), 0o600)
	cfgFile := filepath.Join(dir, "c.yaml")
	os.WriteFile(cfgFile, []byte(`data_dir: `+dir+`
4111_1111_1111_1111: x
limits:
  read_timeout: 4111_1111_1111_1111
  max_body: "4111:1111:1111:1111"
default_account: acct_4111_1111_1111_1111
`), 0o600)
	for _, tc := range []struct {
		args []string
		want []string // problems that must be named
	}{
		{[]string{"routes", "validate", routesFile}, []string{"route id", "filter id", "group", "leak_guard", "account"}},
		{[]string{"config", "check", "--config", cfgFile}, []string{"read_timeout", "max_body", "default_account"}},
	} {
		stdout, stderr, err := runCmd(t, testEnv(nil), tc.args...)
		if err == nil {
			t.Fatalf("%v: accepted", tc.args)
		}
		var shown strings.Builder
		exitCode(err, &shown)
		all := stdout + stderr + err.Error() + shown.String()
		if pan.ContainsAllString(loose.Replace(all)) {
			t.Errorf("%v: a card number is shown:\n%s", tc.args, all)
		}
		for _, w := range tc.want {
			if !strings.Contains(all, w) {
				t.Errorf("%v: no problem names %s:\n%s", tc.args, w, all)
			}
		}
	}
}

// TestRouteClassifiersTheVaultRefusesAreRefusedAtLoad: a redact target's
// classifiers were not checked when the routes loaded, so classifiers the
// vault refuses (a card number, an empty one, an invisible character, more
// than 32, over 64 characters) loaded without a word and every request the
// filter applied to was then refused; routes validate said the file was
// valid. They are problems with their line now (the vault's own rule), the
// card number masked.
func TestRouteClassifiersTheVaultRefusesAreRefusedAtLoad(t *testing.T) {
	dir := t.TempDir()
	many := strings.TrimSuffix(strings.Repeat("c, ", 33), ", ")
	for _, classifiers := range []string{`["4111111111111111"]`, `["4111_1111_1111_1111"]`, `[""]`, "[\"a\\u200bb\"]", `[` + many + `]`,
		`["` + strings.Repeat("x", 65) + `"]`} {
		file := filepath.Join(dir, "routes.yaml")
		os.WriteFile(file, []byte(`routes:
  - id: checkout
    direction: inbound
    host: "*"
    upstream: http://127.0.0.1:1
    filters:
      - id: card
        operation: redact
        targets:
          - {json: card.number, classifiers: `+classifiers+`}
`), 0o600)
		stdout, stderr, err := runCmd(t, testEnv(nil), "routes", "validate", file)
		var shown strings.Builder
		exitCode(err, &shown)
		all := stdout + stderr + shown.String()
		if err == nil || !strings.Contains(all, "routes.yaml:10") || !strings.Contains(all, "classifier") {
			t.Errorf("classifiers %.40s: %v\n%s", classifiers, err, all)
		}
		if pan.ContainsLooseString(all) {
			t.Errorf("classifiers %.40s: a card number is shown:\n%s", classifiers, all)
		}
	}
}
