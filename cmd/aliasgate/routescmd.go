package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/aliasgate/aliasgate/config"
	"github.com/aliasgate/aliasgate/internal/pan"
	"github.com/aliasgate/aliasgate/internal/secretfile"
	"github.com/aliasgate/aliasgate/internal/vaulttok"
	"github.com/aliasgate/aliasgate/proxy"
	"github.com/aliasgate/aliasgate/routes"
	"github.com/aliasgate/aliasgate/routes/dryrun"
	"github.com/aliasgate/aliasgate/routes/rewrite"
	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/memstore"
)

// routeOptions checks alias formats and classifiers against the vault's.
func routeOptions() routes.Options {
	return routes.Options{CheckFormat: func(f string) error {
		_, err := vault.ParseFormat(f)
		return err
	}, CheckClassifiers: vault.CheckClassifiers}
}

const routesValidateUsage = `Loads a route file and prints every problem with its line. Exit status 0
when the whole set is valid, 1 otherwise.`

func runRoutesValidate(_ context.Context, e env, args []string) error {
	fs := newFlagSet("routes validate FILE", routesValidateUsage)
	if err := parseArgs(fs, e, args, 1); err != nil {
		return helpOK(err)
	}
	set, err := routes.LoadFile(fs.Arg(0), routeOptions())
	if err != nil {
		return err
	}
	nf := 0
	for _, r := range set.Routes {
		nf += len(r.Filters)
	}
	printWarnings(e, set)
	// serve, its reloads and config check read a routes_file only when
	// not every user may write it (routes.ReadFile); this command reads
	// any file (/dev/stdin too), so it says so rather than refuse.
	if fi, err := os.Stat(fs.Arg(0)); err == nil && fi.Mode().IsRegular() {
		if err := secretfile.OthersMayWrite(fs.Arg(0), fi); err != nil {
			fmt.Fprintf(e.stderr, "warning: serve and config check refuse it as routes_file: %v\n", err)
		}
	}
	fmt.Fprintf(e.stdout, "%s: %d routes, %d filters, valid\n", fs.Arg(0), len(set.Routes), nf)
	return nil
}

// printWarnings writes the set's warnings (routes.Set.Warnings) to stderr.
func printWarnings(e env, set *routes.Set) {
	for _, w := range set.Warnings() {
		fmt.Fprintf(e.stderr, "warning: %s\n", w)
	}
}

const routesTestUsage = `Shows what a request (or, with --phase response, a response) becomes under
a route file, without touching upstreams: values are redacted into a
throw-away in-memory vault, and reveal shows revealed(<alias>) in place of a
value. The rewritten message goes to stdout; which filter touched which field
goes to stderr, with what the route's leak guard does with card numbers no
filter redacted (on inbound requests and on responses): block refuses the
message (nothing on stdout, exit 1), redact masks them in the message on
stdout as the gateway does (Aliasgate-Redacted added), log is noted. As in the
gateway, on a route whose request filters redact bodies a request body is
read by its syntax whatever its Content-Type says, and one that no such
filter matches is refused (422 no_matching_filter, exit 1) unless the route
says unmatched_body: pass. An inbound request no route matches gets 404
no_route from the gateway (exit 1, nothing on stdout); an outbound one passes
unchanged. A request the gateway refuses before forwarding is refused with
the gateway's status and code (exit 1, nothing on stdout), by the gateway's
own rules (proxy.BodyError, proxy.Refusal): a body it does not read as the
app does (UTF-16 or UTF-32 on a redacting route, a charset that is no
ASCII superset, an XML body its parser reads otherwise: 415
unsupported_charset...; a Content-Encoding it cannot decode: 415),
Content-Type fields that differ on a redacting route (400 malformed_body),
a filter that fails with on_error: reject, a leak guard (block, redact)
that cannot read the body, a WebSocket upgrade on a route that reads
bodies (403 upgrade_refused), a body over the gateway's limits.max_body
(--max-body, default 10MiB) or one the filters make longer than it (413
body_too_large); and, before any route, CONNECT (405), a path it does not
forward (an encoded slash: 400 unsafe_path) and a request carrying
Aliasgate-Reveal-Route to /cards or /aliases (403
forwarded_by_reveal_route). An outbound request is read as the outbound
proxy reads one from a CONNECT tunnel (proxy.OutboundTarget): CONNECT
(405), an unsafe path or an opaque target (400 unsafe_path) and, with
--connect HOST:PORT (the tunnel's), a Host naming another host or port
(403 host_mismatch) are refused, and its routes match the CONNECT's
host:port and the canonical path. Inbound routes match the canonical path (dot
segments resolved), as the gateway's, and a forwarded inbound request is
shown with the headers the gateway adds for its route
(Aliasgate-Reveal-Route, Aliasgate-Route-Account: the default account's
name, "default" unless your vault names another, for a route naming none).

REQ.http and RESP.http are raw HTTP messages: a request line ("POST /pay
HTTP/1.1") or status line, headers with Host, a blank line, the body.`

