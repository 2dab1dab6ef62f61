package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"gopkg.in/yaml.v3"

	"github.com/aliasgate/aliasgate/internal/account"
	"github.com/aliasgate/aliasgate/internal/hostguard"
	"github.com/aliasgate/aliasgate/internal/pan"
	"github.com/aliasgate/aliasgate/webhooks"
)

// Problem is one thing wrong with a configuration.
type Problem struct {
	// Key is the dotted path of the key, such as vault.volatile_ttl or
	// outbound.passthrough[1]; empty for the document as a whole.
	Key string
	// Line is the key's line in the YAML file, or 0 when it is not known or
	// the value came from the environment.
	Line int
	// Message says what is wrong and what is expected. It never contains a
	// secret or a value taken from the environment.
	Message string
}

// String formats p as "key: message", followed by " (line N)" when the line
// is known.
func (p Problem) String() string {
	s := p.Message
	if p.Key != "" {
		s = p.Key + ": " + s
	}
	if p.Line > 0 {
		s += " (line " + strconv.Itoa(p.Line) + ")"
	}
	return s
}

// maskedProblem is a Problem whose key and message have every card number
// masked (pan.MaskLoose: also with its digits grouped by '_' or ':', as
// YAML and names write them): a number pasted into the wrong place of the
// file — as a key, or a value a message quotes back — is not printed.
func maskedProblem(key string, line int, msg string) Problem {
	return Problem{Key: pan.MaskLoose(key), Line: line, Message: pan.MaskLoose(msg)}
}

// ValidationError lists every problem of a configuration.
type ValidationError struct {
	// Problems in the order found: file, environment, then Validate's checks
	// in field order.
	Problems []Problem
}

// Error lists the problems, one per line.
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Bounds that Validate enforces.
const (
	minVolatileTTL   = time.Second
	minTokenTTL      = time.Minute
	maxTokenTTL      = 24 * time.Hour
	minAdminTokenLen = 16
	maxUICaptureSize = 10000
	maxEnvLen        = 16
	maxValueSize     = 32 * MiB // the VGS vault API's data limit (vault.MaxValueLimit)
)

