package routes

import (
	"strings"
	"testing"
)

func TestUnmatchedBodyAndRedactsBodies(t *testing.T) {
	doc := func(extra, filters string) string {
		return `routes:
  - id: r
    direction: inbound
    host: "*"
    upstream: http://127.0.0.1:1
` + extra + filters
	}
	const bodyRedact = `    filters:
      - id: f
        operation: redact
        targets: [{json: card.number}]
`
	const headerRedact = `    filters:
      - id: f
        operation: redact
        targets: [{header: X-Card}]
`
	const responseReveal = `    filters:
      - id: f
        phase: response
        operation: reveal
        targets: [{json: card.number}]
`
	for _, tc := range []struct {
		name, doc string
		want      OnError
		redacts   bool
		err       string
	}{
		{"default rejects", doc("", bodyRedact), Reject, true, ""},
		{"reject", doc("    unmatched_body: reject\n", bodyRedact), Reject, true, ""},
		{"pass", doc("    unmatched_body: pass\n", bodyRedact), Pass, true, ""},
		{"header targets only", doc("", headerRedact), Reject, false, ""},
		{"response filters only", doc("", responseReveal), Reject, false, ""},
		{"no filters", doc("", ""), Reject, false, ""},
		{"bad value", doc("    unmatched_body: maybe\n", bodyRedact), "", false, `unmatched_body "maybe": want reject or pass`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set, err := Parse([]byte(tc.doc), "t.yaml", Options{})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			r := set.Routes[0]
			if r.UnmatchedBody != tc.want || r.RedactsBodies() != tc.redacts {
				t.Fatalf("UnmatchedBody %q RedactsBodies %v", r.UnmatchedBody, r.RedactsBodies())
			}
		})
	}
}

func TestPathConditionsMatchWithAndWithoutATrailingSlash(t *testing.T) {
	set, err := Parse([]byte(`routes:
  - id: r
    direction: inbound
    host: "*"
    upstream: http://127.0.0.1:1
    filters:
      - id: f
        match: {path: "^/checkout$"}
        operation: redact
        targets: [{json: card.number}]
`), "t.yaml", Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := set.Routes[0]
	for path, want := range map[string]bool{"/checkout": true, "/checkout/": true, "/checkout//": false, "/checkouts": false, "/": false} {
		if got := len(r.Matching(Request, Exchange{Method: "POST", Path: path})) == 1; got != want {
			t.Errorf("%s: matched %v, want %v", path, got, want)
		}
	}
}