func runRoutesTest(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("routes test --routes FILE --request REQ.http [--response RESP.http] [--phase request|response] [--direction inbound|outbound] [--connect HOST:PORT] [--max-body SIZE]", routesTestUsage)
	file := fs.String("routes", "", "route `file` (required)")
	reqFile := fs.String("request", "", "raw HTTP request `file` (required)")
	respFile := fs.String("response", "", "raw HTTP response `file` (for --phase response)")
	phase := fs.String("phase", "request", "`phase` to apply: request or response")
	direction := fs.String("direction", "inbound", "`direction` of the route: inbound or outbound")
	connect := fs.String("connect", "", "outbound: the `host:port` of the CONNECT the request is sent in (default: its Host)")
	maxBodySize := config.ByteSize(proxy.DefaultMaxBody)
	fs.TextVar(&maxBodySize, "max-body", maxBodySize, "the gateway's limits.max_body (`size`: 8KiB, 10MiB...)")
	if err := parseFlags(fs, e, args); err != nil {
		return helpOK(err)
	}
	if *file == "" || *reqFile == "" {
		return usagef("routes test: --routes and --request are required")
	}
	if *phase != "request" && *phase != "response" {
		return usagef("routes test: --phase must be request or response")
	}
	if *direction != "inbound" && *direction != "outbound" {
		return usagef("routes test: --direction must be inbound or outbound")
	}
	if *connect != "" && *direction != "outbound" {
		return usagef("routes test: --connect is read only with --direction outbound")
	}
	if maxBodySize <= 0 || maxBodySize > config.MaxMaxBody {
		return usagef("routes test: --max-body must be greater than 0 and at most 1TiB")
	}
	maxBody := maxBodySize.Int64()
	if *phase == "request" && *respFile != "" {
		return usagef("routes test: --response is read only with --phase response")
	}
	if *phase == "response" && *respFile == "" {
		return usagef("routes test: --phase response needs --response RESP.http")
	}
	set, err := routes.LoadFile(*file, routeOptions())
	if err != nil {
		return err
	}
	req, reqBody, err := readRequest(*reqFile)
	if err != nil {
		return err
	}
	if routes.Direction(*direction) == routes.Inbound {
		// As the inbound listener does, before any route: CONNECT and a
		// target it does not forward are refused, and routes match the
		// canonical path, which is the one forwarded (req.URL is made so).
		path, jerr := proxy.InboundTarget(req)
		if jerr == nil && *phase == "request" {
			jerr = proxy.RevealRouteRefusal(path, req.Header)
		}
		if jerr != nil {
			o := jerr.Objects[0]
			fmt.Fprintf(e.stderr, "the gateway refuses this request before matching a route (%d %s: %s), nothing is forwarded\n", jerr.Status, o.Code, o.Detail)
			return fmt.Errorf("the gateway refuses this request (%d %s), nothing is forwarded", jerr.Status, o.Code)
		}
	}
	host := req.Host
	if routes.Direction(*direction) == routes.Outbound {
		// As the outbound proxy does with a request read from a tunnel,
		// before any route: a Host other than the CONNECT's, CONNECT and
		// a target it does not forward are refused, and routes match the
		// CONNECT's host:port and the canonical path.
		if _, jerr := proxy.OutboundTarget(req, *connect); jerr != nil {
			o := jerr.Objects[0]
			fmt.Fprintf(e.stderr, "the outbound proxy refuses this request before matching a route (%d %s: %s), nothing is forwarded\n", jerr.Status, o.Code, o.Detail)
			return fmt.Errorf("the gateway refuses this request (%d %s), nothing is forwarded", jerr.Status, o.Code)
		}
		if *connect != "" {
			host = *connect
		}
	}
	route := set.Match(routes.Direction(*direction), host, req.URL.Path)
	if route == nil {
		// The outbound proxy sends a request no route matches to its
		// destination as it is; the inbound listener has no upstream for
		// it: 404 no_route, or one of its built-in endpoints.
		what := "the message passes unchanged"
		if routes.Direction(*direction) == routes.Inbound {
			what = "the gateway answers 404 no_route (or serves it itself: /oauth/token, /cards, /aliases), nothing is forwarded"
		}
		fmt.Fprintf(e.stderr, "no %s route matches host %q path %q: %s\n", *direction, pan.MaskAll(host), pan.MaskAll(req.URL.Path), what)
		// A route of the other direction that matches is most likely the
		// one meant: --direction defaults to inbound.
		other := routes.Outbound
		if routes.Direction(*direction) == routes.Outbound {
			other = routes.Inbound
		}
		if r := set.Match(other, host, req.URL.Path); r != nil {
			fmt.Fprintf(e.stderr, "the %s route %s matches it: try it with --direction %s\n", other, r.ID, other)
		}
		if routes.Direction(*direction) == routes.Inbound {
			return errors.New("no inbound route matches: the gateway answers 404 no_route, nothing is forwarded")
		}
	}
	if route != nil && routes.Direction(*direction) == routes.Inbound && *phase == "request" {
		// As the inbound listener does once the route is known: an
		// Upgrade other than WebSocket dropped, a WebSocket one refused
		// on a route that reads bodies.
		if jerr := proxy.InboundUpgrade(route, req.Header); jerr != nil {
			o := jerr.Objects[0]
			fmt.Fprintf(e.stderr, "route %s: the gateway refuses this request (%d %s: %s), nothing is forwarded\n", route.ID, jerr.Status, o.Code, o.Detail)
			return fmt.Errorf("route %s: the gateway refuses this request (%d %s), nothing is forwarded", route.ID, jerr.Status, o.Code)
		}
	}
	if *phase == "request" && (route != nil || routes.Direction(*direction) == routes.Outbound) {
		// As both listeners do: a client's fields of the gateway's names
		// (Aliasgate-Route-Account, ...) never reach the upstream.
		proxy.DropClientFields(req, route, req.URL.Path)
	}
	tok, closeVault, err := dryRunTokenizer(ctx)
	if err != nil {
		return err
	}
	defer closeVault()

	m := &dryrun.Message{Direction: routes.Direction(*direction), Phase: routes.Phase(*phase),
		Method: req.Method, Host: host, Path: req.URL.Path, Query: req.URL.RawQuery,
		RequestContentType: routes.RequestContentType(req.Header), Header: req.Header, Body: reqBody}
	var resp *http.Response
	if *phase == "response" {
		if resp, m.Body, err = readResponse(*respFile, req); err != nil {
			return err
		}
		m.Header, m.Status = resp.Header, resp.StatusCode
	}
	// As the gateway does, the filters and the leak guard read the body
	// decoded from its Content-Encoding, and it is encoded again after.
	// One the gateway cannot decode is left to the guard (unreadable).
	// One the gateway cannot decode is a body it does not read
	// (dryrun.Message.BodyErr).
	// A body over limits.max_body, as sent or decoded, is one it does not
	// read either.
	enc, plain, decErr := proxy.DecodeContent(m.Header.Values("Content-Encoding"), m.Body, maxBody)
	if err := proxy.BodySizeError(int64(len(m.Body)), maxBody); err != nil {
		enc, decErr = "", err
	}
	if decErr == nil && enc != "" {
		m.Body = plain
		m.Header.Del("Content-Encoding")
	}
	if decErr != nil && len(m.Body) > 0 {
		m.BodyErr = decErr
	}
	trailer := req.Trailer
	if resp != nil {
		trailer = resp.Trailer
	}
	m.Trailer = trailer
	m.Rules = proxy.GatewayRules{MaxBody: maxBody}
	res := dryrun.Run(ctx, set, m, tok)
	if res.BodyErr != nil {
		fmt.Fprintf(e.stderr, "route %s: the gateway does not read this body (%s)\n", route.ID, bodyErrWhat(*phase, res.BodyErr))
	}
	if res.Sniffed != "" {
		fmt.Fprintf(e.stderr, "route %s: the body is read as %s, its syntax (the gateway reads it so whatever its Content-Type says)\n", route.ID, res.Sniffed)
	}
	var guard routes.LeakGuard // the route's, redact for a response body it masks
	if route != nil {
		guard = route.LeakGuard
		if *phase == "response" && (route.MasksResponseBodies() && len(m.Body) > 0 || len(res.Failed) > 0) && guard != routes.LeakBlock {
			// Every response body of a route that redacts them: what the
			// filters left is masked (MasksResponseBodies); and any
			// answer a response filter failed on (dryrun.Result.Failed).
			guard = routes.LeakRedact
		}
	}
	if res.Unmatched && *phase == "response" {
		fmt.Fprintf(e.stderr, "route %s: no filter with body targets matches this response's body: the gateway's leak guard masks its card numbers\n", route.ID)
	} else if res.Unmatched {
		if route.UnmatchedBody != routes.Pass {
			fmt.Fprintf(e.stderr, "route %s: no filter with body targets matches this request's body (method, path or body syntax): the gateway refuses it (%d %s), nothing is forwarded\n", route.ID, res.Status, res.Code)
			return fmt.Errorf("route %s: the gateway refuses this request (%d %s)", route.ID, res.Status, res.Code)
		}
		fmt.Fprintf(e.stderr, "route %s: no filter with body targets matches this request's body: forwarded as it is (unmatched_body: pass)\n", route.ID)
	}
	if route != nil && len(res.Filters) == 0 {
		fmt.Fprintf(e.stderr, "route %s: no %s filter matches\n", route.ID, *phase)
	}
	for _, fr := range res.Filters {
		f := fr.Filter
		if fr.Err != nil {
			action := "the message would be refused (on_error: reject)"
			switch {
			case f.OnError == routes.Pass:
				action = "the message would pass unchanged (on_error: pass)"
			case slices.Contains(res.Failed, f.ID):
				action = "the answer would be sent on, named in " + proxy.FilterFailedHeader + ", its card numbers masked (on_error: reject; the request was delivered)"
			}
			fmt.Fprintf(e.stderr, "route %s filter %s: %v: %s\n", route.ID, f.ID, fr.Err, action)
			continue
		}
		if len(fr.Changes) == 0 {
			fmt.Fprintf(e.stderr, "route %s filter %s (%s): matched, no target found\n", route.ID, f.ID, f.Operation)
		}
		for _, c := range fr.Changes {
			fmt.Fprintf(e.stderr, "route %s filter %s (%s): %s %s: %d value(s)\n", route.ID, f.ID, f.Operation, c.Kind, c.Path, c.Count)
			if routes.Direction(*direction) == routes.Outbound && *phase == "request" && f.Program.Operation() == rewrite.Reveal {
				// This throw-away vault reveals every value; the
				// gateway's, only the aliases it holds.
				what := "it is forwarded as it is (on_error: pass)"
				if jerr := proxy.UnknownAlias(f, rewrite.TargetRef{Kind: c.Kind, Path: c.Path}); jerr != nil {
					what = fmt.Sprintf("the gateway refuses the request (%d %s), nothing is forwarded", jerr.Status, jerr.Objects[0].Code)
				}
				fmt.Fprintf(e.stderr, "route %s filter %s: shown as if your vault held every alias there; a value that is no live alias of it: %s\n", route.ID, f.ID, what)
			}
		}
	}
	if res.Refused != nil {
		if res.Status != 0 {
			return fmt.Errorf("filter %s cannot be applied: the gateway refuses the %s (%d %s), %s", res.Refused.ID, *phase, res.Status, res.Code,
				map[string]string{"request": "nothing is forwarded", "response": "the answer is withheld"}[*phase])
		}
		return fmt.Errorf("filter %s cannot be applied", res.Refused.ID)
	}
	if res.Status != 0 && !res.GuardRefused {
		// The filters made the body longer than limits.max_body.
		fmt.Fprintf(e.stderr, "route %s: the filters make the body %d bytes, over limits.max_body (%d): the gateway refuses the %s (%d %s), nothing is forwarded\n", route.ID, len(m.Body), maxBody, *phase, res.Status, res.Code)
		return fmt.Errorf("route %s: the gateway refuses the %s (%d %s)", route.ID, *phase, res.Status, res.Code)
	}
	if res.BodyErr != nil && res.GuardRefused {
		// The guard cannot read what the gateway does not read: block and
		// redact refuse it (proxy/leak.go unreadable).
		fmt.Fprintf(e.stderr, "route %s: leak guard (%s): it cannot read the body: the gateway refuses the %s (%d %s), nothing is forwarded\n", route.ID, guard, *phase, res.Status, res.Code)
		return fmt.Errorf("route %s: the leak guard refuses the %s (%d %s)", route.ID, *phase, res.Status, res.Code)
	}
	if err := dryRunLeakGuard(e, res.Route, guard, routes.Direction(*direction), routes.Phase(*phase), req, m, trailer, tok, maxBody); err != nil {
		return err
	}
	if res.GuardRefused {
		// The gateway's guard (dryrun.Result.Status) refuses what the
		// lines above did not show.
		return fmt.Errorf("route %s: the leak guard refuses the %s (%d %s)", route.ID, *phase, res.Status, res.Code)
	}
	if len(res.Failed) > 0 {
		m.Header.Set(proxy.FilterFailedHeader, strings.Join(res.Failed, ","))
	}
	if *phase == "response" && decErr == nil && proxy.AnswerDecoded(route, enc, m.Header) {
		// The client gets it decoded.
	} else if decErr == nil && enc != "" {
		if m.Body, err = proxy.EncodeContent(enc, m.Body); err != nil {
			return fmt.Errorf("routes test: encode the body again (%s): %w", enc, err)
		}
		m.Header.Set("Content-Encoding", enc)
	}
	if *phase == "request" {
		// The gateway forwards no request trailer
		// (proxy TestRequestTrailerValuesDoNotReachTheUpstream).
		req.Trailer = nil
		if route != nil && routes.Direction(*direction) == routes.Inbound {
			// What the gateway adds for the route (the default account's
			// name for a route naming none: default, unless the vault
			// names another).
			proxy.MarkForwarded(req.Header, route, routes.Exchange{Method: req.Method, Path: req.URL.Path, Query: req.URL.RawQuery,
				RequestContentType: routes.RequestContentType(req.Header)}, vault.DefaultAccountName)
		}
		req.Body = io.NopCloser(bytes.NewReader(m.Body))
		req.ContentLength = int64(len(m.Body))
		req.Header.Del("Content-Length")
		if _, ok := req.Header["User-Agent"]; !ok {
			req.Header["User-Agent"] = nil // keep Write from adding Go's own
		}
		return req.Write(e.stdout)
	}
	resp.Body = io.NopCloser(bytes.NewReader(m.Body))
	resp.ContentLength = int64(len(m.Body))
	resp.Header.Del("Content-Length")
	return resp.Write(e.stdout)
}

