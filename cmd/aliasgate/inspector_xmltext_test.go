package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/internal/pan"
)

// parserText is an XML or HTML body's text as a parser joins it:
// comments and processing instructions dropped, CDATA markers dropped, the
// white space of attribute values read as spaces.
func parserText(s string) string {
	s = regexp.MustCompile(`(?s)<!--.*?-->|<\?.*?\?>|<!\[CDATA\[|\]\]>`).ReplaceAllString(s, "")
	return strings.NewReplacer("\t", " ", "\r\n", " ", "\n", " ", "\r", " ").Replace(s)
}

// TestMarkupSplitCardNumbersAreNotKept: a card number split by an XML or
// HTML comment, a processing instruction or CDATA markers, or written in
// an attribute with tabs between its groups, is one card number to the
// parser of the app or the browser that reads the body (the leak guard
// reads it so too). The inspector kept such bodies as they were, since no
// mask can be applied where the number is not written whole: it withholds
// them now.
func TestMarkupSplitCardNumbersAreNotKept(t *testing.T) {
	up := newEchoUpstream(t)
	g, _ := inspectorGateway(t, "routes:\n  - {id: open, direction: inbound, host: \"*\", upstream: \""+up.URL+"\"}\n", nil)
	bodies := []struct{ ctype, body string }{
		{"application/xml", `<pay><pan>4111<!---->111111111111</pan></pay>`},
		{"text/xml", `<pay><pan>4111<![CDATA[1111]]>11111111</pan></pay>`},
		{"application/xml", "<pay><card number=\"4111\t1111\t1111\t1111\"/></pay>"},
		{"text/html", `<p>card 5555<?x?>555555554444</p>`},
		{"application/xml", `<pay><pan>4111-1111</pan><note>fine</note></pay>`}, // nothing to hide: kept
	}
	for _, b := range bodies {
		if status, _ := call(t, "POST", g.inbound+"/shop/profile", b.ctype, b.body, nil); status != 200 {
			t.Fatalf("%s: status %d", b.body, status)
		}
	}
	ids := waitCaptures(t, g, len(bodies))
	kept := 0
	for _, id := range ids {
		_, b := inspectorCall(t, g, "GET", fmt.Sprintf("/ui/api/captures/%d", id), nil)
		var e struct {
			Request struct{ Received, Sent struct{ Body, Note string } }
		}
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatal(err)
		}
		for _, v := range []struct{ Body, Note string }{e.Request.Received, e.Request.Sent} {
			if text := parserText(v.Body); pan.ContainsAllString(text) {
				t.Errorf("capture %d keeps a body a parser reads a card number in: %q (read %q)", id, v.Body, text)
			}
			if strings.Contains(v.Body, "<note>fine</note>") {
				kept++
			}
		}
	}
	if kept != 2 {
		t.Errorf("the body with nothing to hide was not kept (%d views)", kept)
	}
}
