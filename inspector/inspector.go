// Package inspector is aliasgate's admin inspector: a bounded ring of the
// most recent exchanges through the inbound and outbound proxies (it is the
// proxies' Capturer), and the page and API at /ui/ on the admin listener
// that show them live and build routes from them.
//
// # No card data, ever
//
// Captures are masked when they are taken, on the request's goroutine:
// what the buffer holds, and so everything the page, the API and the event
// stream can serve, was masked before it was stored. Masked are: every
// card number pan.Find finds (13–19 Luhn-valid digits, plain, in groups
// joined by one space, dash, dot or no-break space, full-width, or behind
// JSON, form or XML/HTML escapes: "\u0034111…", "%34111…", "&#52;111…"),
// keeping the first 6 and last 4 digits; every number whose value is a card
// number though its digits are not one, in exponent notation or a fraction
// a parser rounds ("4111111111111111000e-3", "4111111111111110.9", which
// the leak guard counts as card data too: pan.FindExponent), keeping the
// first 6 digits of its mantissa (pan.MaskAll), and in the request line
// (method, host, path) and a view's note also groups of digits apart by
// any other character, as the access line masks them (pan.MaskShown);
// every value a filter
// of the matched route targets (first 6 / last 4 for card-like values, whole
// otherwise: a CVC shows as "***"), a body read by its syntax where its
// Content-Type names another, as the filters read it
// (routes.SniffMediaType: a form sent as text/plain); every value under a key, field, header
// or XML element named like a security code (cvc, cvv, cvv2, cid, csc,
// security_code, …), a credential (password, secret, api_key,
// access_token, Authorization, cookies) or a payment cryptogram
// (cryptogram, cavv, tavv, ucaf, aevv, authentication_value), a form's
// names read as the form locator reads them (rewrite.LenientUnescape:
// "c%u0076c" is cvc, as System.Web reads it; past a leading byte order
// mark, for a route's targets too); a CVC written
// after its name in free text ("CVV: 737"), read without the characters
// shown as nothing, raw or escaped (pan.InvisibleAt: "CVV: 7<U+200B>37",
// "CVV: 7&#x200b;37"), both as written and with the escapes the card-number
// finder reads decoded (pan.CharAt, pan.Classify): digits, separators and
// the letters of the name in any spelling pan reads ("CVV:&emsp;737",
// "CVV: &#55;&#51;&#55;", "cvc\u003a 737", "c%u0076c: %u0037%u0033%u0037",
// full-width digits and letters), every byte of each digit's spelling
// masked; every JSON value
// inside an object so named after a security code or a cryptogram (the
// Card Management API answers {"cryptogram":{"value":…}}); an XML element
// so named as a parser reads it (its text, CDATA sections and what
// comments in it hold: "<cvc><![CDATA[737]]></cvc>", "<cvc>7<!---->37</cvc>";
// the elements inside it and its attributes), read both as XML and as
// HTML reads it ("<!--><cvc>737</cvc>" is a whole comment, then the
// element, to HTML; a <textarea> holds "</cvc>" as text), in a body or in
// a value read as text (a JSON string, a form field), closed or not
// ("<cvc><![CDATA[737]]>"), and an XML
// attribute so named (<card cvc="737"/>); the values of
// proxy.Exchange.Secrets (a network_token filter's cryptogram) wherever a
// view shows them, in the spellings an echo gives them
// (proxy.EchoSpellings). In what the proxy sent on, the
// aliases the exchange's redactions made (proxy.Exchange.Made) are shown
// where an applied redact filter targets; any other value there (one a
// target's query did not select, forwarded as the client sent it) is
// masked as a target.
// Bodies of the vault API and the token endpoint are not kept at all,
// nor the Card Management API's answers (internal:cards, and a route to
// it): a PCI client's hold the PAN, CVC, token PAN and a cryptogram in
// clear, and a cryptogram (base64 under "value") is no card number the
// masks find; it was kept and served in clear. Nor
// are bodies in encodings other than gzip and deflate (the Content-Encoding
// values read as the proxies read them, proxy.ContentEncoding, so a body
// is kept decoded, and previewed, as the gateway's filters read it), binary bodies,
// bodies whose route targets cannot be located in them (a malformed or
// truncated XML or multipart body), and XML or HTML bodies that, read as
// their parser or a browser joins their text (proxy.XMLText: comments,
// processing instructions and CDATA markers dropped, attribute white space
// as spaces), hold a card number after masking ("4111<!---->111111111111":
// no mask can go where the number is not written whole), and bodies the
// leak guard cannot read as their app does (proxy.UnreadableBody: a
// charset that does not spell digits in ASCII, UTF-7 or EBCDIC, in the
// message or a multipart part; an XML body that declares entities or such
// an encoding), and multipart bodies whose parts sent in base64 or
// quoted-printable hold a card number once decoded (proxy.EncodedParts),
// and bodies that, masked, still hold one read in their charset other than
// UTF-8 as the app and the leak guard read them (proxy.CharsetTexts:
// "4111\xa01111…" in windows-1252, a form's "%34%00%31%00…" in UTF-16LE or
// full-width digits "%82%53…" in Shift_JIS), whose card numbers are one
// decoding away. A header value that, masked, holds one read as ISO-8859-1
// (proxy.Latin1Text, as Node, servlets and WSGI read it) is masked whole. Bodies are kept up to a limit (64 KiB by
// default) and marked truncated; a digit run cut by the truncation is
// dropped. The buffer lives in memory only and is never written to disk.
// What a capture takes is bounded by its body, however the body nests: a
// JSON body is pretty-printed only while that keeps it within three times
// its size (else it is shown as written), and a view offers at most 1,000
// fields, none deeper than a route can target (rewrite.MaxDepth) or under
// keys of more than 1 KiB; the masks do work per value independent of its
// depth.
//
// The fields a capture offers to the route builder are named by their
// path or name, shown as they are: a field whose path or name holds a
// card number (a JSON key, a multipart part's name; a gjson path read past
// its escapes too, "4111\.1111\.1111\.1111") is not offered.
//
// Not recognised: a card number split across two JSON strings or form
// fields, written with other separators (slashes, commas, two in a row),
// in other scripts' digits, or escaped twice (see package pan); a CVC
// under a key that does not name it, in a message no route targets it in
// (also one named by a sibling: {"name":"cvc","value":"737"},
// <input name="cvc" value="737">).
//
// # The page and its API
//
// Everything under /ui/ needs the admin token: the login form sets an
// HttpOnly, SameSite=Strict session cookie (12 hours; logout ends it, and
// an event stream it opened with it), and scripts may send
// Authorization: Bearer <token> instead. Tokens are compared in constant
// time (over their SHA-256, so their length does not show), and wrong
// tokens, at the login form or as a bearer token, are locked out per
// remote address (package internal/lockout, the table the admin listener's
// key endpoints use too): a locked-out address gets 429 with Retry-After
// and a JSON:API error, other addresses are not affected. The address is
// the TCP peer; forwarding headers are not trusted. Requests that change
// state (apply) or that run the route engine (propose, preview) must be
// POSTs with the custom header X-Aliasgate-Inspector (which a cross-site
// form cannot send) and, when the browser sends them, an Origin of this
// host and Sec-Fetch-Site same-origin. Every answer carries a strict Content-Security-Policy
// (default-src 'self', no inline script or style), X-Frame-Options: DENY
// and Cache-Control: no-store. The page is plain HTML, CSS and JavaScript
// embedded in the binary; it loads nothing from elsewhere.
//
// # Building a route
//
// Clicking a JSON field, form field or header of a captured request asks
// the server for a proposal: a redact target for that field (the captured
// path with array indexes generalised to #; FPE_SIX_T_FOUR and persistent
// storage for a card number; volatile storage and NUM_LENGTH_PRESERVING for
// a 4-digit CVC, the default UUID format for a 3-digit one, since
// NUM_LENGTH_PRESERVING needs at least 4 digits), added to a filter of the
// captured request's route that matches it, or to a new filter (method,
// exact path and content type of the capture), or to a new route. The
// proposal is the whole routes document, edited as a YAML tree so the
// comments stay. Preview runs it with the engine of `aliasgate routes
// test` and a throw-away vault on the masked capture (masked digits stand
// in as zeros; the clear values are not kept, so they cannot be used). A
// capture whose request body is truncated or withheld is not previewed:
// 422 with body_unavailable ("truncated" or "withheld") and the capture's
// note, since the filters would run on part of the body, or none, where
// the gateway read it whole.
// Apply validates the document, writes it over routes_file atomically after
// copying the current file to routes_file.bak (a routes_file that is a
// symbolic link is written through: the file it names, and its .bak
// beside it; the link stays), and reloads it as a SIGHUP
// would; with inline routes it only hot-loads the set (and says so). Either
// way the change is recorded in the audit log (Options.Applied), with the
// admin as actor; inline routes are not changed when it cannot be.
package inspector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aliasgate/aliasgate/internal/lockout"
	"github.com/aliasgate/aliasgate/internal/pan"
	"github.com/aliasgate/aliasgate/proxy"
	"github.com/aliasgate/aliasgate/routes"
	"github.com/aliasgate/aliasgate/routes/rewrite"
)