// bodyErrWhat says why the gateway does not read a body, with its code.
func bodyErrWhat(phase string, err error) string {
	_, code := proxy.Refusal(routes.Phase(phase), err)
	return code
}

func readRequest(path string) (*http.Request, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: not an HTTP request: %w", path, err)
	}
	// The gateway answers an HTTP/1.1 request without a host 400
	// ("missing required Host header") and forwards nothing; routes match
	// by it.
	if req.Host == "" && req.ProtoAtLeast(1, 1) {
		return nil, nil, fmt.Errorf("%s: the request has no Host header: add one after the request line (Host: shop.example.com); the gateway answers an HTTP/1.1 request without it 400 and forwards nothing", path)
	}
	body, err := readBody(req.Body, br, req.ContentLength, req.TransferEncoding)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return req, body, nil
}

func readResponse(path string, req *http.Request) (*http.Response, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: not an HTTP response: %w", path, err)
	}
	body, err := readBody(resp.Body, br, resp.ContentLength, resp.TransferEncoding)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return resp, body, nil
}

// readBody reads a message body. A hand-written file often has neither
// Content-Length nor chunked encoding: then the body is the rest of the file.
func readBody(r io.ReadCloser, rest io.Reader, length int64, te []string) ([]byte, error) {
	defer r.Close()
	if length <= 0 && len(te) == 0 {
		r = io.NopCloser(rest)
	}
	b, err := io.ReadAll(io.LimitReader(r, 64<<20))
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("read body: %w", err)
	}
	return b, nil
}

