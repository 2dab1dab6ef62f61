package config

import (
	"bytes"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// writeFile writes a config file into a fresh temp dir and returns its path.
func writeFile(t testing.TB, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "aliasgate.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// env is a getenv backed by a map.
func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// plain drops what cannot be compared with reflect.DeepEqual across loads:
// the sources and the routes node.
func plain(c Config) Config {
	c.src = nil
	c.Routes = yaml.Node{}
	return c
}

// problems returns the problems of a *ValidationError, failing otherwise.
func problems(t *testing.T, err error) []Problem {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error = %v (%T), want a *ValidationError", err, err)
	}
	return ve.Problems
}

// findProblem returns the first problem at key.
func findProblem(ps []Problem, key string) (Problem, bool) {
	for _, p := range ps {
		if p.Key == key {
			return p, true
		}
	}
	return Problem{}, false
}

const fullFile = `# every key set to a non-default value
data_dir: /var/lib/aliasgate
env: live
vault_id: tnt-acme
listen:
  inbound: 0.0.0.0:443
  outbound: 127.0.0.1:3128
  admin: "[::1]:9191"
vault:
  store: postgres
  postgres_url: postgres://gw:s3cret@db.internal:5432/aliasgate?sslmode=verify-full
  volatile: redis
  redis_url: rediss://:r3dis@cache.internal:6380/0
  redis_prefix: "acme-live:"
  volatile_ttl: 30m
  volatile_max_records: 250000
  max_value_size: 8MiB
limits:
  max_body: 1MB
  max_buffered_bytes: 64MB
  source_buffered_share: 40
  max_header_bytes: 32KiB
  read_header_timeout: 5s
  read_timeout: 20s
  write_timeout: 40s
  idle_timeout: 2m
  upstream_timeout: 45s
  shutdown_timeout: 1m30s
  client_rate: 40
  client_burst: 80
  outbound_client_rate: 300
  outbound_client_burst: 600
  outbound_unknown_aliases: 7
  outbound_unknown_burst: 3
  inbound_unknown_numbers: 9
  inbound_unknown_burst: 4
  source_new_values: 12
  source_new_burst: 6
  source_volatile_values: 90
  source_volatile_burst: 45
  account_volatile_share: 30
  max_conns_per_source: 300
  trusted_proxies: [10.0.0.0/8, "2001:db8::1"]
  enumeration_threshold: 5
  duplicate_threshold: 50
  enumeration_window: 30m
  enumeration_penalty: 2h
  vault_concurrency: 64
  vault_wait: 2s
  max_volatile_per_message: 500
  max_values_per_message: 300
  max_new_per_message: 20
outbound:
  require_auth: false
  passthrough: [api.example.com, "*.psp.example"]
  allow_private_destinations: true
  ca_bundle: /etc/aliasgate/psp-ca.pem
vault_api: {enabled: true}
cards: {enabled: false, bin_table: /etc/aliasgate/bins.csv, token_service_timeout: 3s, network_tokens: true, network_token_accounts: [acct_a, acct_b], token_type: card_on_file, duplicate_detection: true, duplicate_detection_off_accounts: [acct_c]}
admin:
  ui: true
  token: 0123456789abcdef0123
  pprof: true
  ui_capture_size: 500
  ui_capture_body: 16KiB
  allowed_hosts: [gw-admin.example, "localhost:19090"]
auth: {token_ttl: 1h, audience: payments, issuer: gw.acme}
log: {level: debug, format: text}
audit: {enabled: false, path: /var/log/aliasgate/audit.log, fsync: always, fsync_interval: 50ms, max_size: 1GiB, max_age: 168h, keep: 400}
webhooks:
  endpoints:
    - id: acme-prod
      account: acct_a
      url: https://hooks.acme.example/aliasgate
      secret_file: /etc/aliasgate/webhook-acme.secret
      events: [card.*, network_token.suspended]
    - {id: acme-audit, account: acct_b, url: "http://10.0.0.7:8080/in", secret_env: ACME_HOOK_SECRET, events: ["*"]}
  allow_private_destinations: true
  allow_insecure_http: true
  ca_bundle: /etc/aliasgate/hooks-ca.pem
  timeout: 5s
  backoff_base: 10s
  backoff_max: 30m
  retry_for: 12h
  poll_interval: 500ms
  retention: 240h
routes:
  - id: checkout
    direction: inbound
`

func TestDefaultIsValidAndMatchesTheDesign(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"data_dir", c.DataDir, "./aliasgate-data"},
		{"env", c.Env, "sandbox"},
		{"vault_id", c.VaultID, "tnt-local"},
		{"listen.inbound", c.Listen.Inbound, "127.0.0.1:8080"},
		{"listen.outbound", c.Listen.Outbound, "127.0.0.1:8081"},
		{"listen.admin", c.Listen.Admin, "127.0.0.1:9090"},
		{"routes_file", c.RoutesFile, ""},
		{"vault.store", c.Vault.Store, "bolt"},
		{"vault.volatile", c.Vault.Volatile, "memory"},
		{"vault.volatile_ttl", c.Vault.VolatileTTL.Std(), time.Hour},
		{"limits.max_body", c.Limits.MaxBody.Int64(), int64(10 << 20)},
		{"limits.max_buffered_bytes", c.Limits.MaxBufferedBytes.Int64(), int64(0)},
		{"limits.buffered bytes by default", c.Limits.BufferedBytes(math.MaxInt64), int64(320 << 20)},
		{"limits.source_buffered_share", c.Limits.SourceBufferedShare, 25},
		{"limits.max_header_bytes", c.Limits.MaxHeaderBytes.Int64(), int64(64 << 10)},
		{"limits.read_header_timeout", c.Limits.ReadHeaderTimeout.Std(), 10 * time.Second},
		{"limits.read_timeout", c.Limits.ReadTimeout.Std(), 30 * time.Second},
		{"limits.write_timeout", c.Limits.WriteTimeout.Std(), 60 * time.Second},
		{"limits.idle_timeout", c.Limits.IdleTimeout.Std(), 120 * time.Second},
		{"limits.upstream_timeout", c.Limits.UpstreamTimeout.Std(), 60 * time.Second},
		{"limits.shutdown_timeout", c.Limits.ShutdownTimeout.Std(), 30 * time.Second},
		{"limits.client_rate", c.Limits.ClientRate, 50},
		{"limits.client_burst", c.Limits.ClientBurst, 100},
		{"limits.outbound_client_rate", c.Limits.OutboundClientRate, 1000},
		{"limits.outbound_client_burst", c.Limits.OutboundClientBurst, 2000},
		{"limits.outbound_unknown_aliases", c.Limits.OutboundUnknownAliases, 30},
		{"limits.outbound_unknown_burst", c.Limits.OutboundUnknownBurst, 30},
		{"limits.inbound_unknown_numbers", c.Limits.InboundUnknownNumbers, 30},
		{"limits.inbound_unknown_burst", c.Limits.InboundUnknownBurst, 30},
		{"limits.source_new_values", c.Limits.SourceNewValues, 30},
		{"limits.source_new_burst", c.Limits.SourceNewBurst, 30},
		{"limits.source_volatile_values", c.Limits.SourceVolatileValues, 120},
		{"limits.source_volatile_burst", c.Limits.SourceVolatileBurst, 120},
		{"limits.account_volatile_share", c.Limits.AccountVolatileShare, 50},
		{"limits.max_conns_per_source", c.Limits.MaxConnsPerSource, 1024},
		{"limits.enumeration_threshold", c.Limits.EnumerationThreshold, 10},
		{"limits.duplicate_threshold", c.Limits.DuplicateThreshold, 100},
		{"limits.enumeration_window", c.Limits.EnumerationWindow.Std(), time.Hour},
		{"limits.enumeration_penalty", c.Limits.EnumerationPenalty.Std(), time.Hour},
		{"limits.max_values_per_message", c.Limits.MaxValuesPerMessage, 1000},
		{"limits.max_new_per_message", c.Limits.MaxNewPerMessage, 100},
		{"limits.vault_concurrency", c.Limits.VaultConcurrency, 256},
		{"limits.vault_wait", c.Limits.VaultWait.Std(), 5 * time.Second},
		{"limits.max_volatile_per_message", c.Limits.MaxVolatilePerMessage, 1000},
		{"outbound.require_auth", c.Outbound.RequireAuth, true},
		{"outbound.allow_private_destinations", c.Outbound.AllowPrivateDestinations, false},
		{"vault_api.enabled", c.VaultAPI.Enabled, false},
		{"cards.enabled", c.Cards.Enabled, true},
		{"cards.duplicate_detection", c.Cards.DuplicateDetection, true},
		{"admin.ui", c.Admin.UI, false},
		{"admin.token", c.Admin.Token, ""},
		{"admin.pprof", c.Admin.Pprof, false},
		{"admin.ui_capture_size", c.Admin.UICaptureSize, 100},
		{"admin.ui_capture_body", c.Admin.UICaptureBody.Int64(), int64(64 << 10)},
		{"auth.token_ttl", c.Auth.TokenTTL.Std(), 15 * time.Minute},
		{"auth.audience", c.Auth.Audience, "aliasgate"},
		{"auth.issuer", c.Auth.Issuer, "aliasgate"},
		{"log.level", c.Log.Level, "info"},
		{"log.format", c.Log.Format, "json"},
		{"audit.enabled", c.Audit.Enabled, true},
		{"audit.path", c.AuditPath(), filepath.Join("aliasgate-data", "audit.log")},
		{"audit.fsync", c.Audit.Fsync, "interval"},
		{"vault.volatile_max_records", c.Vault.VolatileMaxRecords, 1_000_000},
		{"vault.max_value_size", c.Vault.MaxValueSize.Int64(), int64(1 << 20)},
		{"audit.fsync_interval", c.Audit.FsyncInterval.Std(), 200 * time.Millisecond},
		{"AuditSyncInterval", c.AuditSyncInterval(), 200 * time.Millisecond},
		{"audit.max_size", c.Audit.MaxSize.Int64(), int64(100 << 20)},
		{"audit.max_age", c.Audit.MaxAge.Std(), 24 * time.Hour},
		{"audit.keep", c.Audit.Keep, 0},
		{"VaultPath", c.VaultPath(), filepath.Join("aliasgate-data", "vault.db")},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s = %v, want %v", ck.name, ck.got, ck.want)
		}
	}
}

