package main

import (
	"context"
	"encoding/json"
	"io"
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
