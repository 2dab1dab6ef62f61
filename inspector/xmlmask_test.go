package inspector

import (
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// FuzzMaskXMLElements: maskXMLElements keeps the text's length and changes
// bytes only into '*' (never white space); when what it returns is
// well-formed XML, encoding/xml reads no character data, attribute value
// or comment inside an element named like a CVC, a secret or a cryptogram,
// and no attribute so named, that is not masked; and the HTML tokenizer
// reads none either (htmlReadsClear).
func FuzzMaskXMLElements(f *testing.F) {
	for _, s := range []string{
		`<pay><cvc><![CDATA[737]]></cvc></pay>`,
		`<pay><cvc>7<!---->37</cvc><ref>12</ref></pay>`,
		`<pay><cvv2>9<?x?>142</cvv2></pay>`,
		`<pay><p:cvc xmlns:p="urn:x"><p:v a='1'>4021</p:v></p:cvc></pay>`,
		`<pay><card cvc="737" exp="12/29"/><cvv value='9142'/></pay>`,
		`<cvc a=">">737</cvc`,
		`<a><password>x</password></a><b cryptogram = "AbC="></b>`,
		"<cvc>\n  <![CDATA[4021]]>\n</cvc>",
		`<cvc><![CDATA[737`,
		`text < 737 <cvc/> </x> <`,
		`<p><!--><cvc><v>737</v></cvc><!-- --></p>`,
		`<p><?x><cvc>4021</cvc>?><![CDATA[x]><cvv>1</cvv>]]></p>`,
		`<p><cvc><textarea></cvc>737</textarea></cvc></p>`,
		`<pay><cvc></ cvc>8316</cvc></pay>`,
		`<p><!--><card cvc="737"></card>--></p>`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := maskXMLElements(in)
		if len(out) != len(in) {
			t.Fatalf("length %d, want %d: %q", len(out), len(in), out)
		}
		for i := 0; i < len(in); i++ {
			if out[i] != in[i] && (out[i] != '*' || xmlSpace(in[i])) {
				t.Fatalf("byte %d changed from %q to %q: %q", i, in[i], out[i], out)
			}
		}
		if what := htmlReadsClear(in, out); what != "" {
			t.Fatalf("an HTML parser reads %s: %q", what, out)
		}
		dec := xml.NewDecoder(strings.NewReader(out))
		var open []bool
		inside := func() bool { return len(open) > 0 && open[len(open)-1] }
		masked := func(s string) bool { return strings.Trim(s, "* \t\r\n") == "" }
		for {
			tok, err := dec.Token()
			if errors.Is(err, io.EOF) || err != nil {
				return // not XML, or the end: what it reads was checked
			}
			switch tok := tok.(type) {
			case xml.StartElement:
				in := inside() || sensitiveKey(tok.Name.Local)
				for _, a := range tok.Attr {
					if (in || sensitiveKey(a.Name.Local)) && !masked(a.Value) {
						t.Fatalf("attribute %s of <%s> reads %q: %q", a.Name.Local, tok.Name.Local, a.Value, out)
					}
				}
				open = append(open, in)
			case xml.EndElement:
				open = open[:len(open)-1]
			case xml.CharData:
				if inside() && !masked(string(tok)) {
					t.Fatalf("a sensitive element reads %q: %q", tok, out)
				}
			case xml.Comment:
				if inside() && !masked(string(tok)) {
					t.Fatalf("a comment in a sensitive element reads %q: %q", tok, out)
				}
			}
		}
	})
}

// htmlReadsClear returns what the HTML tokenizer reads in in, the text
// maskXMLElements was given, that is left in clear in out, what it
// returned: text or a comment inside an element named like a CVC, a
// secret or a cryptogram (each of its bytes but markup and white space),
// an attribute value of such an element, or one of an attribute so named
// (read again from out's bytes of the tag); "" when none.
func htmlReadsClear(in, out string) string {
	masked := func(s string) bool { return strings.Trim(s, "*<>!-?/[] \t\r\n\f") == "" }
	clear := ""
	readHTML(in, func(t htmlToken) {
		switch t.Type {
		case html.TextToken, html.CommentToken, html.DoctypeToken:
			if t.Sensitive && !masked(out[t.From:t.To]) && clear == "" {
				clear = "the text " + out[t.From:t.To]
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			tag := html.NewTokenizer(strings.NewReader(out[t.From:t.To]))
			if tt := tag.Next(); tt == html.StartTagToken || tt == html.SelfClosingTagToken {
				for _, a := range tag.Token().Attr {
					if (t.Sensitive || sensitiveKey(localName(a.Key))) && !masked(a.Val) && clear == "" {
						clear = "the attribute " + a.Key + "=" + a.Val
					}
				}
			}
		}
	})
	return clear
}
