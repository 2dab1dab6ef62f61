package auth

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/aliasgate/aliasgate/internal/base58"

	"github.com/aliasgate/aliasgate/internal/pan"
)

// Credential lifecycle: listing, revoking and rotating clients, and the
// bounded cache through which token verification sees those changes.
//
// A token is stateless only up to DefaultClientCacheTTL: VerifyToken (and
// Require) look up the token's client, through a per-Service cache that
// keeps a client's state at most Options.ClientCacheTTL (5 s by default)
// and at most Options.ClientCacheSize clients (10,000), and refuse the
// token when the client is gone, revoked, or its credential fingerprint
// (claim "fpt", which changes when the secret is rotated) is not the
// token's. So a revocation or a rotation made on any gateway stops that
// client's tokens on every gateway sharing the store within the cache
// bound, and at once on the gateway that made it. Verifications that miss
// the cache for one client at the same moment share one store read. HTTP
// Basic credentials
// (the APIs where allowed, the outbound proxy) read the client record on
// every request, as before, and so stop at once.

const (
	// DefaultClientCacheTTL is how long a Service trusts what it read of a
	// client when verifying tokens (Options.ClientCacheTTL).
	DefaultClientCacheTTL = 5 * time.Second
	// DefaultClientCacheSize bounds the clients the cache holds
	// (Options.ClientCacheSize).
	DefaultClientCacheSize = 10000
	// lifecycleVersion is the record version of a client that was revoked
	// or had its secret rotated. Older gateways refuse to decode it (503
	// for that client) instead of accepting a revoked client.
	lifecycleVersion = 2
	// maxUpdateAttempts bounds the compare-and-swap retries of a change.
	maxUpdateAttempts = 8
	// listPage is the page size of ListClients.
	listPage = 500
)

var (
	// ErrClientNotFound means no client has the id (RevokeClient,
	// RotateSecret).
	ErrClientNotFound = errors.New("auth: no such client")
	// ErrClientRevoked means the client is revoked: its secret cannot be
	// rotated (revocation is final).
	ErrClientRevoked = errors.New("auth: client is revoked")
	// ErrNotSupported means the client store cannot list or change
	// clients (it implements neither ClientLister nor ClientUpdater).
	ErrNotSupported = errors.New("auth: the client store cannot list or change clients")
)

// ClientUpdater is implemented by client stores that can change a stored
// record (the bbolt and PostgreSQL stores). RevokeClient and RotateSecret
// need it.
type ClientUpdater interface {
	// UpdateClient replaces the record stored under id with record when
	// the stored record is still old, byte for byte (compare and swap).
	// swapped is false, with a nil error, when there is no record under id
	// or it is not old.
	UpdateClient(ctx context.Context, id string, old, record []byte) (swapped bool, err error)
}

// StoredClient is one stored client record, as a ClientLister returns it.
type StoredClient struct {
	ID     string
	Record []byte
}

// ClientLister is implemented by client stores that can list their
// records. ListClients needs it.
type ClientLister interface {
	// ListClientRecords returns up to limit records whose id sorts after
	// after, in id order.
	ListClientRecords(ctx context.Context, after string, limit int) ([]StoredClient, error)
}

// clientState is what token verification needs of a client.
type clientState struct {
	found       bool
	revoked     bool
	outbound    bool
	fingerprint string
	fetched     time.Time
}

// stateCache is a bounded map of client states, each trusted for ttl.
type stateCache struct {
	ttl time.Duration // <= 0: nothing is cached
	max int
	mu  sync.RWMutex
	m   map[string]clientState
}

func newStateCache(ttl time.Duration, max int) *stateCache {
	return &stateCache{ttl: ttl, max: max, m: make(map[string]clientState)}
}

// get returns the state of id when it was read less than ttl before now.
func (c *stateCache) get(id string, now time.Time) (clientState, bool) {
	if c.ttl <= 0 {
		return clientState{}, false
	}
	c.mu.RLock()
	st, ok := c.m[id]
	c.mu.RUnlock()
	if !ok || now.Sub(st.fetched) >= c.ttl || now.Before(st.fetched) {
		return clientState{}, false
	}
	return st, true
}

