// Package dryrun applies a route set to one HTTP message without sending it
// anywhere: the engine of `aliasgate routes test` and of the inspector's
// route preview. The caller passes the Tokenizer (a throw-away vault), so
// this package, like routes, never imports the vault; nor the proxy, whose
// body rules (what its phases do not read, and the answer to a refusal)
// the caller passes as Message.Rules (proxy.GatewayRules), so that a dry
// run refuses what the gateway refuses, with its status and code
// (Result.Status, Result.Code, Result.BodyErr), by the same functions:
// also a body over limits.max_body or made longer than it by the filters,
// and what the route's leak guard refuses (Result.Guard, GuardRefused).
// On a response, as the gateway does, a filter failing on a body the
// gateway reads does not refuse the answer (Result.Failed: it is masked);
// one the gateway does not read is refused 502.
// The inbound listener's refusals before any route (proxy.InboundTarget,
// proxy.RevealRouteRefusal) and once the route is known
// (proxy.InboundUpgrade), and the outbound proxy's before any route
// (proxy.OutboundTarget), are the callers' to check first.
package dryrun

import (
	"bytes"
	"context"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"slices"

	"github.com/aliasgate/aliasgate/routes"
	"github.com/aliasgate/aliasgate/routes/rewrite"
)

// ErrUnmatchedHeader is the Err of a FilterResult for a request redact
// filter that does not apply to the request while the request carries a
// header it redacts and no filter that applies redacts that header
// (routes.Route.UnmatchedHeader): the proxies refuse such a request, 422
// no_matching_filter, unless the route says unmatched_body: pass. That
// filter is then Result.Refused.
var ErrUnmatchedHeader = errors.New("the request carries a header this filter redacts, where no filter redacting it applies (the gateway answers 422 no_matching_filter)")

// Message is the request (or, for the response phase, the response) to
// rewrite, with what the route match needs.
type Message struct {
	Direction routes.Direction
	Phase     routes.Phase
	// Method, Host and Path are the request's (also for the response phase).
	Method, Host, Path string
	// Query is the request's raw query (without "?"), RequestContentType
	// its Content-Type header (routes.RequestContentType); for the request
	// phase, "" takes it from Header.
	Query, RequestContentType string
	// Status is the response's code (response phase only).
	Status int
	// Header and Body are the message to rewrite; Run changes them in place.
	Header http.Header
	Body   []byte
	// Trailer is the message's trailer (nil: none), which the leak guard
	// reads too.
	Trailer http.Header
	// BodyErr is why the body could not be decoded from its
	// Content-Encoding (the caller decodes it as the gateway does), nil
	// when it was: the gateway reads no such body (Result.BodyErr).
	BodyErr error
	// Rules are the gateway's own body rules (the command passes proxy's:
	// this package may not import it); nil: none is checked, and
	// Result.Status stays 0.
	Rules Rules
}

// Rules are the gateway's rules a dry run applies as the gateway does,
// implemented by the proxy (cmd/aliasgate passes proxy.BodyError and
// proxy.Refusal), so that there is one implementation of each.
type Rules interface {
	// BodyError returns why the gateway's phases do not read body (with
	// its Content-Type values cts; redacting: the request phase of a
	// route that redacts request bodies), nil when they read it.
	BodyError(cts []string, body []byte, redacting bool) error
	// Refusal returns the status and error code the gateway answers a
	// message of phase it refuses for err.
	Refusal(phase routes.Phase, err error) (status int, code string)
	// SizeError returns why the gateway refuses a body its filters
	// rewrote to n bytes (over limits.max_body), nil when it goes on.
	SizeError(n int) error
	// Guard returns the status and code of the refusal of the route's
	// leak guard in mode of the message (r: the request, for the request
	// phase), leaving out the numbers made reports (the aliases the dry
	// run made); 0 and "" when the guard lets it go on.
	Guard(phase routes.Phase, mode routes.LeakGuard, r *http.Request, header, trailer http.Header, body []byte, made func(digits string) bool) (status int, code string)
}