func TestLoadWithoutFileOrEnvironmentGivesDefaults(t *testing.T) {
	for _, getenv := range []func(string) string{nil, env(nil)} {
		c, err := Load("", getenv)
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if !reflect.DeepEqual(plain(c), plain(Default())) {
			t.Errorf("Load(\"\") = %+v, want the defaults", c)
		}
	}
}

func TestLoadOfAnEmptyFileGivesDefaults(t *testing.T) {
	for name, content := range map[string]string{
		"empty":         "",
		"comments only": "# nothing here\n",
		"empty doc":     "---\n",
		"null doc":      "~\n",
		"null sections": "listen:\nvault:\nlimits: ~\n",
	} {
		t.Run(name, func(t *testing.T) {
			c, err := Load(writeFile(t, content), nil)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !reflect.DeepEqual(plain(c), plain(Default())) {
				t.Errorf("got %+v, want the defaults", c)
			}
		})
	}
}

func TestLoadReadsEveryKeyOfAFullFile(t *testing.T) {
	c, err := Load(writeFile(t, fullFile), nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := Config{
		DataDir: "/var/lib/aliasgate",
		Env:     "live",
		VaultID: "tnt-acme",
		Listen:  Listen{Inbound: "0.0.0.0:443", Outbound: "127.0.0.1:3128", Admin: "[::1]:9191"},
		Vault: Vault{
			Store:       "postgres",
			PostgresURL: "postgres://gw:s3cret@db.internal:5432/aliasgate?sslmode=verify-full",
			Volatile:    "redis",
			RedisURL:    "rediss://:r3dis@cache.internal:6380/0",
			RedisPrefix: "acme-live:",
			VolatileTTL: Duration(30 * time.Minute), VolatileMaxRecords: 250000, MaxValueSize: 8 * MiB,
		},
		Limits: Limits{
			MaxBody:                1000 * 1000,
			MaxBufferedBytes:       64 * 1000 * 1000,
			SourceBufferedShare:    40,
			MaxHeaderBytes:         32 * KiB,
			ReadHeaderTimeout:      Duration(5 * time.Second),
			ReadTimeout:            Duration(20 * time.Second),
			WriteTimeout:           Duration(40 * time.Second),
			IdleTimeout:            Duration(2 * time.Minute),
			UpstreamTimeout:        Duration(45 * time.Second),
			ShutdownTimeout:        Duration(90 * time.Second),
			ClientRate:             40,
			ClientBurst:            80,
			OutboundClientRate:     300,
			OutboundClientBurst:    600,
			OutboundUnknownAliases: 7,
			OutboundUnknownBurst:   3,
			InboundUnknownNumbers:  9,
			InboundUnknownBurst:    4,
			SourceNewValues:        12,
			SourceNewBurst:         6,
			SourceVolatileValues:   90,
			SourceVolatileBurst:    45,
			AccountVolatileShare:   30,
			MaxConnsPerSource:      300,
			TrustedProxies:         []string{"10.0.0.0/8", "2001:db8::1"},
			EnumerationThreshold:   5,
			DuplicateThreshold:     50,
			EnumerationWindow:      Duration(30 * time.Minute),
			EnumerationPenalty:     Duration(2 * time.Hour),
			MaxValuesPerMessage:    300,
			MaxNewPerMessage:       20,
			VaultConcurrency:       64,
			VaultWait:              Duration(2 * time.Second),

			MaxVolatilePerMessage: 500,
		},
		Outbound: Outbound{
			RequireAuth:              false,
			Passthrough:              []string{"api.example.com", "*.psp.example"},
			AllowPrivateDestinations: true,
			CABundle:                 "/etc/aliasgate/psp-ca.pem",
		},
		VaultAPI: VaultAPI{Enabled: true},
		Cards: Cards{Enabled: false, BINTable: "/etc/aliasgate/bins.csv", TSP: "simulator", TokenServiceTimeout: Duration(3 * time.Second), NetworkTokens: true,
			NetworkTokenAccounts: []string{"acct_a", "acct_b"}, TokenType: "card_on_file", DuplicateDetection: true,
			DuplicateDetectionOffAccounts: []string{"acct_c"}},
		Admin: Admin{UI: true, Token: "0123456789abcdef0123", Pprof: true, UICaptureSize: 500, UICaptureBody: 16 * KiB,
			AllowedHosts: []string{"gw-admin.example", "localhost:19090"}},
		Auth: Auth{TokenTTL: Duration(time.Hour), Audience: "payments", Issuer: "gw.acme"},
		Log:  Log{Level: "debug", Format: "text"},
		Audit: Audit{Enabled: false, Path: "/var/log/aliasgate/audit.log", Fsync: "always", FsyncInterval: Duration(50 * time.Millisecond),
			MaxSize: GiB, MaxAge: Duration(168 * time.Hour), Keep: 400},
		Webhooks: Webhooks{
			Endpoints: []WebhookEndpoint{
				{ID: "acme-prod", Account: "acct_a", URL: "https://hooks.acme.example/aliasgate", SecretFile: "/etc/aliasgate/webhook-acme.secret",
					Events: []string{"card.*", "network_token.suspended"}},
				{ID: "acme-audit", Account: "acct_b", URL: "http://10.0.0.7:8080/in", SecretEnv: "ACME_HOOK_SECRET", Events: []string{"*"}},
			},
			AllowPrivateDestinations: true, AllowInsecureHTTP: true, CABundle: "/etc/aliasgate/hooks-ca.pem",
			Timeout: Duration(5 * time.Second), BackoffBase: Duration(10 * time.Second), BackoffMax: Duration(30 * time.Minute),
			RetryFor: Duration(12 * time.Hour), PollInterval: Duration(500 * time.Millisecond), Retention: Duration(240 * time.Hour),
		},
	}
	if got := plain(c); !reflect.DeepEqual(got, want) {
		t.Errorf("Load:\n got %+v\nwant %+v", got, want)
	}
}

func TestLoadKeepsTheInlineRoutesNodeWithLineNumbers(t *testing.T) {
	c, err := Load(writeFile(t, fullFile), nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.Routes.Kind != yaml.SequenceNode || len(c.Routes.Content) != 1 {
		t.Fatalf("routes node = kind %v with %d items, want a list of 1", c.Routes.Kind, len(c.Routes.Content))
	}
	wantLine := 1 + slices.Index(strings.Split(fullFile, "\n"), "  - id: checkout")
	if got := c.Routes.Content[0].Line; got != wantLine {
		t.Errorf("first route on line %d, want %d", got, wantLine)
	}
	var routes []struct {
		ID        string `yaml:"id"`
		Direction string `yaml:"direction"`
	}
	if err := c.Routes.Decode(&routes); err != nil || routes[0].ID != "checkout" || routes[0].Direction != "inbound" {
		t.Errorf("routes decode = %+v, %v", routes, err)
	}
}

// TestLoadAgreesWithYAMLKnownFieldsDecoding checks that Load's own walk of the
// document gives what yaml.v3's Decoder with KnownFields(true) gives.
func TestLoadAgreesWithYAMLKnownFieldsDecoding(t *testing.T) {
	for name, content := range map[string]string{
		"full":    fullFile,
		"aliases": "auth: {audience: &n shared, issuer: *n}\nlimits: &l {read_timeout: 9s}\n",
		"nulls":   "env: ~\noutbound: {passthrough: ~}\nlimits: {max_body: null}\n",
		"yaml11":  "cards: {enabled: no}\nvault_api: {enabled: on}\n",
		"numbers": "vault_id: 12\nlimits: {max_body: 1048576}\n",
	} {
		t.Run(name, func(t *testing.T) {
			got, err := Load(writeFile(t, content), nil)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			want := Default()
			dec := yaml.NewDecoder(strings.NewReader(content))
			dec.KnownFields(true)
			if err := dec.Decode(&want); err != nil {
				t.Fatalf("yaml.v3 Decode: %v", err)
			}
			if !reflect.DeepEqual(plain(got), plain(want)) {
				t.Errorf("Load gave\n %+v\nyaml.v3 gave\n %+v", plain(got), plain(want))
			}
		})
	}
}

func TestLoadReportsUnknownKeysWithTheirLines(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    []Problem // Message is a substring
	}{
		{
			name:    "top level",
			content: "env: live\nlisten_addr: :80\n",
			want:    []Problem{{Key: "listen_addr", Line: 2, Message: "unknown key"}},
		},
		{
			name:    "nested, with a suggestion",
			content: "limits:\n  max_body: 1MiB\n  max_bdy: 2MiB\n",
			want:    []Problem{{Key: "limits.max_bdy", Line: 3, Message: "did you mean limits.max_body?"}},
		},
		{
			name:    "two unknown keys are both reported",
			content: "vualt:\n  store: bolt\nlog:\n  level: info\n  colour: true\n",
			want: []Problem{
				{Key: "vualt", Line: 1, Message: "did you mean vault?"},
				{Key: "log.colour", Line: 5, Message: "unknown key"},
			},
		},
		{
			name:    "in flow style",
			content: "listen: {inbound: 127.0.0.1:1, outbond: 127.0.0.1:2}\n",
			want:    []Problem{{Key: "listen.outbond", Line: 1, Message: "did you mean listen.outbound?"}},
		},
		{
			name:    "routes is not settable through unknown nesting",
			content: "vault:\n  routes: []\n",
			want:    []Problem{{Key: "vault.routes", Line: 2, Message: "unknown key"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(writeFile(t, tt.content), nil)
			got := problems(t, err)
			if len(got) != len(tt.want) {
				t.Fatalf("problems = %v, want %d", got, len(tt.want))
			}
			for i, w := range tt.want {
				g := got[i]
				if g.Key != w.Key || g.Line != w.Line || !strings.Contains(g.Message, w.Message) {
					t.Errorf("problem %d = %+v, want key %q line %d containing %q", i, g, w.Key, w.Line, w.Message)
				}
			}
		})
	}
}

func TestLoadReportsBadValuesWithKeyAndLine(t *testing.T) {
	tests := []struct {
		name     string
		content  string
		key      string
		line     int
		contains string
	}{
		{"duration without unit", "vault:\n  volatile_ttl: 3600\n", "vault.volatile_ttl", 2, `must be a duration such as 90s, 15m or 1h30m, got "3600"`},
		{"duration text", "auth:\n  token_ttl: one hour\n", "auth.token_ttl", 2, "must be a duration"},
		{"byte size unit", "limits:\n  read_timeout: 5s\n  max_body: 10XB\n", "limits.max_body", 3, `must be a size in bytes such as 512B, 64KiB, 10MiB or 10MB, got "10XB"`},
		{"byte size fraction", "limits: {max_header_bytes: 1.5KiB}\n", "limits.max_header_bytes", 1, "must be a size in bytes"},
		{"byte size overflow", "limits:\n\n  max_body: 9999999999GiB\n", "limits.max_body", 3, "must be less than 8EiB"},
		{"max_body past 1TiB", "limits:\n  max_body: 2048GiB\n", "limits.max_body", 2, "must be at most 1TiB"},
		{"bool", "outbound:\n  require_auth: maybe\n", "outbound.require_auth", 2, "must be true or false"},
		{"list given a string", "outbound:\n  passthrough: api.example.com\n", "outbound.passthrough", 2, "must be a list of strings, not a single value"},
		{"list of mappings", "outbound:\n  passthrough:\n    - {host: x}\n", "outbound.passthrough", 3, "must be a list of strings"},
		{"string given a list", "data_dir: [a, b]\n", "data_dir", 1, "must be a string, not a list"},
		{"section given a value", "limits: 10MiB\n", "limits", 1, "must be a mapping of keys"},
		{"routes given a mapping", "routes: {id: x}\n", "routes", 1, "must be a list of routes"},
		{"duplicate key", "env: live\nenv: test\n", "env", 2, "duplicate key (first set on line 1)"},
		{"merge key", "base: &b {read_timeout: 1s}\nlimits:\n  <<: *b\n", "limits.<<", 3, "merge keys (<<) are not supported"},
		{"top level list", "- a\n- b\n", "", 1, "the configuration must be a mapping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(writeFile(t, tt.content), nil)
			ps := problems(t, err)
			p, ok := findProblem(ps, tt.key)
			if !ok {
				t.Fatalf("no problem at %q in %v", tt.key, ps)
			}
			if p.Line != tt.line || !strings.Contains(p.Message, tt.contains) {
				t.Errorf("problem = %+v, want line %d containing %q", p, tt.line, tt.contains)
			}
		})
	}
}

func TestLoadRefusesAFileThatIsNotOneYAMLDocument(t *testing.T) {
	for name, content := range map[string]string{
		"syntax":          "listen:\n  inbound: [\n",
		"tabs":            "listen:\n\tinbound: x\n",
		"second document": "env: live\n---\nenv: test\n",
	} {
		t.Run(name, func(t *testing.T) {
			path := writeFile(t, content)
			_, err := Load(path, nil)
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "line") {
				t.Errorf("Load = %v, want an error naming %s and a line", err, path)
			}
		})
	}
}

