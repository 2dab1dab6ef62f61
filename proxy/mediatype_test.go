package proxy

import (
	"maps"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// parseMediaTypeSlow is parseMediaType without the bare fast path: what
// it must always answer.
func parseMediaTypeSlow(ct string) (string, map[string]string) {
	if ct == "" {
		return "", nil
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		mt, _, _ = strings.Cut(ct, ";")
		return strings.ToLower(strings.TrimSpace(mt)), nil
	}
	return mt, params
}

func checkParseMediaType(t *testing.T, ct string) {
	t.Helper()
	mt, params := parseMediaType(ct)
	wmt, wparams := parseMediaTypeSlow(ct)
	if mt != wmt || !maps.Equal(params, wparams) {
		t.Fatalf("parseMediaType(%q) = %q %v, want %q %v", ct, mt, params, wmt, wparams)
	}
}

// TestParseMediaTypeFastPath: a bare lower-case media type skips mime's
// parse and answers exactly what the parse would; anything else is parsed.
func TestParseMediaTypeFastPath(t *testing.T) {
	for _, tc := range []struct {
		ct   string
		bare bool
	}{
		{"application/json", true},
		{"application/x-www-form-urlencoded", true},
		{"application/vnd.api+json", true},
		{"text", true},
		{"Application/JSON", false},
		{"application/json; charset=utf-8", false},
		{"application/json ", false},
		{" application/json", false},
		{"application/", false},
		{"/json", false},
		{"application//json", false},
		{"application/json/x", false},
		{"multipart/form-data; boundary=x", false},
		{"text/plain;", false},
		{"appli\x00cation/json", false},
		{"application/jsön", false},
		{"a@b/c", false},
		{"", false},
	} {
		if got := bareMediaType(tc.ct); got != tc.bare && tc.ct != "" {
			t.Errorf("bareMediaType(%q) = %v, want %v", tc.ct, got, tc.bare)
		}
		checkParseMediaType(t, tc.ct)
	}
}

// FuzzParseMediaType: the fast path never answers other than mime's parse.
func FuzzParseMediaType(f *testing.F) {
	for _, s := range []string{"application/json", "text/plain; charset=utf-8", "Application/Json", "a/b/c", "text", "x/", "/x", "a b/c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ct string) {
		checkParseMediaType(t, ct)
		if got, want := bareMediaType(ct), prevBareMediaType(ct); got != want {
			t.Fatalf("bareMediaType(%q) = %v, before %v", ct, got, want)
		}
	})
}

// TestSetContentLength: the header ends up saying exactly the length, one
// value, whatever it said before; one that already did is kept as it was.
func TestSetContentLength(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []string // Content-Length values before; nil: none
		n    int
		same bool // the slice before is kept
	}{
		{"absent", nil, 12, false},
		{"equal", []string{"12"}, 12, true},
		{"different", []string{"13"}, 12, false},
		{"two values", []string{"12", "12"}, 12, false},
		{"padded", []string{" 12"}, 12, false},
		{"zero", []string{"5"}, 0, false},
		{"large", []string{"1099511627776"}, 1 << 40, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{"Content-Type": {"application/json"}}
			if tc.in != nil {
				h["Content-Length"] = tc.in
			}
			var cell [1]string
			setContentLength(h, tc.n, &cell)
			got := h["Content-Length"]
			if len(got) != 1 || got[0] != strconv.Itoa(tc.n) || h.Get("Content-Type") != "application/json" {
				t.Fatalf("header %v", h)
			}
			if kept := tc.in != nil && &got[0] == &tc.in[0]; kept != tc.same {
				t.Fatalf("kept the values before: %v, want %v", kept, tc.same)
			}
			if !tc.same && (&got[0] != &cell[0] || cap(got) != 1) {
				t.Fatal("a new value is not the cell given, capped at one")
			}
			if n := testing.AllocsPerRun(20, func() {
				h["Content-Length"] = tc.in
				setContentLength(h, tc.n, &cell)
			}); n > 1 { // the new value's string
				t.Errorf("setContentLength: %v allocations, want at most 1", n)
			}
		})
	}
}
