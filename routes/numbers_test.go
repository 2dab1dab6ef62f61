package routes

import (
	"strconv"
	"strings"
	"testing"
)

// TestWholeNumbersInRoutesAreReadAsWritten: a route's ports and a
// filter's match.status were read as YAML 1.1 reads numbers: status
// [0404] was 260 and [0500] 320 (both taken as status codes, so the
// response filter never applied to the 404 or 500 it was written for),
// ports [0443] was 291, 443.9 was 443 and 4.43e2, 0x1BB, 0o673 and 4_43
// were 443, without a word. They must be written in decimal digits, as in
// the configuration file (config TestWholeNumbersAreReadAsWritten); a
// problem names the line.
func TestWholeNumbersInRoutesAreReadAsWritten(t *testing.T) {
	route := func(ports, status string) string {
		return "routes:\n  - id: psp\n    direction: outbound\n    host: api.psp.example\n    ports: [" + ports + "]\n" +
			"    filters:\n      - id: back\n        phase: response\n        match: {status: [" + status + "]}\n" +
			"        operation: redact\n        targets: [{json: card.number}]\n"
	}
	set, err := Parse([]byte(route("443, 8443", "200, 404")), "r.yaml", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p, s := set.Routes[0].Ports, set.Routes[0].Filters[0].Match.Status; len(p) != 2 || p[0] != 443 || len(s) != 2 || s[1] != 404 {
		t.Fatalf("ports %v status %v", p, s)
	}
	for _, bad := range []string{"0443", "0x1BB", "0o673", "4_43", "443.9", "443.0", "4.43e2", "+443", "443.", ".inf"} {
		_, err := Parse([]byte(route(bad, "200")), "r.yaml", Options{})
		if err == nil || !strings.Contains(err.Error(), "r.yaml:5:") || !strings.Contains(err.Error(), "decimal digits") {
			t.Errorf("ports [%s]: %v", bad, err)
		}
		status := strings.NewReplacer("443", "404", "1BB", "194", "673", "624").Replace(bad)
		_, err = Parse([]byte(route("443", status)), "r.yaml", Options{})
		if err == nil || !strings.Contains(err.Error(), "r.yaml:9:") || !strings.Contains(err.Error(), "decimal digits") {
			t.Errorf("status [%s]: %v", status, err)
		}
	}
}

// TestYAMLTagsInRoutesAreRefusedWithTheirLine: a route file value or key
// written with a YAML tag is a problem naming the tag and its line (each
// was taken before: !!binary decoded a target path from base64, !!str
// and !!int were dropped, a custom tag ignored).
func TestYAMLTagsInRoutesAreRefusedWithTheirLine(t *testing.T) {
	route := "routes:\n  - id: psp\n    direction: outbound\n    host: api.psp.example\n    ports: [443]\n" +
		"    filters:\n      - id: back\n        phase: response\n" +
		"        operation: redact\n        targets: [{json: card.number}]\n"
	if _, err := Parse([]byte(route), "r.yaml", Options{}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		from, to string
		line     int
		tag      string
	}{
		{"host: api.psp.example", "host: !!str api.psp.example", 4, "!!str"},
		{"ports: [443]", "ports: [!!int 443]", 5, "!!int"},
		{"operation: redact", "operation: !redact redact", 9, "!redact"},
		{"{json: card.number}", "{json: !!binary Y2FyZC5udW1iZXI=}", 10, "!!binary"},
		{"- id: psp", "- !!str id: psp", 2, "!!str"},
		{"routes:\n", "routes: !!seq\n", 1, "!!seq"},
	} {
		src := strings.Replace(route, c.from, c.to, 1)
		_, err := Parse([]byte(src), "r.yaml", Options{})
		want := "r.yaml:" + strconv.Itoa(c.line) + ": YAML tag " + c.tag + " is not accepted"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", c.to, err, want)
		}
	}
}
