package main

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/audit"
	"github.com/aliasgate/aliasgate/config"
)

// TestDocsNameRealAuditEvents: where the documentation tells an operator to
// look for an audit line by its event ("`abuse_alert` audit line", "an
// `audit_rotated` line"), the event is one the gateway writes. SECURITY.md
// told operators to watch audit.log for "`client created` lines", an event
// that does not exist (the line is client_created).
func TestDocsNameRealAuditEvents(t *testing.T) {
	known := map[string]bool{}
	for _, e := range []string{audit.EventReveal, audit.EventDelete, audit.EventUpdate, audit.EventClientCreated, audit.EventKeyRotated, audit.EventKeyRestored,
		audit.EventKeysReencrypt, audit.EventRoutesReloaded, audit.EventGatewayStarted, audit.EventGatewayStopped,
		audit.EventAbuseAlert, audit.EventRecovered, audit.EventGap, audit.EventRotated, audit.EventContinued, audit.EventResumed,
		eventClientRevoked, eventClientSecretRotated} {
		known[e] = true
	}
	re := regexp.MustCompile("`([a-z][a-z_ ]*)` (audit )?lines?\\b")
	n := 0
	for _, f := range []string{"README.md", "SECURITY.md", "config/README.md", "docs/DECISIONS.md"} {
		b, err := os.ReadFile(filepath.Join("..", "..", f))
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		for _, m := range re.FindAllStringSubmatchIndex(text, -1) {
			name := text[m[2]:m[3]]
			audited := m[4] >= 0 || strings.Contains(strings.ToLower(text[max(0, m[0]-300):m[0]]), "audit")
			if !audited {
				continue
			}
			n++
			if !known[name] {
				t.Errorf("%s: %q names an audit event the gateway never writes", f, text[m[0]:m[1]])
			}
		}
	}
	if n < 5 {
		t.Fatalf("found only %d audit line mentions: the pattern no longer matches the docs", n)
	}
}

// TestSecurityAdminTokenRowNamesEveryAdminEndpoint: SECURITY.md's key table
// says what the admin token protects and what its leak gives; every group
// of endpoints behind it (/admin/keys, /admin/clients, /admin/tsp,
// /admin/webhooks, as the admin listener mounts them) is named there. The
// row named the inspector and key rotation only, while the token also
// rotates any client's secret and hands the new one out (that client's
// scopes: reveal, clear card data), lists clients, raises network events
// and redelivers webhooks.
func TestSecurityAdminTokenRowNamesEveryAdminEndpoint(t *testing.T) {
	re := regexp.MustCompile(`"(?:[A-Z]+ )?(/admin/[a-z-]+)`)
	groups := map[string]bool{}
	for _, f := range []string{"admin/admin.go", "webhooks/dispatch/handler.go"} {
		b, err := os.ReadFile(filepath.Join("..", "..", f))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			groups[m[1]] = true
		}
	}
	if len(groups) < 4 {
		t.Fatalf("found only the admin endpoint groups %v", groups)
	}
	sec, err := os.ReadFile(filepath.Join("..", "..", "SECURITY.md"))
	if err != nil {
		t.Fatal(err)
	}
	var row string
	for _, l := range strings.Split(string(sec), "\n") {
		if strings.HasPrefix(l, "| admin token |") {
			row = l
		}
	}
	if row == "" {
		t.Fatal("SECURITY.md's key table has no admin token row")
	}
	for g := range groups {
		if !strings.Contains(row, g) {
			t.Errorf("SECURITY.md's admin token row does not name %s", g)
		}
	}
}

