package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/aliasgate/aliasgate/internal/obs/obstest"
	"github.com/aliasgate/aliasgate/internal/pan"
)

// TestImportVGSNeverQuotesACardNumber: a VGS export with card numbers where
// the importer quotes it back (route and entry ids, a condition it cannot
// express; plain, in groups of spaces and dashes, full-width, with '_')
// converts with its report (exit 1), and neither the report on stderr nor
// the routes and their comments on stdout hold a card number. The report
// and the comments quoted them in clear, and a VGS id holding one became a
// native id the routes refuse, so the import failed as "a bug in the
// importer" (exit 3).
func TestImportVGSNeverQuotesACardNumber(t *testing.T) {
	export := writeIn(t, t.TempDir(), "vgs.yaml", []byte(`data:
  - id: "4111111111111111"
    type: rule_chain
    attributes:
      host_endpoint: api\.psp\.example
      destination_override_endpoint: '*'
      entries:
        - id: "5555-5555-5555-4444"
          phase: REQUEST
          operation: ENRICH
          transformer: JSON_PATH
          transformer_config: ['$.pan']
          targets: [body]
          config:
            condition: AND
            rules:
              - expression: {field: PathInfo, operator: equals, type: string, values: ['/pay']}
        - id: "４０１２８８８８８８８８１８８１"
          phase: REQUEST
          operation: ENRICH
          transformer: JSON_PATH
          transformer_config: ['$.card']
          targets: [body]
          config:
            condition: AND
            rules:
              - expression: {field: Header, operator: contains, type: string, values: ['5105 1051 0510 5100']}
        - id: "3782_822463_10005"
          phase: REQUEST
          operation: ENRICH
          transformer: JSON_PATH
          transformer_config: ['$..pan']
          targets: [body]
          config:
            condition: AND
            rules:
              - expression: {field: PathInfo, operator: equals, type: string, values: ['/other']}
`))
	out, stderr, err := runCmd(t, testEnv(nil), "routes", "import-vgs", export)
	var buf strings.Builder
	if code := exitCode(err, &buf); code != 1 || !strings.Contains(out, "routes:") {
		t.Errorf("exit %d (%v), want 1 with the routes on stdout\nstdout %q\nstderr %q", code, err, out, stderr)
	}
	obstest.AssertNoPAN(t, "stdout of routes import-vgs", []byte(out))
	for name, s := range map[string]string{"stdout": out, "stderr": stderr} {
		if pan.MaskShown(pan.MaskLoose(s)) != s {
			t.Errorf("%s holds a card number:\n%s", name, s)
		}
	}
}

// TestImportVGSNeverQuotesACardNumberInAnySpelling: the importer masked a
// card number of the export (pan.MaskLoose) before it made a VGS id a
// native one (other characters to '-'), which joined what the mask had
// read apart: the route id "4111/1111/1111/1111" became
// "4111-1111-1111-1111", which the routes refuse (exit 3, "a bug in the
// importer"); and it quoted that id in clear on stderr and in the routes'
// comments (groups apart by '/', which MaskLoose does not read and a
// reader does: pan.MaskShown). Tabs and newlines in ids, names and
// condition values too.
func TestImportVGSNeverQuotesACardNumberInAnySpelling(t *testing.T) {
	export := writeIn(t, t.TempDir(), "vgs.yaml", []byte(`data:
  - id: "4111/1111/1111/1111"
    type: rule_chain
    attributes:
      host_endpoint: api\.psp\.example
      destination_override_endpoint: '*'
      tags: {name: "card 5555 5555\t5555 4444"}
      entries:
        - id: "5105 1051\t0510 5100"
          phase: REQUEST
          operation: ENRICH
          transformer: JSON_PATH
          transformer_config: ['$.pan']
          targets: [body]
          config:
            condition: AND
            rules:
              - expression: {field: Header, operator: contains, type: string, values: ["3782 822463\n10005"]}
`))
	out, stderr, err := runCmd(t, testEnv(nil), "routes", "import-vgs", export)
	var buf strings.Builder
	if code := exitCode(err, &buf); code != 1 || !strings.Contains(out, "routes:") {
		t.Errorf("exit %d (%v), want 1 with the routes on stdout\nstdout %q\nstderr %q", code, err, out, stderr)
	}
	for name, s := range map[string]string{"stdout": out, "stderr": stderr} {
		if pan.ContainsAllString(s) || pan.MaskShown(pan.MaskLoose(s)) != s {
			t.Errorf("%s holds a card number:\n%s", name, s)
		}
	}
}

