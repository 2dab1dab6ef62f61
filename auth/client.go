package auth

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/aliasgate/aliasgate/internal/account"
	"github.com/aliasgate/aliasgate/internal/base58"
	"github.com/aliasgate/aliasgate/internal/lockout"
	"github.com/aliasgate/aliasgate/internal/pan"
)

const (
	// clientIDPrefix starts every client id.
	clientIDPrefix = "AC"
	// clientIDWidth is the number of base58 characters after the prefix
	// (16 random bytes).
	clientIDWidth = 22
	// secretWidth is the length of a secret: 32 random bytes in base58.
	secretWidth = 44
	// maxFieldLen bounds a client's name and account, in characters.
	maxFieldLen = 128
	// recordVersion is the version of the stored client record encoding.
	recordVersion = 1
	// saltSize is the size of the per-client salt of the secret hash.
	saltSize = 16
	// fingerprintBytes is how much of the credential hash the fingerprint
	// keeps: 96 bits, 17 base58 characters.
	fingerprintBytes = 12
	fingerprintWidth = 17
)

// Client is an API or outbound proxy client. It never holds the secret.
type Client struct {
	// ID is the client id, "AC" followed by 22 base58 characters.
	ID string
	// Name is a human-readable label.
	Name string
	// Account is the merchant account the client acts for; cards are
	// scoped to it.
	Account string
	// Scopes lists the granted scopes, in KnownScopes order.
	Scopes []string
	// PCI allows the client to see card numbers and CVCs in clear.
	PCI bool
	// Outbound marks credentials for the outbound proxy only.
	Outbound bool
	// CreatedAt is when the client was created, in UTC.
	CreatedAt time.Time
	// RevokedAt is when the client was revoked (RevokeClient); zero while
	// it is not.
	RevokedAt time.Time
	// SecretRotatedAt is when the secret was last rotated (RotateSecret);
	// zero when it never was.
	SecretRotatedAt time.Time

	// fingerprint identifies the credential (see Fingerprint). It is set
	// for clients returned by CreateClient and Authenticate.
	fingerprint string
}

// Fingerprint returns a short identifier of the client's credential: base58
// of a hash of the client id and the stored secret hash. It lets logs and
// tokens (claim "fpt") be traced to a credential without exposing anything
// that helps to guess the secret. It is empty for a Client that did not come
// from CreateClient or Authenticate.
func (c Client) Fingerprint() string { return c.fingerprint }

// ClientSpec describes a client to create.
type ClientSpec struct {
	// Name is a human-readable label, 1–128 characters, no control
	// characters.
	Name string
	// Account is the merchant account, 1–128 characters of A–Z a–z 0–9 _ . -
	Account string
	// Scopes to grant; at least one unless Outbound. Duplicates are
	// dropped.
	Scopes []string
	// PCI allows clear card numbers and CVCs in Card Management API
	// responses.
	PCI bool
	// Outbound makes credentials for the outbound proxy only.
	Outbound bool
}

// ClientStore persists client records. It is declared here and implemented
// by the vault stores. The record is opaque to the store: auth's own JSON
// encoding of the client and its secret hash (never the secret).
type ClientStore interface {
	// PutClient stores a new record under id. A store may (and should)
	// return an error when id already exists instead of overwriting it;
	// auth never reuses an id, as ids are 128 random bits.
	PutClient(ctx context.Context, id string, record []byte) error
	// GetClient returns the record stored under id; ok is false when there
	// is none. err is reserved for store failures.
	GetClient(ctx context.Context, id string) (record []byte, ok bool, err error)
}

// Options tune a Service. Zero fields take the documented defaults.
type Options struct {
	// Issuer is the JWT "iss" claim issued and required; default
	// "aliasgate".
	Issuer string
	// Audience is the JWT "aud" claim issued and required; default
	// "aliasgate".
	Audience string
	// TokenTTL is the lifetime of issued tokens; default 15 minutes.
	TokenTTL time.Duration
	// Now returns the current time; default time.Now.
	Now func() time.Time
	// ClientCacheTTL is how long token verification trusts what it read
	// of a client (revoked or not, its credential fingerprint); default
	// DefaultClientCacheTTL (5 s). It bounds how long a revocation or a
	// secret rotation made elsewhere takes to stop the client's tokens
	// here. Negative: read the client for every token.
	ClientCacheTTL time.Duration
	// ClientCacheSize bounds the clients that cache holds; default
	// DefaultClientCacheSize (10,000).
	ClientCacheSize int
	// Unavailable reports whether a failure of the client store may pass
	// by itself: answered 503 with Retry-After: 1. Any other failure (the
	// store refuses the gateway's privileges or credentials) is answered
	// 500 without Retry-After: no retry mends it. cmd/aliasgate gives
	// vault.Unavailable, the one rule every API answers by (auth does not
	// import the vault). nil: every failure is answered 503.
	Unavailable func(error) bool
	// Logger receives store failures (error level) and the reasons for
	// rejected credentials (debug level); default discards. Tokens and
	// secrets are never logged.
	Logger *slog.Logger
	// Lockout, when set, charges the credential checks of Require and of
	// the token endpoint to the request's source address (Source, grouped
	// by lockout.Key), before they run: past the table's free failures
	// the address is locked out, answered 429 with Retry-After in the
	// API's own error shape, and its credentials are not checked at all
	// (no store read, no signature check). A right credential resets
	// its address only; a check that could not judge (the client store
	// failed, no credentials, an outbound client's right secret) is not
	// charged (lockout.Void). nil: no lockout.
	Lockout *lockout.Table
	// Source returns the address a request came from, for Lockout;
	// cmd/aliasgate gives the inbound listener's (the peer, or the
	// X-Forwarded-For address of a trusted proxy: proxy.Sources). nil,
	// or "": the peer (RemoteAddr).
	Source func(*http.Request) string
}

