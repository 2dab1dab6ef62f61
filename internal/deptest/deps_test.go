package deptest

import (
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/aliasgate/aliasgate/"

// rule forbids packages matching pkg (an import path below the module, a
// trailing "/..." for a subtree) to depend on any of deny.
type rule struct {
	why  string
	pkg  []string
	deny []string
}

var rules = []rule{
	{"the vault has no HTTP code and knows nothing above it",
		[]string{"vault"}, []string{"net/http", "auth", "vaultapi", "proxy/...", "routes/...", "cards/...", "config", "cmd/..."}},
	{"stores import vault for its types and nothing above it",
		[]string{"vault/boltstore", "vault/memstore", "vault/pgstore", "vault/redisstore"},
		[]string{"net/http", "auth", "vaultapi", "proxy/...", "routes/...", "cards/...", "config", "cmd/..."}},
	{"routes receive a Tokenizer interface; they import neither vault nor proxy",
		[]string{"routes/..."}, []string{"vault/...", "proxy/...", "cards/...", "vaultapi"}},
	{"proxy and cards never import each other",
		[]string{"proxy/..."}, []string{"cards/..."}},
	{"proxy and cards never import each other",
		[]string{"cards/..."}, []string{"proxy/..."}},
	{"auth does not depend on the vault or the proxies",
		[]string{"auth"}, []string{"vault/...", "proxy/...", "cards/...", "vaultapi", "config"}},
	{"auth takes a Limit function; the limiter is composed by the command",
		[]string{"auth"}, []string{"internal/ratelimit"}},
	{"ratelimit is a leaf: token buckets, nothing of the module",
		[]string{"internal/ratelimit"}, []string{"..."}},
	{"lockout is a leaf: per-address failure counts, nothing of the module",
		[]string{"internal/lockout"}, []string{"..."}},
	{"hostguard is a leaf: Host and Origin rules of the admin listener",
		[]string{"internal/hostguard"}, []string{"..."}},
	{"bodybudget is a leaf: a count of body bytes in memory, nothing of the module",
		[]string{"internal/bodybudget"}, []string{"..."}},
	{"redacted is a leaf: a context value from the inbound proxy to an in-process upstream",
		[]string{"internal/redacted"}, []string{"..."}},
	{"the abuse guard is the vault's Admission: it knows the vault's actors and token buckets, no HTTP and no API",
		[]string{"internal/abuse"}, []string{"net/http", "auth", "vaultapi", "proxy/...", "routes/...", "cards/...", "config", "audit", "internal/obs", "cmd/..."}},
	{"account is the account-name rule, shared by vault, auth, config and routes: it needs only the card-number search",
		[]string{"internal/account"}, []string{"vault/...", "auth", "config", "routes/...", "proxy/...", "cards/...", "vaultapi", "cmd/..."}},
	{"the admin listener's handlers know the vault's keys, not the proxies or the APIs",
		[]string{"admin"}, []string{"proxy/...", "routes/...", "cards/...", "vaultapi", "auth", "inspector", "config", "cmd/..."}},
	{"the webhook outbox (records, Store, signatures) has no HTTP code: the stores implement its Store",
		[]string{"webhooks"}, []string{"net/http", "vault/...", "auth", "vaultapi", "proxy/...", "routes/...", "cards/...", "config", "admin", "cmd/..."}},
	{"the webhook dispatcher delivers through its own client and netguard; it knows no API and no proxy",
		[]string{"webhooks/dispatch"}, []string{"vault/...", "auth", "vaultapi", "proxy/...", "routes/...", "cards/...", "config", "admin", "cmd/..."}},
	{"only cmd/aliasgate wires concrete stores",
		[]string{"auth", "admin", "config", "vault", "vaultapi", "proxy/...", "cards/...", "routes/...", "internal/...", "vault/vaulttest", "inspector", "webhooks/..."},
		[]string{"vault/boltstore", "vault/memstore", "vault/pgstore", "vault/redisstore"}},
	{"nothing imports the command",
		[]string{"..."}, []string{"cmd/..."}},
}

func matches(pattern, path string) bool {
	if pattern == "..." {
		return strings.HasPrefix(path, mod) || path == strings.TrimSuffix(mod, "/")
	}
	if p, ok := strings.CutSuffix(pattern, "/..."); ok {
		return path == mod+p || strings.HasPrefix(path, mod+p+"/")
	}
	if pattern == "net/http" {
		return path == "net/http" || strings.HasPrefix(path, "net/http/")
	}
	return path == mod+pattern
}

func TestImportRules(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, "../../...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		deps[f[0]] = f[1:]
	}
	if len(deps) < 8 {
		t.Fatalf("go list saw only %d packages", len(deps))
	}
	checked := 0
	for _, r := range rules {
		for pkg, ds := range deps {
			if !anyMatch(r.pkg, pkg) || strings.HasPrefix(pkg, mod+"cmd/") && r.why != "nothing imports the command" {
				continue
			}
			checked++
			for _, d := range ds {
				if anyMatch(r.deny, d) && d != pkg {
					t.Errorf("%s imports %s: %s", strings.TrimPrefix(pkg, mod), strings.TrimPrefix(d, mod), r.why)
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no rule applied to any package")
	}
}

func anyMatch(patterns []string, path string) bool {
	for _, p := range patterns {
		if matches(p, path) {
			return true
		}
	}
	return false
}

// TestRuleMatcher keeps the matcher honest: a rule that matches nothing
// would pass silently.
func TestRuleMatcher(t *testing.T) {
	tests := []struct {
		pattern, path string
		want          bool
	}{
		{"vault", mod + "vault", true},
		{"vault", mod + "vault/boltstore", false},
		{"vault/...", mod + "vault/boltstore", true},
		{"vault/...", mod + "vaultapi", false},
		{"net/http", "net/http/httputil", true},
		{"net/http", "net/netip", false},
		{"...", mod + "auth", true},
		{"cmd/...", mod + "cmd/aliasgate", true},
		{"...", "net/http", false},
		{"admin", mod + "admin", true},
		{"internal/ratelimit", mod + "internal/ratelimit", true},
		{"internal/lockout", mod + "internal/lockout", true},
	}
	for _, tt := range tests {
		if got := matches(tt.pattern, tt.path); got != tt.want {
			t.Errorf("matches(%q, %q) = %v", tt.pattern, tt.path, got)
		}
	}
}
