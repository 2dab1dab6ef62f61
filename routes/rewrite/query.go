package rewrite

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// ReadsQuery reports whether CheckQuery reads a query string for the
// Program: its body targets are form fields or JSON paths.
func (p *Program) ReadsQuery() bool {
	switch p.body.(type) {
	case *formLocator, *jsonLocator:
		return true
	}
	return false
}

// ErrQueryField is wrapped by CheckQuery's error: a field a form target
// names, or a field that nests to a JSON target's value, is in the
// request's query string.
var ErrQueryField = errors.New("rewrite: targeted field in the query string")

// CheckQuery reads query (a request's raw query, without "?") as the
// applications behind the gateway read it with the body, and returns an
// error when it holds, with a value, a field the Program's body targets
// name.
//
// Form targets: the query is read as the urlencoded body they read (a
// field they name or another spelling of one: letter case, PHP's and
// Rack's rewriting, a bracketed key under it; a ';'-separated one).
// Servlet containers and Spring (getParameter, @RequestParam), PHP's
// $_REQUEST, Rails' params and ASP.NET's Request[name] read the query's
// fields and the form body's as one set of parameters (Servlet's query
// first), so a field a target redacts in the body reaches the application
// in clear from the query.
//
// JSON targets: a field whose name nests, as Rack and PHP nest bracketed
// names, to the target's value or under it (card[number] or
// card[number][] for card.number, cards[][number], cards[0][number] or
// cards[x][number] for cards.#.number, _json[][number] for #.number; keys
// compared as the JSON locator compares them, letter case ignored, the
// first as PHP rewrites it): Rails' params merge the
// query's nested fields over the JSON body's (the query's card replaces
// the body's whole card object), and Laravel's input() reads them where
// the body has none.
//
// The error wraps ErrQueryField (a form field spelled another way:
// ErrDuplicateKey; a targeted form value or name with bad percent-encoding,
// or a ';' before a targeted form field: ErrMalformed). Nothing is
// rewritten: the query is the request target, which the proxies forward as
// it is. Another Program, or an empty query, gives nil.
func (p *Program) CheckQuery(query string) error {
	if query == "" {
		return nil
	}
	switch l := p.body.(type) {
	case *formLocator:
		spans, err := l.locateURLEncoded([]byte(query))
		if err != nil {
			return fmt.Errorf("query string: %w", err)
		}
		for _, s := range spans {
			if s.Value != "" {
				return fmt.Errorf("%w: target %d (form field %q)", ErrQueryField, s.Target, l.names[s.Target])
			}
		}
	case *jsonLocator:
		return l.checkQuery(query)
	}
	return nil
}

// checkQuery is CheckQuery for JSON targets. Pairs are split on '&' and
// ';' (Rack 2 splits on both), names percent-decoded with '+' as space (a
// stray '%' kept, as PHP keeps it).
func (l *jsonLocator) checkQuery(query string) error {
	for _, pair := range strings.FieldsFunc(query, func(r rune) bool { return r == '&' || r == ';' }) {
		name, value, ok := strings.Cut(pair, "=")
		if !ok || value == "" {
			continue // no value: nothing to protect
		}
		if strings.ContainsAny(name, "%+") {
			if n, err := url.QueryUnescape(name); err == nil {
				name = n
			} else {
				name = LenientUnescape([]byte(name))
			}
		}
		elems := nestedName(name)
		for _, jp := range l.paths {
			if nestsTo(elems, jp.segs) {
				return fmt.Errorf("%w: target %d (a query field nests to a JSON target's value)", ErrQueryField, jp.target)
			}
		}
	}
	return nil
}

// nestedName splits a form field name into the keys Rack and PHP nest its
// value under, case folded (canonFormName: the first key as PHP rewrites
// it, a NUL ends the name): "card[number]" is CARD, NUMBER; "cards[][n]"
// is CARDS, "", N. Keys stop at the first character after a ']' that is
// not '['.
func nestedName(name string) []string {
	c := canonFormName(name)
	base, rest, found := strings.Cut(c, "[")
	elems := []string{base}
	if found {
		rest = "[" + rest
	}
	for strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			break
		}
		elems = append(elems, rest[1:end])
		rest = rest[end+1:]
	}
	return elems
}

