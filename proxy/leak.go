package proxy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aliasgate/aliasgate/internal/jsonapi"
	"github.com/aliasgate/aliasgate/internal/pan"
	"github.com/aliasgate/aliasgate/routes"
	"github.com/aliasgate/aliasgate/vault"
)

// The leak guard: what leaves the gateway on a route whose guard is on is
// scanned for card numbers that no filter redacted, with the one finder of
// internal/pan (every spelling it knows: groups, full-width digits, JSON,
// percent and HTML escapes). Scanned: the whole body of any media type,
// after the Content-Encoding is decoded (UTF-16 and UTF-32 text is read
// with its NUL bytes dropped; a body in another ASCII-superset charset,
// ISO 8859, a Windows code page, Shift_JIS, EUC, GBK, Big5…, is read as
// it is and decoded to UTF-8 too, in every such charset its Content-Type
// names or it declares (XML declaration, HTML meta), where its no-break spaces, dashes and full-width digits are the
// ones pan reads: legacyTexts; one in a charset without a decoder is
// unreadable: legacyCharsets; a body in a charset other than UTF-8 is also
// read percent-decoded in it, as form decoders that honour the charset read
// it: percentTexts), every header (cookies included) and the
// trailers; for requests also the method, the Host, the path and the query
// string. The parts of a multipart body sent in quoted-printable or base64
// are scanned decoded too (base64 as Python reads it: lenientBase64), and a part in a legacy charset of its own read
// in it (encodedParts, with each boundary an app may
// read: multipartBoundaries), an XML body's text as a parser joins it
// across comments, processing instructions and CDATA markers (XMLText),
// and numbers in exponent notation, in the body as in its XML text and its
// decoded parts (leakScan.decoded), as the integers they spell
// (pan.FindExponent, escaped 'e' and sign included); header and trailer
// values and a request's target are also read base64-decoded
// (pan.FindBase64String: a cookie session, a JWT, a state parameter), and
// header and trailer values holding a byte past ASCII as ISO-8859-1
// (Latin1Text: as Node, servlets and WSGI hand them to the app); a
// card number found there cannot be masked, so redact refuses it.
// A body the guard cannot read (over max_body, an encoding it cannot
// decode) is refused in block mode and logged in log mode.
//
// A number found is not card data when it is an alias: one this exchange's
// filters just made, or one the vault reports (Known) as a live alias. A
// number the vault holds as a persistent value is card data even when an
// alias with the same digits exists (an FPE alias is Luhn-valid like a
// PAN), so flooding the vault with aliases cannot make a stored card
// number pass.

// maxKnownCandidates bounds the distinct numbers of one message the guard
// asks the vault about; maxFound the candidates it keeps from one body (a
// body of "1 2 3 …" holds dozens of times its size in overlapping
// windows): past it the body counts as holding card data.
const (
	maxKnownCandidates = 1000
	maxFound           = 100000
)

// maxBoundaries bounds the multipart boundaries the guard decodes a body's
// parts with (multipartBoundaries, of every Content-Type header): a
// request naming more is unreadable.
const maxBoundaries = 4

// leakHit is one card number found, and where.
type leakHit struct {
	where  string // body, url, header, trailer
	offset int    // in the body; -1 elsewhere (and in an encoded part)
	// encoded: found in a multipart part once its Content-Transfer-Encoding
	// was decoded (encodedParts); it cannot be masked in place.
	encoded bool
	digits  string
	h       http.Header // header, trailer: the map holding it
	key     string      // header, trailer: its name
	vi      int         // header, trailer: the value's index; -1: the name
}

// RedactedHeader is set on a message whose card numbers the leak guard
// masked (redact mode); its value is how many it masked.
const RedactedHeader = "Aliasgate-Redacted"