func TestLoadOfAMissingFileNamesThePath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.yaml")
	_, err := Load(path, nil)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Errorf("Load = %v, want a not-exist error naming %s", err, path)
	}
}

func TestEnvOverridesEveryKindOfKey(t *testing.T) {
	tests := []struct {
		name, variable, value string
		get                   func(Config) any
		want                  any
	}{
		{"top-level string", "ALIASGATE_DATA_DIR", "/srv/ag", func(c Config) any { return c.DataDir }, "/srv/ag"},
		{"top-level string with underscore", "ALIASGATE_VAULT_ID", "tnt-9", func(c Config) any { return c.VaultID }, "tnt-9"},
		{"default account", "ALIASGATE_DEFAULT_ACCOUNT", "acct_main", func(c Config) any { return c.DefaultAccount }, "acct_main"},
		{"nested string", "ALIASGATE_LISTEN_INBOUND", "127.0.0.1:18080", func(c Config) any { return c.Listen.Inbound }, "127.0.0.1:18080"},
		{"secret string", "ALIASGATE_ADMIN_TOKEN", "s3cret-s3cret-s3cret", func(c Config) any { return c.Admin.Token }, "s3cret-s3cret-s3cret"},
		{"duration", "ALIASGATE_VAULT_VOLATILE_TTL", "90s", func(c Config) any { return c.Vault.VolatileTTL.Std() }, 90 * time.Second},
		{"byte size", "ALIASGATE_LIMITS_MAX_BODY", "2MiB", func(c Config) any { return c.Limits.MaxBody }, 2 * MiB},
		{"decimal byte size", "ALIASGATE_LIMITS_MAX_HEADER_BYTES", "10KB", func(c Config) any { return c.Limits.MaxHeaderBytes }, ByteSize(10000)},
		{"bool true", "ALIASGATE_VAULT_API_ENABLED", "true", func(c Config) any { return c.VaultAPI.Enabled }, true},
		{"bool false", "ALIASGATE_CARDS_ENABLED", "0", func(c Config) any { return c.Cards.Enabled }, false},
		{"whole number", "ALIASGATE_ADMIN_UI_CAPTURE_SIZE", " 250 ", func(c Config) any { return c.Admin.UICaptureSize }, 250},
		{"audit max_size", "ALIASGATE_AUDIT_MAX_SIZE", "512MiB", func(c Config) any { return c.Audit.MaxSize }, 512 * MiB},
		{"audit max_age off", "ALIASGATE_AUDIT_MAX_AGE", "0", func(c Config) any { return c.Audit.MaxAge.Std() }, time.Duration(0)},
		{"audit keep", "ALIASGATE_AUDIT_KEEP", "365", func(c Config) any { return c.Audit.Keep }, 365},
		{"list", "ALIASGATE_OUTBOUND_PASSTHROUGH", "a.example, *.b.example,,", func(c Config) any { return c.Outbound.Passthrough }, []string{"a.example", "*.b.example"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load("", env(map[string]string{tt.variable: tt.value}))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got := tt.get(c); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("%s=%q gave %v, want %v", tt.variable, tt.value, got, tt.want)
			}
		})
	}
}