// Service creates and authenticates clients, and issues and verifies their
// tokens. It is safe for concurrent use.
type Service struct {
	store    ClientStore
	key      ed25519.PrivateKey
	pub      ed25519.PublicKey
	issuer   string
	audience string
	ttl      time.Duration
	now      func() time.Time
	log      *slog.Logger
	// unavailable: Options.Unavailable.
	unavailable func(error) bool

	// dummyRecord is decoded and checked for unknown client ids, so that an
	// unknown id costs the same work as a known one.
	dummyRecord []byte
	// limit, when set (WithLimit), is asked by Require once the request
	// is authenticated, before the scope check (http.go).
	limit Limit
	// lockout and source: Options.Lockout and Options.Source (guess.go).
	lockout *lockout.Table
	source  func(*http.Request) string
	// cache holds the clients' states for token verification, and loads
	// the reads of them in flight (lifecycle.go); shared by the Services
	// WithLimit returns.
	cache *stateCache
	loads *loadGroup
}

// clientRecord is the stored form of a client.
type clientRecord struct {
	Version   int       `json:"v"`
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Account   string    `json:"account"`
	Scopes    []string  `json:"scopes"`
	PCI       bool      `json:"pci"`
	Outbound  bool      `json:"outbound"`
	CreatedAt time.Time `json:"created_at"`
	// RevokedAt and RotatedAt are set by RevokeClient and RotateSecret,
	// which write the record as version 2 (lifecycleVersion).
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	RotatedAt *time.Time `json:"rotated_at,omitempty"`
	// Salt and Hash: Hash = HMAC-SHA256(key=Salt, secret).
	Salt []byte `json:"salt"`
	Hash []byte `json:"hash"`
}

// storeUnavailable reports whether a client store failure may pass by
// itself (Options.Unavailable).
func (s *Service) storeUnavailable(err error) bool {
	return s.unavailable == nil || s.unavailable(err)
}

