package inspector

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/aliasgate/aliasgate/internal/pan"
	"github.com/aliasgate/aliasgate/routes"
	"github.com/aliasgate/aliasgate/routes/rewrite"
)

// rules say what to mask in one view of a captured message, beyond the
// card-like runs and the CVC and secret keys masked everywhere: the values
// the route's filters target, and, in a view of what the proxy sent on, the
// values redact filters replaced by aliases (kept, so the page shows which
// alias went out).
//
// A kept target shows its value only when it is one of the aliases the
// exchange's redactions made (made); any other value there was not
// replaced (a query of the target did not select it, it was empty) and is
// masked as a target. A pattern cannot tell which elements a query
// selected, and the aliases made are what went out.
type rules struct {
	json, jsonKeep     []jsonPattern
	form, formKeep     map[string]bool
	header, headerKeep map[string]bool // canonical names
	made               map[string]bool // the aliases the kept targets may show
	xml, regex         *rewrite.Program
	// withhold, when set, says why bodies are not kept at all.
	withhold string
	// depth counts the JSON or form documents nested in strings around
	// the one being masked.
	depth int
}

// maxNesting bounds the JSON and form documents unpacked from strings.
const maxNesting = 4

// Built-in mounts and upstreams whose bodies are never kept: the vault API
// carries values in clear under generic keys ("value"), the token endpoint
// carries client secrets and bearer tokens.
var withheldUpstreams = map[string]string{
	routes.UpstreamAliases: "vault API traffic (values in clear) is not kept",
	"internal:oauth":       "token endpoint traffic (credentials) is not kept",
}

// withheldAnswers are the built-in mounts whose response bodies are never
// kept: the Card Management API answers a PCI client with the PAN, CVC,
// network token PAN and cryptogram in clear, and a cryptogram (base64
// under "value") is no card number the masks find. Its request bodies are
// kept, masked (a card number and CVC sent to POST /cards are found as
// everywhere).
var withheldAnswers = map[string]string{
	routes.UpstreamCards: "Card Management API answers (card data, network token PANs and cryptograms in clear for PCI clients) are not kept",
}

// withheldBody says why the bodies of phase of the built-in mount or
// upstream name are not kept, "" when they are.
func withheldBody(name string, phase routes.Phase) string {
	if w := withheldUpstreams[name]; w != "" {
		return w
	}
	if phase == routes.Response {
		return withheldAnswers[name]
	}
	return ""
}

// newRules builds the rules of one view: the targets of route's filters of
// phase (all of them, applied or not, redact or reveal), and when sent is
// true the targets of the redact filters named in applied as kept, where
// the aliases in made (the exchange's redactions') are shown.
func newRules(routeName string, route *routes.Route, phase routes.Phase, applied map[string]bool, sent bool, made map[string]bool) *rules {
	r := &rules{form: map[string]bool{}, formKeep: map[string]bool{}, header: map[string]bool{}, headerKeep: map[string]bool{}, made: made}
	r.withhold = withheldBody(routeName, phase)
	if route == nil {
		return r
	}
	if w := withheldBody(route.Upstream, phase); w != "" {
		r.withhold = w
	}
	var xmlSpecs, regexSpecs []rewrite.TargetSpec
	for _, f := range route.Filters {
		if f.Phase != phase {
			continue
		}
		keep := sent && applied[f.ID] && f.Operation == rewrite.Redact
		for _, t := range f.Targets {
			kind, path := t.Kind()
			switch kind {
			case rewrite.KindJSON:
				p := parsePattern(path)
				if keep {
					r.jsonKeep = append(r.jsonKeep, p)
				} else {
					r.json = append(r.json, p)
				}
			case rewrite.KindForm:
				if keep {
					r.formKeep[path] = true
				} else {
					r.form[path] = true
				}
			case rewrite.KindHeader:
				if keep {
					r.headerKeep[http.CanonicalHeaderKey(path)] = true
				} else {
					r.header[http.CanonicalHeaderKey(path)] = true
				}
			case rewrite.KindXML:
				xmlSpecs = append(xmlSpecs, rewrite.TargetSpec{Kind: kind, Path: path})
			case rewrite.KindRegex:
				regexSpecs = append(regexSpecs, rewrite.TargetSpec{Kind: kind, Path: path, Luhn: t.Luhn})
			}
		}
	}
	// The specs compiled when the route loaded; these compile too.
	if len(xmlSpecs) > 0 {
		r.xml, _ = rewrite.Compile(rewrite.Redact, xmlSpecs)
	}
	if len(regexSpecs) > 0 {
		r.regex, _ = rewrite.Compile(rewrite.Redact, regexSpecs)
	}
	return r
}