// FilterResult is what one matched filter did.
type FilterResult struct {
	Filter  *routes.Filter
	Changes []rewrite.Change // targets with at least one value replaced
	// Err is why the filter could not be applied (nil when it was).
	Err error
}

// Result is the outcome of Run.
type Result struct {
	// Route is the route that matched, nil when none did.
	Route *routes.Route
	// Filters are the route's filters that matched, in order, up to the
	// one that refused the message.
	Filters []FilterResult
	// Refused is the filter whose failure refuses the message (on_error:
	// reject); nil when the message would be forwarded.
	Refused *routes.Filter
	// Unmatched reports that the request has a body no filter with body
	// targets matched on a route that redacts request bodies: the proxies
	// refuse it (422 no_matching_filter) unless the route says
	// unmatched_body: pass (then Unmatched is set and the message goes on
	// as it is). On the response phase of a route that redacts response
	// bodies (and does not say unmatched_body: pass) it reports a response
	// body no such filter matched: the proxies have the leak guard mask its
	// card numbers (redact mode, block when the route blocks).
	Unmatched bool
	// Sniffed is the media type the body was read as when its syntax is
	// not the one its Content-Type names (routes.SniffMediaType); "" when
	// it was read as declared.
	Sniffed string
	// BodyErr is why the gateway does not read the body (Message.BodyErr,
	// Rules.BodyError: a charset or XML it cannot read as the app does,
	// UTF-16 or UTF-32 text or Content-Type fields that differ on a route
	// that redacts request bodies), nil when it reads it. A request whose
	// body no filter with body targets matches is then refused with it
	// rather than no_matching_filter, the filters with body targets fail
	// with it, and the leak guard (block, redact) refuses the message.
	BodyErr error
	// Status and Code are the answer of the gateway that refuses the
	// request (Refused, or Unmatched without unmatched_body: pass): 422
	// no_matching_filter, 400 malformed_body, 415 unsupported_charset…;
	// on either phase, a body the filters made longer than
	// limits.max_body (413 body_too_large, 502 on a response) and the
	// leak guard's refusals (Guard); 0 and "" when it forwards the
	// message, or when Message.Rules is nil.
	Status int
	Code   string
	// Guard is the leak guard the gateway runs on the message (the
	// route's leak_guard, redact on a response body of a route that masks
	// them unless it blocks; off on an outbound request); GuardRefused
	// reports that Status and Code are its refusal.
	Guard        routes.LeakGuard
	GuardRefused bool
	// Failed are the response filters that failed with on_error: reject
	// on a body the gateway reads: as the gateway does (the request was
	// delivered), Run goes on with the next filters, and the answer is
	// sent on with the filters named in Aliasgate-Filter-Failed and its
	// card numbers masked (Guard redact, unless block). A response filter
	// refuses the answer (Refused, 502) only on a body the gateway does
	// not read (BodyErr).
	Failed []string
}