// Validate checks the whole configuration and returns nil or a
// *ValidationError with every problem found, each with the key's file line
// when c came from Load.
func (c Config) Validate() error {
	v := validator{src: c.src}

	if strings.TrimSpace(c.DataDir) == "" {
		v.add("data_dir", "must not be empty")
	}
	if !validEnv(c.Env) {
		v.add("env", "must be 1 to %d lowercase letters or digits starting with a letter (aliases start tok_<env>_)", maxEnvLen)
	}
	if strings.TrimSpace(c.VaultID) == "" {
		v.add("vault_id", "must not be empty")
	}
	if c.DefaultAccount != "" && account.Check(c.DefaultAccount) != nil {
		v.add("default_account", "must be 1 to %d characters of A-Z a-z 0-9 _ . - (and no card number)", account.MaxLen)
	}
	v.listen(c.Listen)
	if c.RoutesFile != "" && hasInlineRoutes(c.Routes) {
		v.add("routes", "set either routes_file or an inline routes list, not both")
	}
	v.vault(c.Vault)
	v.limits(c.Limits)
	v.outbound(c)
	v.caFiles(c.Outbound)
	v.oneOf("cards.tsp", c.Cards.TSP, "simulator")
	if d := c.Cards.TokenServiceTimeout.Std(); d < 100*time.Millisecond || d > time.Minute {
		v.add("cards.token_service_timeout", "must be between %v and %v", 100*time.Millisecond, time.Minute)
	}
	v.oneOf("cards.token_type", c.Cards.TokenType, "ecommerce", "card_on_file")
	for _, a := range c.Cards.NetworkTokenAccounts {
		if account.Check(a) != nil {
			v.add("cards.network_token_accounts", "each must be an account name: 1 to %d characters of A-Z a-z 0-9 _ . -", account.MaxLen)
			break
		}
	}
	for _, a := range c.Cards.DuplicateDetectionOffAccounts {
		if account.Check(a) != nil {
			v.add("cards.duplicate_detection_off_accounts", "each must be an account name: 1 to %d characters of A-Z a-z 0-9 _ . -", account.MaxLen)
			break
		}
	}
	if !c.Cards.DuplicateDetection && len(c.Cards.DuplicateDetectionOffAccounts) > 0 {
		v.addAt("cards.duplicate_detection_off_accounts", "cards.duplicate_detection",
			"must be empty when cards.duplicate_detection is false (detection is off for every account)")
	}
	if c.Admin.Token != "" && len(c.Admin.Token) < minAdminTokenLen {
		v.add("admin.token", "must be at least %d characters", minAdminTokenLen)
	} else if c.Admin.Token != "" && !sendableToken(c.Admin.Token) {
		// The admin listener and the inspector trim the token they read,
		// as HTTP clients trim header values, and a control character
		// cannot be sent in a header: such a token could never be
		// presented, and every try counted as a wrong one.
		v.add("admin.token", "must not begin or end with white space (a secret file's trailing newline?) or hold control characters")
	} else if c.Admin.UI && c.Admin.Token == "" {
		v.addAt("admin.token", "admin.ui", "must be set (at least %d characters) when admin.ui is true", minAdminTokenLen)
	}
	for i, h := range c.Admin.AllowedHosts {
		if _, err := hostguard.ParseName(h); err != nil {
			v.add("admin.allowed_hosts["+strconv.Itoa(i)+"]", "must be a host name or host:port")
		}
	}
	if n := c.Admin.UICaptureSize; n < 1 || n > maxUICaptureSize {
		v.add("admin.ui_capture_size", "must be 1 to %d exchanges", maxUICaptureSize)
	}
	if b := c.Admin.UICaptureBody; b < KiB || b > MiB {
		v.add("admin.ui_capture_body", "must be 1KiB to 1MiB")
	}
	if ttl := c.Auth.TokenTTL.Std(); ttl < minTokenTTL || ttl > maxTokenTTL {
		v.add("auth.token_ttl", "must be between 1m and 24h")
	}
	if strings.TrimSpace(c.Auth.Audience) == "" {
		v.add("auth.audience", "must not be empty")
	}
	if strings.TrimSpace(c.Auth.Issuer) == "" {
		v.add("auth.issuer", "must not be empty")
	}
	v.oneOf("audit.fsync", c.Audit.Fsync, "interval", "always")
	if d := c.Audit.FsyncInterval.Std(); d < time.Millisecond || d > 10*time.Second {
		v.add("audit.fsync_interval", "must be between 1ms and 10s")
	}
	if b := c.Audit.MaxSize; b != 0 && (b < MiB || b > 1024*GiB) {
		v.add("audit.max_size", "must be 0 (no rotation by size) or 1MiB to 1TiB")
	}
	if d := c.Audit.MaxAge.Std(); d != 0 && (d < time.Minute || d > 365*24*time.Hour) {
		v.add("audit.max_age", "must be 0 (no rotation by age) or 1m to 8760h (a year)")
	}
	if c.Audit.Keep < 0 {
		v.add("audit.keep", "must be 0 (keep every rotated file) or a number of files")
	}
	v.webhooks(c.Webhooks)
	v.oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	v.oneOf("log.format", c.Log.Format, "json", "text")

	if len(v.problems) == 0 {
		return nil
	}
	return &ValidationError{Problems: v.problems}
}

// validator collects problems, with lines and environment sources from src.
type validator struct {
	src      *sources
	problems []Problem
}

// add records a problem at key.
func (v *validator) add(key, format string, args ...any) {
	v.addAt(key, "", format, args...)
}

// addAt records a problem at key, with the line of fallback when key itself
// was not in the file.
func (v *validator) addAt(key, fallback, format string, args ...any) {
	p := maskedProblem(key, 0, fmt.Sprintf(format, args...))
	if v.src != nil {
		list, _, _ := strings.Cut(key, "[") // an item's list
		if name, ok := v.src.env[list]; ok {
			p.Message += " (set by " + name + ")"
		} else {
			for _, k := range []string{key, list, fallback} {
				if line, ok := v.src.lines[k]; ok && k != "" {
					p.Line = line
					break
				}
			}
		}
	}
	v.problems = append(v.problems, p)
}

