package rewrite

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// XML targets name an element by its absolute path, /payment/card/pan: one
// name per level from the root, no predicates, wildcards, attributes, "//"
// or relative steps. Every element at that path is a target.
//
// Names: a path segment without a prefix (pan) matches the element's local
// name whatever prefix the document writes (<pan>, <ns:pan>, <x:pan>); a
// segment with a prefix (ns:pan) matches only that prefix as written.
// Prefixes are not resolved to namespace URIs: the document's choice of
// prefix is taken as it is. With TargetSpec.XMLNamespaces names are read
// as XPath 1.0 reads them, with the document's namespace declarations
// (xmlns, xmlns:p, compared as written) as the context: a segment without
// prefix matches an element of that local name in no namespace (no prefix,
// no default namespace in scope); a segment p:name an element of local name
// name whose namespace (resolved where the element is) is the one the root
// element binds p to, whatever prefix the element is written with; a prefix
// the root element does not bind matches nothing. Two targets that could name the same element
// (/a/pan and /a/x:pan), or one inside the other (/a/b and /a/b/c), are
// refused when the filter is compiled.
//
// Content: a targeted element must hold character data only: text (with
// entity and character references) or a single CDATA section, optionally
// with whitespace around it. Child elements, comments or processing
// instructions inside it, text beside a CDATA section, or several CDATA
// sections are refused (ErrTargetType) rather than guessed at. An empty
// element (<pan/>, <pan></pan>, whitespace only) is skipped; whitespace
// written as character references (&#10;) is a value like any other.
//
// Whitespace: the span covers the value without its leading and trailing
// whitespace, which stays in place, so pretty-printed documents keep their
// layout. A text value is the span's text with references decoded and line
// ends normalized to "\n" (what an XML parser reports); a CDATA value is the
// section's raw text, line ends normalized. Replacements are written escaped
// (text) or raw inside the existing section (CDATA).
//
// Strictness: the whole body is checked for well-formedness, including
// what is outside the targets, so that the gateway and the upstream cannot
// read the document differently: one root element; matching end tags;
// names with at most one colon; quoted, unique attributes; only the five
// predefined entities and valid character references; no "]]>" in text, no
// "--" in comments; only XML 1.0 characters in UTF-8 (the declaration may
// name UTF-8 or US-ASCII; other encodings are refused). A DOCTYPE may name
// an external DTD but may not have an internal subset: entity declarations
// are refused (entity expansion, and a custom entity could hide a value),
// and so is any entity reference other than the predefined five. Nesting
// deeper than MaxDepth elements is refused with ErrTooDeep. When a body is
// both malformed and has a target of the wrong type, ErrMalformed wins.
// The media type is not checked (the route matcher does that): any body is
// read as XML. Error texts give byte offsets, never body bytes.

// xmlSeg is one path segment: a local name, or a prefixed name matched as
// written.
type xmlSeg struct {
	name     string
	prefixed bool
}

type xmlTarget struct {
	path  string
	segs  []xmlSeg
	ns    bool // TargetSpec.XMLNamespaces
	index int  // in the Program's targets
}

type xmlLocator struct {
	targets []xmlTarget
}

func newXMLLocator(specs []TargetSpec, idx []int) (Locator, error) {
	l := &xmlLocator{targets: make([]xmlTarget, 0, len(specs))}
	for i, s := range specs {
		segs, err := parseXMLPath(s.Path)
		if err != nil {
			return nil, fmt.Errorf("rewrite: target %d: xml path %q: %w", idx[i], s.Path, err)
		}
		t := xmlTarget{path: s.Path, segs: segs, ns: s.XMLNamespaces, index: idx[i]}
		for _, o := range l.targets {
			if xmlPathsOverlap(o.segs, t.segs, o.ns || t.ns) {
				return nil, fmt.Errorf("rewrite: target %d: xml path %q can name the same element as target %d (%q), or one inside the other; a targeted element holds text only", t.index, t.path, o.index, o.path)
			}
		}
		l.targets = append(l.targets, t)
	}
	return l, nil
}