// NewService returns a Service that keeps clients in store and signs tokens
// with key. It panics when store is nil or key is not a full Ed25519 private
// key, both wiring mistakes.
func NewService(store ClientStore, key ed25519.PrivateKey, opts Options) *Service {
	if store == nil {
		panic("auth: NewService: nil ClientStore")
	}
	if len(key) != ed25519.PrivateKeySize {
		panic("auth: NewService: signing key is not an Ed25519 private key")
	}
	s := &Service{
		store:    store,
		key:      key,
		pub:      key.Public().(ed25519.PublicKey),
		issuer:   opts.Issuer,
		audience: opts.Audience,
		ttl:      opts.TokenTTL,
		now:      opts.Now,
		log:      opts.Logger,

		unavailable: opts.Unavailable,
		lockout:     opts.Lockout,
		source:      opts.Source,
	}
	if s.issuer == "" {
		s.issuer = "aliasgate"
	}
	if s.audience == "" {
		s.audience = "aliasgate"
	}
	if s.ttl <= 0 {
		s.ttl = 15 * time.Minute
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	ttl, size := opts.ClientCacheTTL, opts.ClientCacheSize
	if ttl == 0 {
		ttl = DefaultClientCacheTTL
	}
	if size <= 0 {
		size = DefaultClientCacheSize
	}
	s.cache = newStateCache(ttl, size)
	s.loads = &loadGroup{m: make(map[string]*load)}
	salt := randomBytes(saltSize)
	dummy := clientRecord{
		Version: recordVersion,
		ID:      clientIDPrefix + strings.Repeat("1", clientIDWidth),
		Name:    "dummy", Account: "dummy",
		Scopes: KnownScopes(),
		Salt:   salt,
		Hash:   hashSecret(salt, base58.EncodeFixed(randomBytes(32), secretWidth)),
	}
	s.dummyRecord, _ = json.Marshal(dummy) // cannot fail for this type
	return s
}

// randomBytes returns n bytes from crypto/rand, which never fails (it
// crashes the program if the system's generator is unusable).
func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// hashSecret returns HMAC-SHA256(key=salt, secret). Secrets are 32 random
// bytes, far beyond brute force, so a fast hash is right here: a slow
// password hash (bcrypt, Argon2) would add latency to every Basic-auth
// request and buy no security. The salt keeps equal hashes from revealing
// equal secrets.
func hashSecret(salt []byte, secret string) []byte {
	m := hmac.New(sha256.New, salt)
	m.Write([]byte(secret))
	return m.Sum(nil)
}

// credentialFingerprint derives the "fpt" value from the client id and the
// stored secret hash.
func credentialFingerprint(id string, hash []byte) string {
	h := sha256.New()
	h.Write([]byte("aliasgate/credential-fingerprint/v1\x00"))
	h.Write([]byte(id))
	h.Write([]byte{0})
	h.Write(hash)
	return base58.EncodeFixed(h.Sum(nil)[:fingerprintBytes], fingerprintWidth)
}

// validClientID reports whether id has the shape of a client id.
func validClientID(id string) bool {
	rest, ok := strings.CutPrefix(id, clientIDPrefix)
	return ok && len(rest) == clientIDWidth && base58.Valid(rest)
}

// normalizeScopes checks that every scope is known (VGS synonyms are
// mapped to their scope; a name only a token request may use is refused)
// and returns them deduplicated in KnownScopes order.
func normalizeScopes(scopes []string) ([]string, error) {
	for _, sc := range scopes {
		if err := grantableScope(sc); err != nil {
			return nil, err
		}
	}
	scopes = canonicalScopes(scopes)
	for _, sc := range scopes {
		if !IsKnownScope(sc) {
			return nil, fmt.Errorf("auth: unknown scope %q (the scopes are %s): %w", sc, strings.Join(knownScopes[:], ", "), ErrInvalidScope)
		}
	}
	out := make([]string, 0, len(scopes))
	for _, k := range knownScopes {
		if slices.Contains(scopes, k) {
			out = append(out, k)
		}
	}
	return out, nil
}

// validateText checks a client's name or account: text that clients list
// and the admin listener show, so one holding a card number in any spelling
// a reader sees is refused (pan.ContainsLooseString, the rule of names:
// '_' and ':' too; pan.MaskShown, the rule of shown text: any separator,
// any script's digits).
func validateText(field, v string) error {
	switch {
	case strings.TrimSpace(v) == "":
		return fmt.Errorf("auth: %s is empty: %w", field, ErrInvalidClientSpec)
	case !utf8.ValidString(v):
		return fmt.Errorf("auth: %s is not valid UTF-8: %w", field, ErrInvalidClientSpec)
	case utf8.RuneCountInString(v) > maxFieldLen:
		return fmt.Errorf("auth: %s is longer than %d characters: %w", field, maxFieldLen, ErrInvalidClientSpec)
	case strings.IndexFunc(v, unicode.IsControl) >= 0:
		return fmt.Errorf("auth: %s contains control characters: %w", field, ErrInvalidClientSpec)
	case pan.ContainsShownString(v): // stored free text refuses card data in any spelling (issue 17)
		return fmt.Errorf("auth: %s must not hold a card number: %w", field, ErrInvalidClientSpec)
	}
	return nil
}

// validateSpec checks spec and returns its scopes normalized.
func validateSpec(spec ClientSpec) ([]string, error) {
	return checkSpec(spec, true)
}

// CheckClientSpec checks spec as CreateClient does, without storing
// anything, so that a command can refuse a client before it opens (or
// creates) a vault. An empty Account is not checked when a caller fills in
// the vault's default account later. Errors wrap ErrInvalidClientSpec (and
// ErrInvalidScope for an unknown scope, naming the known ones).
func CheckClientSpec(spec ClientSpec) error {
	_, err := checkSpec(spec, spec.Account != "")
	return err
}

func checkSpec(spec ClientSpec, withAccount bool) ([]string, error) {
	if err := validateText("name", spec.Name); err != nil {
		return nil, err
	}
	if withAccount {
		if err := validateText("account", spec.Account); err != nil {
			return nil, err
		}
		if err := account.Check(spec.Account); err != nil {
			return nil, fmt.Errorf("auth: account may only contain A-Z a-z 0-9 _ . -: %w", ErrInvalidClientSpec)
		}
	}
	scopes, err := normalizeScopes(spec.Scopes)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidClientSpec, err)
	}
	if len(scopes) == 0 && !spec.Outbound {
		return nil, fmt.Errorf("auth: a client needs at least one scope unless it is outbound: %w", ErrInvalidClientSpec)
	}
	return scopes, nil
}