// leakGuard counts and logs the card numbers no filter redacted (route,
// location and body offsets; never the digits) and applies mode: block
// refuses the message, redact masks them (the masked body is returned; nil
// when the body is unchanged) and refuses what it cannot mask (a body it
// cannot read, a URL), log and off let the message go.
func (p *pipeline) leakGuard(ctx context.Context, st *reqState, phase routes.Phase, mode routes.LeakGuard, msg *message, body []byte, hasBody bool, bodyErr error) ([]byte, *jsonapi.Error) {
	block := mode == routes.LeakBlock || mode == routes.LeakRedact // what cannot be read is refused
	action := string(mode)
	var hitBuf [4]leakHit // the usual few hits (the aliases just made) without an allocation
	var sc leakScan
	sc.hits, sc.made = hitBuf[:0], st.made
	if hasBody {
		if body == nil {
			if jerr := p.unreadable(ctx, st, phase, action, block, bodyErr); jerr != nil {
				return nil, jerr
			}
		} else {
			sc = sc.body(body, msg.boundaries, msg.header["Content-Type"])
			for _, err := range sc.unreadable {
				if jerr := p.unreadable(ctx, st, phase, action, block, err); jerr != nil {
					return nil, jerr
				}
			}
		}
	}
	sc = sc.target(msg.target).header("header", msg.header)
	if msg.trailer != nil {
		sc = sc.header("trailer", *msg.trailer)
	}
	hits := sc.hits
	if len(hits) == 0 {
		return nil, nil
	}
	// keep tells the aliases among the numbers of the body: nil keeps
	// none (overflow: see cardData).
	var keep func(digits string) bool
	if !sc.overflow && onlyMade(hits, st.made) { // the usual case: the aliases the filters just made
		return nil, nil
	}
	asked := guesses(sc, hits, st.made)
	missKey, jerr := p.missCheck(ctx, phase, mode, asked)
	if jerr != nil {
		return nil, jerr
	}
	if !sc.overflow {
		isAlias, answered, jerr := p.aliases(ctx, st, phase, mode, hits)
		if missKey != "" && (jerr != nil || !answered) {
			// The vault told nothing: the answer does not depend on what
			// the numbers are (refused, or all masked).
			p.misses.Give(missKey, asked)
			missKey = ""
		}
		if jerr != nil {
			return nil, jerr
		}
		keep = isAlias
	}
	found := sc.cardData(keep)
	if missKey != "" {
		// The aliases among what was asked were no guess.
		p.misses.Give(missKey, asked-min(asked, guesses(sc, found, nil)))
	}
	if len(found) == 0 {
		return nil, nil
	}
	var offsets []int
	if !sc.overflow {
		for _, h := range found {
			if h.offset >= 0 {
				offsets = append(offsets, h.offset)
			}
		}
	}
	var where []string
	for _, h := range found {
		if !slices.Contains(where, h.where) {
			where = append(where, h.where)
		}
	}
	jerr = p.leaks(ctx, st, phase, mode, len(found), where, offsets)
	if mode != routes.LeakRedact {
		return nil, jerr
	}
	if sc.refuses(mode, found) {
		// A URL cannot be masked in place, nor a body read without its
		// NUL bytes, nor a part read decoded: refused.
		return nil, refusal(phase, "card_data_leak")
	}
	var out []byte
	for _, h := range found {
		switch h.where {
		case "body":
			if out == nil {
				out = pan.MaskExcept(body, keep)
			}
		case "header", "trailer":
			if h.vi < 0 {
				return nil, refusal(phase, "card_data_leak") // a header name
			}
			h.h[h.key][h.vi] = pan.Mask(h.h[h.key][h.vi])
		}
	}
	msg.header.Set(RedactedHeader, strconv.Itoa(len(found)))
	return out, nil
}

// missCheck takes the n guesses of a request whose guard found card-like
// numbers this exchange's filters did not make from its source's budget
// (its source, an IPv6 address by its /64: budgetSource;
// InboundOptions.Misses) before the vault is asked about them, and
// returns the key to give back under what proves to be aliases; or the
// request's refusal while the budget does not hold them (min(n, burst):
// MissBudget.Charge): 429 too_many_unknown_numbers with Retry-After,
// whatever the numbers are. Taken before, not charged after: requests
// sent together all passed a check made before any was charged, and a
// wave over the listener's connections had all its candidates answered
// before the first debt. "" and nil when nothing is bounded: no budget,
// the response phase, or a guard that only logs (its answer does not
// depend on what the numbers are).
func (p *pipeline) missCheck(ctx context.Context, phase routes.Phase, mode routes.LeakGuard, n int) (string, *jsonapi.Error) {
	if p.misses == nil || phase != routes.Request || mode != routes.LeakBlock && mode != routes.LeakRedact {
		return "", nil
	}
	key := budgetSource(ctx) // an IPv6 sender by its /64
	if ok, wait, _ := p.misses.Charge(key, n); !ok {
		p.log.LogAttrs(ctx, slog.LevelWarn, "proxy: the sender sent too many card-like numbers that are no alias; refused",
			slog.String("route", vault.ActorFrom(ctx).Route))
		jerr := refusal(phase, "too_many_unknown_numbers")
		jerr.RetryAfter = max(wait, time.Second)
		return "", jerr
	}
	return key, nil
}

// guesses is what the hits of sc cost their source's budget
// (InboundOptions.Misses), leaving out the numbers made (this exchange's
// aliases): each distinct number the vault is asked about, at most
// maxKnownCandidates (one request holding many candidates is a guess at
// each: a masking route forwards a live alias among them unmasked); one
// when the body held more candidates than the guard reads (overflow:
// nothing is asked, every number counts as card data, whatever it is).
// The guard takes it before it asks the vault and gives back what the
// vault holds as aliases (leakGuard).
func guesses(sc leakScan, hits []leakHit, made []string) int {
	if sc.overflow {
		return 1
	}
	seen := make(map[string]bool, len(hits)+len(made))
	for _, a := range made {
		seen[a] = false // not a guess
	}
	n := 0
	for _, h := range hits {
		if _, ok := seen[h.digits]; !ok {
			seen[h.digits] = true
			n++
		}
	}
	return min(n, maxKnownCandidates)
}