// Run matches m against set and applies the matched filters of m's phase
// through tok, as the proxies would, rewriting m.Header and m.Body. It
// stops at the first filter that fails with on_error: reject, and, on a
// route that redacts request bodies, before any filter when the request's
// body (read by its syntax) matches none of them (Result.Unmatched). As the
// proxies do, it refuses a request whose query string holds a field a form
// redact filter targets, and one carrying a header a redact filter targets
// where no filter redacting that header applies (ErrUnmatchedHeader).
//
// With Message.Rules, it then answers as the gateway does a body the
// filters made longer than limits.max_body, and runs the route's leak
// guard on the message it made (Result.Guard, GuardRefused), leaving out
// the aliases it made.
func Run(ctx context.Context, set *routes.Set, m *Message, tok rewrite.Tokenizer) Result {
	rec := &recorder{t: tok, made: map[string]bool{}}
	res := run(ctx, set, m, rec)
	if m.Rules == nil || res.Route == nil {
		return res
	}
	switch {
	case res.Refused != nil:
		// On a response, only a body the gateway does not read refuses
		// (a filter that fails on one it reads is Failed): 502.
		err := res.Filters[len(res.Filters)-1].Err
		if errors.Is(err, ErrUnmatchedHeader) {
			res.Status, res.Code = http.StatusUnprocessableEntity, "no_matching_filter"
		} else {
			res.Status, res.Code = m.Rules.Refusal(m.Phase, err)
		}
	case m.Phase == routes.Request && res.Unmatched && res.Route.UnmatchedBody != routes.Pass:
		if res.BodyErr != nil {
			res.Status, res.Code = m.Rules.Refusal(m.Phase, res.BodyErr)
		} else {
			res.Status, res.Code = http.StatusUnprocessableEntity, "no_matching_filter"
		}
	}
	if res.Status != 0 || res.Refused != nil || res.Unmatched && m.Phase == routes.Request && res.Route.UnmatchedBody != routes.Pass {
		return res
	}
	for _, fr := range res.Filters {
		if fr.Err == nil && slices.ContainsFunc(fr.Changes, func(c rewrite.Change) bool { return c.Kind != rewrite.KindHeader }) {
			if err := m.Rules.SizeError(len(m.Body)); err != nil {
				res.Status, res.Code = m.Rules.Refusal(m.Phase, err)
				return res
			}
			break
		}
	}
	res.Guard = guardMode(res.Route, m, len(res.Failed) > 0)
	if res.Guard == routes.LeakOff {
		return res
	}
	if res.BodyErr != nil && res.Guard != routes.LeakLog {
		// The guard cannot read what the gateway does not read: block and
		// redact refuse it.
		res.Status, res.Code = m.Rules.Refusal(m.Phase, res.BodyErr)
		res.GuardRefused = true
		return res
	}
	var r *http.Request
	if m.Phase == routes.Request {
		r = &http.Request{Method: m.Method, Host: m.Host, URL: &url.URL{Path: m.Path, RawQuery: m.Query}}
	}
	res.Status, res.Code = m.Rules.Guard(m.Phase, res.Guard, r, m.Header, m.Trailer, m.Body, func(d string) bool { return rec.made[d] })
	res.GuardRefused = res.Status != 0
	return res
}

// guardMode returns the leak guard the gateway runs on m under route
// (Result.Guard); failed: a response filter failed (Result.Failed), and
// the guard masks what is left, whatever the route's leak_guard (block
// still refuses).
func guardMode(route *routes.Route, m *Message, failed bool) routes.LeakGuard {
	if m.Direction == routes.Outbound && m.Phase == routes.Request {
		return routes.LeakOff
	}
	mode := route.LeakGuard
	if m.Phase == routes.Response && (failed || route.MasksResponseBodies() && len(m.Body) > 0) && mode != routes.LeakBlock {
		mode = routes.LeakRedact
	}
	return mode
}

// recorder records the aliases its tokenizer makes: the leak guard leaves
// them out, as the gateway's leaves out the aliases its vault holds.
type recorder struct {
	t    rewrite.Tokenizer
	made map[string]bool
}

func (r *recorder) Redact(ctx context.Context, items []rewrite.RedactItem) ([]string, error) {
	out, err := r.t.Redact(ctx, items)
	for _, a := range out {
		r.made[a] = true
	}
	return out, err
}

func (r *recorder) Reveal(ctx context.Context, aliases []string) ([]string, error) {
	return r.t.Reveal(ctx, aliases)
}