// Defaults of Options.
const (
	DefaultSize      = 100
	DefaultBodyLimit = 64 << 10
)

// Options configures New.
type Options struct {
	// Token is the admin token (required).
	Token string
	// Size is the number of exchanges kept; default DefaultSize.
	Size int
	// BodyLimit is the number of bytes kept of each body; default
	// DefaultBodyLimit.
	BodyLimit int
	// Table is the gateway's route table (required): captures are masked
	// with its routes, and apply stores new sets in it when the routes are
	// inline.
	Table *routes.Table
	// RoutesFile is the routes file apply writes; "" when the routes are
	// inline in the configuration.
	RoutesFile string
	// Reload loads RoutesFile into Table (the gateway's reloader), required
	// with RoutesFile.
	Reload func() error
	// InlineRoutes is the YAML of the inline routes (a routes: mapping or
	// the list), used when RoutesFile is "".
	InlineRoutes []byte
	// RouteOptions validates route documents as the gateway loads them.
	RouteOptions routes.Options
	// Applied, when set, records a route set of routes routes that apply
	// puts in force (the audit log's routes_reloaded line with the admin
	// as actor). With inline routes it is called before the set is
	// stored, and when it fails nothing changes (503); with a routes file
	// after the file is written and reloaded, and when it fails the answer
	// is 500 saying the set is in force but was not recorded.
	Applied func(ctx context.Context, routes int) error
	// MaxBody is the gateway's limits.max_body, which previews apply as
	// the gateway does (413 body_too_large); 0: proxy.DefaultMaxBody.
	MaxBody int64
	// PreviewTokenizer returns a throw-away vault for previews and a
	// function that closes it (required).
	PreviewTokenizer func(ctx context.Context) (rewrite.Tokenizer, func(), error)
	// Logger may be nil.
	Logger *slog.Logger
	// Lockout throttles wrong tokens per remote address; share it with
	// the admin listener's key endpoints. nil: a table of its own with
	// lockout's defaults and the clock Now.
	Lockout *lockout.Table
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

// Inspector is the capture buffer and the /ui/ handler. It implements
// proxy.Capturer.
type Inspector struct {
	opts     Options
	buf      *Buffer
	log      *slog.Logger
	sessions *sessions
	lockout  *lockout.Table
	closing  chan struct{}
	once     sync.Once

	applyMu sync.Mutex // serialises apply; guards inline
	inline  []byte
}

var _ proxy.Capturer = (*Inspector)(nil)

// New returns an inspector.
func New(opts Options) (*Inspector, error) {
	switch {
	case opts.Token == "":
		return nil, errors.New("inspector: an admin token is required")
	case opts.Table == nil:
		return nil, errors.New("inspector: a route table is required")
	case opts.PreviewTokenizer == nil:
		return nil, errors.New("inspector: a preview tokenizer is required")
	case opts.RoutesFile != "" && opts.Reload == nil:
		return nil, errors.New("inspector: a routes file needs its reload function")
	}
	if opts.Size <= 0 {
		opts.Size = DefaultSize
	}
	if opts.BodyLimit <= 0 {
		opts.BodyLimit = DefaultBodyLimit
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Lockout == nil {
		opts.Lockout = lockout.New(lockout.Options{Now: opts.Now})
	}
	return &Inspector{
		opts: opts, buf: NewBuffer(opts.Size), log: opts.Logger,
		sessions: newSessions(opts.Now), lockout: opts.Lockout,
		closing: make(chan struct{}), inline: opts.InlineRoutes,
	}, nil
}

// Buffer returns the capture buffer.
func (i *Inspector) Buffer() *Buffer { return i.buf }

// Close ends the event streams (call it before shutting the admin listener
// down: a stream never goes idle).
func (i *Inspector) Close() {
	i.once.Do(func() {
		close(i.closing)
		i.buf.Close()
	})
}

// CaptureLimit implements proxy.Capturer.
func (i *Inspector) CaptureLimit() int { return i.opts.BodyLimit }

// Capture implements proxy.Capturer: it masks the exchange and adds it to
// the buffer. A failure to mask loses the capture, never the request.
func (i *Inspector) Capture(x *proxy.Exchange) {
	defer func() {
		if v := recover(); v != nil {
			i.log.Error("inspector: capture failed; the exchange is not kept", "panic", fmt.Sprintf("%T", v))
		}
	}()
	i.buf.Add(i.entry(x))
}

// entry masks x.
func (i *Inspector) entry(x *proxy.Exchange) *Entry {
	applied := make(map[string]bool, len(x.Filters))
	for _, f := range x.Filters {
		applied[f] = true
	}
	made := make(map[string]bool, len(x.Made))
	for _, a := range x.Made {
		made[a] = true
	}
	none := newRules("", nil, routes.Request, nil, false, nil)
	// The request line as the access line writes it (pan.MaskShown):
	// digit groups apart by '_', '/' or a tab are a card number to whoever
	// reads the list.
	method, host, path := pan.MaskShown(x.Method), pan.MaskShown(x.Host), pan.MaskShown(x.Path)
	query, _ := maskForm(x.RawQuery, none, false)
	e := &Entry{
		Time: x.Start, Direction: string(x.Direction), Method: method, Host: host, Path: path, Query: query,
		Route: x.RouteName, Filters: x.Filters, Status: x.Status,
		DurationMS: millis(x.Duration), VaultMS: millis(x.Vault), UpstreamMS: millis(x.Upstream),
	}
	if e.Filters == nil {
		e.Filters = []string{}
	}
	o := viewOptions{limit: i.opts.BodyLimit}
	view := func(s proxy.Snapshot, r *rules, fields bool) *View {
		if !s.Seen {
			return nil
		}
		o.fields = fields
		return makeView(s.Header, s.Body, s.Partial, r, o)
	}
	e.Request.Received = view(x.Request.Received, newRules(x.RouteName, x.Route, routes.Request, nil, false, nil), true)
	e.Request.Sent = view(x.Request.Sent, newRules(x.RouteName, x.Route, routes.Request, applied, true, made), false)
	e.Response.Received = view(x.Response.Received, newRules(x.RouteName, x.Route, routes.Response, nil, false, nil), false)
	e.Response.Sent = view(x.Response.Sent, newRules(x.RouteName, x.Route, routes.Response, applied, true, made), false)
	if len(x.Secrets) > 0 {
		var spellings []string
		for _, s := range x.Secrets {
			spellings = append(spellings, proxy.EchoSpellings(s)...)
		}
		for _, v := range []*View{e.Request.Received, e.Request.Sent, e.Response.Received, e.Response.Sent} {
			v.maskSecrets(spellings)
		}
	}
	return e
}

func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