// cardData returns the hits of sc that are card data: those keep does not
// tell as aliases (nil keeps none), or, past maxFound candidates
// (overflow), every hit whatever the vault says (the body is then masked
// whole). The leak guard (leakGuard) and the dry runs (GuardAnswer) judge
// by it.
func (sc leakScan) cardData(keep func(digits string) bool) []leakHit {
	if sc.overflow || keep == nil {
		return sc.hits
	}
	var found []leakHit
	for _, h := range sc.hits {
		if !keep(h.digits) {
			found = append(found, h)
		}
	}
	return found
}

// maskable reports whether leak_guard: redact can mask h in place: not in
// the URL, not a header's name, not a part read decoded or a number in
// exponent notation (encoded), not in a body read without its NUL bytes
// (Leak.Maskable).
func (sc leakScan) maskable(h leakHit) bool {
	return !h.encoded && h.where != "url" && !(h.where == "body" && sc.nulBody) && !(h.h != nil && h.vi < 0)
}

// refuses is the leak guard's rule on the card data found in a message
// (cardData) in mode: block refuses any; redact refuses the message when
// one of them cannot be masked in place (maskable) or the decoded parts
// held more candidates than were read (encOverflow), and masks the rest;
// log refuses nothing. The gateway (leakGuard) and the dry runs
// (GuardAnswer) answer by it.
func (sc leakScan) refuses(mode routes.LeakGuard, found []leakHit) bool {
	switch {
	case len(found) == 0:
		return false
	case mode == routes.LeakBlock:
		return true
	case mode == routes.LeakRedact:
		return sc.encOverflow || slices.ContainsFunc(found, func(h leakHit) bool { return !sc.maskable(h) })
	}
	return false
}

// aliases asks the vault which of the numbers of hits are aliases (besides
// those this exchange's filters made, st.made) and returns the test: a
// number it is not asked about (past maxKnownCandidates) or cannot answer
// for is card data; answered is false when the vault answered for none
// (every number then counts as card data, whatever it is). It refuses in
// block mode when the vault cannot be asked.
func (p *pipeline) aliases(ctx context.Context, st *reqState, phase routes.Phase, mode routes.LeakGuard, hits []leakHit) (keep func(digits string) bool, answered bool, jerr *jsonapi.Error) {
	made := make(map[string]struct{}, len(st.made))
	for _, a := range st.made {
		made[a] = struct{}{}
	}
	idx := make(map[string]int, len(hits))
	list := make([]string, 0, len(hits))
	for _, h := range hits {
		if _, ok := idx[h.digits]; ok {
			continue
		}
		if _, ok := made[h.digits]; !ok {
			idx[h.digits] = len(list)
			list = append(list, h.digits)
		}
	}
	var got []vault.Presence
	answered = true
	if len(list) > 0 {
		// A body can hold hundreds of thousands of card-like numbers;
		// the vault is asked about the first maxKnownCandidates distinct
		// ones, and the rest count as card data (refused in block
		// mode), so no request costs the vault more than one bounded
		// batch.
		ask := list
		if len(ask) > maxKnownCandidates {
			ask = ask[:maxKnownCandidates]
		}
		var err error
		if got, err = p.knownAliases(ctx, ask); err != nil {
			p.log.LogAttrs(ctx, slog.LevelWarn, "proxy: leak guard could not check candidates against the vault",
				slog.String("route", st.route.ID), slog.String("phase", string(phase)), slog.Int("candidates", len(list)),
				slog.String("error", err.Error()))
			if mode == routes.LeakBlock {
				return nil, false, refusal(phase, "vault_unavailable")
			}
			if len(got) != len(ask) {
				got, answered = nil, false // count every candidate (redact masks them all)
			}
			// Else the answers the vault could give (vault.Known: the
			// persistent store's while the volatile one is away): an
			// alias it knows is kept, the others count as card data.
		}
	}
	if len(got) < len(list) {
		got = append(got, make([]vault.Presence, len(list)-len(got))...) // PresenceUnknown
	}
	return func(d string) bool {
		if _, ok := made[d]; ok {
			return true
		}
		i, ok := idx[d]
		return ok && got[i] == vault.PresenceAlias
	}, answered, nil
}