// oneOf checks an enumerated value.
func (v *validator) oneOf(key, value string, allowed ...string) {
	for _, a := range allowed {
		if value == a {
			return
		}
	}
	choices := strings.Join(allowed[:len(allowed)-1], ", ") + " or " + allowed[len(allowed)-1]
	v.add(key, "must be %s", choices)
}

// listen checks the three listen addresses and that they can all bind.
func (v *validator) listen(l Listen) {
	addrs := []struct {
		key, addr string
		ok        bool
		ap        hostPort
	}{
		{key: "listen.inbound", addr: l.Inbound},
		{key: "listen.outbound", addr: l.Outbound},
		{key: "listen.admin", addr: l.Admin},
	}
	for i := range addrs {
		a := &addrs[i]
		hp, msg := parseHostPort(a.addr)
		if msg != "" {
			v.add(a.key, "%s", msg)
			continue
		}
		a.ap, a.ok = hp, true
		for _, b := range addrs[:i] {
			if b.ok && a.ap.overlaps(b.ap) {
				v.add(a.key, "must not use the same port and interface as %s", b.key)
				break
			}
		}
	}
	if (l.InboundCert == "") != (l.InboundKey == "") {
		v.add("listen.inbound_cert", "listen.inbound_cert and listen.inbound_key go together: give both PEM files, or neither")
	}
	if (l.OutboundCert == "") != (l.OutboundKey == "") {
		v.add("listen.outbound_cert", "listen.outbound_cert and listen.outbound_key go together: give both PEM files, or neither")
	}
}

// caFiles checks that the gateway CA files are given together.
func (v *validator) caFiles(o Outbound) {
	if (o.CACert == "") != (o.CAKey == "") {
		v.add("outbound.ca_cert", "outbound.ca_cert and outbound.ca_key go together: give both PEM files, or neither (the data dir's CA)")
	}
}

// hostPort is a parsed listen address.
type hostPort struct {
	host string // lower case, without brackets; "" for every interface
	port int
}

// parseHostPort parses host:port with a numeric port; the message is empty
// when addr is fine.
func parseHostPort(addr string) (hostPort, string) {
	const form = "must be host:port with a numeric port, such as 127.0.0.1:8080, [::1]:8080 or :8080"
	host, port, err := net.SplitHostPort(addr)
	if err != nil || strings.ContainsAny(host, " \t") {
		return hostPort{}, form
	}
	n, err := strconv.Atoi(port)
	if err != nil || port == "" || port[0] < '0' || port[0] > '9' {
		return hostPort{}, form
	}
	if n > 65535 {
		return hostPort{}, "port must be between 0 and 65535"
	}
	return hostPort{host: strings.ToLower(host), port: n}, ""
}

// overlaps reports whether two listeners could not both bind: the same port
// on the same interface, or on every interface and any one. Port 0 (chosen by
// the system) never overlaps.
func (a hostPort) overlaps(b hostPort) bool {
	if a.port == 0 || a.port != b.port {
		return false
	}
	return a.host == b.host || anyHost(a.host) || anyHost(b.host)
}

// anyHost reports whether host binds every interface.
func anyHost(host string) bool {
	return host == "" || host == "0.0.0.0" || host == "::"
}