func run(ctx context.Context, set *routes.Set, m *Message, tok rewrite.Tokenizer) Result {
	var res Result
	res.Route = set.Match(m.Direction, m.Host, m.Path)
	if res.Route == nil {
		return res
	}
	ct := m.Header.Get("Content-Type")
	rct := m.RequestContentType
	if rct == "" && m.Phase == routes.Request {
		rct = routes.RequestContentType(m.Header)
	}
	x := routes.Exchange{Method: m.Method, Path: m.Path, Query: m.Query, MediaType: ct, RequestContentType: rct, Status: m.Status}
	msg := rewrite.Message{Header: m.Header, Body: m.Body}
	msg.MediaType, msg.Params, _ = mime.ParseMediaType(ct)
	// As the proxies do: a query string holding a field a form target of
	// a request redact filter names (or one nesting to a JSON target's
	// value), or a cookie named as such a form field, refuses the request
	// (or is noted, with on_error: pass), whatever the body.
	if m.Phase == routes.Request && (m.Query != "" || len(m.Header["Cookie"]) > 0) {
		for _, f := range res.Route.Filters {
			if !f.ChecksQuery(x) {
				continue
			}
			err := f.Program.CheckQuery(m.Query)
			if err == nil {
				err = f.Program.CheckCookies(m.Header)
			}
			if err != nil {
				res.Filters = append(res.Filters, FilterResult{Filter: f, Err: err})
				if f.OnError == routes.Reject {
					res.Refused = f
					return res
				}
			}
		}
	}
	filters := res.Route.Matching(m.Phase, x)
	// As the proxies do on a route whose request filters redact bodies: the
	// body is read by its syntax whatever its Content-Type says, and a body
	// no filter with body targets matched is refused (unmatched_body); a
	// response body, on a route whose response filters redact bodies, is
	// read the same way and, unmatched, goes on to the guard's masks.
	answer := m.Phase == routes.Response && res.Route.MasksResponseBodies()
	redacting := m.Phase == routes.Request && res.Route.RedactsBodies()
	res.BodyErr = m.BodyErr
	if res.BodyErr == nil && m.Rules != nil && len(m.Body) > 0 {
		res.BodyErr = m.Rules.BodyError(m.Header["Content-Type"], m.Body, redacting)
	}
	// As the gateway does, a blank body is no body to match, unless it
	// goes unread (BodyErr).
	if (redacting || answer) && (len(bytes.TrimLeft(m.Body, " \t\r\n")) > 0 || len(m.Body) > 0 && res.BodyErr != nil) {
		// A body the gateway does not read is not sniffed either.
		if mt := routes.SniffMediaType(m.Body, msg.MediaType); mt != "" && res.BodyErr == nil {
			x.MediaType, msg.MediaType, msg.Params = mt, mt, nil
			res.Sniffed = mt
			filters = res.Route.Matching(m.Phase, x)
		}
		if !slices.ContainsFunc(filters, func(f *routes.Filter) bool { return f.Program.HasBody() }) {
			res.Unmatched = true
			if !answer && res.Route.UnmatchedBody != routes.Pass {
				return res
			}
		}
	}
	if m.Phase == routes.Request && res.Route.UnmatchedBody != routes.Pass {
		if f := res.Route.UnmatchedHeader(filters, x, m.Header); f != nil {
			res.Filters = append(res.Filters, FilterResult{Filter: f, Err: ErrUnmatchedHeader})
			res.Refused = f
			return res
		}
	}
	for _, f := range filters {
		if f.Program.HasBody() && res.BodyErr != nil {
			res.Filters = append(res.Filters, FilterResult{Filter: f, Err: res.BodyErr})
			if f.OnError == routes.Reject {
				res.Refused = f
				break
			}
			continue
		}
		changes, err := f.Program.Apply(ctx, &msg, tok)
		res.Filters = append(res.Filters, FilterResult{Filter: f, Changes: changes, Err: err})
		if err != nil && f.OnError == routes.Reject {
			if m.Phase == routes.Response {
				// The request was delivered: the gateway sends the answer
				// on, its card numbers masked (Result.Failed).
				res.Failed = append(res.Failed, f.ID)
				continue
			}
			res.Refused = f
			break
		}
	}
	m.Body = msg.Body
	return res
}