// dryRunLeakGuard says what the gateway's leak guard does with the
// message a dry run made (proxy/leak.go: on inbound requests and on
// responses, not on outbound requests): the card numbers no filter
// redacted, found as the guard finds them (proxy.FindLeaks: the body
// decoded, its numbers in exponent notation, XML text, encoded multipart
// parts; the headers and the trailer; for a request its method, host,
// path and query),
// leaving out the aliases this dry run made, and what the guard could not
// read. mode is the route's leak_guard, or redact (block when the route
// blocks) for a response body no filter of a route that redacts response
// bodies matched (dryrun.Result.Unmatched). In block mode the message is
// refused (an error: 422 for a request, 502 for a response), with redact or
// log it is said on stderr, and redact masks them in m (maskLeaks).
// Never the digits, only where they are (a header name that holds a card
// number is named masked).
func dryRunLeakGuard(e env, route *routes.Route, mode routes.LeakGuard, dir routes.Direction, phase routes.Phase, req *http.Request, m *dryrun.Message, trailer http.Header, tok rewrite.Tokenizer, maxBody int64) error {
	if route == nil || mode == routes.LeakOff || (dir == routes.Outbound && phase == routes.Request) {
		return nil
	}
	made := map[string]bool{}
	if d, ok := tok.(dryRun); ok {
		made = d.made
	}
	r := req
	if phase != routes.Request {
		r = nil
	}
	leaks, unreadable := proxy.FindLeaks(r, m.Header, trailer, m.Body, maxBody)
	if len(unreadable) > 0 {
		msg := fmt.Sprintf("route %s: leak guard (%s): it cannot read the body (%s)", route.ID, mode, strings.Join(unreadable, ", "))
		if mode != routes.LeakLog {
			fmt.Fprintf(e.stderr, "%s: the gateway refuses the message, nothing is forwarded\n", msg)
			return fmt.Errorf("route %s: the leak guard refuses the %s (%s)", route.ID, phase, unreadable[0])
		}
		fmt.Fprintf(e.stderr, "%s: the gateway logs it and forwards the message as it is\n", msg)
	}
	var where []string
	var bytesAt []string
	count, unmaskable := 0, false
	for _, l := range leaks {
		if made[l.Digits] {
			continue
		}
		count++
		unmaskable = unmaskable || !l.Maskable
		at := l.Where
		switch {
		case l.Where == "header" || l.Where == "trailer":
			// A header's name may hold the card number itself.
			at = l.Where + " " + pan.MaskAll(l.Name)
		case l.Where == "url" && phase == routes.Request:
			at = "method, host, path or query"
		case l.Where == "body" && l.Offset >= 0:
			if len(bytesAt) < 10 {
				bytesAt = append(bytesAt, strconv.Itoa(l.Offset))
			}
			continue
		case l.Where == "body":
			at = "body (read decoded: exponent notation, XML text, an encoded part or Content-Encoding)"
		}
		if !slices.Contains(where, at) {
			where = append(where, at)
		}
	}
	if len(bytesAt) > 0 {
		where = append([]string{"body byte " + strings.Join(bytesAt, ", ")}, where...)
	}
	if count == 0 {
		return nil
	}
	status, what := "422", "request"
	if phase == routes.Response {
		status, what = "502", "response"
	}
	found := fmt.Sprintf("%d card number(s) no filter redacted (%s; unless an alias of your vault, which this throw-away vault cannot tell: FPE aliases are Luhn-valid)",
		count, strings.Join(where, "; "))
	switch mode {
	case routes.LeakBlock:
		fmt.Fprintf(e.stderr, "route %s: leak guard (block): %s: the gateway refuses the %s (%s card_data_leak), nothing is forwarded\n", route.ID, found, what, status)
		return fmt.Errorf("route %s: the leak guard refuses the %s (%s card_data_leak)", route.ID, what, status)
	case routes.LeakRedact:
		if unmaskable {
			fmt.Fprintf(e.stderr, "route %s: leak guard (redact): %s: one cannot be masked in place, so the gateway refuses the %s (%s card_data_leak), nothing is forwarded\n", route.ID, found, what, status)
			return fmt.Errorf("route %s: the leak guard refuses the %s (%s card_data_leak)", route.ID, what, status)
		}
		fmt.Fprintf(e.stderr, "route %s: leak guard (redact): %s: the gateway masks them (first 6 and last 4 kept) and adds Aliasgate-Redacted\n", route.ID, found)
		maskLeaks(m, trailer, leaks, made, count)
	default:
		fmt.Fprintf(e.stderr, "route %s: leak guard (log): %s: the gateway logs where they are and forwards the %s as it is\n", route.ID, found, what)
	}
	return nil
}