// Leak is one card number the leak guard finds in a message (FindLeaks).
type Leak struct {
	// Where is body, url (a request's method, Host, path or query),
	// header or trailer.
	Where string
	// Name is the header's (or trailer field's) name.
	Name string
	// Offset is the number's byte offset in the body as sent; -1 where it
	// is not spelled whole there (a multipart part read decoded, exponent
	// notation, XML text joined across markup, a body read decoded from
	// its Content-Encoding or without its NUL bytes) and outside the body.
	Offset int
	// Digits are the card number's digits.
	Digits string
	// Maskable: leak_guard: redact can mask the number in place; it
	// refuses a message with one it cannot (in the URL, a header's name,
	// a part read decoded, exponent notation, XML text joined, a body read
	// without its NUL bytes).
	Maskable bool
}

// FindLeaks returns the card numbers the leak guard of a route finds in a
// message, read as the gateway's guard reads it (leakScan): header,
// trailer (nil: none) and body as they would leave the gateway (the body
// is decoded from its Content-Encoding, within max bytes), and for a
// request (r not nil) its method, Host, path and query. unreadable lists, by the error code the
// gateway would answer with (body_unreadable, unsupported_charset,
// unsupported_content_encoding, malformed_body, body_too_large…), what
// the guard could not read; a guard in block or redact mode refuses such
// a message. It does not ask a vault whether a number is an alias: that is
// the caller's to tell. `aliasgate routes test` reports what it returns.
func FindLeaks(r *http.Request, header, trailer http.Header, body []byte, max int64) (leaks []Leak, unreadable []string) {
	sc, decoded, unreadable := scanMessage(r, header, trailer, body, max)
	for _, h := range sc.hits {
		l := Leak{Where: h.where, Name: h.key, Offset: h.offset, Digits: h.digits, Maskable: sc.maskable(h)}
		if decoded || sc.nulBody {
			l.Offset = -1
		}
		leaks = append(leaks, l)
	}
	return leaks, unreadable
}

// scanMessage reads a message as FindLeaks says: what the guard finds,
// whether the body was decoded from its Content-Encoding, and the codes of
// what it could not read.
func scanMessage(r *http.Request, header, trailer http.Header, body []byte, max int64) (sc leakScan, decoded bool, unreadable []string) {
	if len(body) > 0 {
		enc, err := contentEncoding(header.Values("Content-Encoding"))
		b := body
		if err == nil {
			b, err = decodeBody(enc, body, max)
			decoded = enc != ""
		}
		if err == nil {
			err = UnreadableBody(header["Content-Type"], b)
		}
		if err != nil {
			unreadable = append(unreadable, reason(err))
		} else {
			mt, params := parseMediaType(header.Get("Content-Type"))
			sc = sc.body(b, multipartBoundaries(mt, params["boundary"], header["Content-Type"]), header["Content-Type"])
			for _, err := range sc.unreadable {
				why := "body_unreadable"
				if err != nil {
					why = reason(err)
				}
				unreadable = append(unreadable, why)
			}
		}
	}
	if r != nil {
		sc = sc.target(guardTarget(r))
	}
	sc = sc.header("header", header)
	if trailer != nil {
		sc = sc.header("trailer", trailer)
	}
	return sc, decoded, unreadable
}

// GuardAnswer returns the answer of a leak guard in mode (the route's
// leak_guard, or redact where the gateway masks whatever it says) to a
// message of phase, read as FindLeaks reads it, leaving out the numbers
// made reports (the aliases a dry run made, which its throw-away vault
// knows and the gateway's would): the status and code of its refusal, or 0
// and "" when the message goes on (logged, or masked in place). Block and
// redact refuse a body they cannot read, with its reason; then the guard's
// own rule (leakScan.cardData and refuses, which leakGuard applies):
// block refuses any card number (card_data_leak), redact one it cannot
// mask in place (in the URL, a header's name, a part read decoded...).
// The dry runs (routes/dryrun, through GatewayRules) answer by it.
func GuardAnswer(phase routes.Phase, mode routes.LeakGuard, r *http.Request, header, trailer http.Header, body []byte, max int64, made func(digits string) bool) (int, string) {
	if mode != routes.LeakBlock && mode != routes.LeakRedact {
		return 0, ""
	}
	sc, _, unreadable := scanMessage(r, header, trailer, body, max)
	if len(unreadable) > 0 {
		e := refusal(phase, unreadable[0])
		return e.Status, e.Objects[0].Code
	}
	if sc.refuses(mode, sc.cardData(made)) {
		e := refusal(phase, "card_data_leak")
		return e.Status, e.Objects[0].Code
	}
	return 0, ""
}

// leakScan is what the leak guard reads in one message: every card number
// found, and where (the rule of the package comment above). The guard
// decides what to do with it (leakGuard); `aliasgate routes test` reports
// it (FindLeaks).
type leakScan struct {
	hits []leakHit
	// overflow: more candidates than maxFound, card data whatever the
	// vault says; encOverflow: in the decoded parts, which masking cannot
	// reach.
	overflow, encOverflow bool
	// nulBody: the body was read without its NUL bytes (UTF-16, UTF-32),
	// so its offsets are not the body's.
	nulBody bool
	// unreadable holds why a part of the body could not be read, in the
	// order found (nil: no reason known); the guard refuses the message
	// in block and redact modes.
	unreadable []error
	// made are the aliases the exchange's filters made (reqState.made):
	// the body's numbers that are one of them take its string (madeDigits).
	made []string
}

