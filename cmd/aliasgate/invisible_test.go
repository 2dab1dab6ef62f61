package main

import (
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
	g := startGateway(t, testEnv(map[string]string{"ALIASGATE_ROUTES_FILE": routesFile}), "--data-dir", filepath.Join(t.TempDir(), "data"))
	for _, inv := range invisibles {
		spelled := card[:1] + inv + card[1:8] + inv + card[8:]
		for _, prefix := range []string{"/block/", "/log/"} {
			code, _ := call(t, "GET", g.inbound+prefix+url.PathEscape(spelled), "", "", nil)
			if prefix == "/block/" && code != http.StatusUnprocessableEntity {
				t.Errorf("%q in the path of a block route: %d, want 422", inv, code)
			}
			code, _ = call(t, "GET", g.inbound+prefix+"x", "", "", func(r *http.Request) { r.Header.Set("X-Note", spelled) })
			if prefix == "/block/" && code != http.StatusUnprocessableEntity {
				t.Errorf("%q in a header of a block route: %d, want 422", inv, code)
			}
		}
	}
	mu.Lock()
	for _, r := range got {
		if strings.HasPrefix(r, "/block") {
			t.Errorf("a block route forwarded %q", r)
		}
	}
	mu.Unlock()
	g.stop(t)
	log := g.stderr.String()
	for _, inv := range invisibles {
		log = strings.ReplaceAll(log, inv, "")
	}
	if strings.Contains(log, card) {
		t.Error("the log shows the card number once its invisible characters are left out")
	}
}