// maskLeaks masks in m what the gateway's leak guard masks in redact mode
// (proxy/leak.go): the body's card numbers but the aliases the dry run
// made, the values of the headers and trailer fields that hold one, and sets
// Aliasgate-Redacted to count; so stdout shows the message the gateway
// forwards, never the numbers in clear.
func maskLeaks(m *dryrun.Message, trailer http.Header, leaks []proxy.Leak, made map[string]bool, count int) {
	bodyMasked, headersMasked, trailerMasked := false, map[string]bool{}, map[string]bool{}
	for _, l := range leaks {
		switch {
		case made[l.Digits]:
		case l.Where == "body" && !bodyMasked:
			m.Body = pan.MaskExcept(m.Body, func(d string) bool { return made[d] })
			bodyMasked = true
		case l.Where == "header" && !headersMasked[l.Name]:
			for i, v := range m.Header[l.Name] {
				m.Header[l.Name][i] = pan.Mask(v)
			}
			headersMasked[l.Name] = true
		case l.Where == "trailer" && !trailerMasked[l.Name]:
			for i, v := range trailer[l.Name] {
				trailer[l.Name][i] = pan.Mask(v)
			}
			trailerMasked[l.Name] = true
		}
	}
	m.Header.Set(proxy.RedactedHeader, strconv.Itoa(count))
}