// jsonValue masks the value v at depth. path returns its path, made only
// when a target has depth steps; sensitive reports that its key (the
// nearest object key) names a security code, a secret or a cryptogram
// (sensitiveKey), or a key on the way to it a security code or a
// cryptogram ({"cryptogram":{"value":…}}, {"cvc":{"value":…}}).
func (r *rules) jsonValue(depth int, path func() []pathSeg, sensitive bool, v string) string {
	for _, p := range r.jsonKeep {
		if len(p) == depth && p.match(path()) {
			return r.kept(v)
		}
	}
	for _, p := range r.json {
		if len(p) == depth && p.match(path()) {
			return maskTarget(v)
		}
	}
	if v != "" && sensitive {
		return maskAll(v) // as keyed does
	}
	return r.text(v)
}

// formValue masks the value v of form field (or multipart part) name.
func (r *rules) formValue(name, v string) string {
	switch {
	case r.formKeep[name]:
		return r.kept(v)
	case r.form[name]:
		return maskTarget(v)
	}
	return r.keyed(name, v)
}

// kept shows v, the value of a kept target, when it is an alias the
// exchange's redactions made, and masks it as a target otherwise.
func (r *rules) kept(v string) string {
	if r.made[v] {
		return v
	}
	return maskTarget(v)
}

// keyed masks v under key: whole when the key names a CVC, a secret or a
// cryptogram (sensitiveKey), else as text.
func (r *rules) keyed(key, v string) string {
	if v != "" && sensitiveKey(key) {
		return maskAll(v)
	}
	return r.text(v)
}

// text masks a string: a JSON document in it ({"cvc":"737"} sent as a
// string, or echoed by an upstream), XML elements and form fields named
// like a CVC, secret or cryptogram, a CVC written after its name in free text
// ("CVV: 737", name="cvc"\r\n\r\n737; maskCVCInText), then every card-like
// run.
func (r *rules) text(v string) string {
	if r.depth < maxNesting {
		inner := &rules{form: map[string]bool{}, formKeep: map[string]bool{}, header: map[string]bool{},
			headerKeep: map[string]bool{}, depth: r.depth + 1}
		switch t := strings.TrimSpace(v); {
		case len(t) > 1 && (t[0] == '{' || t[0] == '['):
			v, _ = maskJSON([]byte(v), inner, false, false)
		case formLike.MatchString(v) && !strings.Contains(v, "</") && !strings.Contains(v, "/>"):
			v, _ = maskForm(v, inner, false)
		}
		// Markup is read as XML and HTML read it wherever it is, closed or
		// not: a fragment that opens <cvc> and never closes it ("<cvc><![CDATA[737]]>")
		// holds the CVC to a parser as much as a whole document does.
		v = maskXMLElements(v)
	}
	v = maskCVCInText(v)
	out, _ := maskCards(v)
	return out
}

// formLike matches a string that looks like form fields (a=1&b=2).
var formLike = regexp.MustCompile(`^[^\s=&]+=[^\s&]*(&[^\s=&]+(=[^\s&]*)?)*$`)

// cvcInText finds a 3 or 4 digit number written shortly after a name of
// a security code, with only punctuation and spaces between.
var cvcInText = regexp.MustCompile(`(?i)(cvc2?|cvv2?|cvn2?|cvd|cid|csc|security[ _-]?code|card[ _-]?code|verification[ _-]?(?:value|code))[^A-Za-z0-9]{1,24}?([0-9]{3,4})(?:[^0-9]|$)`)

// maskCVCInText masks what cvcInText finds in v as a reader sees it, in
// two readings, as package pan reads card numbers: as written, and with
// the escapes pan reads decoded (reading). Both leave out the characters
// shown as nothing, raw or escaped (pan.InvisibleAt), which would
// otherwise hide "CVV: 7<U+200B>37", "c<U+200B>vc 737" or
// "CVV: 7&#x200b;37" from it. Every byte of the spelling of a digit found
// becomes '*'.
func maskCVCInText(v string) string {
	var b []byte
	for _, decode := range []bool{false, true} {
		if decode && !mayBeSpelled(v) {
			break
		}
		view, at := reading(v, decode)
		// Each search starts right after the digits found: the character
		// that ends them may begin the next name ("cvc:737cvv2:4021").
		for p := 0; p < len(view); {
			m := cvcInText.FindStringSubmatchIndex(view[p:])
			if m == nil {
				break
			}
			if b == nil {
				b = []byte(v)
			}
			for i := p + m[4]; i < p+m[5]; i++ {
				k, n := i, 1
				if at != nil {
					k = at[i]
				}
				if decode {
					_, n = pan.CharAt(v, k) // the digit's spelling
				}
				for ; n > 0; n-- {
					b[k] = '*'
					k++
				}
			}
			p += m[5]
		}
	}
	if b == nil {
		return v
	}
	return string(b)
}

// mayBeSpelled reports whether v holds a byte that starts an escape or a
// character other than ASCII: else its decoded reading is the one as
// written.
func mayBeSpelled(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c >= 0x80 || c == '%' || c == '&' || c == '\\' {
			return true
		}
	}
	return false
}