// parseXMLPath checks an element path and splits it into segments.
func parseXMLPath(p string) ([]xmlSeg, error) {
	switch {
	case p == "":
		return nil, fmt.Errorf("empty")
	case p[0] != '/':
		return nil, fmt.Errorf("must be absolute, starting with / at the root element")
	case strings.Contains(p, "//"):
		return nil, fmt.Errorf("descendant steps (//) are not supported; name every element from the root")
	case p == "/":
		return nil, fmt.Errorf("names no element")
	case strings.HasSuffix(p, "/"):
		return nil, fmt.Errorf("ends with /")
	}
	parts := strings.Split(p[1:], "/")
	if len(parts) > MaxDepth {
		return nil, fmt.Errorf("deeper than %d elements", MaxDepth)
	}
	segs := make([]xmlSeg, len(parts))
	for i, s := range parts {
		switch {
		case strings.ContainsAny(s, "[]"):
			return nil, fmt.Errorf("predicates ([...]) are not supported")
		case strings.HasPrefix(s, "@"):
			return nil, fmt.Errorf("attributes are not supported; a target is an element's text")
		case strings.Contains(s, "*"):
			return nil, fmt.Errorf("wildcards are not supported")
		case s == "." || s == "..":
			return nil, fmt.Errorf("relative steps (. and ..) are not supported")
		case strings.Contains(s, "::"):
			return nil, fmt.Errorf("axes are not supported")
		case strings.ContainsAny(s, "()"):
			return nil, fmt.Errorf("functions and node tests are not supported")
		case !xmlIsQName(s):
			return nil, fmt.Errorf("segment %d is not an element name (name or prefix:name)", i+1)
		}
		segs[i] = xmlSeg{name: s, prefixed: strings.IndexByte(s, ':') >= 0}
	}
	return segs, nil
}

// xmlSegsMeet reports whether one element name can match both segments.
// With namespaces read (ns), two names of the same local name may always
// meet: two prefixes can be bound to one namespace.
func xmlSegsMeet(a, b xmlSeg, ns bool) bool {
	switch {
	case ns:
		return xmlLocal(a.name) == xmlLocal(b.name)
	case a.prefixed == b.prefixed:
		return a.name == b.name
	case a.prefixed:
		return a.name[strings.IndexByte(a.name, ':')+1:] == b.name
	default:
		return b.name[strings.IndexByte(b.name, ':')+1:] == a.name
	}
}

// XMLPathsOverlap reports whether two xml target paths can name the same
// element, or one an element inside the other's, so that one Program
// cannot hold both (namespaces: either target reads names with
// TargetSpec.XMLNamespaces). A path that does not parse overlaps nothing.
func XMLPathsOverlap(a, b string, namespaces bool) bool {
	as, errA := parseXMLPath(a)
	bs, errB := parseXMLPath(b)
	return errA == nil && errB == nil && xmlPathsOverlap(as, bs, namespaces)
}

// xmlPathsOverlap reports whether an element can match both paths, or one
// path can match an element inside another's.
func xmlPathsOverlap(a, b []xmlSeg, ns bool) bool {
	for i := range min(len(a), len(b)) {
		if !xmlSegsMeet(a[i], b[i], ns) {
			return false
		}
	}
	return true
}

// xmlLocal returns a name without its prefix.
func xmlLocal(name string) string {
	return name[strings.IndexByte(name, ':')+1:]
}

// matchNS reports whether the element written q, in the scope of s's
// current declarations, is the element seg names when names are read with
// namespaces (TargetSpec.XMLNamespaces).
func (seg *xmlSeg) matchNS(q []byte, s *xmlScan) bool {
	elemPrefix, local := "", q
	if i := bytes.IndexByte(q, ':'); i >= 0 {
		elemPrefix, local = string(q[:i]), q[i+1:]
	}
	segPrefix, segLocal := "", seg.name
	if seg.prefixed {
		i := strings.IndexByte(seg.name, ':')
		segPrefix, segLocal = seg.name[:i], seg.name[i+1:]
	}
	if string(local) != segLocal {
		return false
	}
	elemNS, ok := s.lookupNS(elemPrefix, 0)
	if !ok && elemPrefix != "" {
		return false // an undeclared prefix: in no namespace one can name
	}
	if !seg.prefixed {
		return elemNS == ""
	}
	segNS, ok := s.lookupNS(segPrefix, 1)
	return ok && segNS != "" && segNS == elemNS
}