// dryRun reveals to a visible placeholder instead of a value, and records
// the aliases it made (dryRunLeakGuard leaves them out).
type dryRun struct {
	*vaulttok.Tokenizer
	made map[string]bool
}

func (d dryRun) Redact(ctx context.Context, items []rewrite.RedactItem) ([]string, error) {
	out, err := d.Tokenizer.Redact(ctx, items)
	for _, a := range out {
		d.made[a] = true
	}
	return out, err
}

func (dryRun) Reveal(_ context.Context, aliases []string) ([]string, error) {
	out := make([]string, len(aliases))
	for i, a := range aliases {
		out[i] = "revealed(" + a + ")"
	}
	return out, nil
}

// dryRunTokenizer returns a tokenizer over a throw-away in-memory vault
// with a random key, so aliases have their real formats.
func dryRunTokenizer(ctx context.Context) (rewrite.Tokenizer, func(), error) {
	p, v := memstore.New(memstore.Options{}), memstore.New(memstore.Options{})
	closeAll := func() { p.Close(); v.Close() }
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		closeAll()
		return nil, nil, err
	}
	kr, err := vault.OpenKeyring(ctx, p, key)
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	svc, err := vault.New(p, v, kr, vault.Options{Env: "dryrun"})
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	return dryRun{vaulttok.New(svc), map[string]bool{}}, closeAll, nil
}