// madeDigits returns c's digits: the string of the alias in made they
// spell, when there is one among the few (onlyMade's bound), else a new
// string. A redacted message's body holds the aliases its filters just
// made (the usual hits): their digits were copied into a string each time
// the body was read.
func (sc leakScan) madeDigits(c pan.Candidate) string {
	if len(sc.made) <= 64 {
		var buf [pan.MaxLen]byte
		d := c.AppendDigits(buf[:0])
		for _, a := range sc.made {
			if string(d) == a {
				return a
			}
		}
	}
	return c.Digits()
}

// body reads a decoded body: as it is, its numbers in exponent notation,
// an XML body's text as a parser joins it, the body in UTF-8 when its
// Content-Type (contentTypes) names another ASCII-superset charset
// (legacyTexts), and the parts of a multipart body (boundaries,
// multipartBoundaries) sent quoted-printable or base64.
func (sc leakScan) body(body []byte, boundaries, contentTypes []string) leakScan {
	b := body
	if bytes.IndexByte(body, 0) >= 0 {
		sc.nulBody, b = true, dropNUL(body)
	}
	cs, more, nums := pan.FindAll(b, maxFound) // FindMax and FindExponent in one pass
	for _, c := range cs {
		off := c.Start
		if sc.nulBody {
			off = -1
		}
		sc.hits = append(sc.hits, leakHit{where: "body", offset: off, digits: sc.madeDigits(c)})
	}
	sc.overflow = more
	for _, d := range nums {
		sc.hits = append(sc.hits, leakHit{where: "body", offset: -1, digits: d, encoded: true})
	}
	if x := XMLText(b); x != nil && !sc.overflow {
		// XML text a parser joins across comments, processing
		// instructions and CDATA markers: what it finds that the body
		// does not spell whole cannot be masked.
		sc = sc.decoded(x, true)
	}
	for u := range CharsetTexts(contentTypes, b) {
		if sc.overflow {
			break
		}
		// A body in a charset other than UTF-8 read in it: a card number
		// spelled with its no-break spaces, dashes or full-width digits
		// (legacyTexts), or in a form's escapes read in it (percentTexts),
		// cannot be masked in the body's own bytes.
		sc = sc.decoded(u, true)
	}
	if len(boundaries) == 0 || sc.overflow {
		return sc
	}
	dec, tooMany, unreadable := decodeParts(b, boundaries)
	if tooMany {
		// More ways to read the parts than the guard reads a body:
		// unreadable.
		sc.unreadable = append(sc.unreadable, nil)
	}
	if unreadable {
		// A part in a charset that does not spell digits in ASCII: read
		// as a body in one.
		sc.unreadable = append(sc.unreadable, errCharset)
	}
	if dec != nil {
		sc = sc.decoded(dec, false)
	}
	return sc
}

// decoded reads text the body holds only once decoded (an XML body's text
// as a parser joins it, the decoded multipart parts) as the body is read:
// card numbers in digits (pan.FindMax) and numbers in exponent notation or
// fractions whose value is one (pan.FindExponent: "41111111<!---->11111111000e-3"
// is 4111111111111111000e-3 to the parser, and so is that number in a
// base64 part to the app), both in one pass (pan.FindAll). Each is a hit that cannot be masked (encoded);
// with dedup, one the body's own reading already found is not added again.
func (sc leakScan) decoded(text []byte, dedup bool) leakScan {
	cs, more, nums := pan.FindAll(text, maxFound)
	var seen map[string]bool
	if dedup && len(cs)+len(nums) > 0 {
		seen = make(map[string]bool, len(sc.hits))
		for _, h := range sc.hits {
			seen[h.digits] = true
		}
	}
	add := func(d string) {
		if seen != nil {
			if seen[d] {
				return
			}
			seen[d] = true
		}
		sc.hits = append(sc.hits, leakHit{where: "body", offset: -1, digits: d, encoded: true})
	}
	for _, c := range cs {
		add(c.Digits())
	}
	for _, d := range nums {
		add(d)
	}
	sc.overflow, sc.encOverflow = more, more
	return sc
}

// target reads a request's method, Host, path and query (message.target).
func (sc leakScan) target(t string) leakScan {
	if t == "" {
		return sc
	}
	for _, c := range pan.FindString(t) {
		sc.hits = append(sc.hits, leakHit{where: "url", offset: -1, digits: c.Digits()})
	}
	for _, d := range pan.FindExponentString(t) {
		sc.hits = append(sc.hits, leakHit{where: "url", offset: -1, digits: d})
	}
	for _, d := range pan.FindBase64String(t) {
		sc.hits = append(sc.hits, leakHit{where: "url", offset: -1, digits: d, encoded: true})
	}
	return sc
}

