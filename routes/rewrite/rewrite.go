// Package rewrite finds sensitive values in HTTP messages and replaces them
// through a Tokenizer: redact (value → alias) or reveal (alias → value).
//
// Every target kind is a Locator that parses a body once and returns the
// Spans of the values it targets: byte ranges, the decoded value, and how a
// replacement is written back (JSON string, JSON number, form encoding, XML
// text, raw). A Program (the compiled targets of one route filter) locates
// every target of the message, makes one batched Tokenizer call for all of
// them, and builds the new body in one pass by splicing byte ranges, so the
// bytes outside the targets are kept exactly.
//
// A filter's body targets are of one kind (json, form, xml or regex);
// header targets may be added to any of them. Empty values are skipped:
// there is nothing to protect in them.
//
// Keys are matched as the application behind the gateway reads them
// (keys.go): a JSON key or form field name that is not the targeted one but
// that a case-insensitive decoder (encoding/json's Unicode folding) or a
// form parser's rewriting (PHP, Rack) would read as it is refused with
// ErrDuplicateKey, like a repeated targeted key, rather than passed on
// unredacted; so is a form field hidden behind a ';' separator
// (ErrMalformed). A JSON key spelled with escapes is the key it decodes to.
// A header whose name CGI-style servers read as a targeted header's
// (X_Card_Number for X-Card-Number) is refused by a redact Program, as a
// key in another spelling is.
// A form field a Program targets is also looked for in the request's query
// string (Program.CheckQuery, ErrQueryField): applications read query and
// form fields as one; so is a query field whose bracketed name nests to a
// JSON target's value (card[cvc] for card.cvc: Rails merges it over the
// JSON body's); a form field a Program targets as a cookie's name is
// refused too (Program.CheckCookies, ErrCookieField).
//
// JSON targets are gjson paths, queries included, located by
// github.com/tidwall/gjson inside one validating walk that applies these
// checks (json.go; gjson is not asked where its answer is the walk's by
// construction: a plain key in an object without escaped keys);
// replacements are spliced at the located offsets, not written with sjson
// (docs/DECISIONS.md).
//
// A Reveal leaves a value the Tokenizer does not know as an alias as it is
// and, from the same single Reveal call, names its target in
// Message.Unknown: the caller refuses the message or passes it on without
// asking the Tokenizer again.
//
// NetworkToken (payment.go) is the third operation: its targets have roles;
// the one card reference is resolved once through the Tokenizer's
// PaymentResolver and each role's value is written into its targets, empty
// placeholders included (the one place an empty value is not skipped).
package rewrite

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
)

// Operation is what a filter does to its targets.
type Operation int

// Operations.
const (
	// Redact replaces values by aliases.
	Redact Operation = iota + 1
	// Reveal replaces aliases by their values.
	Reveal
	// NetworkToken puts a card's payment credentials (network token or
	// PAN, expiry, cryptogram, ECI, CVC) into the targets by their Role
	// (payment.go).
	NetworkToken
)

func (o Operation) String() string {
	switch o {
	case Redact:
		return "redact"
	case Reveal:
		return "reveal"
	case NetworkToken:
		return "network_token"
	}
	return "unknown"
}

// RedactItem is one value to turn into an alias.
type RedactItem struct {
	Value       string
	Format      string // vault alias format name, "" for the default
	Storage     string // PERSISTENT or VOLATILE, "" for the default
	Classifiers []string
}

// Tokenizer is the vault as the rewriters see it. The caller passes it in;
// this package never imports the vault. Each method is called at most once
// per message.
type Tokenizer interface {
	// Redact returns one alias per item, in order.
	Redact(ctx context.Context, items []RedactItem) ([]string, error)
	// Reveal returns one value per alias, in order, with "" for a string
	// that is not an alias of the vault (it is then left as it is).
	Reveal(ctx context.Context, aliases []string) ([]string, error)
}

// Encoding says how a replacement is written into the body.
type Encoding int

// Encodings.
const (
	// Raw writes the replacement as it is (regex matches, multipart parts, headers).
	Raw Encoding = iota
	// JSONString writes a quoted, escaped JSON string.
	JSONString
	// JSONNumber writes the replacement as a bare number when it is a valid
	// JSON integer (a numeric alias format), else as a JSON string.
	JSONNumber
	// FormValue writes the replacement URL-encoded as in
	// application/x-www-form-urlencoded.
	FormValue
	// XMLText writes the replacement with XML character escaping.
	XMLText
	// XMLCDATA writes the replacement inside an existing CDATA section (raw,
	// with "]]>" split so the section cannot be closed early).
	XMLCDATA
	// MultipartRaw writes the replacement as the body of a multipart part,
	// as it is. Its Span's Forbid holds "--" + boundary: a replacement that
	// contains it could close the part and add others, so Apply refuses it.
	MultipartRaw
)

