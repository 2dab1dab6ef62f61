package proxy

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/routes"
	"github.com/aliasgate/aliasgate/routes/vgs"
	"github.com/aliasgate/aliasgate/vault"
)

// vgsRegexExport is a VGS export of one inbound REDACT entry on the body
// of POST /pay whose REGEX pattern is pattern (YAML single-quoted).
func vgsRegexExport(upstream, pattern string) string {
	return `version: 1
data:
  - attributes:
      destination_override_endpoint: ` + upstream + `
      entries:
        - classifiers: {}
          config:
            condition: AND
            rules:
              - expression: {field: PathInfo, operator: equals, type: string, values: [/pay]}
          id: 0d9f3a5e-1b2c-4d3e-8f4a-5b6c7d8e9f01
          operation: REDACT
          phase: REQUEST
          public_token_generator: FPE_SIX_T_FOUR
          targets: [body]
          token_manager: PERSISTENT
          transformer: REGEX
          transformer_config_map:
            patterns: ['` + pattern + `']
            replacement: '%s'
      host_endpoint: (.*)\.verygoodproxy\.com
      id: 1e2f3a4b-5c6d-4e7f-8a9b-0c1d2e3f4a5b
      port: 80
      protocol: http
      source_endpoint: '*'
    id: 1e2f3a4b-5c6d-4e7f-8a9b-0c1d2e3f4a5b
    type: rule_chain
`
}

// importVGSText converts a VGS export given as text and loads it as the
// aliasgate command does.
func importVGSText(t *testing.T, src string) (*routes.Set, vgs.Report) {
	t.Helper()
	out, rep, err := vgs.Convert([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	set, err := routes.Parse(out, "vgs.yaml", routes.Options{CheckFormat: func(f string) error {
		_, err := vault.ParseFormat(f)
		return err
	}})
	if err != nil {
		t.Fatalf("the converted routes do not load: %v\n%s", err, out)
	}
	return set, rep
}

// TestImportedVGSRegexEscapeBraces: in Java's \p{Nd}+ the '+' follows the
// braces of the escape and is an ordinary quantifier; the import read
// "}+" as a possessive quantifier and left the entry out, and the card
// number reached the app in clear.
func TestImportedVGSRegexEscapeBraces(t *testing.T) {
	for _, pattern := range []string{`(?<token>\p{Nd}+)`, `(?<token>\p{N}+)`, `(?<token>\x{34}\p{Nd}+)`} {
		up := newUpstream(t, nil)
		set, rep := importVGSText(t, vgsRegexExport(up.URL, pattern))
		g := newGateway(t, set, nil, gwOptions{})
		resp, b := g.do(t, "POST", "/pay", "text/plain", strings.NewReader("pan "+testPAN+" ok"), nil)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: status %d %s", pattern, resp.StatusCode, b)
			continue
		}
		got := string(up.last(t).Body)
		if !regexp.MustCompile(`^pan 411111[0-9]{6}1111 ok$`).MatchString(got) || strings.Contains(got, testPAN) {
			t.Errorf("%s: the upstream got %q; want the card number as an alias (report: %+v)", pattern, obstestMask(got), rep)
		}
	}
}

// TestImportedVGSRegexFoldsCaseAsJava: Java's (?i) folds ASCII letters
// only, RE2's Unicode: (?i)\W is every non-word character to Java, ſ
// (U+017F) and the Kelvin sign included, and RE2 left those two out (they
// fold to s and k). "pan=4111…1111ſ" matched the VGS pattern below, and
// the card number reached the app in clear.
func TestImportedVGSRegexFoldsCaseAsJava(t *testing.T) {
	up := newUpstream(t, nil)
	set, rep := importVGSText(t, vgsRegexExport(up.URL, `(?i)(?<prefix>pan=)(?<token>\d{16})(?<suffix>\W)`))
	g := newGateway(t, set, nil, gwOptions{})
	for _, end := range []string{";", "\u017f", "\u212a"} {
		resp, b := g.do(t, "POST", "/pay", "text/plain", strings.NewReader("PAN="+testPAN+end), nil)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%q: status %d %s", end, resp.StatusCode, b)
			continue
		}
		got := string(up.last(t).Body)
		if !regexp.MustCompile(`^PAN=411111[0-9]{6}1111`+regexp.QuoteMeta(end)+`$`).MatchString(got) || strings.Contains(got, testPAN) {
			t.Errorf("%q: the upstream got %q; want the card number as an alias (report: %+v)", end, obstestMask(got), rep)
		}
	}
}