// header reads the names and values of h (where: header or trailer).
func (sc leakScan) header(where string, h http.Header) leakScan {
	for k, vs := range h {
		for _, c := range pan.FindString(k) {
			sc.hits = append(sc.hits, leakHit{where: where, offset: -1, digits: c.Digits(), h: h, key: k, vi: -1})
		}
		for i, v := range vs {
			for _, c := range pan.FindString(v) {
				sc.hits = append(sc.hits, leakHit{where: where, offset: -1, digits: c.Digits(), h: h, key: k, vi: i})
			}
			if pan.MayHoldNumber(v) { // an escaped e too; '.': a fraction that rounds to a card number
				for _, d := range pan.FindExponentString(v) {
					sc.hits = append(sc.hits, leakHit{where: where, offset: -1, digits: d, h: h, key: k, vi: i, encoded: true})
				}
			}
			// base64 (a cookie session, a JWT, a state parameter): a
			// client decodes it in one step.
			for _, d := range pan.FindBase64String(v) {
				sc.hits = append(sc.hits, leakHit{where: where, offset: -1, digits: d, h: h, key: k, vi: i, encoded: true})
			}
			// ISO-8859-1, as most servers but Go's hand it to the app:
			// what only that reading finds cannot be masked in place.
			if u := Latin1Text(v); u != nil {
				plain := pan.FindString(v)
				for _, c := range pan.Find(u) {
					if d := c.Digits(); !slices.ContainsFunc(plain, func(p pan.Candidate) bool { return p.Digits() == d }) {
						sc.hits = append(sc.hits, leakHit{where: where, offset: -1, digits: d, h: h, key: k, vi: i, encoded: true})
					}
				}
			}
		}
	}
	return sc
}

// unreadable logs a body the guard cannot read (why: bodyErr, nil when
// unknown) and returns its refusal when the guard refuses what it cannot
// read (block); nil otherwise.
func (p *pipeline) unreadable(ctx context.Context, st *reqState, phase routes.Phase, action string, block bool, bodyErr error) *jsonapi.Error {
	why := "unreadable"
	if bodyErr != nil {
		why = reason(bodyErr)
	}
	p.log.LogAttrs(ctx, slog.LevelWarn, "proxy: leak guard could not read the body",
		slog.String("route", st.route.ID), slog.String("phase", string(phase)), slog.String("action", action), slog.String("reason", why))
	if !block {
		return nil
	}
	if bodyErr == nil {
		return refusal(phase, "body_unreadable")
	}
	return refusal(phase, reason(bodyErr))
}

// EncodedParts returns what the leak guard reads of a body beyond its
// bytes when its message (Content-Type values cts) is multipart: the
// content of the parts sent in quoted-printable or base64, decoded, and of
// those in a legacy charset of their own read in it (legacyTexts), with
// every boundary an app may take (multipartBoundaries, at most
// maxBoundaries of them), one part a line (nil when there is none); and
// whether a part names a charset the guard cannot read. The inspector
// withholds a body whose decoded parts hold a card number, or whose part
// is unreadable, as the guard refuses it in block and redact modes.
func EncodedParts(cts []string, body []byte) (decoded []byte, unreadable bool) {
	if len(cts) == 0 {
		return nil, false
	}
	mt, params := parseMediaType(cts[0]) // as the phases read it
	decoded, tooMany, unreadable := decodeParts(body, multipartBoundaries(mt, params["boundary"], cts))
	return decoded, unreadable || tooMany
}

// decodeParts returns the content of the parts of body sent in
// quoted-printable or base64 with each of boundaries (encodedParts), one
// part a line; tooMany when there are more than maxBoundaries boundaries
// (each costs a pass over the body: the first maxBoundaries are read), and
// unreadable when a part names a charset the guard cannot read.
func decodeParts(body []byte, boundaries []string) (decoded []byte, tooMany, unreadable bool) {
	if len(boundaries) > maxBoundaries {
		tooMany, boundaries = true, boundaries[:maxBoundaries]
	}
	for _, b := range boundaries {
		dec, u := encodedParts(body, b)
		decoded, unreadable = append(decoded, dec...), unreadable || u
	}
	return decoded, tooMany, unreadable
}