// fullWriter is a stdout on a full disk (> creds.json on a full volume,
// /dev/full): every write fails.
type fullWriter struct{}

func (fullWriter) Write([]byte) (int, error) { return 0, syscall.ENOSPC }

// TestOutputThatCannotBeWrittenIsAFailure: a command whose output cannot be
// written (stdout redirected to a file on a full disk) fails (exit 1). clients
// create stored the client, could not write its secret, which is never
// shown again, and exited 0 as if creds.json held it; keys status and
// audit verify exited 0 with nothing printed. clients create now says the
// client was stored, names it and says to revoke it.
func TestOutputThatCannotBeWrittenIsAFailure(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	env := testEnv(nil)
	createClient(t, env, data, "--name", "first", "--scopes", "aliases:write")
	var msg strings.Builder
	err := run(context.Background(), []string{"clients", "create", "--data-dir", data, "--name", "shop", "--scopes", "aliases:write"}, env, fullWriter{}, io.Discard)
	if code := exitCode(err, &msg); code != 1 {
		t.Errorf("clients create, stdout full: exit %d, %q; want 1", code, msg.String())
	}
	out, _, err := runCmd(t, env, "clients", "list", "--data-dir", data)
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Clients []struct {
			ID   string `json:"client_id"`
			Name string `json:"name"`
		} `json:"clients"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	for _, c := range list.Clients {
		if c.Name == "shop" && (!strings.Contains(msg.String(), c.ID) || !strings.Contains(msg.String(), "clients revoke")) {
			t.Errorf("clients create, stdout full: %q does not name the client stored (%s) nor say to revoke it", msg.String(), c.ID)
		}
	}
	// keys rotate added the version: it says so.
	msg.Reset()
	err = run(context.Background(), []string{"keys", "rotate", "--data-dir", data}, env, fullWriter{}, io.Discard)
	if code := exitCode(err, &msg); code != 1 || !strings.Contains(msg.String(), "key version 2 was added") {
		t.Errorf("keys rotate, stdout full: exit %d, %q; want 1 saying version 2 was added", code, msg.String())
	}
	for _, args := range [][]string{
		{"keys", "status", "--data-dir", data},
		{"audit", "verify", "--data-dir", data},
		{"clients", "list", "--data-dir", data},
	} {
		err := run(context.Background(), args, env, fullWriter{}, io.Discard)
		if code := exitCode(err, io.Discard); code != 1 {
			t.Errorf("%v, stdout full: exit %d (%v), want 1", args, code, err)
		}
	}
}

// TestVaultCopyIntoTheSameDatabaseIsRefused: two configurations naming one
// PostgreSQL database in two spellings (another host name, a parameter
// more) are the same store: vault copy refuses them as it refuses one URL
// twice, and writes nothing. It compared the URLs as strings, went on,
// found every record, client and setting "already there" and reported a
// complete copy, so an operator could drop the "old" database, which was
// the only one.
func TestVaultCopyIntoTheSameDatabaseIsRefused(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	pgURL := testPostgresURL(t)
	sep := "?"
	if strings.Contains(pgURL, "?") {
		sep = "&"
	}
	from, to := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
	for file, u := range map[string]string{from: pgURL, to: pgURL + sep + "application_name=aliasgate_copy"} {
		if err := os.WriteFile(file, []byte(fmt.Sprintf("data_dir: %s\nvault: {store: postgres, postgres_url: %q}\n", data, u)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	env := testEnv(nil)
	if _, _, err := runCmd(t, env, "migrate", "--config", from); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCmd(t, env, "clients", "create", "--config", from, "--name", "shop", "--scopes", "aliases:write"); err != nil {
		t.Fatal(err)
	}
	out, stderr, err := runCmd(t, env, "vault", "copy", "--from-config", from, "--to-config", to)
	if err == nil || !strings.Contains(err.Error(), "same") {
		t.Fatalf("vault copy into the same database: err %v\nstdout %q\nstderr %q", err, out, stderr)
	}
	if _, err := os.Stat(filepath.Join(data, copyCheckpointFile)); !os.IsNotExist(err) {
		t.Errorf("a refused copy wrote a checkpoint (%v)", err)
	}

	// A bbolt data dir reached through a link is the same store too: it was
	// refused only by the file's lock, as "locked by another process".
	boltData := filepath.Join(dir, "bolt")
	createClient(t, env, boltData, "--name", "shop", "--scopes", "aliases:write")
	link := filepath.Join(dir, "bolt-link")
	if err := os.Symlink(boltData, link); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(from, []byte("data_dir: "+boltData+"\n"), 0o600)
	os.WriteFile(to, []byte("data_dir: "+link+"\n"), 0o600)
	_, _, err = runCmd(t, env, "vault", "copy", "--from-config", from, "--to-config", to)
	var buf strings.Builder
	if code := exitCode(err, &buf); code != 2 || !strings.Contains(buf.String(), "same store") {
		t.Errorf("vault copy into the same bbolt file through a link: exit %d, %q; want the same-store refusal", code, buf.String())
	}
}

// TestRoutesTestInboundRequestNoRouteMatches: the inbound listener answers
// a request no inbound route matches with 404 no_route (or one of its
// built-in endpoints) and forwards nothing. routes test said "the message
// passes unchanged", printed the request on stdout, card number and all,
// and exited 0, as if it reached an upstream. It now says what the gateway
// does, prints nothing and exits 1. On the outbound proxy such a request
// does pass unchanged (to its destination), as before.
func TestRoutesTestInboundRequestNoRouteMatches(t *testing.T) {
	dir := t.TempDir()
	req := writeIn(t, dir, "typo.http", []byte("POST /checkout HTTP/1.1\r\nHost: shop.exmaple.com\r\nContent-Type: application/json\r\n\r\n"+
		`{"card":{"number":"4111111111111111"}}`))
	out, stderr, err := runCmd(t, testEnv(nil), "routes", "test", "--routes", "testdata/routes.yaml", "--request", req)
	if err == nil || out != "" || !strings.Contains(stderr+err.Error(), "404 no_route") || strings.Contains(stderr, "passes unchanged") {
		t.Errorf("inbound, no route: err %v\nstdout %q\nstderr %q", err, out, stderr)
	}
	out, stderr, err = runCmd(t, testEnv(nil), "routes", "test", "--routes", "testdata/routes.yaml", "--request", req, "--direction", "outbound")
	if err != nil || !strings.Contains(out, "POST /checkout") || !strings.Contains(stderr, "passes unchanged") {
		t.Errorf("outbound, no route: err %v\nstdout %q\nstderr %q", err, out, stderr)
	}
}

// TestClientNameHoldingACardNumberIsRefused: a client name is shown by
// clients list and the admin listener's GET /admin/clients, so clients
// create refuses one that holds a card number in any spelling a reader
// sees: digit groups joined by '_' (YAML's spelling) or ':' (as route ids
// and accounts refuse them), by '/', in another script's digits. Only
// spaces, dashes and the spellings internal/pan.ContainsString reads were
// refused; the others were stored and printed in clear.
func TestClientNameHoldingACardNumberIsRefused(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	env := testEnv(nil)
	createClient(t, env, data, "--name", "shop 2024/12/06", "--scopes", "aliases:write")
	for _, name := range []string{"4111_1111_1111_1111", "test card 4111:1111:1111:1111", "4111/1111/1111/1111", "\u0664\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661"} {
		out, _, err := runCmd(t, env, "clients", "create", "--data-dir", data, "--name", name, "--scopes", "aliases:write")
		var buf strings.Builder
		if code := exitCode(err, &buf); code != 1 || out != "" || !strings.Contains(buf.String(), "card number") {
			t.Errorf("clients create --name %q: exit %d, stdout %q, %q; want the refusal", pan.MaskShown(name), code, out, buf.String())
		}
	}
	out, _, err := runCmd(t, env, "clients", "list", "--data-dir", data)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out, `"client_id"`); n != 1 || !strings.Contains(out, `"name":"shop 2024/12/06"`) {
		t.Errorf("clients list shows %d clients, want only shop 2024/12/06: %s", n, pan.MaskShown(out))
	}
}

// TestAuditVerifyOfAnEmptiedLogSaysLinesMayBeCutOff: audit verify notes a
// log that does not end with gateway_stopped (or a command's line), since
// lines cut off the end cannot be seen in the file alone. A log emptied
// (every line cut off: : > audit.log) printed "ok, 0 lines" and no note at
// all, where a log missing only its last line got one.
func TestAuditVerifyOfAnEmptiedLogSaysLinesMayBeCutOff(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	env := testEnv(nil)
	createClient(t, env, data, "--name", "shop", "--scopes", "aliases:write")
	if err := os.Truncate(filepath.Join(data, "audit.log"), 0); err != nil {
		t.Fatal(err)
	}
	out, stderr, err := runCmd(t, env, "audit", "verify", "--data-dir", data)
	if err != nil || !strings.Contains(out, "ok, 0 lines") || !strings.Contains(stderr, "cut off") {
		t.Errorf("audit verify of an emptied log: %v\nstdout %q\nstderr %q", err, out, stderr)
	}
}

// TestImportVGSRefusesAHugeExport: routes import-vgs reads at most 16 MiB
// (a VGS export is kilobytes; the gateway reads a routes file of at most
// 16 MiB) and refuses more as bad input (exit 2), naming the limit. It read
// any size whole (a runaway export, /dev/zero, a FIFO fed forever grew
// without bound) and converted a 17 MiB one.
func TestImportVGSRefusesAHugeExport(t *testing.T) {
	var b strings.Builder
	b.WriteString(`data:
  - id: r1
    type: rule_chain
    attributes:
      host_endpoint: api\.psp\.example
      destination_override_endpoint: '*'
      entries: []
`)
	line := "# " + strings.Repeat("x", 1022) + "\n"
	for b.Len() <= 17<<20 {
		b.WriteString(line)
	}
	export := writeIn(t, t.TempDir(), "huge.yaml", []byte(b.String()))
	out, _, err := runCmd(t, testEnv(nil), "routes", "import-vgs", export)
	var msg strings.Builder
	if code := exitCode(err, &msg); code != 2 || out != "" || !strings.Contains(msg.String(), "16777216 bytes") {
		t.Errorf("17 MiB export: exit %d, %d bytes on stdout, %q; want 2 naming the limit", code, len(out), msg.String())
	}
}

// TestCACertAfterACrashBetweenItsTwoFiles: the gateway CA is created as
// two files, the key first, then the certificate; a crash (or a full disk)
// between them leaves the key alone. ca cert (and serve) then failed, at
// every run, with "must both exist or both be absent", and nothing said
// which file to remove. The certificate is now made again from the key that
// is there (the same key: a certificate clients may trust keeps working),
// and written. A certificate without its key is still refused.
func TestCACertAfterACrashBetweenItsTwoFiles(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	env := testEnv(nil)
	first, _, err := runCmd(t, env, "ca", "cert", "--data-dir", data)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(data, "ca.pem")); err != nil { // as a crash before it was written
		t.Fatal(err)
	}
	again, _, err := runCmd(t, env, "ca", "cert", "--data-dir", data)
	if err != nil || !strings.Contains(again, "BEGIN CERTIFICATE") {
		t.Fatalf("ca cert with the key alone: %v %q", err, again)
	}
	pub := func(p string) string {
		t.Helper()
		b, _ := pem.Decode([]byte(p))
		if b == nil {
			t.Fatalf("no PEM in %q", p)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		return string(c.RawSubjectPublicKeyInfo)
	}
	if pub(first) != pub(again) {
		t.Error("the certificate made again has another key")
	}
	if third, _, err := runCmd(t, env, "ca", "cert", "--data-dir", data); err != nil || third != again {
		t.Errorf("the certificate made again was not kept: %v", err)
	}
	if err := os.Remove(filepath.Join(data, "ca.key")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCmd(t, env, "ca", "cert", "--data-dir", data); err == nil {
		t.Error("a certificate without its key was accepted")
	}
}

// TestVersionAndHelpThatCannotBeWrittenFail: "aliasgate --version" is
// "aliasgate version" (README, Commands), and a command whose output could
// not be written fails. "version" and "clients create --help" did; but
// --version, the top-level --help and help, a command group's --help and
// serve's --help wrote to stdout unchecked and exited 0 with nothing
// printed (v=$(aliasgate --version) on a closed pipe, a full disk).
func TestVersionAndHelpThatCannotBeWrittenFail(t *testing.T) {
	env := testEnv(nil)
	for _, args := range [][]string{
		{"version"},
		{"--version"},
		{"-version"},
		{"--help"},
		{"-h"},
		{"help"},
		{"help", "serve"},
		{"help", "keys", "status"},
		{"serve", "--help"},
		{"clients", "--help"},
		{"clients", "create", "--help"},
	} {
		var msg strings.Builder
		err := run(context.Background(), args, env, fullWriter{}, io.Discard)
		if code := exitCode(err, &msg); code != 1 || !strings.Contains(msg.String(), "could not be written") {
			t.Errorf("%v, stdout full: exit %d, %q; want 1 saying the output could not be written", args, code, msg.String())
		}
		// The same command on a working stdout prints and exits 0.
		var out strings.Builder
		if err := run(context.Background(), args, env, &out, io.Discard); err != nil || out.Len() == 0 {
			t.Errorf("%v: err %v, %d bytes of output; want success with output", args, err, out.Len())
		}
	}
}

// TestAuditVerifyWithoutTheMasterKeySaysWhereItLooked: "aliasgate audit
// verify other/audit.log" run where the log's data dir is not the default
// one failed with "run with the data dir that holds master.key", naming
// neither the file it looked for nor the flag that names the data dir, as
// the other commands' "no vault here: … (check --data-dir or data_dir)" do.
func TestAuditVerifyWithoutTheMasterKeySaysWhereItLooked(t *testing.T) {
	dir := t.TempDir()
	data, empty := filepath.Join(dir, "data"), filepath.Join(dir, "empty")
	env := testEnv(nil)
	createClient(t, env, data, "--name", "shop", "--scopes", "aliases:write")
	_, _, err := runCmd(t, env, "audit", "verify", "--data-dir", empty, filepath.Join(data, "audit.log"))
	var msg strings.Builder
	if code := exitCode(err, &msg); code != 1 || !strings.Contains(msg.String(), filepath.Join(empty, "master.key")) || !strings.Contains(msg.String(), "--data-dir") {
		t.Errorf("audit verify without the master key: exit %d, %q; want 1 naming %s and --data-dir", code, msg.String(), filepath.Join(empty, "master.key"))
	}
	if _, err := os.Stat(empty); !os.IsNotExist(err) {
		t.Errorf("audit verify made the data dir %s (%v)", empty, err)
	}
	if out, _, err := runCmd(t, env, "audit", "verify", "--data-dir", data); err != nil || !strings.HasPrefix(out, "ok, ") {
		t.Errorf("audit verify --data-dir %s: %q, %v; want ok", data, out, err)
	}
}

// TestTSPSimulateTakesAnExpiryWhole: --exp-month without --exp-year (or the
// reverse) is a usage error (exit 2), before any gateway is asked: the
// month alone went to the gateway, whose simulator applied it with the
// year 0 ("00": the token then expired in 2000). cards
// TestSimulateRefusals covers the endpoint's side.
func TestTSPSimulateTakesAnExpiryWhole(t *testing.T) {
	env := testEnv(map[string]string{"ALIASGATE_ADMIN_TOKEN": "0123456789abcdef-token"})
	for _, flags := range [][]string{{"--exp-month", "7"}, {"--exp-year", "2031"}} {
		args := append([]string{"tsp", "simulate", "token-updated", "--account", "acct_1", "--card", "CRDx",
			"--data-dir", filepath.Join(t.TempDir(), "data"), "--admin", "http://127.0.0.1:1"}, flags...)
		_, _, err := runCmd(t, env, args...)
		var msg strings.Builder
		if code := exitCode(err, &msg); code != 2 || !strings.Contains(msg.String(), "--exp-month and --exp-year together") {
			t.Errorf("tsp simulate token-updated %v: exit %d, %q; want 2 saying both are needed", flags, code, msg.String())
		}
	}
}

// TestRoutesTestRequestWithoutHost: a request file without a Host line
// (REQ.http is "a request line, headers with Host, a blank line, the
// body") is refused, saying so, as the gateway refuses such an HTTP/1.1
// request (400 "missing required Host header") and forwards nothing. The
// dry run matched it to a host "*" route and printed it as forwarded,
// exit 0, and with a named host answered "no inbound route matches host
// \"\"".
func TestRoutesTestRequestWithoutHost(t *testing.T) {
	dir := t.TempDir()
	routesFile := writeIn(t, dir, "routes.yaml", []byte(`routes:
  - id: checkout
    direction: inbound
    host: "*"
    path_prefix: /checkout
    upstream: http://127.0.0.1:1
    filters:
      - id: card
        operation: redact
        targets:
          - {json: card.number}
`))
	req := writeIn(t, dir, "nohost.http", []byte("POST /checkout HTTP/1.1\r\nContent-Type: application/json\r\n\r\n"+
		`{"card":{"number":"4111111111111111"}}`))
	out, stderr, err := runCmd(t, testEnv(nil), "routes", "test", "--routes", routesFile, "--request", req)
	var msg strings.Builder
	if code := exitCode(err, &msg); code != 1 || out != "" || !strings.Contains(msg.String(), "Host") {
		t.Errorf("routes test of a request without Host: exit %d, %q\nstdout %q\nstderr %q; want 1 naming the missing Host", code, msg.String(), out, stderr)
	}
	// With its Host line, or in absolute form, it is rewritten.
	for name, text := range map[string]string{
		"host.http":     "POST /checkout HTTP/1.1\r\nHost: shop.example.com\r\nContent-Type: application/json\r\n\r\n",
		"absolute.http": "POST http://shop.example.com/checkout HTTP/1.1\r\nContent-Type: application/json\r\n\r\n",
	} {
		req := writeIn(t, dir, name, []byte(text+`{"card":{"number":"4111111111111111"}}`))
		out, stderr, err := runCmd(t, testEnv(nil), "routes", "test", "--routes", routesFile, "--request", req)
		if err != nil || !strings.Contains(out, "Host: shop.example.com") || strings.Contains(out, "4111111111111111") {
			t.Errorf("routes test of %s: %v\nstdout %q\nstderr %q", name, err, pan.MaskShown(out), stderr)
		}
	}
}

// TestRoutesValidateWarnsOfAFileServeRefuses: a routes file any user may
// write is refused by serve and config check (routes.ReadFile), but
// routes validate, which a user runs first, called it valid with no word
// of it. It still validates the content (exit 0), and warns.
func TestRoutesValidateWarnsOfAFileServeRefuses(t *testing.T) {
	file := writeIn(t, t.TempDir(), "routes.yaml", []byte("routes:\n  - id: a\n    direction: inbound\n    host: \"*\"\n    path_prefix: /checkout\n    upstream: http://127.0.0.1:1\n"))
	if err := os.Chmod(file, 0o666); err != nil {
		t.Fatal(err)
	}
	out, stderr, err := runCmd(t, testEnv(nil), "routes", "validate", file)
	if err != nil || !strings.Contains(out, "valid") || !strings.Contains(stderr, "warning") || !strings.Contains(stderr, "chmod o-w") {
		t.Errorf("routes validate of a file mode 0666: %v\nstdout %q\nstderr %q; want valid with a warning saying chmod o-w", err, out, stderr)
	}
	if err := os.Chmod(file, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, err := runCmd(t, testEnv(nil), "routes", "validate", file); err != nil || strings.Contains(stderr, "chmod") {
		t.Errorf("routes validate of a file mode 0644: %v, stderr %q", err, stderr)
	}
}

// TestMissingConfiguredCAFilesSayWhichKeyAndWhere: outbound.ca_cert and
// ca_key name files the gateway never creates; one that does not exist
// failed ca cert, config check and serve with "outbound CA: stat
// my-ca.pem: no such file or directory", naming neither the key nor,
// for a relative path, the working directory it was read from (as the
// other paths of the configuration are named).
func TestMissingConfiguredCAFilesSayWhichKeyAndWhere(t *testing.T) {
	cfgDir := t.TempDir()
	cfg := writeIn(t, cfgDir, "aliasgate.yaml", []byte("outbound: {ca_cert: my-ca.pem, ca_key: my-ca.key}\n"))
	work := t.TempDir()
	t.Chdir(work)
	data := filepath.Join(work, "data")
	for _, args := range [][]string{
		{"ca", "cert", "--config", cfg, "--data-dir", data},
		{"config", "check", "--config", cfg},
		{"serve", "--config", cfg, "--data-dir", data},
	} {
		_, _, err := runCmd(t, testEnv(nil), args...)
		if err == nil || !strings.Contains(err.Error(), "outbound.ca_cert") || !strings.Contains(err.Error(), "my-ca.pem") ||
			!strings.Contains(err.Error(), "working directory "+work) || !strings.Contains(err.Error(), "never created") {
			t.Errorf("%v: %v; want outbound.ca_cert, my-ca.pem, the working directory and that it is never created", args[:2], err)
		}
	}
	if _, err := os.Stat(filepath.Join(work, "my-ca.pem")); !os.IsNotExist(err) {
		t.Errorf("a configured CA file was created (%v)", err)
	}
}

// TestConfigCheckReadsTheBINTable: cards.bin_table is a file serve reads
// at start (a missing or malformed one stops it), and config check "reads
// the files and secrets serve reads at start, so that none of them stops
// serve later"; it called a configuration naming a missing BIN table
// valid, and serve then failed.
func TestConfigCheckReadsTheBINTable(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	cfg := writeIn(t, dir, "aliasgate.yaml", []byte("cards: {bin_table: bins.csv}\n"))
	_, _, err := runCmd(t, testEnv(nil), "config", "check", "--config", cfg)
	if err == nil || !strings.Contains(err.Error(), "cards.bin_table") || !strings.Contains(err.Error(), "working directory "+dir) {
		t.Errorf("config check, bin_table missing: %v; want cards.bin_table and the working directory", err)
	}
	writeIn(t, dir, "bins.csv", []byte("prefix,card_type\n411111,CREDIT\n4242,GOLD\n"))
	_, _, err = runCmd(t, testEnv(nil), "config", "check", "--config", cfg)
	if err == nil || !strings.Contains(err.Error(), "cards.bin_table") || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("config check, bin_table with a bad line: %v; want cards.bin_table naming line 3", err)
	}
	writeIn(t, dir, "bins.csv", []byte("prefix,card_type\n411111,CREDIT\n4242,debit\n"))
	if out, _, err := runCmd(t, testEnv(nil), "config", "check", "--config", cfg); err != nil || !strings.Contains(out, "valid") {
		t.Errorf("config check, a good bin_table: %q, %v", out, err)
	}
}

// TestMissingListenerTLSFilesSayWhichKeyAndWhere: a listen.*_cert or
// listen.*_key that does not exist failed config check and serve with
// "inbound TLS: certificate: stat c.pem: no such file or directory",
// naming neither the key nor, for a relative path, the working directory
// it was read from (as routes_file, the CA bundles and the webhook secrets
// are named).
func TestMissingListenerTLSFilesSayWhichKeyAndWhere(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	data := filepath.Join(dir, "data")
	for _, c := range []struct{ yaml, key string }{
		{"listen: {inbound_cert: c.pem, inbound_key: k.pem}\n", "listen.inbound_cert"},
		{"listen: {outbound_cert: c.pem, outbound_key: k.pem}\n", "listen.outbound_cert"},
	} {
		cfg := writeIn(t, dir, "aliasgate.yaml", []byte(c.yaml))
		for _, args := range [][]string{
			{"config", "check", "--config", cfg},
			{"serve", "--config", cfg, "--data-dir", data},
		} {
			_, _, err := runCmd(t, testEnv(nil), args...)
			if err == nil || !strings.Contains(err.Error(), c.key) || !strings.Contains(err.Error(), "working directory "+dir) {
				t.Errorf("%s, %v: %v; want %s and the working directory", strings.TrimSpace(c.yaml), args[:2], err, c.key)
			}
		}
	}
}

// TestUsageErrorsNeverEchoACardNumberAReaderSees: a card number typed
// where the command takes no argument, as a flag's value, or as a client
// id, in a spelling a reader sees as one (groups by '/', '|', two spaces,
// full-width digits), was quoted back as typed on stderr: the usage
// errors were masked with pan.MaskLoose, which reads ' ', '-', '.', '_'
// and ':' only. They are masked as text shown to people is (pan.MaskShown).
func TestUsageErrorsNeverEchoACardNumberAReaderSees(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := runCmd(t, testEnv(nil), "clients", "create", "--data-dir", dir, "--name", "x", "--scopes", "aliases:write"); err != nil {
		t.Fatal(err)
	}
	for _, number := range []string{"4111/1111/1111/1111", "4111|1111|1111|1111", "4111 1111  1111 1111", "４１１１１１１１１１１１１１１１"} {
		for _, args := range [][]string{
			{"version", number},
			{"vault", "copy", "--batch", number},
			{"clients", "revoke", "--data-dir", dir, number},
			{"clients", "rotate-secret", "--data-dir", dir, number},
		} {
			_, _, err := runCmd(t, testEnv(nil), args...)
			if err == nil {
				t.Fatalf("%q: no error", args)
			}
			var stderr bytes.Buffer
			exitCode(err, &stderr)
			if line := stderr.String(); pan.MaskShown(line) != line {
				t.Errorf("%q: stderr quotes a card number a reader sees: %s", args, line)
			}
		}
	}
}
