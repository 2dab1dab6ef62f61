package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// invisibles are characters a log viewer, a terminal or a browser shows
// as nothing: soft hyphen, zero-width space, non-joiner and joiner, word
// joiner, zero-width no-break space (BOM).
var invisibles = []string{"\u00ad", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"}

// TestInvisibleCharactersDoNotHideACardNumber: a card number with an
// invisible character between its digits reads as the card number
// wherever it is shown, but the finder took the character for a breaker:
// the access log wrote "/pay/4\u200b012888888881881" as it came (the PAN
// in clear on any screen), and a leak_guard: block route forwarded it.
// Such characters are separators like a space: the number is masked in
// the log and refused by the guard.
func TestInvisibleCharactersDoNotHideACardNumber(t *testing.T) {
	const card = "4012888888881881"
	spellings := map[string]string{}
	for _, inv := range invisibles {
		spellings[fmt.Sprintf("%q", inv)] = card[:1] + inv + card[1:8] + inv + card[8:]
	}
	g := sendThroughBlockAndLogRoutes(t, spellings)
	log := g.stderr.String()
	for _, inv := range invisibles {
		log = strings.ReplaceAll(log, inv, "")
	}
	if strings.Contains(log, card) {
		t.Error("the log shows the card number once its invisible characters are left out")
	}
}

// TestInvisibleCharactersAnywhereDoNotHideACardNumber: an invisible
// character was a separator like a space, so one next to a visible
// separator ("4012-\u200b8888-…", shown as 4012-8888-…) or two in a row
// were two separators, which end a number; and the other characters shown
// as nothing (left-to-right and right-to-left marks, bidi embeddings and
// isolates, U+2061–U+2064, the Mongolian vowel separator, the combining
// grapheme joiner, the Arabic letter mark, variation selectors, tags) were
// breakers. Each reads as the card number on a screen: the guard of a
// block route forwarded it and the access log wrote it in clear.
func TestInvisibleCharactersAnywhereDoNotHideACardNumber(t *testing.T) {
	const card = "4012888888881881"
	spellings := map[string]string{
		"dash and zero-width space":  "4012-\u200b8888-\u200b8888-\u200b1881",
		"zero-width space and space": "4012\u200b 8888\u200b 8888\u200b 1881",
		"two zero-width spaces":      "4012\u200b\u200b888888881881",
		"soft hyphens and dots":      "4012.\u00ad8888.\u00ad8888.\u00ad1881",
	}
	for name, inv := range map[string]string{
		"left-to-right mark": "\u200e", "right-to-left mark": "\u200f", "bidi embedding": "\u202a",
		"pop directional formatting": "\u202c", "left-to-right override": "\u202d", "isolate": "\u2066",
		"pop isolate": "\u2069", "invisible separator": "\u2063", "invisible times": "\u2062",
		"mongolian vowel separator": "\u180e", "combining grapheme joiner": "\u034f",
		"arabic letter mark": "\u061c", "variation selector 16": "\ufe0f", "variation selector 1": "\ufe00",
		"tag space": "\U000e0020", "hangul filler": "\u3164", "halfwidth hangul filler": "\uffa0",
	} {
		spellings[name] = card[:4] + inv + card[4:8] + inv + card[8:12] + inv + card[12:]
	}
	g := sendThroughBlockAndLogRoutes(t, spellings)
	// The log as a reader sees it: what is shown as nothing, and the
	// separators, left out.
	shown := strings.Map(func(r rune) rune {
		if r >= 0x80 || r == '-' || r == '.' {
			return -1 // every non-ASCII character here is invisible
		}
		return r
	}, g.stderr.String())
	shown = strings.ReplaceAll(shown, " ", "")
	if strings.Contains(shown, card) {
		t.Error("the log shows the card number once its invisible characters are left out")
	}
}

// sendThroughBlockAndLogRoutes sends each spelling (by its label) in the
// path and in a header through a leak_guard: block route and a route that
// only logs, to a recording upstream: the block route must refuse every one
// (422) and forward none. It returns the stopped gateway, whose log the
// caller reads.
func sendThroughBlockAndLogRoutes(t *testing.T, spellings map[string]string) *gatewayProc {
	t.Helper()
	var mu sync.Mutex
	var got []string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.URL.Path+" "+r.Header.Get("X-Note"))
		mu.Unlock()
	}))
	t.Cleanup(up.Close)
	routesFile := filepath.Join(t.TempDir(), "routes.yaml")
	limWrite(t, routesFile, `routes:
  - id: blocked
    direction: inbound
    host: "*"
    path_prefix: /block
    upstream: `+up.URL+`
    leak_guard: block
  - id: logged
    direction: inbound
    host: "*"
    path_prefix: /log
    upstream: `+up.URL+`
`)
	// Every spelling is a card number refused by the guard's own answer
	// (422), not by the sender's spent budget of them (429,
	// limits.inbound_unknown_numbers).
	g := startGateway(t, testEnv(map[string]string{"ALIASGATE_ROUTES_FILE": routesFile, "ALIASGATE_LIMITS_INBOUND_UNKNOWN_NUMBERS": "0"}),
		"--data-dir", filepath.Join(t.TempDir(), "data"))
	for name, spelled := range spellings {
		for _, prefix := range []string{"/block/", "/log/"} {
			code, _ := call(t, "GET", g.inbound+prefix+url.PathEscape(spelled), "", "", nil)
			if prefix == "/block/" && code != http.StatusUnprocessableEntity {
				t.Errorf("%s in the path of a block route: %d, want 422", name, code)
			}
			code, _ = call(t, "GET", g.inbound+prefix+"x", "", "", func(r *http.Request) { r.Header.Set("X-Note", spelled) })
			if prefix == "/block/" && code != http.StatusUnprocessableEntity {
				t.Errorf("%s in a header of a block route: %d, want 422", name, code)
			}
		}
	}
	mu.Lock()
	for _, r := range got {
		if strings.HasPrefix(r, "/block") {
			t.Errorf("a block route forwarded %+q", r)
		}
	}
	mu.Unlock()
	g.stop(t)
	return g
}
