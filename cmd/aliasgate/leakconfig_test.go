package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestConfigValuesNeverEchoACardNumber: regression cover (passes before).
// A card number given as a configuration value in the environment, a
// config file or a routes file (listen addresses, sizes, levels, tokens,
// store URLs with it as user or password, file paths, route and filter
// ids, hosts, upstreams, targets, webhook endpoint URLs, ids, accounts and
// events) is in no spelling in what serve, config check and routes
// validate print.
func TestConfigValuesNeverEchoACardNumber(t *testing.T) {
	dir := t.TempDir()
	P := huntPAN
	routes := func(s string) string {
		p := filepath.Join(dir, "r"+string(rune('a'+len(s)%26))+".yaml")
		os.WriteFile(p, []byte(s), 0o600)
		return p
	}
	cases := []struct {
		env  map[string]string
		args []string
	}{
		{map[string]string{"ALIASGATE_LISTEN_INBOUND": P}, nil},
		{map[string]string{"ALIASGATE_LISTEN_INBOUND": "127.0.0.1:" + P}, nil},
		{map[string]string{"ALIASGATE_LOG_LEVEL": P}, nil},
		{map[string]string{"ALIASGATE_LIMITS_MAX_BODY": P}, nil},
		{map[string]string{"ALIASGATE_LIMITS_MAX_BODY": "4111 1111 1111 1111"}, nil},
		{map[string]string{"ALIASGATE_ADMIN_TOKEN": P}, nil},
		{map[string]string{"ALIASGATE_ADMIN_ALLOWED_HOSTS": P + ".example"}, nil},
		{map[string]string{"ALIASGATE_VAULT_POSTGRES_URL": "postgres://u:" + P + "@127.0.0.1:1/x", "ALIASGATE_VAULT_STORE": "postgres"}, nil},
		{map[string]string{"ALIASGATE_VAULT_POSTGRES_URL": "postgres://" + P + ":x@127.0.0.1:1/" + P, "ALIASGATE_VAULT_STORE": "postgres"}, nil},
		{map[string]string{"ALIASGATE_REDIS_URL": "redis://:" + P + "@127.0.0.1:1/0"}, nil},
		{map[string]string{"ALIASGATE_MASTER_KEY": P}, nil},
		{map[string]string{"ALIASGATE_OUTBOUND_CA_BUNDLE": "/nonexistent/" + P}, nil},
		{map[string]string{"ALIASGATE_ROUTES_FILE": "/nonexistent/" + P + ".yaml"}, nil},
		{map[string]string{"ALIASGATE_ROUTES_FILE": routes("routes:\n  - id: r" + P + "\n    direction: inbound\n    host: \"*\"\n    upstream: http://127.0.0.1:1\n")}, nil},
		{map[string]string{"ALIASGATE_ROUTES_FILE": routes("routes:\n  - id: r1\n    direction: inbound\n    host: \"" + P + ".example\"\n    upstream: http://" + P + ".example:1/" + P + "\n")}, nil},
		{map[string]string{"ALIASGATE_ROUTES_FILE": routes("routes:\n  - id: r1\n    direction: inbound\n    host: \"*\"\n    upstream: \"http://u:" + P + "@127.0.0.1:1/\"\n    path_prefix: /" + P + "\n")}, nil},
		{map[string]string{"ALIASGATE_ROUTES_FILE": routes("routes:\n  - id: r1\n    direction: inbound\n    host: \"*\"\n    upstream: \"http://127.0.0.1:1/\"\n    filters:\n      - id: f\n        operation: redact\n        targets: [{json: \"" + P + "\"}, {header: \"X-" + P + "\"}, {regex: \"" + P + "\"}]\n")}, nil},
		{map[string]string{"ALIASGATE_ROUTES_FILE": routes("routes:\n  - id: r1\n    direction: inbound\n    host: \"*\"\n    upstream: \"http://127.0.0.1:1/\"\n    filters:\n      - id: f\n        operation: redact\n        targets: [{json: \"a[\", classifiers: [\"" + P + "\"], format: \"" + P + "\"}]\n")}, nil},
	}
	yaml := filepath.Join(dir, "c.yaml")
	os.WriteFile(yaml, []byte("webhooks:\n  endpoints:\n    - {id: shop, account: acct_1, url: \"https://hooks.example.com/"+P+"?k="+P+"\", secret_env: SHOP_HOOK_SECRET, events: [\"*\"]}\n    - {id: x"+P+", account: \"a"+P+"\", url: \"ftp://u:"+P+"@"+P+".example/\", secret_env: "+P+", events: [\""+P+"\"]}\n"), 0o600)
	cases = append(cases, struct {
		env  map[string]string
		args []string
	}{map[string]string{"SHOP_HOOK_SECRET": "0123456789abcdef0123456789abcdef"}, []string{"--config", yaml}})
	yaml2 := filepath.Join(dir, "c2.yaml")
	os.WriteFile(yaml2, []byte("listen:\n  inbound: \""+P+"\"\n  admin: 4111_1111_1111_1111\nlimits:\n  max_body: "+P+"\n  trusted_proxies: [\""+P+"\"]\nlog:\n  level: \"4111 1111 1111 1111\"\n"+P+": 1\n"), 0o600)
	cases = append(cases, struct {
		env  map[string]string
		args []string
	}{nil, []string{"--config", yaml2}})
	for i, c := range cases {
		for _, cmd := range [][]string{{"serve", "--data-dir", filepath.Join(dir, "d")}, {"config", "check"}, {"routes", "validate"}} {
			args := append(append([]string{}, cmd...), c.args...)
			if cmd[0] == "routes" {
				if c.env["ALIASGATE_ROUTES_FILE"] == "" {
					continue
				}
				args = append(args, c.env["ALIASGATE_ROUTES_FILE"])
			}
			var out, errb syncBuffer
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
			err := run(ctx, args, testEnv(c.env), &out, &errb)
			cancel()
			var buf bytes.Buffer
			exitCode(err, &buf)
			all := out.String() + errb.String() + buf.String()
			if s := huntSpellings([]byte(strings.ReplaceAll(all, dir, ""))); len(s) > 0 {
				t.Errorf("case %d %v: %v\n%s", i, cmd, s, all)
			}
		}
	}
}