// CreateClient validates spec, stores a new client and returns it with its
// secret. The secret is not stored and cannot be recovered: show it once.
// Validation errors wrap ErrInvalidClientSpec (and ErrInvalidScope for an
// unknown scope).
func (s *Service) CreateClient(ctx context.Context, spec ClientSpec) (Client, string, error) {
	scopes, err := validateSpec(spec)
	if err != nil {
		return Client{}, "", err
	}
	id := clientIDPrefix + base58.EncodeFixed(randomBytes(16), clientIDWidth)
	secret := base58.EncodeFixed(randomBytes(32), secretWidth)
	salt := randomBytes(saltSize)
	rec := clientRecord{
		Version:   recordVersion,
		ID:        id,
		Name:      spec.Name,
		Account:   spec.Account,
		Scopes:    scopes,
		PCI:       spec.PCI,
		Outbound:  spec.Outbound,
		CreatedAt: s.now().UTC().Truncate(time.Second),
		Salt:      salt,
		Hash:      hashSecret(salt, secret),
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return Client{}, "", fmt.Errorf("auth: encode client record: %w", err)
	}
	if err := s.store.PutClient(ctx, id, b); err != nil {
		return Client{}, "", fmt.Errorf("auth: store client %s: %w", id, err)
	}
	return rec.client(), secret, nil
}

func (r clientRecord) client() Client {
	var revoked, rotated time.Time
	if r.RevokedAt != nil {
		revoked = *r.RevokedAt
	}
	if r.RotatedAt != nil {
		rotated = *r.RotatedAt
	}
	return Client{
		RevokedAt:       revoked,
		SecretRotatedAt: rotated,
		ID:              r.ID,
		Name:            r.Name,
		Account:         r.Account,
		Scopes:          slices.Clone(r.Scopes),
		PCI:             r.PCI,
		Outbound:        r.Outbound,
		CreatedAt:       r.CreatedAt,
		fingerprint:     credentialFingerprint(r.ID, r.Hash),
	}
}

func decodeRecord(b []byte) (clientRecord, error) {
	var rec clientRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return rec, err
	}
	if rec.Version != recordVersion && rec.Version != lifecycleVersion {
		return rec, fmt.Errorf("unsupported record version %d", rec.Version)
	}
	if len(rec.Salt) != saltSize || len(rec.Hash) != sha256.Size {
		return rec, fmt.Errorf("malformed secret hash")
	}
	return rec, nil
}

// Authenticate checks a client id and secret. It returns
// ErrInvalidCredentials for an unknown id or a wrong secret, with the same
// hashing work in both cases and a constant-time comparison, so response
// times do not tell whether an id exists. A revoked client's credentials
// are refused as ErrInvalidCredentials too, after the same work. Store failures and corrupt
// records are returned wrapped (not as ErrInvalidCredentials): callers
// answer them with 503, or 500 when Options.Unavailable says no retry
// mends them. Outbound clients authenticate too; API entry points
// refuse them (ErrOutboundOnly).
func (s *Service) Authenticate(ctx context.Context, id, secret string) (Client, error) {
	var (
		b     []byte
		found bool
	)
	// The state is dated before the read, as loadState dates it: a
	// revocation or a rotation cached while the record was being read
	// is later, and is kept (stateCache.put).
	fetched := s.now()
	if validClientID(id) {
		var err error
		b, found, err = s.store.GetClient(ctx, id)
		if err != nil {
			return Client{}, fmt.Errorf("auth: look up client: %w", err)
		}
	}
	if !found {
		b = s.dummyRecord
	}
	rec, err := decodeRecord(b)
	if err != nil {
		return Client{}, fmt.Errorf("auth: client record %s: %w", id, err)
	}
	got := hashSecret(rec.Salt, secret)
	match := subtle.ConstantTimeCompare(got, rec.Hash) == 1
	if !found || !match {
		return Client{}, ErrInvalidCredentials
	}
	if rec.ID != id {
		return Client{}, fmt.Errorf("auth: client record %s holds id %s", id, rec.ID)
	}
	c := rec.client()
	// The record was just read: token verification may use it.
	s.cache.refresh(id, clientState{found: true, revoked: rec.RevokedAt != nil, outbound: rec.Outbound,
		fingerprint: c.fingerprint, fetched: fetched})
	if rec.RevokedAt != nil {
		return Client{}, fmt.Errorf("auth: client %s is revoked: %w", id, ErrInvalidCredentials)
	}
	return c, nil
}
