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
// (cards.Handler.ReleaseRouteAliases).
type Creations struct {
	mu      sync.Mutex
	aliases map[string]struct{}
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
	out := make([]string, 0, len(c.aliases))
	for a := range c.aliases {
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