// TestDocsNameTestsThatExist: the tests the documentation cites as proof
// (SECURITY.md's table of bad inputs, DECISIONS rows, the README) exist,
// and where a package is named before them ("`auth` TestX, TestY") they are
// in that package. SECURITY.md cited internal/ratelimit's
// TestGuardAnswers429WithRetryAfter, removed when the rate limit moved into
// auth.
func TestDocsNameTestsThatExist(t *testing.T) {
	repo := filepath.Join("..", "..")
	defined := map[string][]string{} // test name → package dirs
	decl := regexp.MustCompile(`(?m)^func ((?:Test|Fuzz)[A-Za-z0-9_]+)\(`)
	err := filepath.WalkDir(repo, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), ".") && path != repo {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		dir, _ := filepath.Rel(repo, filepath.Dir(path))
		for _, m := range decl.FindAllStringSubmatch(string(b), -1) {
			defined[m[1]] = append(defined[m[1]], filepath.ToSlash(dir))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	name := regexp.MustCompile(`\b(?:Test|Fuzz)[A-Z][A-Za-z0-9_]*`)
	// "`pkg` TestA, TestB/sub; `pkg2` TestC": the tests after a package.
	group := regexp.MustCompile("`([a-z][a-z0-9/]*)` ((?:(?:Test|Fuzz)[A-Za-z0-9_]*(?:/[A-Za-z0-9_./-]*)?(?:, | and |, and )?)+)")
	n := 0
	for _, f := range []string{"README.md", "SECURITY.md", "docs/DECISIONS.md", "config/README.md"} {
		b, err := os.ReadFile(filepath.Join(repo, f))
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		for _, tn := range name.FindAllString(text, -1) {
			n++
			if len(defined[tn]) == 0 {
				t.Errorf("%s cites %s, which no test file defines", f, tn)
			}
		}
		for _, m := range group.FindAllStringSubmatch(text, -1) {
			if _, err := os.Stat(filepath.Join(repo, m[1])); err != nil {
				continue // not a package path (a word in backquotes)
			}
			for _, tn := range name.FindAllString(m[2], -1) {
				if len(defined[tn]) > 0 && !slices.Contains(defined[tn], m[1]) {
					t.Errorf("%s cites `%s` %s, which is in %v", f, m[1], tn, defined[tn])
				}
			}
		}
	}
	if n < 50 {
		t.Fatalf("found only %d cited tests", n)
	}
}

// TestSecurityMdSaysWhichLimitsAreOn: where SECURITY.md says a limit is
// "off by default", config.Default() has it off (zero). It said so of
// limits.client_rate, on by default since the abuse limits (50 requests a
// second, README and DECISIONS), telling operators to "set it in
// production" as if nothing limited a client.
func TestSecurityMdSaysWhichLimitsAreOn(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "SECURITY.md"))
	if err != nil {
		t.Fatal(err)
	}
	def := config.Default()
	lim := reflect.ValueOf(def.Limits)
	re := regexp.MustCompile("`limits\\.([a-z_]+)`")
	text := string(b)
	n := 0
	for _, loc := range re.FindAllStringSubmatchIndex(text, -1) {
		// What follows the key, up to 150 bytes or the next limits key.
		after := text[loc[1]:min(len(text), loc[1]+150)]
		if i := strings.Index(after, "`limits."); i >= 0 {
			after = after[:i]
		}
		if !strings.Contains(after, "off by default") {
			continue
		}
		m := []string{"", text[loc[2]:loc[3]]}
		n++
		for i := range lim.NumField() {
			if tag, _, _ := strings.Cut(lim.Type().Field(i).Tag.Get("yaml"), ","); tag == m[1] && !lim.Field(i).IsZero() {
				t.Errorf("SECURITY.md says limits.%s is off by default; its default is %v", m[1], lim.Field(i).Interface())
			}
		}
	}
	if !strings.Contains(string(b), "limits.client_rate") {
		t.Fatal("SECURITY.md no longer names limits.client_rate")
	}
	t.Logf("%d limits said to be off by default", n)
}

// TestDecisionsSayWhichLimitsAreOn: a row of docs/DECISIONS.md whose
// "code does" cell names a limits key says "off by default" only of a
// limit whose default is off. The per-client rate limit's row said it was
// off by default (and why) while another row, config and README say it is
// on at 50 a second.
func TestDecisionsSayWhichLimitsAreOn(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "DECISIONS.md"))
	if err != nil {
		t.Fatal(err)
	}
	lim := reflect.ValueOf(config.Default().Limits)
	re := regexp.MustCompile("`limits\\.([a-z_]+)`")
	rows := 0
	for _, line := range strings.Split(string(b), "\n") {
		cells := strings.Split(line, " | ")
		if len(cells) < 4 || !strings.HasPrefix(line, "| ") {
			continue
		}
		does := cells[2]
		keys := re.FindAllStringSubmatch(does, -1)
		if len(keys) == 0 {
			continue
		}
		rows++
		if !strings.Contains(does, "off by default") {
			continue
		}
		for _, k := range keys {
			for i := range lim.NumField() {
				if tag, _, _ := strings.Cut(lim.Type().Field(i).Tag.Get("yaml"), ","); tag == k[1] && !lim.Field(i).IsZero() {
					t.Errorf("DECISIONS.md row %q says off by default; limits.%s defaults to %v", cells[0], k[1], lim.Field(i).Interface())
				}
			}
		}
	}
	if rows == 0 {
		t.Fatal("no row of DECISIONS.md names a limits key")
	}
}