// Span is one located value: the half-open byte range [Start, End) of the
// body that the replacement takes the place of, the decoded value the
// Tokenizer sees, how the replacement is encoded, and the index of the
// target (in the Program's target list) that found it.
type Span struct {
	Start, End int
	Value      string
	Encoding   Encoding
	Target     int
	// Forbid, when set, is text the replacement must not contain (it would
	// change the body's structure); Apply then fails with ErrUnsafeValue.
	Forbid string
}

// Locator finds a target kind's values in a message body. Implementations
// parse msg.Body once (they may read msg.MediaType and msg.Params, never
// change msg) and return spans sorted by Start, not overlapping. A target that
// does not occur is not an error. A body that cannot be parsed is an error
// wrapping ErrMalformed; a target of the wrong type (a JSON object where a
// string was expected) wraps ErrTargetType; a body nested deeper than the
// Locator allows wraps ErrTooDeep. Error texts never contain body bytes.
type Locator interface {
	Locate(msg *Message) ([]Span, error)
}

// spanAppender is a Locator that appends its spans to a slice it is given,
// so that Apply reuses span slices between messages.
type spanAppender interface {
	locateAppend(dst []Span, msg *Message) ([]Span, error)
}

// spanPool holds span slices for Apply (cleared before they go back).
var spanPool = sync.Pool{New: func() any {
	s := make([]Span, 0, 16)
	return &s
}}

// Errors of Apply; callers map them to HTTP statuses (400, 422, 503).
var (
	// ErrMalformed: the body does not parse as the kind its targets need.
	ErrMalformed = errors.New("rewrite: malformed body")
	// ErrTargetType: a target holds an object, array, boolean or null, or a
	// value a JSON query compares has another JSON type than its literal.
	ErrTargetType = errors.New("rewrite: target is not a string or number")
	// ErrTooDeep: the body nests deeper than MaxDepth.
	ErrTooDeep = errors.New("rewrite: body nested too deeply")
	// ErrDuplicateKey: an object repeats a targeted key (parsers disagree on
	// which one counts, so it cannot be redacted safely), or a JSON key or
	// form field name is another spelling of a targeted one that the
	// application may read as it (letter case; PHP's and Rack's form names).
	ErrDuplicateKey = errors.New("rewrite: duplicate targeted key")
	// ErrUnsafeValue: a replacement cannot be written where its value was
	// found without changing the body's structure (a multipart part body
	// holding the boundary).
	ErrUnsafeValue = errors.New("rewrite: replacement would change the body's structure")
	// ErrTokenizer: the Tokenizer failed (vault unavailable or a value it
	// refuses); the message must not be forwarded.
	ErrTokenizer = errors.New("rewrite: tokenizer failed")
)

// MaxDepth is the deepest nesting of JSON arrays and objects or XML elements
// a body may have.
const MaxDepth = 128

// Kind is the kind of a target.
type Kind string

// Target kinds.
const (
	KindJSON   Kind = "json"
	KindForm   Kind = "form"
	KindHeader Kind = "header"
	KindXML    Kind = "xml"
	KindRegex  Kind = "regex"
)

// TargetSpec is one target of a filter, as the routes package compiles it.
type TargetSpec struct {
	Kind Kind
	// Path is the JSON path (gjson syntax with queries, without modifiers,
	// multipaths or literals: json_path.go), form
	// field name, header name, XML element path (/a/b/c) or regular
	// expression (RE2; group 1 is replaced when the pattern has groups).
	Path string
	// HeaderPattern, for a header target, optionally limits the replacement
	// to the first group of this regular expression within the header value.
	HeaderPattern string
	// Luhn keeps only Luhn-valid matches of a regex target.
	Luhn bool
	// XMLNamespaces, for an xml target, reads the path as XPath 1.0 does
	// with the root element's namespace declarations as its context: a
	// step without prefix is an element in no namespace, a step p:name an
	// element named name in the namespace the root element binds p to
	// (whatever prefix the element is written with).
	XMLNamespaces bool
	Format        string
	Storage       string
	Classifiers   []string
	// Role is what a NetworkToken target receives (RoleCard …); "" for
	// the other operations.
	Role string
}

