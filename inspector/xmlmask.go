package inspector

import (
	"strings"

	"golang.org/x/net/html"
)

// maskXMLElements masks, in an XML (or HTML) text, every value that an
// element named like a CVC, a secret or a cryptogram (sensitiveKey) holds
// as a parser reads it: its character data and CDATA sections, and what
// comments and processing instructions in it hold (a parser joins
// "7<!---->37" into 737, "<![CDATA[737]]>" is 737), the same in every
// element inside it ("<cvc><value>737</value></cvc>", as a JSON value
// inside an object so named is masked), and its attribute values; and
// anywhere, the value of an attribute so named (<card cvc="737"/>). The
// markup is kept and each masked byte but white space becomes '*'. The
// scan is lenient, as a page shows a truncated or malformed body too: a
// section not closed is masked to the end, an end tag (its name right
// after "</", as XML and HTML write it) closes the nearest open element of
// its name, and one nothing opened is ignored.
//
// The text is also read as an HTML parser reads it (maskHTMLElements),
// and what either reading puts inside such an element is masked: the two
// disagree on where markup ends ("<!-->" is a whole comment to HTML, the
// start of one to XML; "<![CDATA[", "<?" and "</ x" end at the first ">"
// in HTML; a <textarea> or <script> holds text, not elements), and a
// body is read by whichever parser its receiver has.
func maskXMLElements(text string) string {
	if !strings.Contains(text, "<") {
		return text
	}
	m := xmlMasker{s: text, b: []byte(text), open: map[string]int{}}
	m.scan()
	maskHTMLElements(text, m.b)
	return string(m.b)
}