// put stores the state of id, unless the cached one was read later (a
// slow read begun before a revocation must not replace it). When the
// cache is full it drops an expired entry, or any entry when the first
// few it looks at are all fresh.
func (c *stateCache) put(id string, st clientState) {
	if c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	cur, ok := c.m[id]
	if ok && cur.fetched.After(st.fetched) {
		return
	}
	if !ok && len(c.m) >= c.max {
		victim, looked := "", 0
		for k, v := range c.m {
			if victim == "" {
				victim = k
			}
			if st.fetched.Sub(v.fetched) >= c.ttl {
				victim = k
				break
			}
			if looked++; looked >= 8 {
				break
			}
		}
		delete(c.m, victim)
	}
	c.m[id] = st
}

// refresh is put for a state read on the way (Authenticate, once per
// Basic-authenticated request): it skips the write lock when the cached
// state is the same and less than half the TTL old.
func (c *stateCache) refresh(id string, st clientState) {
	if c.ttl <= 0 {
		return
	}
	c.mu.RLock()
	cur, ok := c.m[id]
	c.mu.RUnlock()
	if ok && cur.found == st.found && cur.revoked == st.revoked && cur.outbound == st.outbound &&
		cur.fingerprint == st.fingerprint && st.fetched.Sub(cur.fetched) < c.ttl/2 && !st.fetched.Before(cur.fetched) {
		return
	}
	c.put(id, st)
}

// loadGroup lets concurrent token verifications that miss the cache for
// one client share one store read (a burst when a busy client's entry
// expires).
type loadGroup struct {
	mu sync.Mutex
	m  map[string]*load
}

// load is one store read in flight; done is closed when st and err are
// set.
type load struct {
	done chan struct{}
	st   clientState
	err  error
}

// loadShared is loadState, shared with the verifications of the same
// client that are already reading it; shared reports that the read was
// another's (begun before this call). A waiter whose own context ends
// stops waiting; one whose leader's context ended reads for itself.
func (s *Service) loadShared(ctx context.Context, id string) (st clientState, shared bool, err error) {
	g := s.loads
	g.mu.Lock()
	if l, ok := g.m[id]; ok {
		g.mu.Unlock()
		select {
		case <-l.done:
			if l.err != nil && (errors.Is(l.err, context.Canceled) || errors.Is(l.err, context.DeadlineExceeded)) {
				st, err = s.loadState(ctx, id)
				return st, false, err
			}
			return l.st, true, l.err
		case <-ctx.Done():
			return clientState{}, true, fmt.Errorf("auth: look up client: %w", ctx.Err())
		}
	}
	l := &load{done: make(chan struct{})}
	g.m[id] = l
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		delete(g.m, id)
		g.mu.Unlock()
		close(l.done)
	}()
	l.st, l.err = s.loadState(ctx, id)
	return l.st, false, l.err
}

