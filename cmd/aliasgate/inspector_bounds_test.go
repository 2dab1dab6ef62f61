package main

import (
	"strings"
	"testing"
)

// TestCapturesOfDeeplyNestedBodiesStaySmall: a capture's JSON view was
// pretty-printed with two spaces a level, and every value got a field
// whose path (and pattern) spelled every level above it: a 20 KB body
// nested 10,000 levels deep became a 200 MB view, and a 60 KB one nested
// 5,000 levels with 15,000 values in it 300 MB of paths and half a minute
// of CPU on the request's goroutine, kept 100 times over in the buffer:
// any client of the inbound listener could exhaust the gateway's memory
// with a few requests. A view is now pretty-printed only while it stays
// within a few times the body, and a field is offered only at a depth a
// route can target, under keys of bounded length, and up to a number.
func TestCapturesOfDeeplyNestedBodiesStaySmall(t *testing.T) {
	const limit = 2 << 20 // a capture's whole answer: views, parts and fields of 60 KB bodies
	bodies := []struct{ ctype, body string }{
		{"application/json", strings.Repeat("[", 9999) + strings.Repeat("]", 9999)},
		{"application/json", strings.Repeat(`{"a":`, 2000) + "[" + strings.Repeat("1,", 10000) + "1]" + strings.Repeat("}", 2000)},
		{"application/json", `{"` + strings.Repeat("k", 1500) + `":[` + strings.Repeat("1,", 20000) + "1]}"},
		{"application/json", "[" + strings.Repeat("1,", 30000) + "1]"},
		{"application/x-www-form-urlencoded", strings.Repeat("a=1&", 15000) + "a=1"},
	}
	for i, answer := range sendAndReadCaptures(t, bodies) {
		if len(answer) > limit {
			t.Errorf("capture %d (newest first) is served in %d bytes, over %d", i, len(answer), limit)
		}
	}
}