// Message is the part of an HTTP request or response a Program rewrites.
// MediaType is the Content-Type's media type (lower case, no parameters);
// Params its parameters (the multipart boundary).
type Message struct {
	Header    http.Header
	Body      []byte
	MediaType string
	Params    map[string]string
	// Unknown is set by every successful Apply of a Reveal Program: the
	// targets that held at least one non-empty value the Tokenizer's one
	// Reveal call answered "" for (a string that is not a live alias of
	// the vault), once each, in the Program's target order; nil when there
	// is none, and always nil after a Redact. Those values are left as
	// they are in the body and headers, the known ones are revealed, and
	// Apply does not fail for them: the caller decides whether to refuse
	// the message (naming the target) or pass it on. Apply leaves it
	// unchanged when it fails.
	Unknown []TargetRef
	// UnknownValues is how many distinct values (the same string in two
	// places is one) Unknown's targets held that the Tokenizer did not
	// know: the guesses the message made, each of which an answer to it
	// could tell right or wrong. Set with Unknown; 0 when it is nil.
	UnknownValues int
}

// TargetRef names a target as its route wrote it: its kind and its path,
// field or header name (TargetSpec.Kind and TargetSpec.Path).
type TargetRef struct {
	Kind Kind
	Path string
}

// TargetError is a Tokenizer failure that the Tokenizer tied to one value
// (an error in its chain with an ItemIndex() int method, such as
// vault.ItemError: the value does not fit the target's alias format, or
// is empty or too long): it names the target that value was found by, so
// that the refusal can tell the operator which target of the route to
// fix. It never holds the value.
type TargetError struct {
	Target TargetRef
	Err    error
}

func (e *TargetError) Error() string {
	return fmt.Sprintf("%s target %q: %v", e.Target.Kind, e.Target.Path, e.Err)
}

func (e *TargetError) Unwrap() error { return e.Err }

// Change records what a Program did to one target.
type Change struct {
	Target int    // index in the Program's targets
	Kind   Kind   // the target's kind
	Path   string // the target's path, field or header name
	Count  int    // values replaced
}

// Program is the compiled targets of one filter.
type Program struct {
	op      Operation
	targets []TargetSpec
	body    Locator // nil when the filter has header targets only
	headers []headerTarget
}

// compile hooks: one constructor per body kind. Each returns a Locator for
// the targets of its kind; idx maps the i-th spec given to its index in the
// Program's list.
type locatorFactory func(specs []TargetSpec, idx []int) (Locator, error)

// factories is filled in by the files of each kind.
func factory(k Kind) locatorFactory {
	switch k {
	case KindJSON:
		return newJSONLocator
	case KindForm:
		return newFormLocator
	case KindXML:
		return newXMLLocator
	case KindRegex:
		return newRegexLocator
	}
	return nil
}

// Compile checks targets and builds their Program. All body targets must be
// of one kind; header targets may accompany them.
func Compile(op Operation, targets []TargetSpec) (*Program, error) {
	if op != Redact && op != Reveal && op != NetworkToken {
		return nil, fmt.Errorf("rewrite: unknown operation %d", op)
	}
	if op == NetworkToken {
		if err := checkRoles(targets); err != nil {
			return nil, err
		}
	}
	if len(targets) == 0 {
		return nil, errors.New("rewrite: a filter needs at least one target")
	}
	p := &Program{op: op, targets: slices.Clone(targets)}
	var bodyKind Kind
	var specs []TargetSpec
	var idx []int
	for i, t := range targets {
		if t.Kind == KindHeader {
			h, err := newHeaderTarget(t, i)
			if err != nil {
				return nil, err
			}
			p.headers = append(p.headers, h)
			continue
		}
		if factory(t.Kind) == nil {
			return nil, fmt.Errorf("rewrite: target %d: unknown kind %q", i, t.Kind)
		}
		if bodyKind != "" && t.Kind != bodyKind {
			return nil, fmt.Errorf("rewrite: target %d: a filter's body targets must be of one kind (%s and %s); use two filters", i, bodyKind, t.Kind)
		}
		bodyKind = t.Kind
		specs = append(specs, t)
		idx = append(idx, i)
	}
	if bodyKind != "" {
		l, err := factory(bodyKind)(specs, idx)
		if err != nil {
			return nil, err
		}
		p.body = l
	}
	return p, nil
}