// len returns the number of cached clients.
func (c *stateCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

func (r clientRecord) state(now time.Time) clientState {
	return clientState{found: true, revoked: r.RevokedAt != nil, outbound: r.Outbound,
		fingerprint: credentialFingerprint(r.ID, r.Hash), fetched: now}
}

// loadState reads the client from the store and caches its state.
func (s *Service) loadState(ctx context.Context, id string) (clientState, error) {
	now := s.now()
	b, found, err := s.store.GetClient(ctx, id)
	if err != nil {
		return clientState{}, fmt.Errorf("auth: look up client: %w", err)
	}
	st := clientState{fetched: now}
	if found {
		rec, err := decodeRecord(b)
		if err != nil {
			return clientState{}, fmt.Errorf("auth: client record %s: %w", id, err)
		}
		if rec.ID != id {
			return clientState{}, fmt.Errorf("auth: client record %s holds id %s", id, rec.ID)
		}
		st = rec.state(now)
	}
	s.cache.put(id, st)
	return st, nil
}

// checkTokenClient checks that the client of a verified token still
// exists, is not revoked, and holds the credential the token was issued
// for. A cached state is used while fresh, except when it disagrees with
// a token issued after (or about when) it was read: that token may come
// from a rotation this Service has not seen, so the client is read again
// (at most twice: a shared read that began too early is followed by one of
// its own). Failures wrap ErrInvalidToken; a store failure is returned as
// such.
func (s *Service) checkTokenClient(ctx context.Context, id, fpt string, issued time.Time) error {
	st, err := s.currentState(ctx, id, fpt, issued)
	if err != nil {
		return err
	}
	switch {
	case !st.found:
		return fmt.Errorf("%w: client %s does not exist", ErrInvalidToken, id)
	case st.revoked:
		return fmt.Errorf("%w: client %s is revoked", ErrInvalidToken, id)
	case st.outbound:
		return fmt.Errorf("%w: client %s is an outbound client", ErrInvalidToken, id)
	case subtle.ConstantTimeCompare([]byte(st.fingerprint), []byte(fpt)) != 1:
		return fmt.Errorf("%w: client %s's secret was rotated after the token was issued", ErrInvalidToken, id)
	}
	return nil
}

// currentState returns the client's state through the cache, as token
// verification reads it (checkTokenClient), for a credential whose
// fingerprint is fpt, proven at since.
func (s *Service) currentState(ctx context.Context, id, fpt string, since time.Time) (clientState, error) {
	stale := func(st clientState) bool {
		return subtle.ConstantTimeCompare([]byte(st.fingerprint), []byte(fpt)) != 1 &&
			st.fetched.Before(since.Add(clockSkew+time.Second))
	}
	st, ok := s.cache.get(id, s.now())
	if !ok || stale(st) {
		var (
			shared bool
			err    error
		)
		if st, shared, err = s.loadShared(ctx, id); err != nil {
			return clientState{}, err
		}
		if shared && stale(st) {
			if st, err = s.loadState(ctx, id); err != nil {
				return clientState{}, err
			}
		}
	}
	return st, nil
}

// CheckClient reports whether a client that Authenticate accepted at
// since may still act with the same credentials: it exists, is not
// revoked, and holds the same secret. It reads the client through the
// cache token verification uses, so it costs a map lookup while the cache
// is fresh, and a revocation or a rotation stops the client at once on
// this Service and within ClientCacheTTL on every other. The outbound
// proxy asks it for each request inside a CONNECT tunnel. A refusal wraps
// ErrInvalidCredentials; a store failure is returned as such.
func (s *Service) CheckClient(ctx context.Context, c Client, since time.Time) error {
	st, err := s.currentState(ctx, c.ID, c.fingerprint, since)
	if err != nil {
		return err
	}
	switch {
	case !st.found:
		return fmt.Errorf("%w: client %s does not exist", ErrInvalidCredentials, c.ID)
	case st.revoked:
		return fmt.Errorf("%w: client %s is revoked", ErrInvalidCredentials, c.ID)
	case st.outbound != c.Outbound:
		return fmt.Errorf("%w: client %s changed kind", ErrInvalidCredentials, c.ID)
	case subtle.ConstantTimeCompare([]byte(st.fingerprint), []byte(c.fingerprint)) != 1:
		return fmt.Errorf("%w: client %s's secret was rotated", ErrInvalidCredentials, c.ID)
	}
	return nil
}

// ListClients returns every client in id order, revoked ones included. It
// needs a store that implements ClientLister (ErrNotSupported otherwise).
func (s *Service) ListClients(ctx context.Context) ([]Client, error) {
	l, ok := s.store.(ClientLister)
	if !ok {
		return nil, ErrNotSupported
	}
	var out []Client
	after := ""
	for {
		page, err := l.ListClientRecords(ctx, after, listPage)
		if err != nil {
			return nil, fmt.Errorf("auth: list clients: %w", err)
		}
		for _, sc := range page {
			rec, err := decodeRecord(sc.Record)
			if err != nil {
				return nil, fmt.Errorf("auth: client record %s: %w", sc.ID, err)
			}
			out = append(out, rec.client())
		}
		if len(page) < listPage {
			return out, nil
		}
		after = page[len(page)-1].ID
	}
}

// change applies fn to the stored record of id with a compare and swap,
// retrying when another writer changed it meanwhile, and returns the
// record written (or, when fn reports no change, the one read). The new
// state goes into the cache at once.
func (s *Service) change(ctx context.Context, id string, fn func(*clientRecord) (changed bool, err error)) (clientRecord, bool, error) {
	u, ok := s.store.(ClientUpdater)
	if !ok {
		return clientRecord{}, false, ErrNotSupported
	}
	if !validClientID(id) {
		// Quoted as typed, masked as text shown to people is: a card
		// number typed in its place, in any spelling a reader sees.
		return clientRecord{}, false, fmt.Errorf("auth: %q is not a client id: %w", pan.MaskShown(id), ErrClientNotFound)
	}
	for range maxUpdateAttempts {
		old, found, err := s.store.GetClient(ctx, id)
		if err != nil {
			return clientRecord{}, false, fmt.Errorf("auth: look up client: %w", err)
		}
		if !found {
			return clientRecord{}, false, fmt.Errorf("auth: client %s: %w", id, ErrClientNotFound)
		}
		rec, err := decodeRecord(old)
		if err != nil {
			return clientRecord{}, false, fmt.Errorf("auth: client record %s: %w", id, err)
		}
		changed, err := fn(&rec)
		if err != nil || !changed {
			if err == nil {
				s.cache.put(id, rec.state(s.now()))
			}
			return rec, false, err
		}
		rec.Version = lifecycleVersion
		b, err := json.Marshal(rec)
		if err != nil {
			return clientRecord{}, false, fmt.Errorf("auth: encode client record: %w", err)
		}
		swapped, err := u.UpdateClient(ctx, id, old, b)
		if err != nil {
			return clientRecord{}, false, fmt.Errorf("auth: store client %s: %w", id, err)
		}
		if swapped {
			s.cache.put(id, rec.state(s.now()))
			return rec, true, nil
		}
	}
	return clientRecord{}, false, fmt.Errorf("auth: client %s changed %d times while being updated; try again", id, maxUpdateAttempts)
}

// RevokeClient revokes a client: from now on its secret is refused, and
// its tokens are refused by this Service at once and by every Service
// sharing the store within Options.ClientCacheTTL. Revocation is final and
// idempotent: revoking a revoked client changes nothing and returns
// changed false with the first revocation's time. An unknown id gives
// ErrClientNotFound.
func (s *Service) RevokeClient(ctx context.Context, id string) (c Client, changed bool, err error) {
	rec, changed, err := s.change(ctx, id, func(r *clientRecord) (bool, error) {
		if r.RevokedAt != nil {
			return false, nil
		}
		t := s.now().UTC().Truncate(time.Second)
		r.RevokedAt = &t
		return true, nil
	})
	if err != nil {
		return Client{}, false, err
	}
	return rec.client(), changed, nil
}

// RotateSecret gives a client a new secret and returns it (shown once, as
// by CreateClient). The old secret is refused at once; tokens issued
// before the rotation carry the old credential fingerprint and are
// refused like those of a revoked client. A revoked client gives
// ErrClientRevoked, an unknown id ErrClientNotFound.
func (s *Service) RotateSecret(ctx context.Context, id string) (Client, string, error) {
	secret := base58.EncodeFixed(randomBytes(32), secretWidth)
	rec, _, err := s.change(ctx, id, func(r *clientRecord) (bool, error) {
		if r.RevokedAt != nil {
			return false, fmt.Errorf("auth: client %s: %w", id, ErrClientRevoked)
		}
		t := s.now().UTC().Truncate(time.Second)
		r.Salt = randomBytes(saltSize)
		r.Hash = hashSecret(r.Salt, secret)
		r.RotatedAt = &t
		return true, nil
	})
	if err != nil {
		return Client{}, "", err
	}
	return rec.client(), secret, nil
}

// RecordSupersedes reports whether the stored client record next is prev
// changed since by RevokeClient or RotateSecret, the only changes a stored
// client takes: the same client (id, name, account, scopes, PCI, outbound,
// creation), revoked where prev was not, or given a new secret at a later
// rotation time while prev was not revoked, or both; never a revocation
// undone, a secret of an earlier rotation, or another client. A copy of a
// store in service (vault copy) brings a revocation or rotation made after
// it copied the client over with it, and no other change.
func RecordSupersedes(next, prev []byte) bool {
	n, err := decodeRecord(next)
	if err != nil {
		return false
	}
	p, err := decodeRecord(prev)
	if err != nil {
		return false
	}
	if n.ID != p.ID || n.Name != p.Name || n.Account != p.Account || !slices.Equal(n.Scopes, p.Scopes) ||
		n.PCI != p.PCI || n.Outbound != p.Outbound || !n.CreatedAt.Equal(p.CreatedAt) {
		return false
	}
	revoked := false
	switch {
	case p.RevokedAt != nil:
		return false // nothing changes a revoked client
	case n.RevokedAt != nil:
		revoked = true
	}
	sameSecret := subtle.ConstantTimeCompare(n.Salt, p.Salt) == 1 && subtle.ConstantTimeCompare(n.Hash, p.Hash) == 1
	switch {
	case sameSecret:
		return revoked && equalTime(n.RotatedAt, p.RotatedAt)
	case n.RotatedAt == nil:
		return false
	default:
		return p.RotatedAt == nil || n.RotatedAt.After(*p.RotatedAt)
	}
}

// equalTime reports whether a and b are both nil or the same time.
func equalTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}
