package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/internal/pan"
)

// sendAndReadCaptures sends each body to an open route (no filters) of a
// gateway with the inspector on and returns the inspector's answer for
// every capture, newest first.
func sendAndReadCaptures(t *testing.T, bodies []struct{ ctype, body string }) []string {
	t.Helper()
	up := newEchoUpstream(t)
	g, _ := inspectorGateway(t, "routes:\n  - {id: open, direction: inbound, host: \"*\", upstream: \""+up.URL+"\"}\n", nil)
	for _, b := range bodies {
		if status, _ := call(t, "POST", g.inbound+"/shop/profile", b.ctype, b.body, nil); status != 200 {
			t.Fatalf("%s: status %d", b.body, status)
		}
	}
	var out []string
	for _, id := range waitCaptures(t, g, len(bodies)) {
		status, b := inspectorCall(t, g, "GET", fmt.Sprintf("/ui/api/captures/%d", id), nil)
		if status != 200 {
			t.Fatalf("capture %d: %d %s", id, status, b)
		}
		out = append(out, string(b))
	}
	return out
}

// TestFieldNamesHoldingACardNumberAreNotOffered: the fields a capture
// offers to the route builder are named by their path (JSON, gjson
// syntax) or name (form, multipart), shown as they are. A multipart part
// named with a card number was offered under that name in clear (its
// Content-Disposition line was masked), and a JSON key holding one in a
// spelling the masks read ("4111.1111.1111.1111", "&#52;111…") was offered
// under its gjson path, whose escapes ("4111\.1111\.1111\.1111") hid it
// from the check of the path: card numbers to whoever reads the page.
func TestFieldNamesHoldingACardNumberAreNotOffered(t *testing.T) {
	bodies := []struct{ ctype, body string }{
		{"multipart/form-data; boundary=XyZ", "--XyZ\r\nContent-Disposition: form-data; name=\"4111111111111111\"\r\n\r\nhello\r\n--XyZ--\r\n"},
		{"multipart/form-data; boundary=XyZ", "--XyZ\r\nContent-Disposition: form-data; name*=utf-8''%34012888888881881\r\n\r\nhello\r\n--XyZ--\r\n"},
		{"multipart/form-data; boundary=XyZ", "--XyZ\r\nContent-Disposition: form-data; name=\"5555 5555 5555 4444\"\r\n\r\nhello\r\n--XyZ--\r\n"},
		{"application/json", `{"4111.1111.1111.1111":"x"}`},
		{"application/json", `{"a":{"&#52;012888888881881":"y"}}`},
		{"application/json", `{"5555":{"5555.5555":{"4444":"z"}}}`},
		{"application/json", `{"card.holder":"x","note":{"a.b":"y"}}`}, // nothing to hide: offered
	}
	offered := 0
	for _, answer := range sendAndReadCaptures(t, bodies) {
		assertNoCardData(t, "capture", answer)
		var e struct {
			Request struct {
				Received struct {
					Fields []struct{ Kind, Path, Pattern string }
				}
			}
		}
		if err := json.Unmarshal([]byte(answer), &e); err != nil {
			t.Fatal(err)
		}
		for _, f := range e.Request.Received.Fields {
			for _, s := range []string{f.Path, f.Pattern} {
				if read := strings.ReplaceAll(s, `\`, ""); pan.ContainsAllString(read) {
					t.Errorf("a %s field is offered under %q, a card number to its reader (%q)", f.Kind, s, read)
				}
			}
			if f.Kind != "header" {
				offered++
			}
		}
	}
	if offered != 2 {
		t.Errorf("%d body fields offered, want the 2 of the body with nothing to hide", offered)
	}
}

// TestXMLSecurityCodesAreMaskedAsAParserReadsThem: the value of an XML
// element named like a CVC was masked only when it was plain text between
// the element's tags. A parser reads the CVC of <cvc><![CDATA[737]]></cvc>
// and of <cvc>7<!---->37</cvc> as 737 too, an element inside it holds it
// as {"cvc":{"value":…}} does in JSON, and an attribute can be named so:
// all were shown in clear, in the request and in an upstream's echo.
func TestXMLSecurityCodesAreMaskedAsAParserReadsThem(t *testing.T) {
	bodies := []struct{ ctype, body string }{
		{"application/xml", `<pay><cvc><![CDATA[737]]></cvc></pay>`},
		{"text/xml", `<pay><SecurityCode><![CDATA[9142]]></SecurityCode></pay>`},
		{"application/xml", `<pay><cvc>7<!---->37</cvc></pay>`},
		{"application/xml", `<pay><cvv2>9<?x?>142</cvv2></pay>`},
		{"application/xml", `<pay><cvc><value>737</value></cvc></pay>`},
		{"application/xml", `<pay><p:cvc xmlns:p="urn:x"><p:v>4021</p:v></p:cvc></pay>`},
		{"application/xml", `<pay><card cvc="737" exp="12/29"/></pay>`},
		{"application/xml", `<card><cvv value='9142'/></card>`},
		{"application/xml", `<pay><cvc>` + "\n  <![CDATA[4021]]>\n" + `</cvc><ref>12</ref></pay>`},
		{"text/html", `<p>code <cvv><b>7</b><!-- -->37</cvv></p>`},
	}
	kept := 0
	for _, answer := range sendAndReadCaptures(t, bodies) {
		assertNoCardData(t, "capture", answer)
		for _, s := range decodings(answer) {
			assertNoCardDataIn(t, "capture read as a parser reads it", parserText(s))
		}
		kept += strings.Count(answer, `\u003cref\u003e12\u003c/ref\u003e`)
	}
	if kept == 0 {
		t.Error("the element with nothing to hide was masked too")
	}
}

// TestXMLSecurityCodesAreMaskedAsAnHTMLParserReadsThem: the XML mask read
// markup as XML writes it, and where HTML ends a section sooner it left a
// CVC in clear that an HTML parser (the app's, the browser's) reads inside
// its element: "<!-->" and "<!--->" are whole comments to HTML (the mask
// read the elements after them as a comment's text up to the next "-->"),
// "<?x>" and "<![CDATA[x]>" end at their first ">", a <textarea> or
// <script> holds "</cvc>" as text, and "</ cvc>", which the mask took for
// the end tag of <cvc>, is a comment to HTML and no end tag to XML.
func TestXMLSecurityCodesAreMaskedAsAnHTMLParserReadsThem(t *testing.T) {
	bodies := []struct{ ctype, body string }{
		{"text/html", `<p><!--><cvc><v>737</v></cvc><!-- --></p>`},
		{"text/html", `<p><!---><cvv><v>9142</v></cvv><!-- --></p>`},
		{"text/html", `<p><?x><cvc><v>4021</v></cvc>?></p>`},
		{"text/html", `<p><![CDATA[x]><securitycode><v>8316</v></securitycode>]]></p>`},
		{"text/html", `<p><cvc><textarea></cvc><v>737</v></textarea></cvc></p>`},
		{"text/html", `<p><cvc><script></cvc><v>9142</v></script></cvc></p>`},
		{"text/html", `<p><cvc></ cvc><v>4021</v></cvc></p>`},
		{"application/xml", `<pay><cvc></ cvc><v>8316</v></cvc></pay>`},
		{"text/html", `<p><!--><card cvc="737"></card>--></p>`},
		{"text/html", `<p><!--><cvc><b title="9142"></b></cvc>--><ref>12</ref></p>`},
	}
	kept := 0
	for _, answer := range sendAndReadCaptures(t, bodies) {
		assertNoCardData(t, "capture", answer)
		kept += strings.Count(answer, `\u003cref\u003e12\u003c/ref\u003e`)
	}
	if kept == 0 {
		t.Error("the element with nothing to hide was masked too")
	}
}

// TestXMLInTextValuesIsMaskedWithoutItsEndTags: markup in a value the
// masks read as text (a JSON string, a form field, a text/plain body) was
// read as XML only when it held an end tag or "/>": a fragment that opens
// an element named like a CVC and never closes it (cut, or written so)
// kept the CVC in clear whenever something stood between the name and
// the digits (a CDATA section, a comment, an inner element).
func TestXMLInTextValuesIsMaskedWithoutItsEndTags(t *testing.T) {
	bodies := []struct{ ctype, body string }{
		{"application/json", `{"note":"<cvc><![CDATA[737]]>"}`},
		{"application/json", `{"note":"<securityCode><v>9142"}`},
		{"application/json", `{"note":"<cvv>40<!---->21"}`},
		{"text/plain", `<cvc><b>8316`},
		{"application/x-www-form-urlencoded", `note=%3Ccvc%3E%3C%21%5BCDATA%5B737%5D%5D%3E`},
		{"application/json", `{"note":"a < b and <ref>12"}`},
	}
	kept := 0
	for _, answer := range sendAndReadCaptures(t, bodies) {
		assertNoCardData(t, "capture", answer)
		for _, s := range decodings(answer) {
			assertNoCardDataIn(t, "capture read as a parser reads it", parserText(s))
		}
		kept += strings.Count(answer, `a \u003c b and \u003cref\u003e12`)
	}
	if kept == 0 {
		t.Error("the text with nothing to hide was masked too")
	}
}