// maskHTMLElements masks in b (text, masked so far) what an HTML parser
// (golang.org/x/net/html's tokenizer, whose raw tokens follow each other
// over the text) reads inside an element named like a CVC, a secret or a
// cryptogram: text, comments (bogus ones too: "<?x>", "<![CDATA[x]>",
// "</ x>") and attribute values, and anywhere an attribute so named. A
// tag written self-closing (<cvc/>) is read as XML reads it, empty, and a
// void element (<input>, <br>) opens nothing; an end tag closes the
// nearest open element of its name.
func maskHTMLElements(text string, b []byte) {
	m := xmlMasker{s: text, b: b}
	readHTML(text, func(t htmlToken) {
		switch t.Type {
		case html.TextToken:
			if t.Sensitive {
				m.mask(t.From, t.To)
			}
		case html.CommentToken, html.DoctypeToken:
			if t.Sensitive {
				m.maskContent(t.From, t.To)
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			m.attributes(t.From, t.To, t.Sensitive)
		}
	})
}

// htmlToken is a token of text as HTML reads it: its type, its bytes
// text[From:To], and whether it is inside an element named like a CVC, a
// secret or a cryptogram (a start tag: whether it is or is inside one).
type htmlToken struct {
	Type      html.TokenType
	From, To  int
	Sensitive bool
}

// readHTML calls visit with each token of text as golang.org/x/net/html's
// tokenizer reads it (its raw tokens follow each other over the text),
// keeping the open elements: a self-closing tag and a void element open
// none, an end tag closes the nearest open element of its name (and
// those opened after it); one of no open element is passed over at once
// (a count by name), so unmatched end tags under deep nesting cost no walk
// of the stack each.
func readHTML(text string, visit func(htmlToken)) {
	z := html.NewTokenizer(strings.NewReader(text))
	var names []string
	var inside []bool
	open := map[string]int{}
	for pos := 0; ; {
		tt := z.Next()
		if tt == html.ErrorToken {
			return
		}
		t := htmlToken{Type: tt, From: pos, To: pos + len(z.Raw()), Sensitive: len(inside) > 0 && inside[len(inside)-1]}
		pos = t.To
		switch tt {
		case html.StartTagToken, html.SelfClosingTagToken:
			name, _ := z.TagName()
			n := string(name)
			t.Sensitive = t.Sensitive || sensitiveKey(localName(n))
			if tt == html.StartTagToken && !voidElements[n] {
				names, inside = append(names, n), append(inside, t.Sensitive)
				open[n]++
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			if n := string(name); open[n] > 0 {
				for k := len(names) - 1; k >= 0; k-- {
					open[names[k]]--
					if names[k] == n {
						names, inside = names[:k], inside[:k]
						break
					}
				}
			}
		}
		visit(t)
	}
}

// voidElements are the HTML elements that have no end tag and hold
// nothing.
var voidElements = map[string]bool{"area": true, "base": true, "br": true, "col": true, "embed": true, "hr": true,
	"img": true, "input": true, "link": true, "meta": true, "source": true, "track": true, "wbr": true}

// maskContent masks the bytes of the markup section s[from:to] (a
// comment, a declaration) but its markup characters and white space.
func (m *xmlMasker) maskContent(from, to int) {
	for k := from; k < to && k < len(m.b); k++ {
		if !strings.ContainsRune("<>!-?/[] \t\r\n", rune(m.s[k])) {
			m.b[k] = '*'
		}
	}
}

// attributes masks the attribute values of the tag s[from:to] as startTag
// does: every value when all is set, else those of sensitive names.
func (m *xmlMasker) attributes(from, to int, all bool) {
	k := from + 1
	for k < to && !xmlSpace(m.s[k]) && m.s[k] != '>' && m.s[k] != '/' {
		k++
	}
	for k < to {
		for k < to && xmlSpace(m.s[k]) {
			k++
		}
		if k >= to || m.s[k] == '>' || m.s[k] == '/' && k+1 < to && m.s[k+1] == '>' {
			return
		}
		k = m.attribute(k, all)
	}
}

// xmlMasker is the state of maskXMLElements: the text, masked in place,
// and the open elements.
type xmlMasker struct {
	s      string         // the text as it came, read without copies
	b      []byte         // the text, masked in place
	names  []string       // open elements
	inside []bool         // per open element: it or an element around it is sensitive
	open   map[string]int // open elements by name: an end tag of none is passed over at once
}

func (m *xmlMasker) sensitive() bool { return len(m.inside) > 0 && m.inside[len(m.inside)-1] }

// mask masks b[from:to] but its white space.
func (m *xmlMasker) mask(from, to int) {
	for k := from; k < to && k < len(m.b); k++ {
		if c := m.b[k]; c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			m.b[k] = '*'
		}
	}
}

func (m *xmlMasker) scan() {
	b := m.b
	for i := 0; i < len(b); {
		if b[i] != '<' {
			j := i + 1
			for j < len(b) && b[j] != '<' {
				j++
			}
			if m.sensitive() {
				m.mask(i, j)
			}
			i = j
			continue
		}
		rest := m.s[i:]
		switch {
		case strings.HasPrefix(rest, "<!--"):
			i = m.section(i, "<!--", "-->")
		case strings.HasPrefix(rest, "<![CDATA["):
			i = m.section(i, "<![CDATA[", "]]>")
		case strings.HasPrefix(rest, "<?"):
			i = m.section(i, "<?", "?>")
		case strings.HasPrefix(rest, "</"):
			n := strings.IndexByte(rest, '>')
			if n < 0 { // not closed: to the end
				n = len(rest)
			}
			// An end tag's name follows "</" at once ("</ cvc>" is no end
			// tag to XML, a comment to HTML): what follows it is white
			// space only.
			if name := strings.TrimRight(rest[2:n], " \t\r\n"); name != "" && xmlNameStart(name[0]) &&
				!strings.ContainsAny(name, " \t\r\n") {
				m.close(name)
			} else if m.sensitive() {
				m.mask(i+2, i+n)
			}
			i += min(n+1, len(rest))
		case len(rest) > 1 && xmlNameStart(rest[1]):
			i += m.startTag(i)
		default: // a '<' that starts no markup: text to a lenient reader
			if m.sensitive() {
				m.mask(i, i+1)
			}
			i++
		}
	}
}

// section skips the comment, CDATA section or processing instruction at
// i, masking its content inside a sensitive element, and returns the index
// after it.
func (m *xmlMasker) section(i int, open, end string) int {
	from := i + len(open)
	j := strings.Index(m.s[from:], end)
	to, next := len(m.b), len(m.b)
	if j >= 0 {
		to = from + j
		next = to + len(end)
	}
	if m.sensitive() {
		m.mask(from, to)
	}
	return next
}

// close ends the nearest open element named name, and those opened
// after it.
func (m *xmlMasker) close(name string) {
	if m.open[name] == 0 {
		return
	}
	for k := len(m.names) - 1; k >= 0; k-- {
		n := m.names[k]
		m.open[n]--
		if n == name {
			m.names, m.inside = m.names[:k], m.inside[:k]
			return
		}
	}
}

// startTag reads the start tag at i, masks the attribute values it must,
// opens the element unless the tag closes it, and returns the tag's length.
func (m *xmlMasker) startTag(i int) int {
	b := m.s
	k := i + 1
	for k < len(b) && !xmlSpace(b[k]) && b[k] != '>' && b[k] != '/' {
		k++
	}
	name := m.s[i+1 : k]
	in := m.sensitive() || sensitiveKey(localName(name))
	for k < len(b) {
		for k < len(b) && xmlSpace(b[k]) {
			k++
		}
		switch {
		case k >= len(b):
		case b[k] == '>':
			m.names, m.inside = append(m.names, name), append(m.inside, in)
			m.open[name]++
			return k + 1 - i
		case b[k] == '/' && k+1 < len(b) && b[k+1] == '>':
			return k + 2 - i
		default:
			k = m.attribute(k, in)
			continue
		}
	}
	return len(b) - i
}

// attribute reads the attribute at k, masks its value when all is set or
// its name is sensitive, and returns the index after it.
func (m *xmlMasker) attribute(k int, all bool) int {
	b := m.s
	start := k
	for k < len(b) && !xmlSpace(b[k]) && b[k] != '=' && b[k] != '>' && (b[k] != '/' || k == start) {
		k++
	}
	name := m.s[start:k]
	for k < len(b) && xmlSpace(b[k]) {
		k++
	}
	if k >= len(b) || b[k] != '=' {
		return max(k, start+1)
	}
	k++
	for k < len(b) && xmlSpace(b[k]) {
		k++
	}
	from := k
	if k < len(b) && (b[k] == '"' || b[k] == '\'') {
		q := b[k]
		from = k + 1
		k = from
		for k < len(b) && b[k] != q {
			k++
		}
		if all || sensitiveKey(localName(name)) {
			m.mask(from, k)
		}
		return min(k+1, len(b))
	}
	for k < len(b) && !xmlSpace(b[k]) && b[k] != '>' {
		k++
	}
	if all || sensitiveKey(localName(name)) {
		m.mask(from, k)
	}
	return k
}

// localName drops a namespace prefix.
func localName(name string) string {
	if i := strings.LastIndexByte(name, ':'); i >= 0 {
		return name[i+1:]
	}
	return name
}

func xmlSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func xmlNameStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == ':' || c >= 0x80
}
