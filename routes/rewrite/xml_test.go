package rewrite

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// xmlFakeTokenizer is a reversible tokenizer for the XML tests: an alias is
// aliasFmt with a counter, remembered both ways. It counts calls and keeps
// the last Redact call's items.
type xmlFakeTokenizer struct {
	aliasFmt     string
	toAlias      map[string]string
	toValue      map[string]string
	redactCalls  int
	revealCalls  int
	redactedLast []RedactItem
}

func newXMLFakeTokenizer(aliasFmt string) *xmlFakeTokenizer {
	return &xmlFakeTokenizer{aliasFmt: aliasFmt, toAlias: map[string]string{}, toValue: map[string]string{}}
}

func (f *xmlFakeTokenizer) Redact(_ context.Context, items []RedactItem) ([]string, error) {
	f.redactCalls++
	f.redactedLast = slices.Clone(items)
	out := make([]string, len(items))
	for i, it := range items {
		a, ok := f.toAlias[it.Value]
		if !ok {
			a = fmt.Sprintf(f.aliasFmt, len(f.toAlias)+1)
			f.toAlias[it.Value] = a
			f.toValue[a] = it.Value
		}
		out[i] = a
	}
	return out, nil
}

func (f *xmlFakeTokenizer) Reveal(_ context.Context, aliases []string) ([]string, error) {
	f.revealCalls++
	out := make([]string, len(aliases))
	for i, a := range aliases {
		out[i] = f.toValue[a]
	}
	return out, nil
}

func xmlSpecs(paths ...string) []TargetSpec {
	specs := make([]TargetSpec, len(paths))
	for i, p := range paths {
		specs[i] = TargetSpec{Kind: KindXML, Path: p}
	}
	return specs
}

func xmlTestLocator(t testing.TB, paths ...string) Locator {
	t.Helper()
	idx := make([]int, len(paths))
	for i := range idx {
		idx[i] = i
	}
	l, err := newXMLLocator(xmlSpecs(paths...), idx)
	if err != nil {
		t.Fatalf("newXMLLocator(%q): %v", paths, err)
	}
	return l
}

func xmlLocateBody(t testing.TB, body string, paths ...string) ([]Span, error) {
	t.Helper()
	return xmlTestLocator(t, paths...).Locate(&Message{Body: []byte(body), MediaType: "application/xml"})
}

// xmlCheckSpans checks the Locator contract: spans in bounds, non-empty,
// sorted by Start, not overlapping.
func xmlCheckSpans(t testing.TB, body []byte, spans []Span) {
	t.Helper()
	last := 0
	for _, s := range spans {
		if s.Start < last || s.End > len(body) || s.Start >= s.End {
			t.Fatalf("bad span [%d,%d) after %d in a body of %d bytes", s.Start, s.End, last, len(body))
		}
		if s.Encoding != XMLText && s.Encoding != XMLCDATA {
			t.Fatalf("span [%d,%d) has encoding %d", s.Start, s.End, s.Encoding)
		}
		last = s.End
	}
}

type xmlWant struct {
	raw    string // body bytes the span covers
	value  string
	enc    Encoding
	target int
}

