package vault

import (
	"context"
	"slices"
	"sync"
)

// Creations records the aliases Redact creates under a context made by
// WithCreations, persistent and volatile: the aliases one request brought
// into the vault (a volatile value is never shared, every redaction of it
// makes a new alias; a persistent one found already is not recorded).
// The Card Management API asks it whether the pan_alias a request named
// was made by that same request (an inbound route in front of the API
// redacting raw card data), and so is the card's to delete with it, or was
// the account's before (see cards/delete.go); a create that stores no card
// releases the aliases its request made (CreatedAliases,
// cards/duplicates.go), and so does a request through an inbound route in
// front of the Card Management API or the vault API that the API refused
// (cards.Handler.ReleaseRouteAliases). Whoever serves the request and
// releases for it claims the release (ClaimRelease); the inbound proxy
// releases what nothing claimed (a refusal in front of the API). A
// release goes through Service.Release, which keeps an alias another
// Redact was given since it was created (the same value, found).
type Creations struct {
	mu      sync.Mutex
	aliases map[string]struct{}
	claimed bool     // ClaimRelease
	handed  bool     // HandOff was called
	route   []string // the aliases created before HandOff, sorted
}

type creationsKey struct{}

// WithCreations returns ctx with a new, empty Creations that every Redact
// under it (or under a context derived from it) adds the persistent
// aliases it created to. An existing Creations of ctx is kept.
func WithCreations(ctx context.Context) context.Context {
	if creationsFrom(ctx) != nil {
		return ctx
	}
	return context.WithValue(ctx, creationsKey{}, &Creations{})
}

// WithoutCreations returns ctx without its Creations: the Redacts under
// it record nothing, and CreatedUnder and CreatedAliases answer as without
// one. The inbound proxy's response phase redacts under it while the Card
// Management API, which reads the request's Creations, may still run: an
// alias a filter made in the answer is not the request's.
func WithoutCreations(ctx context.Context) context.Context {
	if creationsFrom(ctx) == nil {
		return ctx
	}
	return context.WithValue(ctx, creationsKey{}, (*Creations)(nil))
}

// HandOff records the aliases created under ctx so far as its route's:
// the inbound proxy calls it when it hands a request its filters redacted
// to the in-process API, whose own redactions are recorded after it (a
// network token's PAN, a create's number) and are no route's to release
// (RouteAliases). Only the first call records.
func HandOff(ctx context.Context) {
	c := creationsFrom(ctx)
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.handed {
		c.handed, c.route = true, sortedKeys(c.aliases)
	}
}

// RouteAliases returns the aliases the inbound route of the request of
// ctx created, sorted: those created before HandOff, or every alias
// created under ctx when the request was not handed on (its request phase
// refused it). Nil without a Creations.
func RouteAliases(ctx context.Context) []string {
	c := creationsFrom(ctx)
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.handed {
		return slices.Clone(c.route)
	}
	return sortedKeys(c.aliases)
}

// ClaimRelease marks the Creations of ctx, if it has one, as released by
// the handler serving its request: an API that releases what a request
// it refuses made (the Card Management API; the vault API given a
// Releaser) claims it before it serves, and the inbound proxy, which
// releases what the route made once the in-process API returned unless
// it was claimed (the API never ran: the body budget refused the
// document, the API is off), leaves it to the API.
func ClaimRelease(ctx context.Context) {
	if c := creationsFrom(ctx); c != nil {
		c.mu.Lock()
		c.claimed = true
		c.mu.Unlock()
	}
}

// ReleaseClaimed reports whether ClaimRelease was called under ctx (false
// without a Creations).
func ReleaseClaimed(ctx context.Context) bool {
	c := creationsFrom(ctx)
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.claimed
}

// CreatedUnder reports whether a Redact under ctx created the alias
// (false without a Creations: nothing was recorded).
func CreatedUnder(ctx context.Context, alias string) bool {
	c := creationsFrom(ctx)
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.aliases[alias]
	return ok
}

// CreatedAliases returns the aliases Redacts under ctx created,
// persistent and volatile, sorted (nil without a Creations).
func CreatedAliases(ctx context.Context) []string {
	c := creationsFrom(ctx)
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return sortedKeys(c.aliases)
}

// sortedKeys returns the keys of m, sorted.
func sortedKeys(m map[string]struct{}) []string {
	out := make([]string, 0, len(m))
	for a := range m {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

func creationsFrom(ctx context.Context) *Creations {
	c, _ := ctx.Value(creationsKey{}).(*Creations)
	return c
}

// noteCreated adds the aliases of toks that were created to ctx's
// Creations, if it has one.
func noteCreated(ctx context.Context, toks []Token) {
	c := creationsFrom(ctx)
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range toks {
		if t.Created {
			if c.aliases == nil {
				c.aliases = map[string]struct{}{}
			}
			c.aliases[t.Alias] = struct{}{}
		}
	}
}
