package proxy

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// prevGuardTarget is guardTarget as it was before it appended into a
// buffer (the state's, reqState.guardTarget): the reference below.
func prevGuardTarget(method, host, escapedPath, rawQuery string) string {
	t := method + "\n" + host + " " + escapedPath
	if rawQuery != "" {
		t += "?" + rawQuery
	}
	return t
}

// TestGuardTargetAgainstPrevious: guardTarget and the state's
// guardTarget, in its buffer or past it, read what the concatenation did,
// and the state's string keeps its bytes once another state's is written.
func TestGuardTargetAgainstPrevious(t *testing.T) {
	var kept []string
	var want []string
	for _, target := range []string{"/", "/checkout", "/checkout?card=4111111111111111", "/a%20b/4111-1111?x=1&y",
		"/" + strings.Repeat("x", 40), "/" + strings.Repeat("4", 19) + "?" + strings.Repeat("q", 100), "/p?"} {
		for _, host := range []string{"127.0.0.1:8080", "shop.example.com", "4111111111111111.example"} {
			for _, method := range []string{"GET", "POST", "4111"} {
				r := httptest.NewRequest("GET", "http://x"+target, nil)
				r.Method, r.Host = method, host
				w := prevGuardTarget(r.Method, r.Host, r.URL.EscapedPath(), r.URL.RawQuery)
				if got := guardTarget(r); got != w {
					t.Fatalf("guardTarget: %q, before %q", got, w)
				}
				st := &reqState{}
				got := st.guardTarget(r)
				if got != w {
					t.Fatalf("reqState.guardTarget: %q, before %q", got, w)
				}
				kept, want = append(kept, got), append(want, w)
			}
		}
	}
	for i := range kept {
		if kept[i] != want[i] {
			t.Fatalf("target %d changed: %q, was %q", i, kept[i], want[i])
		}
	}
}