// nestsTo reports whether a field nested under elems (nestedName) is a
// JSON path's value or under it: every component of segs matches the key
// at its place. A key component matches its key (letter case ignored, the
// first as PHP rewrites it) and, when the key is all digits, "" (an array
// element); every element ('#', a query) matches any key (a first one
// "" and digits only, the query's other fields being its own): PHP nests
// cards[x][pan] as an array whose element "x" holds pan, and an
// application's foreach over cards reads it as it reads cards[0][pan].
// A path that starts with an element (a body that is an array) is also
// reached under "_json", as Rails' params hold such a body (the query's
// _json[][pan] replaces it). A path of two components or more is also
// reached under one more key first: Rails wraps a JSON body's keys under
// the controller's name (wrap_parameters), so its actions read
// checkout[card][number] for card.number, which the query gives them when
// no JSON body is wrapped; any first key counts (the gateway cannot know
// the controller's name), but not for a single-key path, whose name
// (number, pan) other fields nest under (JSON:API's page[number]).
func nestsTo(elems []string, segs []jsonSeg) bool {
	if len(segs) > 0 && (segs[0].kind != segKey || segs[0].index >= 0) && len(elems) > 0 && elems[0] == "_JSON" &&
		nestsUnder(elems[1:], segs, false) {
		return true
	}
	if len(segs) >= 2 && len(elems) > len(segs) && nestsUnder(elems[1:], segs, false) {
		return true
	}
	return nestsUnder(elems, segs, true)
}

// nestsUnder is nestsTo without the _json rule; top says elems[0] is the
// field's first key, which PHP rewrites.
func nestsUnder(elems []string, segs []jsonSeg, top bool) bool {
	if len(elems) < len(segs) {
		return false
	}
	for i, s := range segs {
		e := elems[i]
		switch {
		case s.kind != segKey:
			if i == 0 && top && strings.Trim(e, "0123456789") != "" {
				return false // the query's own fields: utm[pan] is no element of the body
			}
		case s.index >= 0 && e == "":
		case i == 0 && top:
			if e != canonFormName(s.key) {
				return false
			}
		default:
			if e != strings.Map(canonRune, s.key) {
				return false
			}
		}
	}
	return true
}

// ReadsCookies reports whether CheckCookies reads cookies for the Program:
// its body targets are form fields.
func (p *Program) ReadsCookies() bool {
	_, ok := p.body.(*formLocator)
	return ok
}

// ErrCookieField is wrapped by CheckCookies' error: a cookie is named as a
// field a form target names.
var ErrCookieField = errors.New("rewrite: targeted form field in a cookie")

// CheckCookies reads h's Cookie fields as PHP's $_COOKIE and classic
// ASP.NET's Request.Cookies read them (pairs split on ';', a name's
// leading spaces dropped, names percent-decoded) and returns an error when
// a cookie with a value is named as a field the Program's form targets
// name (ErrCookieField), or another spelling of one (ErrDuplicateKey, as in
// a body): PHP's $_REQUEST holds the cookies where no php.ini sets
// request_order (variables_order EGPCS), and ASP.NET's Request[name] reads
// them after the query and the form, so a cookie named card_number is the
// form's card_number to them. A cookie's value is not read. Another
// Program gives nil.
func (p *Program) CheckCookies(h http.Header) error {
	l, ok := p.body.(*formLocator)
	if !ok {
		return nil
	}
	for _, line := range h["Cookie"] {
		for piece := range strings.SplitSeq(line, ";") {
			name, value, ok := strings.Cut(piece, "=")
			if !ok || value == "" {
				continue
			}
			target, ok, err := l.lookupName([]byte(strings.TrimLeft(name, " \t")))
			if err != nil {
				return fmt.Errorf("cookie: %w", err)
			}
			if ok {
				return fmt.Errorf("%w: target %d (form field %q)", ErrCookieField, target, l.names[target])
			}
		}
	}
	return nil
}