// isLoopback reports whether a listen host is 127.0.0.0/8, ::1 or localhost.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// validEnv reports whether env matches ^[a-z][a-z0-9]{0,15}$.
func validEnv(env string) bool {
	if env == "" || len(env) > maxEnvLen || env[0] < 'a' || env[0] > 'z' {
		return false
	}
	for i := 1; i < len(env); i++ {
		c := env[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// hasInlineRoutes reports whether the routes node holds anything: a null
// node or an empty list does not count.
func hasInlineRoutes(n yaml.Node) bool {
	r := resolve(&n)
	if isNull(r) {
		return false
	}
	return r.Kind != yaml.SequenceNode || len(r.Content) > 0
}

// vault checks the store choices, their URLs and the volatile TTL.
func (v *validator) vault(c Vault) {
	v.oneOf("vault.store", c.Store, "bolt", "postgres")
	v.storeURL("vault.postgres_url", c.PostgresURL, "vault.store", c.Store, "postgres", "postgresql")
	v.oneOf("vault.volatile", c.Volatile, "memory", "redis")
	v.storeURL("vault.redis_url", c.RedisURL, "vault.volatile", c.Volatile, "redis", "rediss")
	if c.RedisPrefix == "" || len(c.RedisPrefix) > 64 || strings.ContainsAny(c.RedisPrefix, " \t\r\n") {
		v.add("vault.redis_prefix", "must be 1 to 64 characters without spaces")
	}
	if c.VolatileTTL.Std() < minVolatileTTL {
		v.add("vault.volatile_ttl", "must be at least 1s")
	}
	if c.VolatileMaxRecords < 0 {
		v.add("vault.volatile_max_records", "must not be negative (0: no bound)")
	}
	if c.MaxValueSize < KiB || c.MaxValueSize > maxValueSize {
		v.add("vault.max_value_size", "must be 1KiB to 32MiB")
	}
}

// storeURL checks the URL of a store: required when the selector key picks
// that store (schemes[0]), and with one of the schemes whenever set. The URL
// is never quoted: it may hold a password.
func (v *validator) storeURL(key, value, selectorKey, selected string, schemes ...string) {
	if value == "" {
		if selected == schemes[0] {
			v.addAt(key, selectorKey, "is required when %s is %s", selectorKey, selected)
		}
		return
	}
	u, err := url.Parse(value)
	if err == nil {
		for _, s := range schemes {
			if u.Scheme == s {
				return
			}
		}
	}
	v.add(key, "must be a %s:// or %s:// URL", schemes[0], schemes[1])
}

// limits checks that every limit is positive and headers fit in bodies.
func (v *validator) limits(l Limits) {
	durations := []struct {
		key string
		d   Duration
	}{
		{"limits.read_header_timeout", l.ReadHeaderTimeout},
		{"limits.read_timeout", l.ReadTimeout},
		{"limits.write_timeout", l.WriteTimeout},
		{"limits.idle_timeout", l.IdleTimeout},
		{"limits.upstream_timeout", l.UpstreamTimeout},
		{"limits.shutdown_timeout", l.ShutdownTimeout},
	}
	switch {
	case l.MaxBody <= 0:
		v.add("limits.max_body", "must be greater than 0")
	case l.MaxBody > MaxMaxBody:
		v.add("limits.max_body", "must be at most 1TiB (bodies are held in memory)")
	}
	switch {
	case l.MaxBufferedBytes < 0:
		v.add("limits.max_buffered_bytes", "must be 0 (the default: 32 × limits.max_body) or a size")
	case l.MaxBufferedBytes > 0 && l.MaxBufferedBytes < l.MaxBody:
		v.add("limits.max_buffered_bytes", "must not be smaller than limits.max_body (no body of that size could be read)")
	}
	if l.SourceBufferedShare < 1 || l.SourceBufferedShare > 100 {
		v.add("limits.source_buffered_share", "must be a percentage from 1 to 100 (100: no share)")
	}
	switch {
	case l.MaxHeaderBytes <= 0:
		v.add("limits.max_header_bytes", "must be greater than 0")
	case l.MaxBody > 0 && l.MaxHeaderBytes > l.MaxBody:
		v.add("limits.max_header_bytes", "must not be larger than limits.max_body")
	case int64(l.MaxHeaderBytes) != int64(int(l.MaxHeaderBytes)):
		v.add("limits.max_header_bytes", "is too large for this platform")
	}
	for _, d := range durations {
		if d.d <= 0 {
			v.add(d.key, "must be greater than 0")
		}
	}
	if l.ClientRate < 0 {
		v.add("limits.client_rate", "must be 0 (no limit) or a number of requests per second")
	}
	if l.ClientBurst < 0 || l.ClientRate > 0 && l.ClientBurst < 1 {
		v.add("limits.client_burst", "must be at least 1 when limits.client_rate is set")
	}
	if l.OutboundClientRate < 0 {
		v.add("limits.outbound_client_rate", "must be 0 (no limit) or a number of requests per second")
	}
	if l.OutboundClientBurst < 0 || l.OutboundClientRate > 0 && l.OutboundClientBurst < 1 {
		v.add("limits.outbound_client_burst", "must be at least 1 when limits.outbound_client_rate is set")
	}
	if l.OutboundUnknownAliases < 0 {
		v.add("limits.outbound_unknown_aliases", "must be 0 (no limit) or a number of unknown aliases a minute")
	}
	if l.OutboundUnknownBurst < 0 || l.OutboundUnknownAliases > 0 && l.OutboundUnknownBurst < 1 {
		v.add("limits.outbound_unknown_burst", "must be at least 1 when limits.outbound_unknown_aliases is set")
	}
	if l.InboundUnknownNumbers < 0 {
		v.add("limits.inbound_unknown_numbers", "must be 0 (no limit) or a number of requests a minute")
	}
	if l.InboundUnknownBurst < 0 || l.InboundUnknownNumbers > 0 && l.InboundUnknownBurst < 1 {
		v.add("limits.inbound_unknown_burst", "must be at least 1 when limits.inbound_unknown_numbers is set")
	}
	if l.VaultConcurrency < 0 {
		v.add("limits.vault_concurrency", "must be 0 (no bound) or a number of operations")
	}
	if l.VaultWait <= 0 {
		v.add("limits.vault_wait", "must be greater than 0")
	}
	for _, n := range []struct {
		key string
		n   int
	}{
		{"limits.max_volatile_per_message", l.MaxVolatilePerMessage},
		{"limits.max_values_per_message", l.MaxValuesPerMessage},
		{"limits.max_new_per_message", l.MaxNewPerMessage},
		{"limits.source_new_values", l.SourceNewValues},
		{"limits.source_volatile_values", l.SourceVolatileValues},
		{"limits.max_conns_per_source", l.MaxConnsPerSource},
		{"limits.enumeration_threshold", l.EnumerationThreshold},
		{"limits.duplicate_threshold", l.DuplicateThreshold},
	} {
		if n.n < 0 {
			v.add(n.key, "must be 0 (no limit) or a positive number")
		}
	}
	if l.SourceNewBurst < 0 || l.SourceNewValues > 0 && l.SourceNewBurst < 1 {
		v.add("limits.source_new_burst", "must be at least 1 when limits.source_new_values is set")
	}
	if l.AccountVolatileShare < 0 || l.AccountVolatileShare > 100 {
		v.add("limits.account_volatile_share", "must be a percentage from 0 (no share) to 100")
	}
	if l.SourceVolatileBurst < 0 || l.SourceVolatileValues > 0 && l.SourceVolatileBurst < 1 {
		v.add("limits.source_volatile_burst", "must be at least 1 when limits.source_volatile_values is set")
	}
	if (l.EnumerationThreshold > 0 || l.DuplicateThreshold > 0) && (l.EnumerationWindow <= 0 || l.EnumerationPenalty <= 0) {
		v.add("limits.enumeration_window", "limits.enumeration_window and limits.enumeration_penalty must be greater than 0 when a detector is on")
	}
	for i, p := range l.TrustedProxies {
		if _, err := ParseTrustedProxy(p); err != nil {
			v.add("limits.trusted_proxies["+strconv.Itoa(i)+"]", "must be an IP address or a CIDR prefix such as 10.0.0.0/8")
		}
	}
}

// ParseTrustedProxy parses one limits.trusted_proxies entry: an address (a
// prefix of its full length) or a CIDR prefix.
func ParseTrustedProxy(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("config: trusted proxy %q: %w", s, err)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("config: trusted proxy %q: %w", s, err)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// hasPort reports whether the host entry p names a port ("host:443",
// "[::1]:443"); an IPv6 literal without brackets has none.
func hasPort(p string) bool {
	_, port, err := net.SplitHostPort(strings.TrimSpace(p))
	return err == nil && port != ""
}

// outbound checks passthrough entries and when proxy auth may be off.
func (v *validator) outbound(c Config) {
	for i, p := range c.Outbound.Passthrough {
		key := "outbound.passthrough[" + strconv.Itoa(i) + "]"
		switch {
		case p == "" || strings.ContainsAny(p, "/ \t@"):
			v.addAt(key, "outbound.passthrough", "must be a host name such as api.example.com or *.example.com, not a URL")
		case strings.TrimSpace(p) == "*":
			v.addAt(key, "outbound.passthrough", `"*" would let clients tunnel to any destination: list the hosts (api.example.com, *.example.com)`)
		case hasPort(p):
			// It never matched a CONNECT (fail closed, but silently).
			v.addAt(key, "outbound.passthrough", "must be a host name without a port: every port of a listed host is tunnelled")
		}
	}
	if c.Outbound.RequireAuth {
		return
	}
	hp, msg := parseHostPort(c.Listen.Outbound)
	if msg != "" || isLoopback(hp.host) {
		return // a bad address is reported under listen.outbound
	}
	v.addAt("outbound.require_auth", "listen.outbound",
		"may be false only when listen.outbound is a loopback address (127.0.0.0/8, ::1 or localhost)")
}

// webhooks checks the webhook settings and every endpoint: a unique id, an
// account, an https URL (http with allow_insecure_http) without
// credentials, exactly one of secret_file and secret_env (the secret is
// never inline), and events that name known events.
func (v *validator) webhooks(w Webhooks) {
	for _, d := range []struct {
		key      string
		d        Duration
		min, max time.Duration
	}{
		{"webhooks.timeout", w.Timeout, time.Second, time.Minute},
		{"webhooks.backoff_base", w.BackoffBase, time.Millisecond, 24 * time.Hour},
		{"webhooks.backoff_max", w.BackoffMax, time.Millisecond, 24 * time.Hour},
		{"webhooks.retry_for", w.RetryFor, time.Second, 30 * 24 * time.Hour},
		{"webhooks.poll_interval", w.PollInterval, time.Millisecond, time.Minute},
		{"webhooks.retention", w.Retention, time.Hour, 10 * 365 * 24 * time.Hour},
	} {
		if d.d.Std() < d.min || d.d.Std() > d.max {
			v.add(d.key, "must be between %v and %v", d.min, d.max)
		}
	}
	if w.BackoffMax < w.BackoffBase {
		v.add("webhooks.backoff_max", "must not be shorter than webhooks.backoff_base")
	}
	ids := map[string]int{}
	for i, ep := range w.Endpoints {
		key := "webhooks.endpoints[" + strconv.Itoa(i) + "]"
		switch {
		case !validEndpointID(ep.ID):
			v.addAt(key+".id", key, "must be 1 to 64 characters of a-z 0-9 _ -")
		case ids[ep.ID] > 0:
			v.addAt(key+".id", key, "endpoint id %s is also used by webhooks.endpoints[%d]", ep.ID, ids[ep.ID]-1)
		default:
			ids[ep.ID] = i + 1
		}
		if account.Check(ep.Account) != nil {
			v.addAt(key+".account", key, "must be an account name: 1 to %d characters of A-Z a-z 0-9 _ . -", account.MaxLen)
		}
		if err := webhooks.CheckURL(ep.URL, w.AllowInsecureHTTP); err != nil {
			v.addAt(key+".url", key, "%s", strings.TrimPrefix(err.Error(), webhooks.ErrBadEndpoint.Error()+": "))
		}
		if (ep.SecretFile == "") == (ep.SecretEnv == "") {
			v.addAt(key+".secret_file", key, "give exactly one of secret_file (a file holding the signing secret) and secret_env (an environment variable holding it); the secret is never written in the configuration")
		}
		if len(ep.Events) == 0 {
			v.addAt(key+".events", key, "must list the events to receive (card.*, network_token.*, card.updated, … or *)")
		}
		for j, p := range ep.Events {
			if err := webhooks.CheckPattern(p); err != nil {
				v.addAt(key+".events["+strconv.Itoa(j)+"]", key+".events", "%s", strings.TrimPrefix(err.Error(), webhooks.ErrBadPattern.Error()+" "))
			}
		}
	}
}

// validEndpointID reports whether id matches ^[a-z0-9_-]{1,64}$.
func validEndpointID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// sendableToken reports whether tok can be sent as a bearer token and
// read back whole: no white space at either end (the admin listener trims
// what it reads: strings.TrimSpace) and no control character (a tab, a
// line break or a NUL cannot be typed in the inspector's login form, and
// most cannot be sent in a header).
func sendableToken(tok string) bool {
	return strings.TrimSpace(tok) == tok && strings.IndexFunc(tok, unicode.IsControl) < 0
}