// Operation returns the Program's operation.
func (p *Program) Operation() Operation { return p.op }

// Targets returns the Program's targets.
func (p *Program) Targets() []TargetSpec { return p.targets }

// HasBody reports whether the Program has body targets (and so needs the
// body buffered).
func (p *Program) HasBody() bool { return p.body != nil }

// Apply locates every target in msg, replaces the values through tok in one
// batched call, and writes the new body and header values into msg (and,
// for a Reveal Program, the targets holding unknown aliases into
// msg.Unknown). On error msg is left unchanged. Errors wrap ErrMalformed,
// ErrTargetType, ErrTooDeep, ErrDuplicateKey, ErrUnsafeValue or
// ErrTokenizer.
func (p *Program) Apply(ctx context.Context, msg *Message, tok Tokenizer) ([]Change, error) {
	if p.op == NetworkToken {
		return p.applyPayment(ctx, msg, tok)
	}
	var spans []Span
	if p.body != nil && len(msg.Body) > 0 {
		var err error
		if sa, ok := p.body.(spanAppender); ok {
			sp := spanPool.Get().(*[]Span)
			spans, err = sa.locateAppend((*sp)[:0], msg)
			defer func() {
				clear(spans) // no card data stays in the pool
				if cap(spans) <= 1024 {
					*sp = spans[:0]
					spanPool.Put(sp)
				}
			}()
		} else {
			spans, err = p.body.Locate(msg)
		}
		if err != nil {
			return nil, err
		}
	}
	if p.op == Redact && len(p.headers) > 0 {
		if i := p.headerVariant(msg.Header, nil); i >= 0 {
			// The header's name is the client's: not quoted.
			return nil, fmt.Errorf("%w: target %d: a header name is another spelling of the targeted header %q (as CGI-style servers read names)",
				ErrDuplicateKey, p.headers[i].target, p.headers[i].name)
		}
	}
	hspans := p.locateHeaders(msg.Header)
	if len(spans)+len(hspans) == 0 {
		msg.Unknown, msg.UnknownValues = nil, 0
		return nil, nil
	}
	repl, err := p.tokenize(ctx, tok, spans, hspans)
	if err != nil {
		return nil, err
	}
	for i, s := range spans {
		if s.Forbid != "" && strings.Contains(repl[i], s.Forbid) {
			return nil, fmt.Errorf("%w: target %d", ErrUnsafeValue, s.Target)
		}
	}
	msg.Unknown, msg.UnknownValues = nil, 0
	if p.op == Reveal {
		msg.Unknown, msg.UnknownValues = p.unknown(spans, hspans, repl)
	}
	changes := make([]Change, len(p.targets))
	for i, t := range p.targets {
		changes[i] = Change{Target: i, Kind: t.Kind, Path: t.Path}
	}
	if len(spans) > 0 {
		msg.Body = splice(msg.Body, spans, repl[:len(spans)], changes, false)
	}
	p.applyHeaders(msg.Header, hspans, repl[len(spans):], changes)
	out := changes[:0]
	for _, c := range changes {
		if c.Count > 0 {
			out = append(out, c)
		}
	}
	return out, nil
}

// unknown returns the targets holding a non-empty value whose replacement
// is "" (an alias the Tokenizer does not know), once each, in target order,
// and how many distinct such values they hold (Message.UnknownValues).
func (p *Program) unknown(spans []Span, hspans []headerSpan, repl []string) ([]TargetRef, int) {
	var held []bool     // by target index; nil while every value is known
	var values []string // the unknown values, to count the distinct ones
	mark := func(v string, r string, target int) {
		if v != "" && r == "" {
			if held == nil {
				held = make([]bool, len(p.targets))
			}
			held[target] = true
			values = append(values, v)
		}
	}
	for i, s := range spans {
		mark(s.Value, repl[i], s.Target)
	}
	for i, h := range hspans {
		mark(h.value, repl[len(spans)+i], h.target)
	}
	if held == nil {
		return nil, 0
	}
	var out []TargetRef
	for t, ok := range held {
		if ok {
			out = append(out, TargetRef{Kind: p.targets[t].Kind, Path: p.targets[t].Path})
		}
	}
	slices.Sort(values)
	n := len(slices.Compact(values))
	return out, n
}