// lookupNS returns the namespace prefix ("" for the default) is bound to
// by the declarations of the open elements down to maxDepth (0: all of
// them, the current scope); "" and true for the default when undeclared.
func (s *xmlScan) lookupNS(prefix string, maxDepth int) (string, bool) {
	for i := len(s.nsBind) - 1; i >= 0; i-- {
		if b := s.nsBind[i]; b.prefix == prefix && (maxDepth == 0 || b.depth <= maxDepth) {
			return b.uri, true
		}
	}
	return "", prefix == ""
}

// match reports whether the element name q matches seg.
func (seg *xmlSeg) match(q []byte) bool {
	if seg.prefixed {
		return string(q) == seg.name
	}
	if i := bytes.IndexByte(q, ':'); i >= 0 {
		q = q[i+1:]
	}
	return string(q) == seg.name
}

// xmlScan is the state of one walk over a body.
type xmlScan struct {
	l       *xmlLocator
	b       []byte
	pos     int
	open    []xmlName // names of the open elements, root first
	matched []int     // per target: how many open elements, from the root, match its path
	attrs   []xmlName // attribute names of the current start tag
	// nsBind holds the namespace declarations in scope, innermost last;
	// decls those of the current start tag.
	nsBind, decls []xmlNSBinding
	capture       xmlCapture
	spans         []Span
	typeErr       error // first target type error; reported once the body is known to be well-formed
}

// xmlNSBinding is one namespace declaration: prefix ("" for xmlns) bound
// to uri (as written; "" undeclares the default) by the element at depth.
type xmlNSBinding struct {
	prefix, uri string
	depth       int
}

// xmlName is a name's byte range in the body.
type xmlName struct{ start, end int }

// xmlCapture is the targeted element being read.
type xmlCapture struct {
	active       bool
	target       int // in l.targets
	depth        int // len(open) with the element open
	start        int // content start
	cdata        int // CDATA sections met
	cdStart      int // content of the last one
	cdEnd        int
	commentsOrPI bool
}

// Locate checks msg.Body and returns the spans of the targeted elements'
// values in document order.
func (l *xmlLocator) Locate(msg *Message) ([]Span, error) {
	s := &xmlScan{l: l, b: msg.Body, matched: make([]int, len(l.targets))}
	if err := s.document(); err != nil {
		return nil, err
	}
	if s.typeErr != nil {
		return nil, s.typeErr
	}
	return s.spans, nil
}

func (s *xmlScan) malformed(what string) error {
	return fmt.Errorf("%w: xml: %s at byte %d", ErrMalformed, what, s.pos)
}

func (s *xmlScan) has(prefix string) bool {
	return len(s.b)-s.pos >= len(prefix) && string(s.b[s.pos:s.pos+len(prefix)]) == prefix
}

// ws skips whitespace and reports whether there was any.
func (s *xmlScan) ws() bool {
	start := s.pos
	for s.pos < len(s.b) && xmlIsSpace(s.b[s.pos]) {
		s.pos++
	}
	return s.pos > start
}

func xmlIsSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// Bytes that end a run of plain text in content and in attribute values.
var (
	xmlTextStop = [256]bool{'<': true, '&': true, ']': true}
	xmlAttStop  = [256]bool{'<': true, '&': true, '"': true, '\'': true}
)

// document checks the whole body and locates the targets.
func (s *xmlScan) document() error {
	if i := xmlBadChar(s.b); i >= 0 {
		s.pos = i
		return s.malformed("invalid UTF-8 or a character XML does not allow")
	}
	if bytes.HasPrefix(s.b, []byte("\xef\xbb\xbf")) {
		s.pos = 3
	}
	if s.has("<?xml") && len(s.b) > s.pos+5 && (xmlIsSpace(s.b[s.pos+5]) || s.b[s.pos+5] == '?') {
		if err := s.declaration(); err != nil {
			return err
		}
	}
	doctype, root := false, false
	for {
		s.ws()
		switch {
		case s.pos == len(s.b):
			if !root {
				return s.malformed("no root element")
			}
			return nil
		case s.has("<!--"):
			if err := s.comment(); err != nil {
				return err
			}
		case s.has("<?"):
			if err := s.pi(); err != nil {
				return err
			}
		case s.has("<!DOCTYPE"):
			if doctype || root {
				return s.malformed("DOCTYPE not before the root element")
			}
			doctype = true
			if err := s.doctype(); err != nil {
				return err
			}
		case s.has("<!") || s.has("</"):
			return s.malformed("markup outside the root element")
		case s.b[s.pos] == '<':
			if root {
				return s.malformed("a second root element")
			}
			root = true
			if err := s.element(); err != nil {
				return err
			}
		default:
			return s.malformed("text outside the root element")
		}
	}
}

