// Package redacted carries, in a request's context, the values an inbound
// route redacted in that request, by the alias each became, from the
// inbound proxy to the in-process upstream it hands the request to
// (internal:cards). The upstream reads the request as the client sent it
// where it must tell one client request from another: a retry of a card
// write through a route that redacts its CVC into a new volatile alias
// each time is the same request (cards' Idempotency-Key).
//
// The values are the client's own, sent in clear in this very request;
// they live in memory for the request only and are never logged.
package redacted

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
)

// Values maps each alias a route's redaction made in one request to the
// value it stands for.
type Values map[string]string

type key struct{}

// With returns a copy of ctx carrying v (ctx itself when v is empty).
func With(ctx context.Context, v Values) context.Context {
	if len(v) == 0 {
		return ctx
	}
	return context.WithValue(ctx, key{}, v)
}

// From returns the Values of ctx, nil when it carries none.
func From(ctx context.Context) Values {
	v, _ := ctx.Value(key{}).(Values)
	return v
}

// Restore returns body with every JSON string that is exactly one of v's
// aliases replaced by the JSON string of its value: the body as the
// client sent it, as far as the route's redaction changed it. The aliases
// are replaced in sorted order, so the result does not depend on the
// map's. body itself is returned when v is empty; otherwise a new slice.
func (v Values) Restore(body []byte) []byte {
	if len(v) == 0 {
		return body
	}
	aliases := make([]string, 0, len(v))
	for a := range v {
		aliases = append(aliases, a)
	}
	slices.Sort(aliases)
	out := bytes.Clone(body)
	for _, alias := range aliases {
		a, _ := json.Marshal(alias) // a string always encodes
		val, _ := json.Marshal(v[alias])
		out = bytes.ReplaceAll(out, a, val)
	}
	return out
}