// encodedParts returns the content of the parts of a multipart body (with
// that boundary) that are sent in a Content-Transfer-Encoding of
// quoted-printable or base64, decoded, one part a line; nil when there is
// none. Parsers decode them: Go's mime/multipart (Request.ParseMultipartForm,
// FormValue) reads a quoted-printable part decoded, so "=34=31…" is a card
// number to the app, and the finder reads no such escape. A part whose
// Content-Type names a legacy charset (legacyCharsets) is also given read
// in it, as it is and decoded (appendLegacy): parsers that honour it
// (Apache Commons FileUpload, Spring) read its no-break spaces and
// full-width digits. unreadable reports a part whose Content-Type names a
// charset that is not a superset of ASCII (asciiCharset) nor UTF-16/32,
// or one legacyCharsets cannot read (no decoder, more than maxCharsets). A body that does not
// parse as multipart gives the parts before the fault (the raw body is
// scanned whole all the same).
func encodedParts(body []byte, boundary string) (out []byte, unreadable bool) {
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	// One buffer for every part's raw content, and one bufio.Reader that
	// quotedprintable.NewReader takes as it is (it wraps any other reader
	// in a new one of 4 KiB): a body of many small parts costs no
	// allocation a part for them.
	var raw, b64 []byte
	var src bytes.Reader
	br := bufio.NewReaderSize(&src, 4096)
	for {
		part, err := mr.NextRawPart()
		if err != nil {
			return out, unreadable
		}
		cts := part.Header.Values("Content-Type")
		if slices.ContainsFunc(cts, unreadableCharset) {
			unreadable = true
		}
		// A part in a legacy charset of its own is read in it too, as it
		// is and decoded from its Content-Transfer-Encoding (legacyTexts).
		charset := slices.ContainsFunc(cts, func(ct string) bool { return len(lenientParams(ct, "charset")) > 0 })
		if charset {
			if raw, err = appendAll(raw[:0], part); err != nil && len(raw) == 0 {
				continue
			}
			out, unreadable = appendLegacy(out, cts, raw, unreadable)
		}
		read := charset
		// Every encoding the part names, each on its whole content: parsers
		// differ on which of two headers counts.
		for _, cte := range part.Header.Values("Content-Transfer-Encoding") {
			var r io.Reader
			switch strings.ToLower(strings.TrimSpace(cte)) {
			case "quoted-printable", "base64":
			default:
				continue
			}
			if !read {
				read = true
				if raw, err = appendAll(raw[:0], part); err != nil && len(raw) == 0 {
					break
				}
			}
			if strings.EqualFold(strings.TrimSpace(cte), "base64") {
				b64 = lenientBase64(b64[:0], raw)
				src.Reset(b64)
				r = base64.NewDecoder(base64.StdEncoding, &src)
			} else {
				src.Reset(raw)
				br.Reset(&src)
				r = quotedprintable.NewReader(br)
			}
			// What a decoder gives before an error is what a lenient app
			// reads: kept. Decoding never makes a part longer.
			start := len(out)
			out, _ = appendAll(out, r)
			if charset {
				dec := slices.Clone(out[start:])
				out, unreadable = appendLegacy(append(out, '\n'), cts, dec, unreadable)
			}
			out = append(out, '\n')
		}
	}
}

// lenientBase64 appends to dst the base64 text of src as Python's
// base64.b64decode reads it (Django's multipart parser decodes a base64
// part with it; python-multipart likewise): every byte outside the
// alphabet dropped (line breaks, spaces, tabs, '*', the URL-safe '-' and
// '_'), a '=' kept only where it completes a quad's padding, after which
// nothing more is read. "NDEx MTEx …" is then a card number to the app, and
// to the guard. Text that is base64 as Go's decoder reads it (line breaks
// ignored) is read the same; what Python refuses (a last quad cut short),
// Django reads as it was sent, which the guard reads anyway.
func lenientBase64(dst, src []byte) []byte {
	quad, pads := 0, 0
	for _, c := range src {
		switch {
		case 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/':
			dst = append(dst, c)
			quad, pads = (quad+1)%4, 0
		case c == '=' && quad >= 2:
			if pads++; quad+pads == 4 {
				return append(dst, "=="[:pads]...)
			}
		}
	}
	return dst
}

// appendLegacy appends to out the readings of a part's content in the
// legacy charsets its Content-Type values name (legacyTexts), one a line,
// and returns whether the part is unreadable (unreadable, or its charset
// one legacyCharsets cannot read).
func appendLegacy(out []byte, cts []string, content []byte, unreadable bool) ([]byte, bool) {
	if _, u := legacyCharsets(cts, content); u {
		return out, true
	}
	for u := range legacyTexts(cts, content) {
		out = append(append(out, u...), '\n')
	}
	return out, unreadable
}

