package main

import (
	"strings"
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