func TestEnvWinsOverTheFile(t *testing.T) {
	path := writeFile(t, "env: live\nvault:\n  volatile_ttl: 5m\noutbound:\n  passthrough: [file.example]\n")
	c, err := Load(path, env(map[string]string{
		"ALIASGATE_ENV":                  "staging",
		"ALIASGATE_VAULT_VOLATILE_TTL":   "2h",
		"ALIASGATE_OUTBOUND_PASSTHROUGH": "env.example",
	}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.Env != "staging" || c.Vault.VolatileTTL.Std() != 2*time.Hour || !slices.Equal(c.Outbound.Passthrough, []string{"env.example"}) {
		t.Errorf("got env %q, volatile_ttl %v, passthrough %v; want the environment's values", c.Env, c.Vault.VolatileTTL, c.Outbound.Passthrough)
	}
}

func TestEmptyEnvValueMeansNotSet(t *testing.T) {
	path := writeFile(t, "env: live\n")
	c, err := Load(path, env(map[string]string{"ALIASGATE_ENV": "", "ALIASGATE_LOG_LEVEL": ""}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.Env != "live" || c.Log.Level != "info" {
		t.Errorf("env %q, log.level %q: empty variables must not override", c.Env, c.Log.Level)
	}
}

func TestBadEnvValueNamesTheVariableNotTheValue(t *testing.T) {
	tests := []struct {
		variable, value, key, contains string
	}{
		{"ALIASGATE_VAULT_VOLATILE_TTL", "forever-ish", "vault.volatile_ttl", "ALIASGATE_VAULT_VOLATILE_TTL must be a duration"},
		{"ALIASGATE_LIMITS_MAX_BODY", "lots-of-bytes", "limits.max_body", "ALIASGATE_LIMITS_MAX_BODY must be a size in bytes"},
		{"ALIASGATE_OUTBOUND_REQUIRE_AUTH", "perhaps-not", "outbound.require_auth", "ALIASGATE_OUTBOUND_REQUIRE_AUTH must be true or false"},
		{"ALIASGATE_ADMIN_UI_CAPTURE_SIZE", "lots-of-them", "admin.ui_capture_size", "ALIASGATE_ADMIN_UI_CAPTURE_SIZE must be a whole number"},
		// A value that parses but fails validation is not echoed either.
		{"ALIASGATE_ADMIN_TOKEN", "short-secret", "admin.token", "(set by ALIASGATE_ADMIN_TOKEN)"},
		{"ALIASGATE_VAULT_POSTGRES_URL", "mysql://u:hunter2@db/x", "vault.postgres_url", "(set by ALIASGATE_VAULT_POSTGRES_URL)"},
	}
	for _, tt := range tests {
		t.Run(tt.variable, func(t *testing.T) {
			_, err := Load("", env(map[string]string{tt.variable: tt.value}))
			p, ok := findProblem(problems(t, err), tt.key)
			if !ok || !strings.Contains(p.Message, tt.contains) || p.Line != 0 {
				t.Errorf("problem = %+v (found %v), want key %s containing %q, line 0", p, ok, tt.key, tt.contains)
			}
			if strings.Contains(err.Error(), tt.value) {
				t.Errorf("error echoes the environment value: %v", err)
			}
		})
	}
}

func TestLoadReportsFileEnvironmentAndValidationProblemsTogether(t *testing.T) {
	path := writeFile(t, "env: Live\nlimits:\n  max_body: 10XB\n  extra: 1\n")
	_, err := Load(path, env(map[string]string{"ALIASGATE_LOG_FORMAT": "xml", "ALIASGATE_AUTH_TOKEN_TTL": "soon"}))
	var keys []string
	for _, p := range problems(t, err) {
		keys = append(keys, p.Key)
	}
	want := []string{"limits.max_body", "limits.extra", "auth.token_ttl", "env", "log.format"}
	if !slices.Equal(keys, want) {
		t.Errorf("problem keys = %v, want %v\n%v", keys, want, err)
	}
}

func TestValidateReportsEveryProblemAtOnce(t *testing.T) {
	c := Default()
	c.DataDir = ""
	c.Env = "Sandbox"
	c.Listen.Admin = "localhost"
	c.Vault.Store = "sqlite"
	c.Vault.VolatileTTL = Duration(500 * time.Millisecond)
	c.Limits.ReadTimeout = 0
	c.Log.Level = "verbose"
	err := c.Validate()
	ps := problems(t, err)
	want := map[string]string{
		"data_dir":            "must not be empty",
		"env":                 "must be 1 to 16 lowercase letters or digits",
		"listen.admin":        "must be host:port",
		"vault.store":         "must be bolt or postgres",
		"vault.volatile_ttl":  "must be at least 1s",
		"limits.read_timeout": "must be greater than 0",
		"log.level":           "must be debug, info, warn or error",
	}
	if len(ps) != len(want) {
		t.Errorf("got %d problems, want %d:\n%v", len(ps), len(want), err)
	}
	for key, msg := range want {
		if p, ok := findProblem(ps, key); !ok || !strings.Contains(p.Message, msg) {
			t.Errorf("%s: got %+v, want a message containing %q", key, p, msg)
		}
	}
	if !strings.Contains(err.Error(), "\nvault.volatile_ttl: must be at least 1s\n") {
		t.Errorf("Error() does not list one problem per line:\n%v", err)
	}
}

func TestValidateChecksEachRule(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		key    string // "" means valid
	}{
		{"env of 16 characters", func(c *Config) { c.Env = "abcdefghij012345" }, ""},
		{"env of 17 characters", func(c *Config) { c.Env = "abcdefghij0123456" }, "env"},
		{"env starting with a digit", func(c *Config) { c.Env = "1live" }, "env"},
		{"env with a dash", func(c *Config) { c.Env = "my-env" }, "env"},
		{"empty vault_id", func(c *Config) { c.VaultID = " " }, "vault_id"},
		{"default_account", func(c *Config) { c.DefaultAccount = "acct_main-1.x" }, ""},
		{"default_account with a space", func(c *Config) { c.DefaultAccount = "acct main" }, "default_account"},
		{"default_account holding a card number", func(c *Config) { c.DefaultAccount = "4111111111111111" }, "default_account"},
		{"default_account too long", func(c *Config) { c.DefaultAccount = strings.Repeat("a", 129) }, "default_account"},
		{"token_type card_on_file", func(c *Config) { c.Cards.TokenType = "card_on_file" }, ""},
		{"token_service_timeout", func(c *Config) { c.Cards.TokenServiceTimeout = Duration(100 * time.Millisecond) }, ""},
		{"token_service_timeout zero", func(c *Config) { c.Cards.TokenServiceTimeout = 0 }, "cards.token_service_timeout"},
		{"token_service_timeout too long", func(c *Config) { c.Cards.TokenServiceTimeout = Duration(2 * time.Minute) }, "cards.token_service_timeout"},
		{"token_type unknown", func(c *Config) { c.Cards.TokenType = "cof" }, "cards.token_type"},
		{"network_token_accounts", func(c *Config) { c.Cards.NetworkTokenAccounts = []string{"acct_1", "acct-2"} }, ""},
		{"network_token_accounts with a bad name", func(c *Config) { c.Cards.NetworkTokenAccounts = []string{"acct 1"} }, "cards.network_token_accounts"},
		{"duplicate_detection_off_accounts", func(c *Config) { c.Cards.DuplicateDetectionOffAccounts = []string{"acct_1"} }, ""},
		{"duplicate_detection off everywhere", func(c *Config) { c.Cards.DuplicateDetection = false }, ""},
		{"duplicate_detection_off_accounts with a bad name", func(c *Config) { c.Cards.DuplicateDetectionOffAccounts = []string{"acct/1"} }, "cards.duplicate_detection_off_accounts"},
		{"duplicate_detection_off_accounts with detection off everywhere", func(c *Config) {
			c.Cards.DuplicateDetection = false
			c.Cards.DuplicateDetectionOffAccounts = []string{"acct_1"}
		}, "cards.duplicate_detection_off_accounts"},
		{"port is a name", func(c *Config) { c.Listen.Inbound = "127.0.0.1:http" }, "listen.inbound"},
		{"port out of range", func(c *Config) { c.Listen.Inbound = "127.0.0.1:65536" }, "listen.inbound"},
		{"no port", func(c *Config) { c.Listen.Inbound = "127.0.0.1" }, "listen.inbound"},
		{"all interfaces", func(c *Config) { c.Listen.Inbound = ":8080" }, ""},
		{"IPv6", func(c *Config) { c.Listen.Inbound = "[::1]:8080" }, ""},
		{"same address twice", func(c *Config) { c.Listen.Admin = "127.0.0.1:8080" }, "listen.admin"},
		{"wildcard overlaps a host on the same port", func(c *Config) { c.Listen.Outbound = "0.0.0.0:8080" }, "listen.outbound"},
		{"same port on other hosts", func(c *Config) { c.Listen.Outbound = "127.0.0.2:8080" }, ""},
		{"port 0 three times", func(c *Config) {
			c.Listen = Listen{Inbound: "127.0.0.1:0", Outbound: "127.0.0.1:0", Admin: "127.0.0.1:0"}
		}, ""},
		{"routes file and inline routes", func(c *Config) {
			c.RoutesFile = "routes.yaml"
			c.Routes = yaml.Node{Kind: yaml.SequenceNode, Content: []*yaml.Node{{Kind: yaml.MappingNode}}}
		}, "routes"},
		{"routes file and an empty inline list", func(c *Config) {
			c.RoutesFile = "routes.yaml"
			c.Routes = yaml.Node{Kind: yaml.SequenceNode}
		}, ""},
		{"postgres without URL", func(c *Config) { c.Vault.Store = "postgres" }, "vault.postgres_url"},
		{"postgres with URL", func(c *Config) { c.Vault.Store, c.Vault.PostgresURL = "postgres", "postgresql://db/x" }, ""},
		{"postgres URL of another scheme", func(c *Config) { c.Vault.Store, c.Vault.PostgresURL = "postgres", "mysql://db/x" }, "vault.postgres_url"},
		{"bad postgres URL while on bolt", func(c *Config) { c.Vault.PostgresURL = "host=db password=x" }, "vault.postgres_url"},
		{"redis without URL", func(c *Config) { c.Vault.Volatile = "redis" }, "vault.redis_url"},
		{"negative volatile bound", func(c *Config) { c.Vault.VolatileMaxRecords = -1 }, "vault.volatile_max_records"},
		{"no volatile bound", func(c *Config) { c.Vault.VolatileMaxRecords = 0 }, ""},
		{"value size under 1KiB", func(c *Config) { c.Vault.MaxValueSize = 1023 }, "vault.max_value_size"},
		{"value size over 32MiB", func(c *Config) { c.Vault.MaxValueSize = 32*MiB + 1 }, "vault.max_value_size"},
		{"value size of 32MiB", func(c *Config) { c.Vault.MaxValueSize = 32 * MiB }, ""},
		{"audit fsync always", func(c *Config) { c.Audit.Fsync = "always" }, ""},
		{"audit fsync never", func(c *Config) { c.Audit.Fsync = "never" }, "audit.fsync"},
		{"audit fsync interval of 0", func(c *Config) { c.Audit.FsyncInterval = 0 }, "audit.fsync_interval"},
		{"audit fsync interval of 1m", func(c *Config) { c.Audit.FsyncInterval = Duration(time.Minute) }, "audit.fsync_interval"},
		{"audit rotation off", func(c *Config) { c.Audit.MaxSize, c.Audit.MaxAge = 0, 0 }, ""},
		{"audit max_size of 1MiB", func(c *Config) { c.Audit.MaxSize = MiB }, ""},
		{"audit max_size under 1MiB", func(c *Config) { c.Audit.MaxSize = MiB - 1 }, "audit.max_size"},
		{"audit max_size over 1TiB", func(c *Config) { c.Audit.MaxSize = 1024*GiB + 1 }, "audit.max_size"},
		{"audit max_age of 1m", func(c *Config) { c.Audit.MaxAge = Duration(time.Minute) }, ""},
		{"audit max_age of 1s", func(c *Config) { c.Audit.MaxAge = Duration(time.Second) }, "audit.max_age"},
		{"audit max_age negative", func(c *Config) { c.Audit.MaxAge = Duration(-time.Hour) }, "audit.max_age"},
		{"audit max_age over a year", func(c *Config) { c.Audit.MaxAge = Duration(366 * 24 * time.Hour) }, "audit.max_age"},
		{"audit keep 90", func(c *Config) { c.Audit.Keep = 90 }, ""},
		{"audit keep negative", func(c *Config) { c.Audit.Keep = -1 }, "audit.keep"},
		{"empty redis prefix", func(c *Config) { c.Vault.RedisPrefix = "" }, "vault.redis_prefix"},
		{"redis prefix with a space", func(c *Config) { c.Vault.RedisPrefix = "a b" }, "vault.redis_prefix"},
		{"rediss URL", func(c *Config) { c.Vault.Volatile, c.Vault.RedisURL = "redis", "rediss://cache:6380/0" }, ""},
		{"unknown volatile store", func(c *Config) { c.Vault.Volatile = "memcached" }, "vault.volatile"},
		{"volatile_ttl of 1s", func(c *Config) { c.Vault.VolatileTTL = Duration(time.Second) }, ""},
		{"volatile_ttl under 1s", func(c *Config) { c.Vault.VolatileTTL = Duration(999 * time.Millisecond) }, "vault.volatile_ttl"},
		{"zero max_body", func(c *Config) { c.Limits.MaxBody = 0 }, "limits.max_body"},
		{"negative idle timeout", func(c *Config) { c.Limits.IdleTimeout = -1 }, "limits.idle_timeout"},
		{"zero upstream timeout", func(c *Config) { c.Limits.UpstreamTimeout = 0 }, "limits.upstream_timeout"},
		{"zero shutdown timeout", func(c *Config) { c.Limits.ShutdownTimeout = 0 }, "limits.shutdown_timeout"},
		{"negative client rate", func(c *Config) { c.Limits.ClientRate = -1 }, "limits.client_rate"},
		{"negative source new values", func(c *Config) { c.Limits.SourceNewValues = -1 }, "limits.source_new_values"},
		{"source new values without burst", func(c *Config) { c.Limits.SourceNewBurst = 0 }, "limits.source_new_burst"},
		{"source volatile values without burst", func(c *Config) { c.Limits.SourceVolatileBurst = 0 }, "limits.source_volatile_burst"},
		{"negative source volatile values", func(c *Config) { c.Limits.SourceVolatileValues = -1 }, "limits.source_volatile_values"},
		{"negative account volatile share", func(c *Config) { c.Limits.AccountVolatileShare = -1 }, "limits.account_volatile_share"},
		{"account volatile share over 100", func(c *Config) { c.Limits.AccountVolatileShare = 101 }, "limits.account_volatile_share"},
		{"no account volatile share", func(c *Config) { c.Limits.AccountVolatileShare = 0 }, ""},
		{"negative connections per source", func(c *Config) { c.Limits.MaxConnsPerSource = -1 }, "limits.max_conns_per_source"},
		{"negative enumeration threshold", func(c *Config) { c.Limits.EnumerationThreshold = -1 }, "limits.enumeration_threshold"},
		{"detector without window", func(c *Config) { c.Limits.EnumerationWindow = 0 }, "limits.enumeration_window"},
		{"negative new per message", func(c *Config) { c.Limits.MaxNewPerMessage = -1 }, "limits.max_new_per_message"},
		{"allowed host not a name", func(c *Config) { c.Admin.AllowedHosts = []string{"ok.example", "*.example"} }, "admin.allowed_hosts[1]"},
		{"trusted proxy not an address", func(c *Config) { c.Limits.TrustedProxies = []string{"lb.internal"} }, "limits.trusted_proxies[0]"},
		{"trusted proxy bad prefix", func(c *Config) { c.Limits.TrustedProxies = []string{"10.0.0.0/33"} }, "limits.trusted_proxies[0]"},
		{"client rate without burst", func(c *Config) { c.Limits.ClientRate, c.Limits.ClientBurst = 10, 0 }, "limits.client_burst"},
		{"client rate with burst", func(c *Config) { c.Limits.ClientRate, c.Limits.ClientBurst = 10, 1 }, ""},
		{"outbound client rate without burst", func(c *Config) { c.Limits.OutboundClientRate, c.Limits.OutboundClientBurst = 10, 0 }, "limits.outbound_client_burst"},
		{"negative outbound client rate", func(c *Config) { c.Limits.OutboundClientRate = -1 }, "limits.outbound_client_rate"},
		{"outbound client rate off", func(c *Config) { c.Limits.OutboundClientRate, c.Limits.OutboundClientBurst = 0, 0 }, ""},
		{"outbound unknown aliases without burst", func(c *Config) { c.Limits.OutboundUnknownAliases, c.Limits.OutboundUnknownBurst = 5, 0 }, "limits.outbound_unknown_burst"},
		{"negative outbound unknown aliases", func(c *Config) { c.Limits.OutboundUnknownAliases = -1 }, "limits.outbound_unknown_aliases"},
		{"inbound unknown numbers without burst", func(c *Config) { c.Limits.InboundUnknownNumbers, c.Limits.InboundUnknownBurst = 5, 0 }, "limits.inbound_unknown_burst"},
		{"negative inbound unknown numbers", func(c *Config) { c.Limits.InboundUnknownNumbers = -1 }, "limits.inbound_unknown_numbers"},
		{"negative vault concurrency", func(c *Config) { c.Limits.VaultConcurrency = -1 }, "limits.vault_concurrency"},
		{"unbounded vault concurrency", func(c *Config) { c.Limits.VaultConcurrency = 0 }, ""},
		{"negative volatile values per message", func(c *Config) { c.Limits.MaxVolatilePerMessage = -1 }, "limits.max_volatile_per_message"},
		{"unbounded volatile values per message", func(c *Config) { c.Limits.MaxVolatilePerMessage = 0 }, ""},
		{"zero vault wait", func(c *Config) { c.Limits.VaultWait = 0 }, "limits.vault_wait"},
		{"headers larger than bodies", func(c *Config) { c.Limits.MaxHeaderBytes = c.Limits.MaxBody + 1 }, "limits.max_header_bytes"},
		{"buffered bytes under a body", func(c *Config) { c.Limits.MaxBufferedBytes = c.Limits.MaxBody - 1 }, "limits.max_buffered_bytes"},
		{"negative buffered bytes", func(c *Config) { c.Limits.MaxBufferedBytes = -1 }, "limits.max_buffered_bytes"},
		{"no buffered share", func(c *Config) { c.Limits.SourceBufferedShare = 0 }, "limits.source_buffered_share"},
		{"buffered share over 100", func(c *Config) { c.Limits.SourceBufferedShare = 101 }, "limits.source_buffered_share"},
		{"outbound cert without key", func(c *Config) { c.Listen.OutboundCert = "/x/cert.pem" }, "listen.outbound_cert"},
		{"outbound key without cert", func(c *Config) { c.Listen.OutboundKey = "/x/key.pem" }, "listen.outbound_cert"},
		{"outbound cert and key", func(c *Config) { c.Listen.OutboundCert, c.Listen.OutboundKey = "/x/c.pem", "/x/k.pem" }, ""},
		{"passthrough any host", func(c *Config) { c.Outbound.Passthrough = []string{"ok.example", "*"} }, "outbound.passthrough[1]"},
		{"passthrough wildcard suffix", func(c *Config) { c.Outbound.Passthrough = []string{"*.ok.example"} }, ""},
		{"passthrough URL", func(c *Config) { c.Outbound.Passthrough = []string{"ok.example", "https://x.example/"} }, "outbound.passthrough[1]"},
		{"passthrough with a port", func(c *Config) { c.Outbound.Passthrough = []string{"ok.example", "api.example.com:443"} }, "outbound.passthrough[1]"},
		{"passthrough bracketed IPv6 with a port", func(c *Config) { c.Outbound.Passthrough = []string{"[2001:db8::1]:443"} }, "outbound.passthrough[0]"},
		{"passthrough IPv6 literal", func(c *Config) { c.Outbound.Passthrough = []string{"2001:db8::1"} }, ""},
		{"admin ui without token", func(c *Config) { c.Admin.UI = true }, "admin.token"},
		{"admin ui with short token", func(c *Config) { c.Admin.UI, c.Admin.Token = true, "0123456789abcde" }, "admin.token"},
		{"admin ui with 16-character token", func(c *Config) { c.Admin.UI, c.Admin.Token = true, "0123456789abcdef" }, ""},
		{"short token without ui", func(c *Config) { c.Admin.Token = "abc" }, "admin.token"},
		{"no capture entries", func(c *Config) { c.Admin.UICaptureSize = 0 }, "admin.ui_capture_size"},
		{"too many capture entries", func(c *Config) { c.Admin.UICaptureSize = 10001 }, "admin.ui_capture_size"},
		{"capture body under 1KiB", func(c *Config) { c.Admin.UICaptureBody = 1023 }, "admin.ui_capture_body"},
		{"capture body over 1MiB", func(c *Config) { c.Admin.UICaptureBody = MiB + 1 }, "admin.ui_capture_body"},
		{"capture body of 1MiB", func(c *Config) { c.Admin.UICaptureBody = MiB }, ""},
		{"token_ttl of 1m", func(c *Config) { c.Auth.TokenTTL = Duration(time.Minute) }, ""},
		{"token_ttl of 24h", func(c *Config) { c.Auth.TokenTTL = Duration(24 * time.Hour) }, ""},
		{"token_ttl under 1m", func(c *Config) { c.Auth.TokenTTL = Duration(59 * time.Second) }, "auth.token_ttl"},
		{"token_ttl over 24h", func(c *Config) { c.Auth.TokenTTL = Duration(25 * time.Hour) }, "auth.token_ttl"},
		{"empty audience", func(c *Config) { c.Auth.Audience = "" }, "auth.audience"},
		{"empty issuer", func(c *Config) { c.Auth.Issuer = "" }, "auth.issuer"},
		{"log format", func(c *Config) { c.Log.Format = "logfmt" }, "log.format"},
		{"upper-case log level", func(c *Config) { c.Log.Level = "INFO" }, "log.level"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.change(&c)
			err := c.Validate()
			if tt.key == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			ps := problems(t, err)
			if len(ps) != 1 || ps[0].Key != tt.key {
				t.Errorf("Validate = %v, want one problem at %s", err, tt.key)
			}
		})
	}
}

func TestRequireAuthFalseNeedsALoopbackOutboundListener(t *testing.T) {
	tests := []struct {
		outbound string
		ok       bool
	}{
		{"127.0.0.1:8081", true},
		{"127.3.2.1:8081", true},
		{"[::1]:8081", true},
		{"localhost:8081", true},
		{"LocalHost:8081", true},
		{"[::ffff:127.0.0.1]:8081", true},
		{"0.0.0.0:8081", false},
		{":8081", false},
		{"[::]:8081", false},
		{"10.0.0.5:8081", false},
		{"proxy.internal:8081", false},
	}
	for _, tt := range tests {
		t.Run(tt.outbound, func(t *testing.T) {
			c := Default()
			c.Outbound.RequireAuth = false
			c.Listen.Outbound = tt.outbound
			err := c.Validate()
			if tt.ok {
				if err != nil {
					t.Errorf("Validate = %v, want nil", err)
				}
				return
			}
			ps := problems(t, err)
			if len(ps) != 1 || ps[0].Key != "outbound.require_auth" {
				t.Errorf("Validate = %v, want one problem at outbound.require_auth", err)
			}
			c.Outbound.RequireAuth = true
			if err := c.Validate(); err != nil {
				t.Errorf("with require_auth true: Validate = %v, want nil", err)
			}
		})
	}
}

func TestValidationProblemsCarryTheFileLineOrTheVariable(t *testing.T) {
	path := writeFile(t, "env: live\nvault:\n  store: postgres\n  volatile_ttl: 10ms\nlisten:\n  outbound: 0.0.0.0:3128\noutbound:\n  require_auth: false\nadmin:\n  ui: true\n")
	_, err := Load(path, env(map[string]string{"ALIASGATE_LOG_LEVEL": "loud"}))
	ps := problems(t, err)
	want := []Problem{
		{Key: "vault.postgres_url", Line: 3, Message: "is required when vault.store is postgres"},
		{Key: "vault.volatile_ttl", Line: 4, Message: "must be at least 1s"},
		{Key: "outbound.require_auth", Line: 8, Message: "may be false only when listen.outbound is a loopback address"},
		{Key: "admin.token", Line: 10, Message: "must be set (at least 16 characters) when admin.ui is true"},
		{Key: "log.level", Line: 0, Message: "must be debug, info, warn or error (set by ALIASGATE_LOG_LEVEL)"},
	}
	if len(ps) != len(want) {
		t.Fatalf("problems:\n%v\nwant %d", err, len(want))
	}
	for i, w := range want {
		if ps[i].Key != w.Key || ps[i].Line != w.Line || !strings.Contains(ps[i].Message, w.Message) {
			t.Errorf("problem %d = %+v, want %+v", i, ps[i], w)
		}
	}
	if got := ps[1].String(); got != "vault.volatile_ttl: must be at least 1s (line 4)" {
		t.Errorf("String() = %q", got)
	}
}

func TestEnvVarsAreUniqueSortedAndCoverEveryKey(t *testing.T) {
	byName := map[string]string{}
	for _, b := range envBindings() {
		if other, dup := byName[b.name]; dup {
			t.Errorf("keys %s and %s both map to %s", other, b.key, b.name)
		}
		byName[b.name] = b.key
		if want(b.typ) == "" {
			t.Errorf("%s: type %v cannot be set from the environment", b.key, b.typ)
		}
	}
	vars := EnvVars()
	if !slices.IsSorted(vars) || len(vars) != len(byName) {
		t.Errorf("EnvVars() = %v: want %d sorted names", vars, len(byName))
	}
	for _, name := range []string{
		"ALIASGATE_DATA_DIR", "ALIASGATE_ENV", "ALIASGATE_VAULT_ID", "ALIASGATE_ROUTES_FILE",
		"ALIASGATE_LISTEN_INBOUND", "ALIASGATE_VAULT_VOLATILE_TTL", "ALIASGATE_ADMIN_TOKEN",
		"ALIASGATE_OUTBOUND_PASSTHROUGH", "ALIASGATE_LIMITS_SHUTDOWN_TIMEOUT", "ALIASGATE_LOG_FORMAT",
	} {
		if !slices.Contains(vars, name) {
			t.Errorf("EnvVars() lacks %s", name)
		}
	}
	if slices.Contains(vars, "ALIASGATE_WEBHOOKS_ENDPOINTS") {
		t.Error("the webhook endpoints list must not have an environment variable")
	}
	if slices.Contains(vars, "ALIASGATE_ROUTES") {
		t.Error("the inline routes list must not have an environment variable")
	}
	// Every scalar or list field is reachable: count the leaves of Config.
	var leaves func(reflect.Type) int
	leaves = func(t reflect.Type) int {
		n := 0
		for i := range t.NumField() {
			f := t.Field(i)
			switch {
			case !f.IsExported() || f.Type == nodeType || isMappingList(f.Type):
			case f.Type.Kind() == reflect.Struct:
				n += leaves(f.Type)
			default:
				n++
			}
		}
		return n
	}
	if n := leaves(reflect.TypeFor[Config]()); n != len(vars) {
		t.Errorf("Config has %d settable keys but %d variables", n, len(vars))
	}
}

func TestReadmeListsEveryEnvVar(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range envBindings() {
		if !bytes.Contains(readme, []byte("`"+b.name+"`")) || !bytes.Contains(readme, []byte("`"+b.key+"`")) {
			t.Errorf("README.md does not list %s (%s)", b.key, b.name)
		}
	}
}

func TestRedactedMasksSecrets(t *testing.T) {
	c := Default()
	c.Admin.Token = "0123456789abcdef-admin"
	c.Vault.PostgresURL = "postgres://gw:pg-pass@db:5432/ag?sslmode=require&password=qs-pass"
	c.Vault.RedisURL = "redis://:redis-pass@cache:6379/0"
	c.Outbound.Passthrough = []string{"a.example"}
	r := c.Redacted()
	out, err := yaml.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"0123456789abcdef-admin", "pg-pass", "qs-pass", "redis-pass"} {
		if bytes.Contains(out, []byte(secret)) {
			t.Errorf("Redacted output contains %q:\n%s", secret, out)
		}
	}
	if r.Admin.Token != "REDACTED" || !strings.HasPrefix(r.Vault.PostgresURL, "postgres://gw:REDACTED@db:5432/ag?") ||
		r.Vault.RedisURL != "redis://:REDACTED@cache:6379/0" {
		t.Errorf("Redacted = token %q, postgres %q, redis %q", r.Admin.Token, r.Vault.PostgresURL, r.Vault.RedisURL)
	}
	if c.Admin.Token != "0123456789abcdef-admin" || c.Vault.RedisURL != "redis://:redis-pass@cache:6379/0" {
		t.Error("Redacted changed the original")
	}
	r.Outbound.Passthrough[0] = "changed"
	if c.Outbound.Passthrough[0] != "a.example" {
		t.Error("Redacted shares the passthrough list with the original")
	}
	for in, want := range map[string]string{
		"":                                  "",
		"postgres://db/ag":                  "postgres://db/ag",
		"host=db user=gw password=dsn-pass": "REDACTED",
		"redis://cache:6379":                "redis://cache:6379",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPrintedConfigLoadsBackUnchanged(t *testing.T) {
	c, err := Load(writeFile(t, fullFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Load(writeFile(t, string(out)), nil)
	if err != nil {
		t.Fatalf("reloading:\n%s\n%v", out, err)
	}
	if !reflect.DeepEqual(plain(back), plain(c)) {
		t.Errorf("printed and reloaded config differs:\n%s", out)
	}
	if !bytes.Contains(out, []byte("max_body: 1MB")) || !bytes.Contains(out, []byte("shutdown_timeout: 1m30s")) {
		t.Errorf("sizes and durations are not printed as text:\n%s", out)
	}
}

func TestDurationTextRoundTrips(t *testing.T) {
	for in, want := range map[string]string{
		"1h": "1h", "1h0m0s": "1h", "90m": "1h30m", "15m": "15m", "90s": "1m30s",
		"500ms": "500ms", "0": "0s", " 2h ": "2h", "1h0m5s": "1h0m5s",
	} {
		d, err := parseDuration(in)
		if err != nil || d.String() != want {
			t.Errorf("parseDuration(%q) = %v, %v; want %s", in, d, err, want)
			continue
		}
		if back, err := parseDuration(d.String()); err != nil || back != d {
			t.Errorf("%q does not round-trip: %v, %v", d.String(), back, err)
		}
	}
	for _, bad := range []string{"", "10", "1 hour", "h", "1e3s", "9999999999h"} {
		if _, err := parseDuration(bad); err == nil {
			t.Errorf("parseDuration(%q) succeeded", bad)
		}
	}
}

func TestByteSizeTextRoundTrips(t *testing.T) {
	tests := []struct {
		in   string
		want ByteSize
		text string
	}{
		{"512B", 512, "512B"},
		{"1000", 1000, "1KB"},
		{"64KiB", 64 << 10, "64KiB"},
		{"10MiB", 10 << 20, "10MiB"},
		{"1GiB", 1 << 30, "1GiB"},
		{"10MB", 10_000_000, "10MB"},
		{"10KB", 10_000, "10KB"},
		{"2TiB", 2 << 40, "2TiB"},
		{"10 mib", 10 << 20, "10MiB"},
		{"1500", 1500, "1500B"},
		{"0", 0, "0B"},
		{"8191PiB", 0, ""},
		{"1.5MiB", 0, ""},
		{"-1", 0, ""},
		{"MiB", 0, ""},
		{"10 XB", 0, ""},
		{"9223372036854775807", 1<<63 - 1, "9223372036854775807B"},
		{"9223372036854775808", 0, ""},
		{"8388608TiB", 0, ""},
	}
	for _, tt := range tests {
		got, err := parseByteSize(tt.in)
		if tt.text == "" {
			if err == nil {
				t.Errorf("parseByteSize(%q) = %v, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want || got.String() != tt.text {
			t.Errorf("parseByteSize(%q) = %d (%s), %v; want %d (%s)", tt.in, got, got, err, tt.want, tt.text)
		}
		if back, err := parseByteSize(got.String()); err != nil || back != got {
			t.Errorf("%s does not round-trip: %v, %v", got, back, err)
		}
	}
}

func TestUnitsReportLinesThroughYAMLDecoders(t *testing.T) {
	var v struct {
		A Duration `yaml:"a"`
		B ByteSize `yaml:"b"`
	}
	err := yaml.Unmarshal([]byte("a: soon\nb: big\n"), &v)
	var te *yaml.TypeError
	if !errors.As(err, &te) || len(te.Errors) != 2 ||
		!strings.HasPrefix(te.Errors[0], "line 1: must be a duration") || !strings.HasPrefix(te.Errors[1], "line 2: must be a size in bytes") {
		t.Errorf("yaml.Unmarshal = %v, want both bad values with their lines", err)
	}
	var d Duration
	if err := d.UnmarshalText([]byte("2m")); err != nil || d.Std() != 2*time.Minute {
		t.Errorf("UnmarshalText = %v, %v", d, err)
	}
	var b ByteSize
	if err := b.UnmarshalText([]byte("3KiB")); err != nil || b.Int64() != 3072 {
		t.Errorf("UnmarshalText = %v, %v", b, err)
	}
}

// FuzzLoad feeds arbitrary files to Load: it must not panic, and a config it
// accepts must validate and equal what yaml.v3's strict decoder makes of it.
func FuzzLoad(f *testing.F) {
	f.Add(fullFile)
	f.Add("")
	f.Add("env: live\nlimits: {max_body: 10MiB}\n")
	f.Add("limits:\n  max_bdy: 1\n  max_body: 10XB\n")
	f.Add("a: &a [*a]\n")
	f.Add("auth: {audience: &n x, issuer: *n}\nroutes: [{id: a}]\n")
	f.Add("outbound: {passthrough: [a, ~, b]}\n")
	f.Add("listen: &l {inbound: ':1'}\nlisten: *l\n")
	f.Fuzz(func(t *testing.T, content string) {
		path := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(path, nil)
		if err != nil {
			var ve *ValidationError
			if errors.As(err, &ve) && len(ve.Problems) == 0 {
				t.Fatal("a *ValidationError without problems")
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Load accepted a config that does not validate: %v", err)
		}
		strict := Default()
		dec := yaml.NewDecoder(strings.NewReader(content))
		dec.KnownFields(true)
		if err := dec.Decode(&strict); err != nil && err.Error() != "EOF" {
			t.Fatalf("Load accepted what yaml.v3 refuses: %v", err)
		}
		if !reflect.DeepEqual(plain(c), plain(strict)) {
			t.Fatalf("Load gave\n %+v\nyaml.v3 gave\n %+v", plain(c), plain(strict))
		}
	})
}

func TestValidateWebhookEndpoints(t *testing.T) {
	good := WebhookEndpoint{ID: "ep-1", Account: "acct_a", URL: "https://hooks.example.com/x", SecretFile: "/etc/s", Events: []string{"card.*"}}
	tests := []struct {
		name   string
		change func(*Webhooks)
		key    string // "" means valid
	}{
		{"good", func(w *Webhooks) {}, ""},
		{"secret from the environment", func(w *Webhooks) { w.Endpoints[0].SecretFile, w.Endpoints[0].SecretEnv = "", "HOOK_SECRET" }, ""},
		{"no secret", func(w *Webhooks) { w.Endpoints[0].SecretFile = "" }, "webhooks.endpoints[0].secret_file"},
		{"both secrets", func(w *Webhooks) { w.Endpoints[0].SecretEnv = "HOOK_SECRET" }, "webhooks.endpoints[0].secret_file"},
		{"http", func(w *Webhooks) { w.Endpoints[0].URL = "http://hooks.example.com/x" }, "webhooks.endpoints[0].url"},
		{"http allowed", func(w *Webhooks) { w.Endpoints[0].URL, w.AllowInsecureHTTP = "http://127.0.0.1:9/x", true }, ""},
		{"credentials in the URL", func(w *Webhooks) { w.Endpoints[0].URL = "https://u:pw@hooks.example.com/x" }, "webhooks.endpoints[0].url"},
		{"not a URL", func(w *Webhooks) { w.Endpoints[0].URL = "hooks.example.com" }, "webhooks.endpoints[0].url"},
		{"bad id", func(w *Webhooks) { w.Endpoints[0].ID = "Ep 1" }, "webhooks.endpoints[0].id"},
		{"duplicate id", func(w *Webhooks) { w.Endpoints = append(w.Endpoints, w.Endpoints[0]) }, "webhooks.endpoints[1].id"},
		{"bad account", func(w *Webhooks) { w.Endpoints[0].Account = "acct a" }, "webhooks.endpoints[0].account"},
		{"no events", func(w *Webhooks) { w.Endpoints[0].Events = nil }, "webhooks.endpoints[0].events"},
		{"unknown event", func(w *Webhooks) { w.Endpoints[0].Events = []string{"card.*", "card.crated"} }, "webhooks.endpoints[0].events[1]"},
		{"every event", func(w *Webhooks) { w.Endpoints[0].Events = []string{"*"} }, ""},
		{"zero timeout", func(w *Webhooks) { w.Timeout = 0 }, "webhooks.timeout"},
		{"backoff max under base", func(w *Webhooks) { w.BackoffMax = w.BackoffBase - 1 }, "webhooks.backoff_max"},
		{"zero retention", func(w *Webhooks) { w.Retention = 0 }, "webhooks.retention"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			c.Webhooks.Endpoints = []WebhookEndpoint{good}
			tt.change(&c.Webhooks)
			err := c.Validate()
			if tt.key == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) != 1 || ve.Problems[0].Key != tt.key {
				t.Fatalf("Validate = %v, want one problem at %s", err, tt.key)
			}
		})
	}
}

func TestWebhookEndpointsUnknownKeyHasItsLine(t *testing.T) {
	_, err := Load(writeFile(t, "webhooks:\n  endpoints:\n    - id: a\n      account: acct\n      url: https://h.example/x\n      secret: inline-secret-value\n      events: [\"*\"]\n"), nil)
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Load = %v", err)
	}
	found := false
	for _, p := range ve.Problems {
		if p.Key == "webhooks.endpoints[0].secret" && p.Line == 6 && strings.Contains(p.Message, "unknown key") {
			found = true
		}
		if strings.Contains(p.Message, "inline-secret-value") {
			t.Errorf("a problem quotes the secret: %v", p)
		}
	}
	if !found {
		t.Fatalf("problems %v", ve.Problems)
	}
}

// TestWholeNumbersAreReadAsWritten: YAML reads 010 as 8, 0x10 as 16 and
// 1e3 as 1000, so limits.client_rate: 010 meant 8 requests a second
// without a word. A whole number must be written in decimal digits.
func TestWholeNumbersAreReadAsWritten(t *testing.T) {
	for _, v := range []string{"010", "0x10", "0o10", "0b11", "1e3", "1_000", "1.0", "+5", "0010"} {
		_, err := Load(writeFile(t, "limits:\n  client_rate: "+v+"\n"), nil)
		ps := problems(t, err)
		p, ok := findProblem(ps, "limits.client_rate")
		if !ok || p.Line != 2 || !strings.Contains(p.Message, "decimal") {
			t.Errorf("client_rate: %s gave %v", v, ps)
		}
	}
	for v, want := range map[string]int{"10": 10, "0": 0, "1000": 1000, `"7"`: 7} {
		cfg, err := Load(writeFile(t, "limits:\n  client_rate: "+v+"\n"), nil)
		if v == `"7"` {
			if err == nil {
				t.Error(`client_rate: "7" (a string) accepted`)
			}
			continue
		}
		if err != nil || cfg.Limits.ClientRate != want {
			t.Errorf("client_rate: %s = %d, %v", v, cfg.Limits.ClientRate, err)
		}
	}
}

// TestYAMLTagsAreRefusedWithTheirLine: a value or key written with a YAML
// tag (!!str, !!int, !!binary, !!map, a custom or verbatim one) is a
// problem naming the tag and its line, also where the tagged value would
// have been valid. Before, each was taken without a word: !!binary read
// base64 (the audience below became "aliasgate"), !!int 0x10 16, a custom
// tag was dropped.
func TestYAMLTagsAreRefusedWithTheirLine(t *testing.T) {
	for _, c := range []struct {
		file string
		line int
		tag  string
	}{
		{"limits:\n  client_rate: !!int 10\n", 2, "!!int"},
		{"limits:\n  client_rate: !!int 0x10\n", 2, "!!int"},
		{"env: !!str sandbox\n", 1, "!!str"},
		{"env: !foo sandbox\n", 1, "!foo"},
		{"env: !<tag:example.com,2026:env> sandbox\n", 1, "!<tag:example.com,2026:env>"},
		{"vault:\n  volatile_ttl: !!str 1h\n", 2, "!!str"},
		{"!!str env: sandbox\n", 1, "!!str"},
		{"listen: !!map {inbound: 127.0.0.1:8080}\n", 1, "!!map"},
		{"auth:\n  audience: !!binary YWxpYXNnYXRl\n", 2, "!!binary"},
		{"vault_api: {enabled: !!bool true}\n", 1, "!!bool"},
	} {
		_, err := Load(writeFile(t, c.file), nil)
		ps := problems(t, err)
		found := false
		for _, p := range ps {
			if p.Line == c.line && strings.Contains(p.Message, "YAML tag "+c.tag+" is not accepted") {
				found = true
			}
		}
		if !found {
			t.Errorf("%q: problems %v, want YAML tag %s on line %d", c.file, ps, c.tag, c.line)
		}
	}
}