// tokenize sends every non-empty value, body spans first, to the Tokenizer
// in one call and returns the replacement of each ("" keeps the original).
func (p *Program) tokenize(ctx context.Context, tok Tokenizer, spans []Span, hspans []headerSpan) ([]string, error) {
	n := len(spans) + len(hspans)
	value := func(i int) (string, int) {
		if i < len(spans) {
			return spans[i].Value, spans[i].Target
		}
		h := hspans[i-len(spans)]
		return h.value, h.target
	}
	// pos maps the Tokenizer's items back to values; nil while no value
	// was skipped, the common case.
	var pos []int
	count := 0
	for i := 0; i < n; i++ {
		if v, _ := value(i); v == "" {
			if pos == nil {
				pos = make([]int, 0, n)
				for j := 0; j < i; j++ {
					pos = append(pos, j)
				}
			}
			continue
		}
		if pos != nil {
			pos = append(pos, i)
		}
		count++
	}
	if count == 0 {
		return make([]string, n), nil
	}
	var got []string
	var err error
	switch p.op {
	case Redact:
		items := make([]RedactItem, 0, count)
		for i := 0; i < n; i++ {
			if v, t := value(i); v != "" {
				spec := &p.targets[t]
				items = append(items, RedactItem{Value: v, Format: spec.Format, Storage: spec.Storage, Classifiers: spec.Classifiers})
			}
		}
		got, err = tok.Redact(ctx, items)
	case Reveal:
		aliases := make([]string, 0, count)
		for i := 0; i < n; i++ {
			if v, _ := value(i); v != "" {
				aliases = append(aliases, v)
			}
		}
		got, err = tok.Reveal(ctx, aliases)
	}
	if err != nil {
		err = fmt.Errorf("%w: %w", ErrTokenizer, err)
		var item interface{ ItemIndex() int }
		if errors.As(err, &item) && item.ItemIndex() >= 0 && item.ItemIndex() < count {
			i := item.ItemIndex()
			if pos != nil {
				i = pos[i]
			}
			_, t := value(i)
			err = &TargetError{Target: TargetRef{Kind: p.targets[t].Kind, Path: p.targets[t].Path}, Err: err}
		}
		return nil, err
	}
	if len(got) != count {
		return nil, fmt.Errorf("%w: %d answers for %d values", ErrTokenizer, len(got), count)
	}
	if p.op == Redact && slices.Contains(got, "") {
		// An empty alias would leave the value in clear (splice keeps what
		// it has no replacement for): fail closed.
		return nil, fmt.Errorf("%w: an empty alias for a value", ErrTokenizer)
	}
	if pos == nil {
		return got, nil
	}
	repl := make([]string, n)
	for j, i := range pos {
		repl[i] = got[j]
	}
	return repl, nil
}

// splice builds body with spans[i] replaced by repl[i] (kept where repl[i]
// is "", unless empty is set: then "" is written too), in one pass,
// counting changes per target.
func splice(body []byte, spans []Span, repl []string, changes []Change, empty bool) []byte {
	size := len(body)
	for i, s := range spans {
		if repl[i] != "" || empty {
			size += len(repl[i]) + 8 - (s.End - s.Start)
		}
	}
	out := make([]byte, 0, max(size, 0))
	last := 0
	for i, s := range spans {
		if repl[i] == "" && !empty {
			continue
		}
		out = append(out, body[last:s.Start]...)
		out = appendEncoded(out, repl[i], s.Encoding)
		last = s.End
		changes[s.Target].Count++
	}
	return append(out, body[last:]...)
}

// appendEncoded writes v into dst in encoding e.
func appendEncoded(dst []byte, v string, e Encoding) []byte {
	switch e {
	case JSONString:
		return appendJSONString(dst, v)
	case JSONNumber:
		if isJSONInteger(v) {
			return append(dst, v...)
		}
		return appendJSONString(dst, v)
	case FormValue:
		return append(dst, formEscape(v)...)
	case XMLText:
		return appendXMLEscaped(dst, v)
	case XMLCDATA:
		return append(dst, strings.ReplaceAll(v, "]]>", "]]]]><![CDATA[>")...)
	default:
		return append(dst, v...)
	}
}

// isJSONInteger reports whether v is a JSON integer without sign: "0" or a
// non-zero digit followed by digits.
func isJSONInteger(v string) bool {
	if v == "" || v[0] == '0' && len(v) > 1 {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return false
		}
	}
	return true
}