// declaration reads the XML declaration at the start of the body.
func (s *xmlScan) declaration() error {
	s.pos += len("<?xml")
	if !s.ws() || !s.has("version") {
		return s.malformed("XML declaration without version")
	}
	s.pos += len("version")
	v, err := s.attValue("version")
	if err != nil {
		return err
	}
	if v != "1.0" {
		return s.malformed("XML version other than 1.0")
	}
	sp := s.ws()
	if sp && s.has("encoding") {
		s.pos += len("encoding")
		v, err := s.attValue("encoding")
		if err != nil {
			return err
		}
		switch {
		case strings.EqualFold(v, "utf-8"):
		case strings.EqualFold(v, "us-ascii") || strings.EqualFold(v, "ascii"):
			for i, c := range s.b {
				if c >= utf8.RuneSelf {
					s.pos = i
					return s.malformed("non-ASCII byte in a body declared US-ASCII")
				}
			}
		default:
			return s.malformed("encoding other than UTF-8 declared")
		}
		sp = s.ws()
	}
	if sp && s.has("standalone") {
		s.pos += len("standalone")
		v, err := s.attValue("standalone")
		if err != nil {
			return err
		}
		if v != "yes" && v != "no" {
			return s.malformed("bad standalone value in the XML declaration")
		}
		s.ws()
	}
	if !s.has("?>") {
		return s.malformed("bad XML declaration")
	}
	s.pos += 2
	return nil
}

// attValue reads `= "value"` in the XML declaration (no references there).
func (s *xmlScan) attValue(what string) (string, error) {
	s.ws()
	if !s.has("=") {
		return "", s.malformed("missing = after " + what)
	}
	s.pos++
	s.ws()
	v, ok := s.literal()
	if !ok {
		return "", s.malformed("bad " + what + " value")
	}
	return v, nil
}

// literal reads a quoted string without references.
func (s *xmlScan) literal() (string, bool) {
	if s.pos == len(s.b) || s.b[s.pos] != '"' && s.b[s.pos] != '\'' {
		return "", false
	}
	q := s.b[s.pos]
	i := bytes.IndexByte(s.b[s.pos+1:], q)
	if i < 0 {
		return "", false
	}
	v := string(s.b[s.pos+1 : s.pos+1+i])
	s.pos += i + 2
	return v, true
}

// doctype reads a document type declaration that names an external DTD at
// most; an internal subset is refused.
func (s *xmlScan) doctype() error {
	s.pos += len("<!DOCTYPE")
	if !s.ws() {
		return s.malformed("bad DOCTYPE")
	}
	if _, ok := s.name(); !ok {
		return s.malformed("bad DOCTYPE name")
	}
	sp := s.ws()
	if sp && (s.has("SYSTEM") || s.has("PUBLIC")) {
		public := s.has("PUBLIC")
		s.pos += len("SYSTEM")
		if !s.ws() {
			return s.malformed("bad DOCTYPE external identifier")
		}
		if _, ok := s.literal(); !ok {
			return s.malformed("bad DOCTYPE external identifier")
		}
		if public {
			if !s.ws() {
				return s.malformed("bad DOCTYPE external identifier")
			}
			if _, ok := s.literal(); !ok {
				return s.malformed("bad DOCTYPE external identifier")
			}
		}
		s.ws()
	}
	if s.has("[") {
		return s.malformed("DOCTYPE with an internal subset (entity declarations are refused)")
	}
	if !s.has(">") {
		return s.malformed("bad DOCTYPE")
	}
	s.pos++
	return nil
}

// comment reads a comment at "<!--".
func (s *xmlScan) comment() error {
	start := s.pos + len("<!--")
	i := bytes.Index(s.b[start:], []byte("--"))
	if i < 0 {
		return s.malformed("unterminated comment")
	}
	s.pos = start + i
	if !s.has("-->") {
		return s.malformed(`"--" inside a comment`)
	}
	s.pos += 3
	return nil
}

