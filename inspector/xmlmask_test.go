package inspector

import (
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
)

// FuzzMaskXMLElements: maskXMLElements keeps the text's length and changes
// bytes only into '*' (never white space), and when what it returns is
// well-formed XML, encoding/xml reads no character data, attribute value
// or comment inside an element named like a CVC, a secret or a cryptogram,
// and no attribute so named, that is not masked.
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