func TestXMLLocatorFindsElementText(t *testing.T) {
	text := func(raw, value string) xmlWant { return xmlWant{raw, value, XMLText, 0} }
	cdata := func(raw, value string) xmlWant { return xmlWant{raw, value, XMLCDATA, 0} }
	tests := []struct {
		name  string
		paths []string
		body  string
		want  []xmlWant
	}{
		{
			name:  "simple path",
			paths: []string{"/payment/card/pan"},
			body:  `<payment><card><pan>4111111111111111</pan><cvc>123</cvc></card></payment>`,
			want:  []xmlWant{text("4111111111111111", "4111111111111111")},
		},
		{
			name:  "nested path among siblings of the same names",
			paths: []string{"/a/b/c/d"},
			body:  `<a><c><d>1</d></c><b><d>2</d><c><d>3</d></c></b><b><c><e><d>4</d></e></c></b></a>`,
			want:  []xmlWant{text("3", "3")},
		},
		{
			name:  "root element",
			paths: []string{"/pan"},
			body:  `<pan>42</pan>`,
			want:  []xmlWant{text("42", "42")},
		},
		{
			name:  "repeated elements are all located",
			paths: []string{"/payment/card/pan"},
			body:  `<payment><card><pan>1</pan><pan>2</pan></card><other><pan>x</pan></other><card><pan>3</pan></card></payment>`,
			want:  []xmlWant{text("1", "1"), text("2", "2"), text("3", "3")},
		},
		{
			name:  "the same name at another depth is not a target",
			paths: []string{"/a/pan"},
			body:  `<a><b><pan>1</pan></b><pan>2</pan><c><pan/></c></a>`,
			want:  []xmlWant{text("2", "2")},
		},
		{
			name:  "a prefix in the document matches an unprefixed segment",
			paths: []string{"/payment/card/pan"},
			body:  `<p:payment xmlns:p="urn:pay"><p:card><p:pan>41</p:pan><pan>42</pan><q:pan xmlns:q="urn:q">43</q:pan></p:card></p:payment>`,
			want:  []xmlWant{text("41", "41"), text("42", "42"), text("43", "43")},
		},
		{
			name:  "a prefixed segment matches that prefix only",
			paths: []string{"/payment/p:pan"},
			body:  `<payment xmlns:p="urn:p" xmlns:q="urn:p"><p:pan>1</p:pan><q:pan>2</q:pan><pan>3</pan></payment>`,
			want:  []xmlWant{text("1", "1")},
		},
		{
			name:  "default namespace",
			paths: []string{"/payment/pan"},
			body:  `<payment xmlns="urn:pay"><pan>9</pan></payment>`,
			want:  []xmlWant{text("9", "9")},
		},
		{
			name:  "character references are decoded",
			paths: []string{"/a/pan"},
			body:  `<a><pan>41&#49;1&#x31;1&#x0031;11</pan></a>`,
			want:  []xmlWant{text("41&#49;1&#x31;1&#x0031;11", "411111111")},
		},
		{
			name:  "predefined entities are decoded",
			paths: []string{"/a/pan"},
			body:  `<a><pan>a&amp;b&lt;c&gt;d&quot;e&apos;f</pan></a>`,
			want:  []xmlWant{text("a&amp;b&lt;c&gt;d&quot;e&apos;f", `a&b<c>d"e'f`)},
		},
		{
			name:  "CDATA section",
			paths: []string{"/a/pan"},
			body:  `<a><pan><![CDATA[4111111111111111]]></pan></a>`,
			want:  []xmlWant{cdata("4111111111111111", "4111111111111111")},
		},
		{
			name:  "CDATA containing ]] and markup is raw",
			paths: []string{"/a/pan"},
			body:  `<a><pan><![CDATA[41]]11<b>&amp;]]]></pan></a>`,
			want:  []xmlWant{cdata("41]]11<b>&amp;]", "41]]11<b>&amp;]")},
		},
		{
			name:  "whitespace around a CDATA section stays outside the span",
			paths: []string{"/a/pan"},
			body:  "<a>\n  <pan>\n    <![CDATA[ 4111 1111 ]]>\n  </pan>\n</a>",
			want:  []xmlWant{cdata("4111 1111", "4111 1111")},
		},
		{
			name:  "whitespace around text stays outside the span",
			paths: []string{"/a/pan"},
			body:  "<a>\n  <pan>\r\n\t 4111 1111\n  </pan>\n</a>",
			want:  []xmlWant{text("4111 1111", "4111 1111")},
		},
		{
			name:  "whitespace written as references is part of the value",
			paths: []string{"/a/pan"},
			body:  "<a><pan> &#32;41&#10; </pan></a>",
			want:  []xmlWant{text("&#32;41&#10;", " 41\n")},
		},
		{
			name:  "line ends in a value are normalized, a &#13; reference is not",
			paths: []string{"/a/pan", "/a/cvc"},
			body:  "<a><pan>41\r\n11\r22&#13;33</pan><cvc><![CDATA[1\r\n2\r3]]></cvc></a>",
			want:  []xmlWant{text("41\r\n11\r22&#13;33", "41\n11\n22\r33"), {"1\r\n2\r3", "1\n2\n3", XMLCDATA, 1}},
		},
		{
			name:  "empty elements are skipped",
			paths: []string{"/a/pan"},
			body:  "<a><pan/><pan /><pan></pan><pan> \n\t</pan><pan><![CDATA[]]></pan><pan> <![CDATA[  ]]> </pan><pan>7</pan></a>",
			want:  []xmlWant{text("7", "7")},
		},
		{
			name:  "comments, processing instructions, declaration and external DTD around targets",
			paths: []string{"/a/pan"},
			body: "\xef\xbb\xbf<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n" +
				"<!DOCTYPE a PUBLIC \"-//Example//DTD Payment v1//EN\" \"http://dtd.example.com/payment_v1.dtd\">\n" +
				"<!-- <a><pan>0</pan></a> --><?style href=\"x\"?>\n" +
				"<a><!-- <pan>1</pan> --><?p <pan>2</pan>?><pan>3</pan><!----><?q?></a>\n<!-- end -->\n",
			want: []xmlWant{text("3", "3")},
		},
		{
			name:  "attributes with > and references, single and double quoted",
			paths: []string{"/a/pan"},
			body:  `<a x='1>2' y = "&lt;pan&gt;" z="it's"><pan id="p&amp;1" class='&#49;'>5</pan></a>`,
			want:  []xmlWant{text("5", "5")},
		},
		{
			name:  "text outside the targets may hold anything XML allows",
			paths: []string{"/a/pan"},
			body:  `<a><note>&#49; ]] > &amp; ] ]]</note><pan>1</pan><x><![CDATA[<pan>]]></x></a>`,
			want:  []xmlWant{text("1", "1")},
		},
		{
			name:  "non-ASCII names and values",
			paths: []string{"/zahlung/karte/nummer"},
			body:  `<zahlung><karte><nummer>Zoë ✓ 4111</nummer></karte></zahlung>`,
			want:  []xmlWant{text("Zoë ✓ 4111", "Zoë ✓ 4111")},
		},
		{
			name:  "several targets in document order",
			paths: []string{"/r/a", "/r/b"},
			body:  `<r><b>1</b><a>2</a><b><![CDATA[3]]></b></r>`,
			want:  []xmlWant{{"1", "1", XMLText, 1}, {"2", "2", XMLText, 0}, {"3", "3", XMLCDATA, 1}},
		},
		{
			name:  "a target that does not occur is not an error",
			paths: []string{"/payment/card/pan"},
			body:  `<payment><card><number>4111</number></card></payment>`,
		},
		{
			name:  "end tags may have whitespace before >",
			paths: []string{"/a/pan"},
			body:  "<a\n><pan\t>6</pan\n></a >",
			want:  []xmlWant{text("6", "6")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spans, err := xmlLocateBody(t, tt.body, tt.paths...)
			if err != nil {
				t.Fatalf("Locate: %v", err)
			}
			xmlCheckSpans(t, []byte(tt.body), spans)
			if len(spans) != len(tt.want) {
				t.Fatalf("got %d spans %+v, want %d", len(spans), spans, len(tt.want))
			}
			for i, s := range spans {
				w := tt.want[i]
				if raw := tt.body[s.Start:s.End]; raw != w.raw || s.Value != w.value || s.Encoding != w.enc || s.Target != w.target {
					t.Errorf("span %d covers %q value %q encoding %d target %d, want %q %q %d %d", i, raw, s.Value, s.Encoding, s.Target, w.raw, w.value, w.enc, w.target)
				}
			}
			xmlCheckAgainstEncodingXML(t, []byte(tt.body), tt.paths, spans)
		})
	}
}

func TestXMLSpansCarryTheProgramsTargetIndex(t *testing.T) {
	l, err := newXMLLocator(xmlSpecs("/r/a", "/r/b"), []int{4, 7})
	if err != nil {
		t.Fatal(err)
	}
	spans, err := l.Locate(&Message{Body: []byte(`<r><b>1</b><a>2</a></r>`)})
	if err != nil {
		t.Fatal(err)
	}
	if len(spans) != 2 || spans[0].Target != 7 || spans[1].Target != 4 {
		t.Fatalf("spans %+v, want targets 7 then 4", spans)
	}
}

