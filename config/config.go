// Package config holds aliasgate's configuration: the Config type and its
// defaults, Load (one YAML file, then ALIASGATE_* environment overrides, then
// Validate) and the checks that report every problem of a configuration at
// once, each with its key and, when it came from the file, its line.
//
// Every scalar or list key has an environment variable named after its path:
// vault.volatile_ttl is ALIASGATE_VAULT_VOLATILE_TTL and data_dir is
// ALIASGATE_DATA_DIR (EnvVars lists them all). The inline routes list is kept
// as a yaml.Node, with its line numbers, for the routes package to parse.
package config

import (
	"math"
	"net/url"
	"path/filepath"
	"slices"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the whole configuration of one aliasgate process. The zero value
// is not useful: start from Default or Load.
type Config struct {
	// DataDir holds the bbolt vault file, the CA, the signing key and the
	// master key file. Default ./aliasgate-data.
	DataDir string `yaml:"data_dir"`
	// Env names the environment in aliases (tok_<env>_…); 1–16 lowercase
	// letters and digits, starting with a letter. Default sandbox.
	Env string `yaml:"env"`
	// VaultID identifies this vault in metadata.observability. Default
	// tnt-local.
	VaultID string `yaml:"vault_id"`
	// DefaultAccount is the vault's default account: the account of the
	// clients `clients create` makes without --account and of the inbound
	// routes without an account key, and the owner of every record written
	// before accounts existed. Empty: the one the vault stored on its first
	// start with accounts (the account all existing clients shared, else
	// "default"). Once the vault has one, a different value is refused.
	DefaultAccount string `yaml:"default_account"`
	// Listen holds the addresses of the three listeners.
	Listen Listen `yaml:"listen"`
	// RoutesFile is a routes file to load; it excludes inline Routes.
	// Default none.
	RoutesFile string `yaml:"routes_file"`
	// Routes is the inline route list as it appeared in the file, with its
	// line numbers, for the routes package to parse. A zero or null node
	// means no inline routes. It has no environment variable.
	Routes yaml.Node `yaml:"routes,omitempty"`
	// Vault selects and configures the persistent and volatile stores.
	Vault Vault `yaml:"vault"`
	// Limits bounds request sizes and connection times.
	Limits Limits `yaml:"limits"`
	// Outbound configures the outbound forward proxy.
	Outbound Outbound `yaml:"outbound"`
	// VaultAPI configures the internal:aliases vault API.
	VaultAPI VaultAPI `yaml:"vault_api"`
	// Cards configures the internal:cards Card Management API.
	Cards Cards `yaml:"cards"`
	// Admin configures the admin listener's optional pages.
	Admin Admin `yaml:"admin"`
	// Auth configures the JWTs issued by /oauth/token.
	Auth Auth `yaml:"auth"`
	// Log configures the process log.
	Log Log `yaml:"log"`
	// Audit configures the tamper-evident audit log.
	Audit Audit `yaml:"audit"`
	// Webhooks configures the delivery of card and network-token events to
	// the accounts' endpoints.
	Webhooks Webhooks `yaml:"webhooks"`

	// src records where values came from (file lines, environment
	// variables), for Validate's messages. Nil for a Config built in code.
	src *sources
}

// Listen holds the listener addresses, each host:port with a numeric port.
type Listen struct {
	// Inbound is the reverse proxy's address. Default 127.0.0.1:8080.
	Inbound string `yaml:"inbound"`
	// Outbound is the forward proxy's address. Default 127.0.0.1:8081.
	Outbound string `yaml:"outbound"`
	// Admin is the address of /healthz, /readyz, /metrics and the optional
	// inspector and pprof pages. Default 127.0.0.1:9090.
	Admin string `yaml:"admin"`
	// InboundCert and InboundKey are PEM files that turn on TLS (and
	// HTTP/2) on the inbound listener; both or neither.
	InboundCert string `yaml:"inbound_cert"`
	InboundKey  string `yaml:"inbound_key"`
	// OutboundCert and OutboundKey are PEM files that turn the outbound
	// listener into an HTTPS proxy (clients speak TLS to it before their
	// CONNECT, so proxy credentials never cross the network in clear);
	// both or neither.
	OutboundCert string `yaml:"outbound_cert"`
	OutboundKey  string `yaml:"outbound_key"`
}

// Vault selects the stores that hold aliased values.
type Vault struct {
	// Store is the persistent store: bolt (default) or postgres.
	Store string `yaml:"store"`
	// PostgresURL is the postgres:// or postgresql:// URL used when Store is
	// postgres. It may carry a password: print Config.Redacted, not this.
	PostgresURL string `yaml:"postgres_url"`
	// Volatile is the store of volatile values (CVCs): memory (default) or
	// redis.
	Volatile string `yaml:"volatile"`
	// RedisURL is the redis:// or rediss:// URL used when Volatile is redis.
	// It may carry a password. A rediss:// server's certificate is always
	// verified: skip_verify=true is refused (vault/redisstore).
	RedisURL string `yaml:"redis_url"`
	// RedisPrefix starts every Redis key of this vault, so that several
	// vaults (environments) can share one Redis. Default "aliasgate:".
	RedisPrefix string `yaml:"redis_prefix"`
	// VolatileTTL is how long a volatile value lives. Default 1h, at least 1s.
	VolatileTTL Duration `yaml:"volatile_ttl"`
	// VolatileMaxRecords bounds the volatile values held in memory with
	// Volatile "memory" (about 300 bytes each): past it a new value
	// evicts the values closest to expiry (the oldest), counted in
	// aliasgate_vault_volatile_evictions_total; only a message with more
	// values than the bound is refused (503). Default 1000000; 0: no
	// bound. Redis is bounded by its own maxmemory (maxmemory-policy
	// volatile-ttl evicts the same way).
	VolatileMaxRecords int `yaml:"volatile_max_records"`
	// MaxValueSize is the largest persistent value the vault stores (any
	// path: the vault API, routes, cards). Default 1MiB, 1KiB to 32MiB (the
	// VGS vault API's documented data limit). Volatile values are at most
	// 4KiB whatever it is.
	MaxValueSize ByteSize `yaml:"max_value_size"`
}

// Limits bounds what one request may cost. Every value must be positive.
type Limits struct {
	// MaxBody is the largest body a matched filter buffers. Default 10MiB,
	// at most MaxMaxBody.
	MaxBody ByteSize `yaml:"max_body"`
	// MaxBufferedBytes bounds the body bytes the gateway holds in memory
	// at once, all listeners together: the bodies the proxies' filters
	// and leak guard read whole (each at most MaxBody), reserved before
	// they are read (their Content-Length, else as they are read) and given back
	// when the exchange is over. A body that does not fit is refused: 503
	// gateway_busy with Retry-After on a request, 502 on a response (the
	// request was delivered). Without it one client's HTTP/2 streams (250
	// a connection) on MaxConnsPerSource connections made the gateway
	// read streams × MaxBody bytes at once. Default 0: 32 × MaxBody, but
	// at most a quarter of the Go memory limit when one is set
	// (GOMEMLIMIT) and at least 4 × MaxBody (BufferedBytes). Otherwise at
	// least MaxBody.
	MaxBufferedBytes ByteSize `yaml:"max_buffered_bytes"`
	// SourceBufferedShare is the percentage of MaxBufferedBytes the bodies
	// of one sender (a source address, an IPv6 /64; a proxy client on the
	// outbound listener) may hold at once; past it its requests get 429
	// source_busy with Retry-After, so that one sender cannot take the
	// budget from everyone. Default 25; 100: no share. Never less than
	// what one exchange may hold at once: its request body (MaxBody, or
	// the largest document the gateway's own endpoints read, or both
	// behind a route in front of an in-process API) and its response
	// (MaxBody) (cmd/aliasgate newBodyBudget).
	SourceBufferedShare int `yaml:"source_buffered_share"`
	// MaxHeaderBytes bounds request headers (http.Server.MaxHeaderBytes).
	// Default 64KiB, at most MaxBody.
	MaxHeaderBytes ByteSize `yaml:"max_header_bytes"`
	// ReadHeaderTimeout is http.Server.ReadHeaderTimeout, and bounds each
	// request's headers inside an intercepted CONNECT tunnel too
	// (proxy.OutboundOptions.TunnelHeaderTimeout). Default 10s.
	ReadHeaderTimeout Duration `yaml:"read_header_timeout"`
	// ReadTimeout is http.Server.ReadTimeout, and bounds each request
	// inside an intercepted CONNECT tunnel too, body included
	// (proxy.OutboundOptions.TunnelReadTimeout). Default 30s.
	ReadTimeout Duration `yaml:"read_timeout"`
	// WriteTimeout is http.Server.WriteTimeout. Default 60s.
	WriteTimeout Duration `yaml:"write_timeout"`
	// IdleTimeout is http.Server.IdleTimeout. Default 120s.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// UpstreamTimeout bounds one round trip to an upstream or destination.
	// Default 60s.
	UpstreamTimeout Duration `yaml:"upstream_timeout"`
	// ShutdownTimeout bounds the graceful shutdown. Default 30s.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	// ClientRate is how many requests per second one API client (by client
	// id) may make to the Card Management API and the vault API, as a
	// token bucket refilled at this rate; more get 429 with Retry-After.
	// Default 50; 0: no limit.
	ClientRate int `yaml:"client_rate"`
	// ClientBurst is the size of each client's bucket: how many requests
	// may come at once after a quiet spell. Default 100; at least 1 when
	// ClientRate is set.
	ClientBurst int `yaml:"client_burst"`
	// OutboundClientRate is how many requests per second one outbound
	// proxy client (by client id; without outbound.require_auth, one
	// source address) may send through the outbound proxy: each CONNECT,
	// each plain-HTTP request and each request inside a tunnel, as a token
	// bucket refilled at this rate; more get 429 rate_limited with
	// Retry-After (proxy.OutboundOptions.Limit). Default 1000; 0: no limit.
	OutboundClientRate int `yaml:"outbound_client_rate"`
	// OutboundClientBurst is the size of each outbound client's bucket.
	// Default 2000; at least 1 when OutboundClientRate is set.
	OutboundClientBurst int `yaml:"outbound_client_burst"`
	// OutboundUnknownAliases is how many unknown aliases (one that does
	// not exist, expired, or is another account's; or a network_token
	// card reference that is no card of the account) one outbound client
	// (or source address, as OutboundClientRate) may have refused a
	// minute, as a token bucket of OutboundUnknownBurst: each distinct one
	// of a request refused 422 is charged (what an on_error: pass filter
	// forwards is not); while it is spent, every request of a route that
	// reveals is refused 429 too_many_unknown_aliases
	// (proxy.OutboundOptions.Misses). Defaults 30 and 30; 0: no limit.
	OutboundUnknownAliases int `yaml:"outbound_unknown_aliases"`
	OutboundUnknownBurst   int `yaml:"outbound_unknown_burst"`
	// InboundUnknownNumbers is how many card-like numbers that are no
	// alias (the leak guard of a route whose leak_guard is block or redact
	// refused or masked them; each distinct one of a request counts) one
	// source address (an IPv6 address by its /64) may send the inbound
	// proxy a minute, as a token bucket of
	// InboundUnknownBurst; while it is spent, every request of the source
	// to such a route carrying a card-like number its filters did not make
	// is refused 429 too_many_unknown_numbers, live aliases included
	// (proxy.InboundOptions.Misses): the guard's answer would otherwise
	// tell which numbers are live aliases. Defaults 30 and 30; 0: no
	// limit.
	InboundUnknownNumbers int `yaml:"inbound_unknown_numbers"`
	InboundUnknownBurst   int `yaml:"inbound_unknown_burst"`
	// SourceNewValues is how many new persistent values (values the vault
	// has not seen: a new card number) one source address may have
	// tokenized a minute through the inbound proxy without a client;
	// SourceNewBurst is the bucket's size. Past it: 429 with Retry-After,
	// nothing stored or forwarded. Defaults 30 and 30; 0: no limit.
	SourceNewValues int `yaml:"source_new_values"`
	SourceNewBurst  int `yaml:"source_new_burst"`
	// SourceVolatileValues is how many new volatile values (CVCs) one
	// source address may have tokenized a minute through the proxies
	// without a client; SourceVolatileBurst is the bucket's size (a
	// message over it passes when the bucket is full, and the source then
	// waits for all of it to refill). Past it: 429 with Retry-After,
	// nothing stored or forwarded. Without it one sender's flood evicted
	// every other customer's CVCs from the volatile store. Defaults 120
	// and 120; 0: no limit.
	SourceVolatileValues int `yaml:"source_volatile_values"`
	SourceVolatileBurst  int `yaml:"source_volatile_burst"`
	// AccountVolatileShare is the percentage of vault.volatile_max_records
	// one account may hold in the volatile store: the most volatile values
	// it may create in one vault.volatile_ttl on this gateway, whoever
	// sends them (API clients, the Card Management API, routes). Past it
	// its new volatile values are refused (429 with Retry-After, nothing
	// stored or forwarded) instead of evicting other accounts' values
	// from a full store. Default 50; 0 (or volatile_max_records 0): no
	// share.
	AccountVolatileShare int `yaml:"account_volatile_share"`
	// MaxConnsPerSource is the most connections one source address (an
	// IPv6 /64) may hold open on each listener at once; past it a new
	// connection is closed as soon as it is accepted. Peers listed in
	// TrustedProxies are not counted on the inbound listener (on the
	// outbound and admin listeners they are senders like any other).
	// Default 1024; 0: no bound.
	MaxConnsPerSource int `yaml:"max_conns_per_source"`
	// TrustedProxies lists the addresses or CIDR prefixes of load
	// balancers in front of the inbound listener. Only when the peer is
	// one of them is the source address read from X-Forwarded-For (the
	// rightmost address that is not a trusted proxy). Default: none; the
	// peer is the source.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// EnumerationThreshold is how many distinct new digit values sharing
	// their first 6 and last 4 digits (fewer than 12 digits: length and
	// last 4) one caller (an API client, else a source address) may have
	// tokenized in EnumerationWindow; past it the caller is flagged: an
	// alert, and no digit value of it is tokenized for EnumerationPenalty
	// (renewed by every try). DuplicateThreshold is the same for the Card
	// Management API's duplicate answers (303). Defaults 10, 100, 1h and
	// 1h; a threshold of 0 turns its detector off.
	EnumerationThreshold int      `yaml:"enumeration_threshold"`
	DuplicateThreshold   int      `yaml:"duplicate_threshold"`
	EnumerationWindow    Duration `yaml:"enumeration_window"`
	EnumerationPenalty   Duration `yaml:"enumeration_penalty"`
	// VaultConcurrency bounds the vault operations in flight at once
	// (redact, reveal, describe, delete, update), whoever asks: the
	// proxies, the APIs. Default 256; 0 means no bound.
	VaultConcurrency int `yaml:"vault_concurrency"`
	// VaultWait is how long an operation over VaultConcurrency waits for a
	// slot before it fails as unavailable (503). Default 5s.
	VaultWait Duration `yaml:"vault_wait"`
	// MaxVolatilePerMessage bounds the volatile values (CVCs) one vault
	// call may create: one message's redaction by a route, one vault API
	// or cards request. A message that would create more is refused whole
	// (nothing is stored), so that one request cannot flush the volatile
	// store's bound (vault.volatile_max_records), where the oldest values
	// are evicted to make room. Default 1000; 0 means no bound.
	MaxVolatilePerMessage int `yaml:"max_volatile_per_message"`
	// MaxValuesPerMessage bounds the values one vault call may tokenize
	// (new or known, persistent or volatile); MaxNewPerMessage the new
	// persistent records it may create. A message over either is refused
	// whole (422 too_many_values), nothing stored or forwarded. Defaults
	// 1000 and 100; 0 means no bound.
	MaxValuesPerMessage int `yaml:"max_values_per_message"`
	MaxNewPerMessage    int `yaml:"max_new_per_message"`
}

// Outbound configures the outbound forward proxy.
type Outbound struct {
	// RequireAuth demands Proxy-Authorization from clients. Default true;
	// false is allowed only when listen.outbound is a loopback address.
	RequireAuth bool `yaml:"require_auth"`
	// Passthrough lists hosts (api.example.com, *.example.com) that clients
	// may CONNECT to without an outbound route; the tunnel is not opened.
	Passthrough []string `yaml:"passthrough"`
	// AllowPrivateDestinations lets the proxy dial loopback, link-local and
	// private addresses. Default false.
	AllowPrivateDestinations bool `yaml:"allow_private_destinations"`
	// CABundle is a PEM file of extra roots trusted for destinations, added
	// to the system roots. Default none.
	CABundle string `yaml:"ca_bundle"`
	// CACert and CAKey are the gateway CA (PEM files) that signs the
	// certificates of intercepted hosts. Default: ca.pem and ca.key in the
	// data dir, created on first run. Both or neither; configured files are
	// never created.
	CACert string `yaml:"ca_cert"`
	CAKey  string `yaml:"ca_key"`
}

// VaultAPI configures the internal:aliases vault API.
type VaultAPI struct {
	// Enabled mounts internal:aliases at /aliases on the inbound listener.
	// Default false.
	Enabled bool `yaml:"enabled"`
}

// Cards configures the internal:cards Card Management API.
type Cards struct {
	// Enabled mounts internal:cards at /cards and /oauth/token on the inbound
	// listener. Default true.
	Enabled bool `yaml:"enabled"`
	// BINTable is an optional CSV of BIN prefixes → card_type merged over
	// the embedded table. Default none.
	BINTable string `yaml:"bin_table"`
	// TSP selects the token service provider for network tokens. Default
	// "simulator" (the built-in one, the only provider of this build).
	TSP string `yaml:"tsp"`
	// TokenServiceTimeout bounds each call to the token service
	// (provisioning, a cryptogram, an expiry update, a token's delete);
	// one that passes it answers 502 token_service_unavailable. Default
	// 10s, 100ms to 60s.
	TokenServiceTimeout Duration `yaml:"token_service_timeout"`
	// NetworkTokens provisions a network token for every card created, in
	// every account. Default false.
	NetworkTokens bool `yaml:"network_tokens"`
	// NetworkTokenAccounts turns network tokens on for these accounts only
	// (when NetworkTokens is false). Default none.
	NetworkTokenAccounts []string `yaml:"network_token_accounts"`
	// TokenType is the type of the network tokens provisioned:
	// "ecommerce" (default) or "card_on_file"; it is the default use of
	// their cryptograms.
	TokenType string `yaml:"token_type"`
	// DuplicateDetection answers POST /cards with a card number the
	// account already holds with 303 to the card it holds, in every
	// account but those of DuplicateDetectionOffAccounts; false: a new
	// card (201) sharing the others' pan_alias and card_fingerprint, in
	// every account. Default true.
	DuplicateDetection bool `yaml:"duplicate_detection"`
	// DuplicateDetectionOffAccounts turns duplicate detection off for
	// these accounts only (when DuplicateDetection is true). Default none.
	DuplicateDetectionOffAccounts []string `yaml:"duplicate_detection_off_accounts"`
	// ProvisionStored provisions, in the background at serve, a network
	// token for the cards stored before network tokens were turned on for
	// their account. Turn it on in one gateway of those sharing a store.
	// Default false.
	ProvisionStored bool `yaml:"provision_stored"`
}

// Admin configures the admin listener's optional pages.
type Admin struct {
	// UI serves the inspector page at /ui/. It requires Token.
	UI bool `yaml:"ui"`
	// Token is the secret the inspector and every /admin/ endpoint of the
	// admin listener ask for (keys, clients, the simulator, webhook
	// deliveries); at least 16 characters when set, without white space at
	// either end or control characters. Print Config.Redacted,
	// not this.
	Token string `yaml:"token"`
	// AllowedHosts are the names the admin listener is reached by besides
	// its addresses, localhost and the host name listen.admin binds, if
	// any (a DNS name, at any port; name:port
	// accepts that name at that port only): every other Host is answered
	// 421, so that a page whose name
	// rebinds to the listener's address cannot read it (package
	// internal/hostguard). Default none.
	AllowedHosts []string `yaml:"allowed_hosts"`
	// Pprof serves Go's profiles at /debug/pprof/ on the admin listener,
	// behind admin.token (no /debug/pprof/cmdline). Default false.
	Pprof bool `yaml:"pprof"`
	// UICaptureSize is how many recent exchanges the inspector keeps in
	// memory (never on disk). Default 100, 1 to 10000.
	UICaptureSize int `yaml:"ui_capture_size"`
	// UICaptureBody is how much of each body the inspector keeps (masked;
	// longer bodies are marked truncated). Default 64KiB, 1KiB to 1MiB.
	UICaptureBody ByteSize `yaml:"ui_capture_body"`
}

// Auth configures the JWTs that /oauth/token issues and the APIs accept.
type Auth struct {
	// TokenTTL is the lifetime of an issued token: 1m to 24h, default 15m.
	TokenTTL Duration `yaml:"token_ttl"`
	// Audience is the aud claim issued and required. Default aliasgate.
	Audience string `yaml:"audience"`
	// Issuer is the iss claim issued and required. Default aliasgate.
	Issuer string `yaml:"issuer"`
}

// Log configures the process log (slog on stderr).
type Log struct {
	// Level is debug, info (default), warn or error.
	Level string `yaml:"level"`
	// Format is json (default) or text.
	Format string `yaml:"format"`
}

// Audit configures the audit log: one HMAC-chained JSON line per reveal,
// delete, client creation, key rotation and route reload (package audit).
type Audit struct {
	// Enabled writes the audit log. While it is on and the log cannot be
	// written, reveals are refused (503). Default true.
	Enabled bool `yaml:"enabled"`
	// Path is the log file. Default <data_dir>/audit.log.
	Path string `yaml:"path"`
	// Fsync is when lines reach the disk. "interval" (default): a reveal
	// answers once its line is written to the file, so a crashed or killed
	// gateway loses no line, and the file is fsynced every FsyncInterval,
	// so an operating-system crash or power loss can lose the lines of the
	// last interval. "always": a reveal answers once its line is fsynced
	// (concurrent reveals share one fsync), which costs reveal throughput.
	Fsync string `yaml:"fsync"`
	// FsyncInterval is the fsync period of Fsync "interval": 1ms to 10s,
	// default 200ms.
	FsyncInterval Duration `yaml:"fsync_interval"`
	// MaxSize rotates the log once it holds this many bytes: 0 (never by
	// size) or 1MiB to 1TiB, default 100MiB. The chain continues across
	// files; `aliasgate audit verify` checks the rotated set.
	MaxSize ByteSize `yaml:"max_size"`
	// MaxAge rotates the log once its first line is this old: 0 (never by
	// age) or 1m to 8760h, default 24h.
	MaxAge Duration `yaml:"max_age"`
	// Keep is how many rotated files the gateway keeps, removing the
	// oldest beyond it: 0 (the default) keeps every file, since how long
	// audit history is kept is the operator's decision (PCI DSS 10.5.1:
	// 12 months, 3 of them at hand).
	Keep int `yaml:"keep"`
}

// Webhooks configures the webhook outbox and its dispatcher (package
// webhooks).
type Webhooks struct {
	// Endpoints receive the events of their account. Default none. The
	// list has no environment variable.
	Endpoints []WebhookEndpoint `yaml:"endpoints"`
	// AllowPrivateDestinations lets deliveries reach loopback, private,
	// link-local and metadata addresses (tests, a receiver on the
	// gateway's network). Default false.
	AllowPrivateDestinations bool `yaml:"allow_private_destinations"`
	// AllowInsecureHTTP accepts http:// endpoint URLs (tests,
	// development). Default false: https only.
	AllowInsecureHTTP bool `yaml:"allow_insecure_http"`
	// CABundle is a PEM file of extra roots trusted for endpoints, added to
	// the system roots. TLS is verified always. Default none.
	CABundle string `yaml:"ca_bundle"`
	// Timeout bounds one delivery attempt. Default 10s, 1s to 60s.
	Timeout Duration `yaml:"timeout"`
	// BackoffBase is the wait after the first failed attempt, doubled after
	// each next one up to BackoffMax, with jitter. Defaults 30s and 1h.
	BackoffBase Duration `yaml:"backoff_base"`
	BackoffMax  Duration `yaml:"backoff_max"`
	// RetryFor is how long after its event a delivery is retried before it
	// is marked failed. Default 24h.
	RetryFor Duration `yaml:"retry_for"`
	// PollInterval is how often a gateway looks for due deliveries (its
	// own events wake it at once). Default 1s.
	PollInterval Duration `yaml:"poll_interval"`
	// Retention is how long delivered and failed deliveries stay in the
	// delivery log. Default 720h (30 days).
	Retention Duration `yaml:"retention"`
}

// WebhookEndpoint is one receiver of an account's events. The signing
// secret is never written in the file: it is read from SecretFile or the
// environment variable SecretEnv (exactly one of them), one secret per
// line (file) or comma-separated (variable); every secret given signs
// each delivery (rotation: add the new one, then remove the old one).
type WebhookEndpoint struct {
	// ID names the endpoint in the delivery log: 1 to 64 of a-z 0-9 _ -.
	ID string `yaml:"id"`
	// Account is the account whose events it receives.
	Account string `yaml:"account"`
	// URL is an https:// URL without credentials.
	URL string `yaml:"url"`
	// SecretFile is a file holding the signing secret(s).
	SecretFile string `yaml:"secret_file"`
	// SecretEnv names an environment variable holding the signing
	// secret(s).
	SecretEnv string `yaml:"secret_env"`
	// Events lists the events it receives: types (card.updated), families
	// (card.*, network_token.*) or *.
	Events []string `yaml:"events"`
}

// AuditSyncInterval is the audit.Options.SyncInterval that audit.fsync and
// audit.fsync_interval select: zero for "always".
func (c Config) AuditSyncInterval() time.Duration {
	if c.Audit.Fsync == "always" {
		return 0
	}
	return c.Audit.FsyncInterval.Std()
}

// AuditPath is the audit log file: audit.path, else <data_dir>/audit.log.
func (c Config) AuditPath() string {
	if c.Audit.Path != "" {
		return c.Audit.Path
	}
	return filepath.Join(c.DataDir, "audit.log")
}

// Default returns the configuration aliasgate runs with when nothing is set:
// everything on loopback, the embedded bbolt vault in ./aliasgate-data.
func Default() Config {
	return Config{
		DataDir: "./aliasgate-data",
		Env:     "sandbox",
		VaultID: "tnt-local",
		Listen: Listen{
			Inbound:  "127.0.0.1:8080",
			Outbound: "127.0.0.1:8081",
			Admin:    "127.0.0.1:9090",
		},
		Vault: Vault{
			Store:              "bolt",
			Volatile:           "memory",
			RedisPrefix:        "aliasgate:",
			VolatileTTL:        Duration(time.Hour),
			VolatileMaxRecords: 1_000_000,
			MaxValueSize:       MiB,
		},
		Limits: Limits{
			MaxBody:             10 * MiB,
			MaxHeaderBytes:      64 * KiB,
			ReadHeaderTimeout:   Duration(10 * time.Second),
			ReadTimeout:         Duration(30 * time.Second),
			WriteTimeout:        Duration(60 * time.Second),
			IdleTimeout:         Duration(120 * time.Second),
			UpstreamTimeout:     Duration(60 * time.Second),
			ShutdownTimeout:     Duration(30 * time.Second),
			ClientRate:          50,
			ClientBurst:         100,
			OutboundClientRate:  1000,
			OutboundClientBurst: 2000,

			OutboundUnknownAliases: 30,
			OutboundUnknownBurst:   30,
			InboundUnknownNumbers:  30,
			InboundUnknownBurst:    30,
			VaultConcurrency:       256,
			VaultWait:              Duration(5 * time.Second),

			SourceNewValues:      30,
			SourceNewBurst:       30,
			SourceVolatileValues: 120,
			SourceVolatileBurst:  120,
			AccountVolatileShare: 50,
			MaxConnsPerSource:    1024,
			EnumerationThreshold: 10,
			DuplicateThreshold:   100,
			EnumerationWindow:    Duration(time.Hour),
			EnumerationPenalty:   Duration(time.Hour),

			MaxVolatilePerMessage: 1000,
			MaxValuesPerMessage:   1000,
			MaxNewPerMessage:      100,

			SourceBufferedShare: 25,
		},
		Outbound: Outbound{RequireAuth: true},
		Cards: Cards{Enabled: true, TSP: "simulator", TokenServiceTimeout: Duration(10 * time.Second),
			TokenType: "ecommerce", DuplicateDetection: true},
		Admin: Admin{UICaptureSize: 100, UICaptureBody: 64 * KiB},
		Auth: Auth{
			TokenTTL: Duration(15 * time.Minute),
			Audience: "aliasgate",
			Issuer:   "aliasgate",
		},
		Log: Log{Level: "info", Format: "json"},
		Webhooks: Webhooks{Timeout: Duration(10 * time.Second), BackoffBase: Duration(30 * time.Second), BackoffMax: Duration(time.Hour),
			RetryFor: Duration(24 * time.Hour), PollInterval: Duration(time.Second), Retention: Duration(720 * time.Hour)},
		Audit: Audit{Enabled: true, Fsync: "interval", FsyncInterval: Duration(200 * time.Millisecond), MaxSize: 100 * MiB, MaxAge: Duration(24 * time.Hour)},
	}
}

// VaultPath is the bbolt vault file: <data_dir>/vault.db.
func (c Config) VaultPath() string {
	return filepath.Join(c.DataDir, "vault.db")
}

// redactedMark replaces secrets in Redacted.
const redactedMark = "REDACTED"

// Redacted returns a copy of c that is safe to print: admin.token and the
// passwords inside vault.postgres_url and vault.redis_url (user info or a
// password query parameter) are replaced by REDACTED. A URL that does not
// parse is replaced whole. Empty values stay empty, so "not set" still shows.
func (c Config) Redacted() Config {
	r := c
	r.Outbound.Passthrough = slices.Clone(c.Outbound.Passthrough)
	r.Webhooks.Endpoints = slices.Clone(c.Webhooks.Endpoints)
	if r.Admin.Token != "" {
		r.Admin.Token = redactedMark
	}
	r.Vault.PostgresURL = redactURL(c.Vault.PostgresURL)
	r.Vault.RedisURL = redactURL(c.Vault.RedisURL)
	return r
}

// redactURL masks the password of a store URL.
func redactURL(s string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Opaque != "" {
		// Not a URL (perhaps a key=value DSN): nothing to keep safely.
		return redactedMark
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), redactedMark)
		}
	}
	if u.RawQuery != "" {
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			return redactedMark
		}
		for k := range q {
			if isSecretParam(k) {
				q[k] = []string{redactedMark}
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// urlHasSecret reports whether a store URL holds a secret: a password in
// its user info or in a query parameter (isSecretParam), or a value that
// does not parse as a URL (Redacted masks it whole).
func urlHasSecret(s string) bool {
	if s == "" {
		return false
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Opaque != "" {
		return true
	}
	if _, has := u.User.Password(); has {
		return true
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return true
	}
	for k := range q {
		if isSecretParam(k) {
			return true
		}
	}
	return false
}

// isSecretParam reports whether a URL query parameter carries a secret
// (libpq's password and sslpassword, Redis client options).
func isSecretParam(name string) bool {
	switch name {
	case "password", "sslpassword", "pass", "secret":
		return true
	}
	return false
}

// MaxMaxBody bounds Limits.MaxBody: a body is held in memory, and the
// body budget's arithmetic (32 × MaxBody, a sender's share of several
// bodies) stays far from overflowing below it.
const MaxMaxBody ByteSize = 1 << 40

// BufferedBytes returns MaxBufferedBytes, or when it is 0 its default
// (see MaxBufferedBytes) under memLimit, the Go memory limit
// (debug.SetMemoryLimit(-1); math.MaxInt64 when none is set).
func (l Limits) BufferedBytes(memLimit int64) int64 {
	if l.MaxBufferedBytes > 0 {
		return int64(l.MaxBufferedBytes)
	}
	body := int64(l.MaxBody)
	n := body * 32
	if n/32 != body {
		n = math.MaxInt64
	}
	return max(min(n, memLimit/4), 4*body)
}