// appendAll appends what r reads, up to its end or an error, to dst.
func appendAll(dst []byte, r io.Reader) ([]byte, error) {
	for {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		n, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

// onlyMade reports whether every hit is one of made (the aliases this
// exchange's filters made), comparing them one by one when both are short,
// which spares the maps of the general case; false when they are not
// short, and the maps decide.
func onlyMade(hits []leakHit, made []string) bool {
	if len(made) == 0 || len(hits)*len(made) > 64 {
		return false
	}
	for _, h := range hits {
		if !slices.Contains(made, h.digits) {
			return false
		}
	}
	return true
}

// leaks counts and logs count card numbers found (never the digits) and
// returns the refusal when the route blocks.
func (p *pipeline) leaks(ctx context.Context, st *reqState, phase routes.Phase, mode routes.LeakGuard, count int, where []string, offsets []int) *jsonapi.Error {
	action := string(mode)
	if p.m != nil {
		p.m.LeakGuardHits.WithLabelValues(st.route.ID, action).Add(float64(count))
	}
	attrs := []slog.Attr{slog.String("route", st.route.ID), slog.String("phase", string(phase)), slog.String("action", action),
		slog.Int("count", count), slog.Any("where", where)}
	if len(offsets) > 0 {
		if len(offsets) > 100 {
			offsets = offsets[:100] // the first ones: enough to find them, a bounded line
		}
		attrs = append(attrs, slog.Any("offsets", offsets))
	}
	p.log.LogAttrs(ctx, slog.LevelWarn, "proxy: leak guard found card-like numbers no filter redacted", attrs...)
	if mode == routes.LeakBlock {
		return refusal(phase, "card_data_leak")
	}
	return nil
}

// minEchoLen is the shortest value echoedSecrets looks for: shorter ones
// (an ECI, a CVC) are found in answers that never held them.
const minEchoLen = 8

// EchoSpellings returns the ways an echo may write v (a cryptogram): as it
// is, with '/' escaped as JSON may ("\/"), percent-encoded as a query or
// a path; each once.
func EchoSpellings(v string) []string {
	var out []string
	for _, sp := range []string{v, strings.ReplaceAll(v, "/", `\/`), url.QueryEscape(v), url.PathEscape(v)} {
		if !slices.Contains(out, sp) {
			out = append(out, sp)
		}
	}
	return out
}

// echoedSecrets looks in a response for the values st.sent (a cryptogram
// a network_token filter put into the request), as written and in the
// spellings an echo may give them (JSON's "\/", percent-encoding), in the
// body as the guard reads it, the headers and the trailers. Found, they
// are logged and counted as the guard's other hits; mode redact masks each
// whole in place ('*' for every byte: the body returned, nil when it did
// not change; headers in place), block refuses the response (502), log
// lets it pass.
func (p *pipeline) echoedSecrets(ctx context.Context, st *reqState, mode routes.LeakGuard, msg *message, body []byte) ([]byte, *jsonapi.Error) {
	var spellings [][]byte
	for _, v := range st.sent {
		for _, sp := range EchoSpellings(v) {
			if !slices.ContainsFunc(spellings, func(b []byte) bool { return string(b) == sp }) {
				spellings = append(spellings, []byte(sp))
			}
		}
	}
	count := 0
	var where []string
	found := func(w string, n int) {
		count += n
		if n > 0 && !slices.Contains(where, w) {
			where = append(where, w)
		}
	}
	var out []byte
	for _, sp := range spellings {
		if n := bytes.Count(body, sp); n > 0 {
			found("body", n)
			if out == nil {
				out = bytes.Clone(body)
			}
			out = bytes.ReplaceAll(out, sp, bytes.Repeat([]byte("*"), len(sp)))
		}
	}
	headers := []struct {
		where string
		h     http.Header
	}{{"header", msg.header}}
	if msg.trailer != nil {
		headers = append(headers, struct {
			where string
			h     http.Header
		}{"trailer", *msg.trailer})
	}
	for _, hh := range headers {
		for k, vs := range hh.h {
			for i, v := range vs {
				for _, sp := range spellings {
					if n := strings.Count(v, string(sp)); n > 0 {
						found(hh.where, n)
						if mode == routes.LeakRedact {
							v = strings.ReplaceAll(v, string(sp), strings.Repeat("*", len(sp)))
							vs[i] = v
						}
					}
				}
			}
			hh.h[k] = vs
		}
	}
	if count == 0 {
		return nil, nil
	}
	if p.m != nil {
		p.m.LeakGuardHits.WithLabelValues(st.route.ID, string(mode)).Add(float64(count))
	}
	p.log.LogAttrs(ctx, slog.LevelWarn, "proxy: leak guard found the cryptogram the request was given in the response",
		slog.String("route", st.route.ID), slog.String("phase", string(routes.Response)), slog.String("action", string(mode)),
		slog.Int("count", count), slog.Any("where", where))
	switch mode {
	case routes.LeakBlock:
		return nil, refusal(routes.Response, "card_data_leak")
	case routes.LeakRedact:
		return out, nil
	}
	return nil, nil
}

// dropNUL returns b without its NUL bytes: UTF-16 and UTF-32 text of ASCII
// digits becomes the digits.
func dropNUL(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c != 0 {
			out = append(out, c)
		}
	}
	return out
}