func TestXMLLocatorRefusesTargetsThatAreNotText(t *testing.T) {
	tests := []struct{ name, body string }{
		{"child element", `<a><pan><x>4111</x></pan></a>`},
		{"empty child element", `<a><pan>4111<x/></pan></a>`},
		{"comment inside", `<a><pan>41<!-- -->11</pan></a>`},
		{"processing instruction inside", `<a><pan>41<?p?>11</pan></a>`},
		{"text beside CDATA", `<a><pan>41<![CDATA[11]]></pan></a>`},
		{"CDATA beside text", `<a><pan><![CDATA[41]]>11</pan></a>`},
		{"reference beside CDATA", `<a><pan>&#32;<![CDATA[11]]></pan></a>`},
		{"two CDATA sections", `<a><pan><![CDATA[41]]><![CDATA[11]]></pan></a>`},
		{"second occurrence has children", `<a><pan>1</pan><pan><x/></pan></a>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := xmlLocateBody(t, tt.body, "/b/c", "/a/pan")
			if !errors.Is(err, ErrTargetType) {
				t.Fatalf("err = %v, want ErrTargetType", err)
			}
			if msg := err.Error(); !strings.Contains(msg, "target 1") || !strings.Contains(msg, "/a/pan") {
				t.Errorf("error %q does not name the target", msg)
			}
		})
	}
}

func TestXMLLocatorReportsMalformedBeforeTargetType(t *testing.T) {
	_, err := xmlLocateBody(t, `<a><pan><x/></pan>`, "/a/pan")
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("err = %v, want ErrMalformed", err)
	}
}

func TestXMLLocatorRefusesDTDSubsetsAndEntities(t *testing.T) {
	tests := []struct{ name, body string }{
		{"billion laughs", `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><a><pan>&lol2;</pan></a>`},
		{"entity hiding a value", `<!DOCTYPE a [<!ENTITY pan "4111111111111111">]><a><pan>&pan;</pan></a>`},
		{"empty internal subset", `<!DOCTYPE a []><a/>`},
		{"external DTD with an internal subset", `<!DOCTYPE a SYSTEM "a.dtd" [<!ENTITY e "x">]><a/>`},
		{"external entity", `<!DOCTYPE a [<!ENTITY e SYSTEM "file:///etc/passwd">]><a><pan>&e;</pan></a>`},
		{"entity from an external DTD", `<!DOCTYPE a SYSTEM "a.dtd"><a><pan>&pan;</pan></a>`},
		{"entity in an attribute", `<!DOCTYPE a SYSTEM "a.dtd"><a x="&e;"/>`},
		{"entity declaration inside the root", `<a><!ENTITY x "y"></a>`},
		{"DOCTYPE after the root", `<a/><!DOCTYPE a>`},
		{"two DOCTYPEs", `<!DOCTYPE a><!DOCTYPE a><a/>`},
		{"PUBLIC without a system literal", `<!DOCTYPE a PUBLIC "x"><a/>`},
		{"lower-case doctype", `<!doctype a><a/>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := xmlLocateBody(t, tt.body, "/a/pan"); !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestXMLLocatorLimitsNesting(t *testing.T) {
	nest := func(depth int, inner string) string {
		return strings.Repeat("<a>", depth-1) + inner + strings.Repeat("</a>", depth-1)
	}
	if _, err := xmlLocateBody(t, nest(MaxDepth, "<a>1</a>"), "/b"); err != nil {
		t.Errorf("%d levels: %v", MaxDepth, err)
	}
	if spans, err := xmlLocateBody(t, nest(MaxDepth, "<a>1</a>"), strings.Repeat("/a", MaxDepth)); err != nil || len(spans) != 1 {
		t.Errorf("target %d levels deep: %d spans, %v", MaxDepth, len(spans), err)
	}
	if _, err := xmlLocateBody(t, nest(MaxDepth, "<a/>"), "/b"); err != nil {
		t.Errorf("%d levels, empty innermost: %v", MaxDepth, err)
	}
	for _, inner := range []string{"<a>1</a>", "<a/>", "<a>"} {
		if _, err := xmlLocateBody(t, nest(MaxDepth+1, inner), "/b"); !errors.Is(err, ErrTooDeep) {
			t.Errorf("%d levels (%s innermost): err = %v, want ErrTooDeep", MaxDepth+1, inner, err)
		}
	}
	// Width is not depth.
	wide := "<a>" + strings.Repeat("<b><c>1</c></b>", 10000) + "</a>"
	if spans, err := xmlLocateBody(t, wide, "/a/b/c"); err != nil || len(spans) != 10000 {
		t.Errorf("wide body: %d spans, %v", len(spans), err)
	}
}

func TestXMLLocatorRefusesMalformedBodies(t *testing.T) {
	tests := []struct{ name, body string }{
		{"whitespace only", " \n"},
		{"comment only", "<!-- x -->"},
		{"text only", "4111111111111111"},
		{"JSON", `{"pan":"4111"}`},
		{"unclosed root", "<a><pan>1</pan>"},
		{"unclosed target", "<a><pan>1"},
		{"mismatched end tag", "<a><pan>1</nap></a>"},
		{"end tag with another prefix", "<a><p:pan>1</q:pan></a>"},
		{"end tag without start tag", "</a>"},
		{"end tag after the root", "<a/></a>"},
		{"two root elements", "<a/><b/>"},
		{"text after the root", "<a/>x"},
		{"text before the root", "x<a/>"},
		{"CDATA outside the root", "<![CDATA[x]]><a/>"},
		{"undefined entity in a target", "<a><pan>4111&bogus;</pan></a>"},
		{"unterminated reference", "<a><pan>41&amp</pan></a>"},
		{"bare ampersand", "<a>&</a>"},
		{"ampersand and space", "<a>& b</a>"},
		{"empty character reference", "<a>&#;</a>"},
		{"empty hex reference", "<a>&#x;</a>"},
		{"reference to NUL", "<a>&#0;</a>"},
		{"reference beyond Unicode", "<a>&#x110000;</a>"},
		{"huge reference", "<a>&#99999999999999999999;</a>"},
		{"reference to a surrogate", "<a>&#xD800;</a>"},
		{"reference to U+FFFE", "<a>&#xFFFE;</a>"},
		{"upper-case X in a hex reference", "<a>&#X31;</a>"},
		{"< in an attribute value", `<a x="<"/>`},
		{"unquoted attribute value", `<a x=1/>`},
		{"attribute without a value", `<a x/>`},
		{"repeated attribute", `<a x="1" x='2'/>`},
		{"repeated attribute among many", "<a" + func() string {
			var b strings.Builder
			for i := range 40 {
				fmt.Fprintf(&b, " x%d='%d'", i, i)
			}
			return b.String()
		}() + ` x7="again"/>`},
		{"attributes without whitespace between", `<a x="1"y="2"/>`},
		{"unterminated attribute value", `<a x="1/>`},
		{"bad reference in an attribute", `<a x="&#0;"/>`},
		{"element name starting with a digit", "<1a/>"},
		{"space after <", "< a/>"},
		{"two colons in a name", "<a:b:c/>"},
		{"leading colon", "<:a/>"},
		{"trailing colon", "<a:/>"},
		{"local name starting with a digit", "<a:1/>"},
		{"bad end tag name", "<a></1a>"},
		{"]]> in text", "<a>]]></a>"},
		{"]]> in a target", "<a><pan>41]]>11</pan></a>"},
		{"-- in a comment", "<a><!-- a -- b --></a>"},
		{"comment ending in --->", "<a><!-- a ---></a>"},
		{"unterminated comment", "<a><!-- </a>"},
		{"<!- not a comment", "<a><!- x --></a>"},
		{"unterminated CDATA", "<a><![CDATA[ </a>"},
		{"unterminated processing instruction", "<a><?p </a>"},
		{"processing instruction without a target", "<a><? x?></a>"},
		{"processing instruction target glued to data", "<a><?p\"x\"?></a>"},
		{"declaration not at the start", " <?xml version=\"1.0\"?><a/>"},
		{"declaration inside the root", `<a><?xml version="1.0"?></a>`},
		{"upper-case XML processing instruction", `<a><?XML x?></a>`},
		{"second declaration", `<?xml version="1.0"?><?xml version="1.0"?><a/>`},
		{"XML 1.1", `<?xml version="1.1"?><a/>`},
		{"declaration without version", `<?xml encoding="UTF-8"?><a/>`},
		{"declaration without anything", `<?xml?><a/>`},
		{"declaration attributes out of order", `<?xml version="1.0" standalone="yes" encoding="UTF-8"?><a/>`},
		{"bad standalone", `<?xml version="1.0" standalone="maybe"?><a/>`},
		{"Latin-1 declared", `<?xml version="1.0" encoding="ISO-8859-1"?><a/>`},
		{"UTF-16 declared", `<?xml version="1.0" encoding="UTF-16"?><a/>`},
		{"UTF-16 body", "\xff\xfe<\x00a\x00/\x00>\x00"},
		{"non-ASCII in a US-ASCII body", `<?xml version="1.0" encoding="US-ASCII"?><a>é</a>`},
		{"invalid UTF-8", "<a>\xff</a>"},
		{"overlong UTF-8", "<a>\xc0\xaf</a>"},
		{"encoded surrogate", "<a>\xed\xa0\x80</a>"},
		{"control character", "<a>\x01</a>"},
		{"NUL", "<a>\x00</a>"},
		{"U+FFFF", "<a>\uffff</a>"},
		{"truncated start tag", "<a"},
		{"truncated attribute", "<a x"},
		{"truncated after =", "<a x="},
		{"truncated end tag", "<a></a"},
		{"lone <", "<"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := xmlLocateBody(t, tt.body, "/a/pan")
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestXMLErrorsDoNotQuoteTheBody(t *testing.T) {
	const pan = "4111111111111111"
	bodies := []string{
		"<a><pan>" + pan + "&bogus;</pan></a>",
		"<a><pan>" + pan + "</nap></a>",
		"<a><pan>" + pan,
		"<" + pan + "/>",
		"<a x=" + pan + "/>",
		"<a><pan><x>" + pan + "</x></pan></a>",
		"<a><pan>" + pan + "<![CDATA[" + pan + "]]></pan></a>",
		`<!DOCTYPE a [<!ENTITY pan "` + pan + `">]><a/>`,
		"<a>" + pan + "\x01</a>",
		"<a/>" + pan,
		pan,
	}
	for _, body := range bodies {
		_, err := xmlLocateBody(t, body, "/a/pan")
		if err == nil {
			t.Errorf("no error for a bad body")
			continue
		}
		if strings.Contains(err.Error(), "4111") {
			t.Errorf("error quotes the body: %v", err)
		}
	}
}

func TestNewXMLLocatorChecksPaths(t *testing.T) {
	tests := []struct {
		name  string
		paths []string
		want  string // in the error
	}{
		{"empty", []string{""}, "empty"},
		{"relative", []string{"payment/card/pan"}, "absolute"},
		{"descendant", []string{"//pan"}, "//"},
		{"descendant inside", []string{"/payment//pan"}, "//"},
		{"root only", []string{"/"}, "names no element"},
		{"trailing slash", []string{"/payment/"}, "ends with /"},
		{"predicate", []string{"/payment/card[1]/pan"}, "predicates"},
		{"attribute predicate", []string{"/payment/card[@type='x']/pan"}, "predicates"},
		{"attribute", []string{"/payment/card/@pan"}, "attributes"},
		{"wildcard", []string{"/payment/*/pan"}, "wildcards"},
		{"prefix wildcard", []string{"/payment/ns:*"}, "wildcards"},
		{"self step", []string{"/payment/./pan"}, "relative"},
		{"parent step", []string{"/payment/card/../pan"}, "relative"},
		{"axis", []string{"/child::payment"}, "axes"},
		{"node test", []string{"/payment/text()"}, "functions"},
		{"space in a name", []string{"/payment/card pan"}, "segment 2"},
		{"name starting with a digit", []string{"/payment/1pan"}, "segment 2"},
		{"two colons", []string{"/a:b:c"}, "segment 1"},
		{"leading colon", []string{"/:a"}, "segment 1"},
		{"trailing colon", []string{"/a:"}, "segment 1"},
		{"deeper than MaxDepth", []string{strings.Repeat("/a", MaxDepth+1)}, "deeper"},
		{"same path twice", []string{"/a/pan", "/a/pan"}, "same element"},
		{"prefixed and unprefixed", []string{"/a/pan", "/a/x:pan"}, "same element"},
		{"unprefixed and prefixed parent", []string{"/a/x:b/c", "/a/b/c"}, "same element"},
		{"one inside the other", []string{"/a/b", "/a/b/c"}, "one inside the other"},
		{"the other inside the one", []string{"/a/b/c", "/a/b"}, "one inside the other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idx := make([]int, len(tt.paths))
			for i := range idx {
				idx[i] = 3 + i
			}
			_, err := newXMLLocator(xmlSpecs(tt.paths...), idx)
			if err == nil {
				t.Fatal("no error")
			}
			if msg := err.Error(); !strings.Contains(msg, tt.want) || !strings.Contains(msg, fmt.Sprintf("target %d", 3+len(tt.paths)-1)) {
				t.Errorf("error %q, want it to mention %q and the target", msg, tt.want)
			}
		})
	}
	// And through Compile.
	if _, err := Compile(Redact, []TargetSpec{{Kind: KindHeader, Path: "X-Pan"}, {Kind: KindXML, Path: "/a//pan"}}); err == nil || !strings.Contains(err.Error(), "target 1") {
		t.Errorf("Compile: err = %v, want one naming target 1", err)
	}
	for _, ok := range [][]string{
		{"/payment/card/pan"},
		{"/p:payment/c:card/pan"},
		{"/a/x:pan", "/a/y:pan"},
		{"/a/pan", "/b/pan"},
		{"/a/b/pan", "/a/c/pan", "/a/cvc"},
		{"/zahlung/karte/nummer", "/a.b/c-d/_e"},
	} {
		if _, err := newXMLLocator(xmlSpecs(ok...), make([]int, len(ok))); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
}

func TestAppendXMLEscaped(t *testing.T) {
	tests := []struct{ in, want string }{
		{"4111111111111111", "4111111111111111"},
		{"", ""},
		{`a&b<c>d"e'f`, `a&amp;b&lt;c&gt;d"e'f`},
		{"x]]>y", "x]]&gt;y"},
		{"4111 1111", "4111 1111"},
		{" 41 ", "&#32;41&#32;"},
		{"\t41\n", "&#9;41&#10;"},
		{"   ", "&#32;&#32;&#32;"},
		{"a\r\nb", "a&#13;\nb"},
		{"a\tb", "a\tb"},
		{"a\x00b\x1f", "a\uFFFDb\uFFFD"},
		{"\xff", "\uFFFD"},
		{"\uFFFE", "\uFFFD"},
		{"Zoë ✓ 😀", "Zoë ✓ 😀"},
	}
	for _, tt := range tests {
		if got := string(appendXMLEscaped([]byte("<"), tt.in)); got != "<"+tt.want {
			t.Errorf("appendXMLEscaped(%q) = %q, want %q", tt.in, got[1:], tt.want)
		}
	}
}

func TestXMLEscapedValuesReadBackExactly(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	values := []string{`a&b<c>d"e'f`, "x]]>y", " 41 ", "\t41\n", "   ", "a\r\nb", "\r", "Zoë ✓ 😀", "&amp;"}
	alphabet := []rune(" \t\n\r&<>]'\"a1é😀;#")
	for range 500 {
		r := make([]rune, 1+rng.IntN(12))
		for i := range r {
			r[i] = alphabet[rng.IntN(len(alphabet))]
		}
		values = append(values, string(r))
	}
	for _, v := range values {
		body := "<a>\n  " + string(appendXMLEscaped(nil, v)) + "\n</a>"
		spans, err := xmlLocateBody(t, body, "/a")
		if err != nil {
			t.Fatalf("value %q: %v", v, err)
		}
		if len(spans) != 1 || spans[0].Value != v {
			t.Fatalf("value %q read back as %+v", v, spans)
		}
		if got := xmlDecodeText(t, body); got != "\n  "+v+"\n" {
			t.Fatalf("encoding/xml reads %q as %q", v, got)
		}
	}
}

// xmlDecodeText returns the character data of a one-element document as
// encoding/xml reads it.
func xmlDecodeText(t *testing.T, body string) string {
	t.Helper()
	var v struct {
		Text string `xml:",chardata"`
	}
	if err := xml.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("encoding/xml: %v", err)
	}
	return v.Text
}

func TestXMLRedactThroughProgram(t *testing.T) {
	p, err := Compile(Redact, []TargetSpec{{Kind: KindXML, Path: "/payment/card/pan", Format: "FPE_SIX_T_FOUR", Storage: "PERSISTENT"}})
	if err != nil {
		t.Fatal(err)
	}
	body := "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" +
		"<!-- order 42 -->\n" +
		"<payment xmlns:c=\"urn:card\" id='42'>\n" +
		"  <card type=\"visa\">\n" +
		"    <pan>\n" +
		"      4111111111111111\n" +
		"    </pan>\n" +
		"    <c:pan><![CDATA[5555555555554444]]></c:pan>\n" +
		"    <cvc>123</cvc>\n" +
		"  </card>\n" +
		"  <card><pan/></card>\n" +
		"  <note>4111111111111111</note>\n" +
		"</payment>\n"
	want := "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" +
		"<!-- order 42 -->\n" +
		"<payment xmlns:c=\"urn:card\" id='42'>\n" +
		"  <card type=\"visa\">\n" +
		"    <pan>\n" +
		"      tok&lt;1&gt;&amp;\n" +
		"    </pan>\n" +
		"    <c:pan><![CDATA[tok<2>&]]></c:pan>\n" +
		"    <cvc>123</cvc>\n" +
		"  </card>\n" +
		"  <card><pan/></card>\n" +
		"  <note>4111111111111111</note>\n" +
		"</payment>\n"
	tok := newXMLFakeTokenizer("tok<%d>&")
	msg := &Message{Body: []byte(body), MediaType: "application/xml"}
	changes, err := p.Apply(context.Background(), msg, tok)
	if err != nil {
		t.Fatal(err)
	}
	if string(msg.Body) != want {
		t.Errorf("redacted body:\n%s\nwant:\n%s", msg.Body, want)
	}
	if tok.redactCalls != 1 || tok.revealCalls != 0 {
		t.Errorf("tokenizer called %d/%d times, want one Redact", tok.redactCalls, tok.revealCalls)
	}
	wantItems := []RedactItem{
		{Value: "4111111111111111", Format: "FPE_SIX_T_FOUR", Storage: "PERSISTENT"},
		{Value: "5555555555554444", Format: "FPE_SIX_T_FOUR", Storage: "PERSISTENT"},
	}
	if fmt.Sprint(tok.redactedLast) != fmt.Sprint(wantItems) {
		t.Errorf("Redact items %+v, want %+v", tok.redactedLast, wantItems)
	}
	if len(changes) != 1 || changes[0] != (Change{Target: 0, Kind: KindXML, Path: "/payment/card/pan", Count: 2}) {
		t.Errorf("changes %+v", changes)
	}

	// Reveal restores the original byte for byte.
	r, err := Compile(Reveal, []TargetSpec{{Kind: KindXML, Path: "/payment/card/pan"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Apply(context.Background(), msg, tok); err != nil {
		t.Fatal(err)
	}
	if string(msg.Body) != body {
		t.Errorf("revealed body:\n%s\nwant:\n%s", msg.Body, body)
	}
}

func TestXMLRevealLeavesUnknownAliasesAlone(t *testing.T) {
	p, err := Compile(Reveal, []TargetSpec{{Kind: KindXML, Path: "/a/pan"}})
	if err != nil {
		t.Fatal(err)
	}
	body := "<a><pan> tok_unknown </pan></a>"
	msg := &Message{Body: []byte(body)}
	changes, err := p.Apply(context.Background(), msg, newXMLFakeTokenizer("tok_%d"))
	if err != nil || len(changes) != 0 || string(msg.Body) != body {
		t.Fatalf("body %q, changes %+v, err %v", msg.Body, changes, err)
	}
}

func TestXMLApplyLeavesTheMessageAloneOnError(t *testing.T) {
	p, err := Compile(Redact, []TargetSpec{{Kind: KindXML, Path: "/a/pan"}})
	if err != nil {
		t.Fatal(err)
	}
	body := "<a><pan>4111</pan><pan><x/></pan></a>"
	msg := &Message{Body: []byte(body)}
	tok := newXMLFakeTokenizer("tok_%d")
	if _, err := p.Apply(context.Background(), msg, tok); !errors.Is(err, ErrTargetType) {
		t.Fatalf("err = %v, want ErrTargetType", err)
	}
	if string(msg.Body) != body || tok.redactCalls != 0 {
		t.Fatalf("body %q after %d Redact calls", msg.Body, tok.redactCalls)
	}
}

func TestXMLRedactThenRevealIsIdentity(t *testing.T) {
	targets := []TargetSpec{
		{Kind: KindXML, Path: "/payment/card/pan", Format: "FPE_SIX_T_FOUR"},
		{Kind: KindXML, Path: "/payment/card/cvc"},
		{Kind: KindHeader, Path: "X-Card"},
	}
	redact, err := Compile(Redact, targets)
	if err != nil {
		t.Fatal(err)
	}
	reveal, err := Compile(Reveal, targets)
	if err != nil {
		t.Fatal(err)
	}
	loc := xmlTestLocator(t, "/payment/card/pan", "/payment/card/cvc")
	for seed := range uint64(300) {
		rng := rand.New(rand.NewPCG(seed, 0x786d6c))
		body, values := xmlRandomDocument(rng)
		spans, err := loc.Locate(&Message{Body: []byte(body)})
		if err != nil {
			t.Fatalf("seed %d: %v\n%s", seed, err, body)
		}
		var got []string
		for _, s := range spans {
			got = append(got, s.Value)
		}
		if !slices.Equal(got, values) {
			t.Fatalf("seed %d: located %q, want %q\n%s", seed, got, values, body)
		}
		xmlCheckAgainstEncodingXML(t, []byte(body), []string{"/payment/card/pan", "/payment/card/cvc"}, spans)

		tok := newXMLFakeTokenizer("T&<%d>]]")
		msg := &Message{Body: []byte(body), Header: map[string][]string{"X-Card": {"4111"}}}
		if _, err := redact.Apply(context.Background(), msg, tok); err != nil {
			t.Fatalf("seed %d: redact: %v", seed, err)
		}
		if len(values) > 0 && tok.redactCalls != 1 {
			t.Fatalf("seed %d: %d Redact calls", seed, tok.redactCalls)
		}
		redacted, err := loc.Locate(&Message{Body: msg.Body})
		if err != nil {
			t.Fatalf("seed %d: redacted body refused: %v\n%s", seed, err, msg.Body)
		}
		for i, s := range redacted {
			if s.Value != tok.toAlias[values[i]] {
				t.Fatalf("seed %d: redacted value %d is %q, want alias %q", seed, i, s.Value, tok.toAlias[values[i]])
			}
		}
		if _, err := reveal.Apply(context.Background(), msg, tok); err != nil {
			t.Fatalf("seed %d: reveal: %v", seed, err)
		}
		if string(msg.Body) != body {
			t.Fatalf("seed %d: round trip changed the body:\n%s\nwant:\n%s", seed, msg.Body, body)
		}
		if msg.Header.Get("X-Card") != "4111" {
			t.Fatalf("seed %d: header %q", seed, msg.Header.Get("X-Card"))
		}
	}
}

// xmlRandomDocument writes a payment document whose targets
// /payment/card/pan and /payment/card/cvc are written the way
// appendXMLEscaped writes them (so a round trip is byte for byte), and
// returns it with the values in document order.
func xmlRandomDocument(rng *rand.Rand) (string, []string) {
	var b strings.Builder
	var values []string
	pick := func(s ...string) string { return s[rng.IntN(len(s))] }
	ws := func() string { return pick("", "", " ", "\n  ", "\t", "\r\n    ") }
	escape := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
	value := func() string {
		alphabet := []rune("0123456789012345678901234567890123456789 -&<>]é'\"")
		r := make([]rune, 1+rng.IntN(19))
		for i := range r {
			r[i] = alphabet[rng.IntN(len(alphabet))]
		}
		v := strings.Trim(string(r), " ")
		if v == "" {
			v = "4"
		}
		return v
	}
	target := func(name string) {
		prefix := pick("", "", "c:")
		b.WriteString("<" + prefix + name + pick("", ` id="x"`, " a='&amp;'") + ">")
		switch v := value(); {
		case rng.IntN(3) == 0 && !strings.Contains(v, "]]>"):
			b.WriteString(ws() + "<![CDATA[" + pick("", " ") + v + pick("", "\n") + "]]>" + ws())
			values = append(values, v)
		case rng.IntN(8) == 0:
			b.WriteString(pick("", "  ", "<![CDATA[]]>", "<![CDATA[ ]]>"))
		default:
			b.WriteString(ws() + escape.Replace(v) + ws())
			values = append(values, v)
		}
		b.WriteString("</" + prefix + name + ">")
	}
	if rng.IntN(2) == 0 {
		b.WriteString(pick(`<?xml version="1.0"?>`, `<?xml version='1.0' encoding='utf-8'?>`, `<?xml version="1.0" encoding="UTF-8" standalone="no"?>`) + "\n")
	}
	if rng.IntN(3) == 0 {
		b.WriteString("<!-- order <pan>4111</pan> -->\n")
	}
	b.WriteString(`<payment xmlns:c="urn:card"` + pick("", " id='1'", ` x="a&lt;b" y='&#49;'`) + ">")
	for range rng.IntN(6) {
		b.WriteString(ws())
		switch rng.IntN(6) {
		case 0, 1, 2:
			cp := pick("", "c:")
			b.WriteString("<" + cp + "card" + pick("", ` type="visa"`) + ">")
			for range rng.IntN(5) {
				b.WriteString(ws())
				switch rng.IntN(6) {
				case 0, 1:
					target("pan")
				case 2:
					target("cvc")
				case 3:
					b.WriteString(pick("<pan/>", "<cvc />", "<pan></pan>"))
				case 4:
					b.WriteString("<meta><pan>" + escape.Replace(value()) + "</pan></meta>")
				case 5:
					b.WriteString(pick("<!-- card -->", "<?audit id=1?>", "<expiry>12/30</expiry>"))
				}
			}
			b.WriteString(ws() + "</" + cp + "card>")
		case 3:
			b.WriteString("<note>&#52;1 &amp; ]] &gt; " + escape.Replace(value()) + "<![CDATA[<pan>]]></note>")
		case 4:
			b.WriteString("<!-- <card><pan>4111</pan></card> -->")
		case 5:
			b.WriteString("<?audit <pan>4111</pan>?>")
		}
	}
	b.WriteString(ws() + "</payment>" + pick("", "\n", "\n<!-- end -->\n"))
	return b.String(), values
}

// xmlCheckAgainstEncodingXML checks an accepted body against encoding/xml:
// it must parse there too (unless it has non-ASCII bytes, where the two
// disagree on which characters names may hold), and the text of the
// elements at paths, trimmed, must be the located values, trimmed.
func xmlCheckAgainstEncodingXML(t testing.TB, body []byte, paths []string, spans []Span) {
	t.Helper()
	ascii := true
	for _, c := range body {
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	charset := func(label string, r io.Reader) (io.Reader, error) {
		if strings.EqualFold(label, "us-ascii") || strings.EqualFold(label, "ascii") {
			return r, nil
		}
		return nil, fmt.Errorf("charset %s", label)
	}
	// Token checks well-formedness (matching end tags); RawToken keeps the
	// prefixes as written, which is what paths match.
	d := xml.NewDecoder(bytes.NewReader(body))
	d.CharsetReader = charset
	for {
		_, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			if ascii {
				t.Fatalf("accepted body refused by encoding/xml: %v", err)
			}
			return
		}
	}
	segs := make([][]string, len(paths))
	for i, p := range paths {
		segs[i] = strings.Split(p[1:], "/")
	}
	matches := func(stack []xml.Name) bool {
		for _, s := range segs {
			if len(s) != len(stack) {
				continue
			}
			ok := true
			for i, seg := range s {
				n := stack[i]
				if prefix, local, found := strings.Cut(seg, ":"); found {
					ok = ok && n.Space == prefix && n.Local == local
				} else {
					ok = ok && n.Local == seg
				}
			}
			if ok {
				return true
			}
		}
		return false
	}
	const space = " \t\r\n"
	var want []string
	var stack []xml.Name
	var text *strings.Builder
	d = xml.NewDecoder(bytes.NewReader(body))
	d.CharsetReader = charset
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("encoding/xml RawToken: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			stack = append(stack, tok.Name)
			if matches(stack) {
				text = &strings.Builder{}
			}
		case xml.CharData:
			if text != nil {
				text.Write(tok)
			}
		case xml.EndElement:
			if text != nil && matches(stack) {
				if v := strings.Trim(text.String(), space); v != "" {
					want = append(want, v)
				}
				text = nil
			}
			stack = stack[:len(stack)-1]
		}
	}
	var got []string
	for _, s := range spans {
		// A value of whitespace written as character references (&#10;)
		// is located (it reads back exactly, see
		// TestXMLEscapedValuesReadBackExactly); trimmed, it is nothing,
		// as encoding/xml's trimmed text is (FuzzXML/0c52bfed94cadb17).
		if v := strings.Trim(s.Value, space); v != "" {
			got = append(got, v)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("located values %q, encoding/xml reads %q", got, want)
	}
}

var xmlFuzzPaths = []string{"/a/b", "/a/c/d", "/p:r/v"}

func FuzzXML(f *testing.F) {
	for _, s := range []string{
		`<a><b>4111111111111111</b><c><d><![CDATA[55]]></d></c></a>`,
		`<?xml version="1.0"?><!-- x --><a x='1'><b> 41&#49;1&amp; </b><b/><c><d>1</d><d></d></c></a>`,
		`<p:r xmlns:p="urn:x"><v>1</v><q:v>2</q:v></p:r>`,
		`<!DOCTYPE a SYSTEM "a.dtd"><a><b><![CDATA[]]]]></b><?pi x?></a>`,
		"<a>\r\n<b>\r\n1\r\n2\r\n</b></a>",
		`<a><b><e/></b></a>`,
		`<a><b>1<![CDATA[2]]></b></a>`,
	} {
		f.Add([]byte(s))
	}
	l := xmlTestLocator(f, xmlFuzzPaths...)
	var targets []TargetSpec
	for _, p := range xmlFuzzPaths {
		targets = append(targets, TargetSpec{Kind: KindXML, Path: p})
	}
	redact, err := Compile(Redact, targets)
	if err != nil {
		f.Fatal(err)
	}
	reveal, err := Compile(Reveal, targets)
	if err != nil {
		f.Fatal(err)
	}
	var nsTargets []TargetSpec
	for _, p := range xmlFuzzPaths {
		nsTargets = append(nsTargets, TargetSpec{Kind: KindXML, Path: p, XMLNamespaces: true})
	}
	nsLoc, err := newXMLLocator(nsTargets, []int{0, 1, 2})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		orig := slices.Clone(body)
		spans, err := l.Locate(&Message{Body: body})
		if !bytes.Equal(body, orig) {
			t.Fatal("Locate changed the body")
		}
		// Names read with namespaces: the same well-formedness verdict,
		// spans that hold up.
		nsSpans, nsErr := nsLoc.Locate(&Message{Body: body})
		if errors.Is(err, ErrMalformed) != errors.Is(nsErr, ErrMalformed) || errors.Is(err, ErrTooDeep) != errors.Is(nsErr, ErrTooDeep) {
			t.Fatalf("with namespaces: %v, without: %v", nsErr, err)
		}
		if nsErr == nil {
			xmlCheckSpans(t, body, nsSpans)
		}
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTargetType) && !errors.Is(err, ErrTooDeep) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		xmlCheckSpans(t, body, spans)
		xmlCheckAgainstEncodingXML(t, body, xmlFuzzPaths, spans)

		tok := newXMLFakeTokenizer("T&<%d>]]")
		msg := &Message{Body: slices.Clone(body)}
		if _, err := redact.Apply(context.Background(), msg, tok); err != nil {
			t.Fatalf("redact after a successful locate: %v", err)
		}
		redacted, err := l.Locate(&Message{Body: msg.Body})
		if err != nil {
			t.Fatalf("redacted body refused: %v", err)
		}
		if len(redacted) != len(spans) {
			t.Fatalf("%d spans after redact, %d before", len(redacted), len(spans))
		}
		for i, s := range redacted {
			if s.Value != tok.toAlias[spans[i].Value] || s.Target != spans[i].Target || s.Encoding != spans[i].Encoding {
				t.Fatalf("span %d after redact: %+v, want the alias of %+v", i, s, spans[i])
			}
		}
		if _, err := reveal.Apply(context.Background(), msg, tok); err != nil {
			t.Fatalf("reveal: %v", err)
		}
		// The round trip gives the original with each value written the
		// way this package writes it (the same bytes unless the original
		// used other references or line ends).
		values := make([]string, len(spans))
		for i, s := range spans {
			values[i] = s.Value
		}
		want := splice(body, spans, values, make([]Change, len(xmlFuzzPaths)))
		if !bytes.Equal(msg.Body, want) {
			t.Fatalf("round trip gives\n%q\nwant\n%q", msg.Body, want)
		}
		if again, err := l.Locate(&Message{Body: want}); err != nil || len(again) != len(spans) {
			t.Fatalf("re-encoded body: %d spans, %v", len(again), err)
		}
	})
}

func TestXMLBadCharFollowsTheCharacterRule(t *testing.T) {
	ref := func(b []byte) int {
		for i := 0; i < len(b); {
			r, n := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && n == 1 || !xmlIsChar(r) {
				return i
			}
			i += n
		}
		return -1
	}
	inserts := [][]byte{{0x00}, {0x09}, {0x0a}, {0x0d}, {0x1f}, {0x20}, {0x7f}, {0x80}, {0xff},
		[]byte("é"), []byte("\uFFFD"), []byte("\uFFFE"), []byte("\uFFFF"), []byte("😀"), {0xed, 0xa0, 0x80}, {0xf4, 0x90, 0x80, 0x80}}
	for c := range 256 {
		inserts = append(inserts, []byte{byte(c)})
	}
	for _, ins := range inserts {
		for pos := range 20 {
			b := append(append([]byte(strings.Repeat("a", pos)), ins...), strings.Repeat("b", 11)...)
			if got, want := xmlBadChar(b), ref(b); got != want {
				t.Fatalf("xmlBadChar(% x) = %d, want %d", b, got, want)
			}
		}
	}
}

func BenchmarkXMLLocate(b *testing.B) {
	payment := "\n  <payment id=\"1\">\n    <card type='visa'>\n      <pan>4111111111111111</pan>\n      <cvc>123</cvc>\n" +
		"      <holder>J&amp;ne Doe</holder>\n    </card>\n    <!-- note -->\n    <amount currency=\"EUR\">12.50</amount>\n  </payment>"
	body := []byte("<?xml version=\"1.0\"?>\n<batch>" + strings.Repeat(payment, 1000) + "\n</batch>\n")
	l := xmlTestLocator(b, "/batch/payment/card/pan", "/batch/payment/card/cvc")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Locate(&Message{Body: body}); err != nil {
			b.Fatal(err)
		}
	}
}