// pi reads a processing instruction at "<?".
func (s *xmlScan) pi() error {
	s.pos += 2
	n, ok := s.name()
	if !ok {
		return s.malformed("bad processing instruction target")
	}
	if strings.EqualFold(string(s.b[n.start:n.end]), "xml") {
		return s.malformed("XML declaration not at the start of the body")
	}
	if s.has("?>") {
		s.pos += 2
		return nil
	}
	if !s.ws() {
		return s.malformed("bad processing instruction")
	}
	i := bytes.Index(s.b[s.pos:], []byte("?>"))
	if i < 0 {
		return s.malformed("unterminated processing instruction")
	}
	s.pos += i + 2
	return nil
}

// element reads the root element and everything in it.
func (s *xmlScan) element() error {
	if err := s.startTag(); err != nil {
		return err
	}
	for len(s.open) > 0 {
		for s.pos < len(s.b) && !xmlTextStop[s.b[s.pos]] {
			s.pos++
		}
		if s.pos == len(s.b) {
			return s.malformed("unclosed element")
		}
		switch s.b[s.pos] {
		case ']':
			if s.has("]]>") {
				return s.malformed(`"]]>" in text`)
			}
			s.pos++
		case '&':
			if _, n := xmlRef(s.b[s.pos:]); n > 0 {
				s.pos += n
			} else {
				return s.malformed("bad or undefined entity reference")
			}
		default:
			var err error
			switch {
			case s.has("</"):
				err = s.endTag()
			case s.has("<!--"):
				s.capture.commentsOrPI = true
				err = s.comment()
			case s.has("<![CDATA["):
				err = s.cdata()
			case s.has("<?"):
				s.capture.commentsOrPI = true
				err = s.pi()
			case s.has("<!"):
				err = s.malformed("markup declaration inside an element")
			default:
				err = s.startTag()
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// startTag reads a start tag or empty-element tag and opens the element.
func (s *xmlScan) startTag() error {
	s.pos++ // '<'
	n, ok := s.qname()
	if !ok {
		return s.malformed("bad element name")
	}
	empty, err := s.attributes()
	if err != nil {
		return err
	}
	if len(s.open) == MaxDepth {
		return fmt.Errorf("%w: xml: more than %d nested elements", ErrTooDeep, MaxDepth)
	}
	if s.capture.active {
		s.failCapture("has child elements")
	}
	s.open = append(s.open, n)
	depth := len(s.open)
	for _, d := range s.decls {
		d.depth = depth
		s.nsBind = append(s.nsBind, d)
	}
	name := s.b[n.start:n.end]
	hit := -1
	for t := range s.l.targets {
		tg := &s.l.targets[t]
		segs := tg.segs
		if s.matched[t] != depth-1 || depth > len(segs) {
			continue
		}
		if seg := &segs[depth-1]; tg.ns && seg.matchNS(name, s) || !tg.ns && seg.match(name) {
			s.matched[t] = depth
			if depth == len(segs) && hit < 0 {
				hit = t
			}
		}
	}
	if empty {
		s.close()
		return nil
	}
	if hit >= 0 {
		s.capture = xmlCapture{active: true, target: hit, depth: depth, start: s.pos}
	}
	return nil
}

// close closes the innermost open element.
func (s *xmlScan) close() {
	depth := len(s.open)
	for t, m := range s.matched {
		if m == depth {
			s.matched[t] = depth - 1
		}
	}
	s.open = s.open[:depth-1]
	for len(s.nsBind) > 0 && s.nsBind[len(s.nsBind)-1].depth == depth {
		s.nsBind = s.nsBind[:len(s.nsBind)-1]
	}
}

// attributes reads a start tag's attributes up to its end and reports
// whether it was an empty-element tag.
func (s *xmlScan) attributes() (empty bool, err error) {
	s.attrs = s.attrs[:0]
	s.decls = s.decls[:0]
	var seen map[string]struct{} // once there are many attributes
	for {
		sp := s.ws()
		switch {
		case s.pos == len(s.b):
			return false, s.malformed("unterminated start tag")
		case s.b[s.pos] == '>':
			s.pos++
			return false, nil
		case s.has("/>"):
			s.pos += 2
			return true, nil
		case !sp:
			return false, s.malformed("bad start tag")
		}
		n, ok := s.qname()
		if !ok {
			return false, s.malformed("bad attribute name")
		}
		name := s.b[n.start:n.end]
		if seen != nil {
			if _, dup := seen[string(name)]; dup {
				return false, s.malformed("repeated attribute")
			}
			seen[string(name)] = struct{}{}
		} else {
			for _, a := range s.attrs {
				if bytes.Equal(s.b[a.start:a.end], name) {
					return false, s.malformed("repeated attribute")
				}
			}
			s.attrs = append(s.attrs, n)
			if len(s.attrs) == 16 {
				seen = make(map[string]struct{}, 32)
				for _, a := range s.attrs {
					seen[string(s.b[a.start:a.end])] = struct{}{}
				}
			}
		}
		s.ws()
		if !s.has("=") {
			return false, s.malformed("attribute without a value")
		}
		s.pos++
		s.ws()
		if s.pos == len(s.b) || s.b[s.pos] != '"' && s.b[s.pos] != '\'' {
			return false, s.malformed("unquoted attribute value")
		}
		quote := s.b[s.pos]
		s.pos++
		valueStart := s.pos
	value:
		for {
			for s.pos < len(s.b) && !xmlAttStop[s.b[s.pos]] {
				s.pos++
			}
			if s.pos == len(s.b) {
				return false, s.malformed("unterminated attribute value")
			}
			switch c := s.b[s.pos]; {
			case c == '"' || c == '\'':
				s.pos++
				if c == quote {
					break value
				}
			case c == '<':
				return false, s.malformed("< in an attribute value")
			case c == '&':
				_, n := xmlRef(s.b[s.pos:])
				if n == 0 {
					return false, s.malformed("bad or undefined entity reference")
				}
				s.pos += n
			}
		}
		if pfx, ok := bytes.CutPrefix(name, []byte("xmlns")); ok && (len(pfx) == 0 || pfx[0] == ':') {
			s.decls = append(s.decls, xmlNSBinding{prefix: string(bytes.TrimPrefix(pfx, []byte(":"))), uri: string(s.b[valueStart : s.pos-1])})
		}
	}
}

// endTag reads an end tag, which must close the innermost open element.
func (s *xmlScan) endTag() error {
	tag := s.pos
	s.pos += 2
	n, ok := s.qname()
	if !ok {
		return s.malformed("bad end tag")
	}
	s.ws()
	if !s.has(">") {
		return s.malformed("bad end tag")
	}
	s.pos++
	top := s.open[len(s.open)-1]
	if !bytes.Equal(s.b[n.start:n.end], s.b[top.start:top.end]) {
		s.pos = tag
		return s.malformed("end tag does not match the open element")
	}
	if s.capture.active && s.capture.depth == len(s.open) {
		s.finishCapture(tag)
	}
	s.close()
	return nil
}

// cdata reads a CDATA section.
func (s *xmlScan) cdata() error {
	start := s.pos + len("<![CDATA[")
	i := bytes.Index(s.b[start:], []byte("]]>"))
	if i < 0 {
		return s.malformed("unterminated CDATA section")
	}
	if s.capture.active {
		s.capture.cdata++
		s.capture.cdStart, s.capture.cdEnd = start, start+i
	}
	s.pos = start + i + 3
	return nil
}

// failCapture ends the capture with a target type error.
func (s *xmlScan) failCapture(what string) {
	s.capture.active = false
	if s.typeErr == nil {
		t := &s.l.targets[s.capture.target]
		s.typeErr = fmt.Errorf("%w: target %d (xml %s): the element %s; a targeted element holds text or one CDATA section only", ErrTargetType, t.index, t.path, what)
	}
}

// finishCapture records the span of the captured element, whose content
// ends at end.
func (s *xmlScan) finishCapture(end int) {
	c := s.capture
	switch {
	case c.commentsOrPI:
		s.failCapture("has comments or processing instructions in it")
		return
	case c.cdata > 1:
		s.failCapture("has several CDATA sections")
		return
	case c.cdata == 1 && (!xmlAllSpace(s.b[c.start:c.cdStart-len("<![CDATA[")]) || !xmlAllSpace(s.b[c.cdEnd+len("]]>"):end])):
		s.failCapture("mixes text and CDATA")
		return
	}
	s.capture.active = false
	enc := XMLText
	start, stop := c.start, end
	if c.cdata == 1 {
		enc = XMLCDATA
		start, stop = c.cdStart, c.cdEnd
	}
	for start < stop && xmlIsSpace(s.b[start]) {
		start++
	}
	for stop > start && xmlIsSpace(s.b[stop-1]) {
		stop--
	}
	if start == stop {
		return
	}
	raw := s.b[start:stop]
	var v string
	if enc == XMLText {
		v = xmlUnescape(raw)
	} else {
		v = xmlNormalizeLineEnds(raw)
	}
	s.spans = append(s.spans, Span{Start: start, End: stop, Value: v, Encoding: enc, Target: s.l.targets[c.target].index})
}

func xmlAllSpace(b []byte) bool {
	for _, c := range b {
		if !xmlIsSpace(c) {
			return false
		}
	}
	return true
}

// name reads an XML Name.
func (s *xmlScan) name() (xmlName, bool) {
	n := xmlNameLen(s.b[s.pos:])
	if n == 0 {
		return xmlName{}, false
	}
	s.pos += n
	return xmlName{s.pos - n, s.pos}, true
}

// qname reads an element or attribute name: a Name with at most one colon,
// not at either end.
func (s *xmlScan) qname() (xmlName, bool) {
	n, ok := s.name()
	return n, ok && xmlQNameOK(s.b[n.start:n.end])
}

// xmlNameLen returns the length of the XML Name at the start of b, 0 if
// there is none.
func xmlNameLen(b []byte) int {
	i := 0
	if len(b) > 0 && b[0] < utf8.RuneSelf {
		if !xmlIsNameChar(rune(b[0]), true) {
			return 0
		}
		i = 1
	}
	for i < len(b) {
		if c := b[i]; c < utf8.RuneSelf {
			if !xmlASCIIName[c] {
				break
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if !xmlIsNameChar(r, i == 0) {
			break
		}
		i += size
	}
	return i
}

// xmlASCIIName is the ASCII characters a Name may hold after its first.
var xmlASCIIName = func() (t [utf8.RuneSelf]bool) {
	for c := range t {
		t[c] = xmlIsNameChar(rune(c), false)
	}
	return t
}()

// xmlQNameOK reports whether the Name q is a qualified name: NCName or
// NCName:NCName.
func xmlQNameOK(q []byte) bool {
	i := bytes.IndexByte(q, ':')
	if i < 0 {
		return true
	}
	if i == 0 || i == len(q)-1 || bytes.IndexByte(q[i+1:], ':') >= 0 {
		return false
	}
	r, _ := utf8.DecodeRune(q[i+1:])
	return xmlIsNameChar(r, true)
}

// xmlIsQName reports whether s is a qualified name (path segments).
func xmlIsQName(s string) bool {
	return s != "" && xmlNameLen([]byte(s)) == len(s) && xmlQNameOK([]byte(s))
}

// xmlIsNameChar reports whether r may appear in an XML 1.0 Name, first at
// its start.
func xmlIsNameChar(r rune, first bool) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '_', r == ':':
		return true
	case r < utf8.RuneSelf:
		return !first && (r >= '0' && r <= '9' || r == '-' || r == '.')
	case r >= 0xC0 && r <= 0xD6, r >= 0xD8 && r <= 0xF6, r >= 0xF8 && r <= 0x2FF,
		r >= 0x370 && r <= 0x37D, r >= 0x37F && r <= 0x1FFF, r >= 0x200C && r <= 0x200D,
		r >= 0x2070 && r <= 0x218F, r >= 0x2C00 && r <= 0x2FEF, r >= 0x3001 && r <= 0xD7FF,
		r >= 0xF900 && r <= 0xFDCF, r >= 0xFDF0 && r <= 0xFFFD, r >= 0x10000 && r <= 0xEFFFF:
		return true
	case r == 0xB7, r >= 0x300 && r <= 0x36F, r >= 0x203F && r <= 0x2040:
		return !first
	}
	return false
}

// xmlIsChar reports whether XML 1.0 allows the character r.
func xmlIsChar(r rune) bool {
	return r >= 0x20 && r <= 0xD7FF || r == '\t' || r == '\n' || r == '\r' ||
		r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}

// xmlBadChar returns the offset of the first byte of b that is not valid
// UTF-8 or not an XML character, -1 if there is none.
func xmlBadChar(b []byte) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for i := 0; i < len(b); {
		// Eight bytes at a time while they are all in [0x20, 0x80).
		for i+8 <= len(b) {
			w := binary.LittleEndian.Uint64(b[i:])
			if (w|(w-ones*0x20))&highs != 0 {
				break
			}
			i += 8
		}
		for i < len(b) && b[i] >= 0x20 && b[i] < utf8.RuneSelf {
			i++
		}
		if i == len(b) {
			break
		}
		if c := b[i]; c < utf8.RuneSelf {
			if c != '\t' && c != '\n' && c != '\r' {
				return i
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 || !xmlIsChar(r) {
			return i
		}
		i += n
	}
	return -1
}

// xmlRef reads the entity or character reference at the start of b ('&')
// and returns its character and length; length 0 when it is not one of the
// five predefined entities or a valid character reference.
func xmlRef(b []byte) (rune, int) {
	if len(b) < 3 || b[0] != '&' {
		return 0, 0
	}
	if b[1] != '#' {
		for _, e := range [...]struct {
			ref string
			r   rune
		}{{"&lt;", '<'}, {"&gt;", '>'}, {"&amp;", '&'}, {"&apos;", '\''}, {"&quot;", '"'}} {
			if bytes.HasPrefix(b, []byte(e.ref)) {
				return e.r, len(e.ref)
			}
		}
		return 0, 0
	}
	i, base := 2, rune(10)
	if b[2] == 'x' {
		i, base = 3, 16
	}
	start := i
	var r rune
	for ; i < len(b) && b[i] != ';'; i++ {
		var d rune
		switch c := rune(b[i]); {
		case c >= '0' && c <= '9':
			d = c - '0'
		case base == 16 && c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case base == 16 && c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, 0
		}
		r = r*base + d
		if r > utf8.MaxRune {
			return 0, 0
		}
	}
	if i == start || i == len(b) || !xmlIsChar(r) {
		return 0, 0
	}
	return r, i + 1
}

// xmlUnescape decodes the references of well-formed text and normalizes
// its line ends.
func xmlUnescape(raw []byte) string {
	if bytes.IndexByte(raw, '&') < 0 {
		return xmlNormalizeLineEnds(raw)
	}
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); {
		switch raw[i] {
		case '&':
			r, n := xmlRef(raw[i:])
			out = utf8.AppendRune(out, r)
			i += n
		case '\r':
			out = append(out, '\n')
			i++
			if i < len(raw) && raw[i] == '\n' {
				i++
			}
		default:
			out = append(out, raw[i])
			i++
		}
	}
	return string(out)
}

// xmlNormalizeLineEnds turns "\r\n" and "\r" into "\n".
func xmlNormalizeLineEnds(raw []byte) string {
	if bytes.IndexByte(raw, '\r') < 0 {
		return string(raw)
	}
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		if raw[i] == '\r' {
			out = append(out, '\n')
			if i+1 < len(raw) && raw[i+1] == '\n' {
				i++
			}
			continue
		}
		out = append(out, raw[i])
	}
	return string(out)
}

// appendXMLEscaped writes v as XML character data: & < > as entities, "\r"
// and whitespace at either end as character references (so that a parser
// and this package's locator read back exactly v), and what XML cannot
// represent (invalid UTF-8, control characters) as U+FFFD.
func appendXMLEscaped(dst []byte, v string) []byte {
	lo, hi := 0, len(v)
	for lo < hi && xmlIsSpace(v[lo]) {
		lo++
	}
	for hi > lo && xmlIsSpace(v[hi-1]) {
		hi--
	}
	for i := 0; i < len(v); {
		c := v[i]
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(v[i:])
			if r == utf8.RuneError && n == 1 || !xmlIsChar(r) {
				dst = append(dst, "\uFFFD"...)
			} else {
				dst = append(dst, v[i:i+n]...)
			}
			i += n
			continue
		}
		switch {
		case c == '&':
			dst = append(dst, "&amp;"...)
		case c == '<':
			dst = append(dst, "&lt;"...)
		case c == '>':
			dst = append(dst, "&gt;"...)
		case c == '\r' || (i < lo || i >= hi) && xmlIsSpace(c):
			dst = append(dst, "&#"...)
			dst = strconv.AppendInt(dst, int64(c), 10)
			dst = append(dst, ';')
		case c < 0x20 && c != '\t' && c != '\n':
			dst = append(dst, "\uFFFD"...)
		default:
			dst = append(dst, c)
		}
		i++
	}
	return dst
}