// reading returns v as cvcInText reads it and, for each of its bytes, the
// index in v of the character it comes from; v itself and nil when they
// are the same. Characters shown as nothing are left out (pan.InvisibleAt).
// Decoded, each character is read as pan reads a card number's
// (pan.CharAt, pan.Classify): a digit in any spelling (`&#55;`, `%u0037`,
// full-width) is an ASCII digit, a separator (`&emsp;`, U+00A0, `%20`) a
// space, any other escape the character it spells (`\u003a`, `&#99;`),
// and a full-width ASCII letter or sign that letter or sign (U+FF23 'C'),
// so that the name of a security code is read in those spellings too.
func reading(v string, decode bool) (string, []int) {
	var view []byte
	var at []int
	start := func(i int) { // the first change: what came before is kept
		if at == nil {
			view, at = make([]byte, i, len(v)), make([]int, i, len(v))
			copy(view, v[:i])
			for k := range at {
				at[k] = k
			}
		}
	}
	for i := 0; i < len(v); {
		if !decode {
			if n := pan.InvisibleAt(v, i); n > 0 {
				start(i)
				i += n
				continue
			}
			if at != nil {
				view, at = append(view, v[i]), append(at, i)
			}
			i++
			continue
		}
		start(0) // decoded only where pan may read a spelling (mayBeSpelled)
		cp, n := pan.CharAt(v, i)
		switch kind, d := pan.Classify(cp); {
		case kind == pan.Digit:
			cp = rune('0' + d)
		case kind == pan.Separator:
			cp = ' '
		case kind == pan.Hidden:
			cp = -1
		case cp >= 0xFF01 && cp <= 0xFF5E: // full-width ASCII
			cp -= 0xFEE0
		case cp < 0:
			cp = utf8.RuneError
		}
		if cp >= 0 {
			k := len(view)
			view = utf8.AppendRune(view, cp)
			for ; k < len(view); k++ {
				at = append(at, i)
			}
		}
		i += n
	}
	if at == nil {
		return v, nil
	}
	return string(view), at
}

// pathSeg is one step of the path of a JSON value: an object key, or an
// array index (index >= 0).
type pathSeg struct {
	key   string
	index int
}

// jsonPattern is a parsed json target path (gjson syntax, as routes load
// it): keys, array indexes and "#" for any index; a query matches any index
// too (rewrite.JSONPathPattern), so every value it could select is masked.
type jsonPattern []patSeg

type patSeg struct {
	key   string
	any   bool
	index int // >= 0: an index (also matches the object key of these digits)
}

// parsePattern parses a target path; nil (matching nothing) for a path that
// does not parse, which routes do not load.
func parsePattern(p string) jsonPattern {
	elems, err := rewrite.JSONPathPattern(p)
	if err != nil {
		return nil
	}
	out := make(jsonPattern, len(elems))
	for i, e := range elems {
		out[i] = patSeg{key: e.Key, any: e.Any, index: e.Index}
	}
	return out
}

func (p jsonPattern) match(path []pathSeg) bool {
	if len(p) != len(path) {
		return false
	}
	for i, s := range p {
		ps := path[i]
		switch {
		case s.any:
			if ps.index < 0 {
				return false
			}
		case s.index >= 0:
			if ps.index != s.index && !(ps.index < 0 && ps.key == s.key) {
				return false
			}
		default:
			if ps.index >= 0 || ps.key != s.key {
				return false
			}
		}
	}
	return true
}

// gjsonPath writes path in gjson syntax; with anyIndex, array indexes
// become "#" (every element), the form a proposed target takes.
func gjsonPath(path []pathSeg, anyIndex bool) string {
	var b strings.Builder
	for i, s := range path {
		if i > 0 {
			b.WriteByte('.')
		}
		if s.index >= 0 {
			if anyIndex {
				b.WriteByte('#')
			} else {
				b.WriteString(strconv.Itoa(s.index))
			}
			continue
		}
		for j := 0; j < len(s.key); j++ {
			if strings.IndexByte(`\.*?|#@{}[]!=<>~%()`, s.key[j]) >= 0 {
				b.WriteByte('\\')
			}
			b.WriteByte(s.key[j])
		}
	}
	return b.String()
}

// maskTok is a rewrite.Tokenizer that "redacts" and "reveals" a value into
// its mask, so a compiled target Program masks exactly what it targets.
type maskTok struct{}

func (maskTok) Redact(_ context.Context, items []rewrite.RedactItem) ([]string, error) {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = maskTarget(it.Value)
	}
	return out, nil
}

func (maskTok) Reveal(_ context.Context, aliases []string) ([]string, error) {
	out := make([]string, len(aliases))
	for i, a := range aliases {
		out[i] = maskTarget(a)
	}
	return out, nil
}
