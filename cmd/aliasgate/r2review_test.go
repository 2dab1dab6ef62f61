package main

import (
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// TestAPIsAcceptTheSpellingsClientsSendOfUTF8: /cards and /aliases read
// bodies as UTF-8 and refuse a body declared in another charset, but a
// label of UTF-8 itself is no other charset: "utf8" (PHP and MySQL habit,
// a WHATWG label), Python's "utf_8", Windows' "cp65001", quoted or in
// capitals, were refused (415 unsupported_charset) once charsets were
// checked, while the leak guard reads them as UTF-8. The spellings the
// usual SDKs send (OkHttp, Spring, .NET's StringContent, Go) are accepted
// as before.
func TestAPIsAcceptTheSpellingsClientsSendOfUTF8(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	env := testEnv(nil)
	cred := createClient(t, env, data, "--name", "shop", "--account", "acct_1", "--pci",
		"--scopes", "cards:write,cards:read,aliases:write")
	g := startGateway(t, env, "--data-dir", data, "--enable-vault-api")
	bearer := bearerToken(t, g, cred)
	send := func(path, ctype, body string) (int, []byte) {
		t.Helper()
		req, err := http.NewRequest("POST", g.inbound+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", ctype)
		bearer(req)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, b
	}
	const card = `{"data":{"attributes":{"pan":"4111111111111111","cvc":"987","exp_month":4,"exp_year":2030}}}`
	const alias = `{"data":[{"value":"6011111111111117","format":"UUID"}]}`
	for _, p := range []string{
		"; charset=UTF-8", ";charset=utf-8", `; charset="utf-8"`, "; charset=utf8", "; charset=UTF8",
		"; charset=utf_8", "; charset=cp65001", "; charset=unicode-1-1-utf-8",
	} {
		if status, body := send("/cards", "application/vnd.api+json"+p, card); status != http.StatusCreated && status != http.StatusOK {
			t.Errorf("/cards with %q: %d %s, want 201 (200 for the same card again)", p, status, body)
		}
		for _, mt := range []string{"application/json", "application/vnd.api+json"} {
			if status, body := send("/aliases", mt+p, alias); status != http.StatusCreated {
				t.Errorf("/aliases as %s%s: %d %s, want 201", mt, p, status, body)
			}
		}
	}
	for _, p := range []string{"; charset=utf-7", "; charset=utf-16", "; charset=latin1", "; charset=utf-8x"} {
		if status, body := send("/aliases", "application/json"+p, alias); status != http.StatusUnsupportedMediaType {
			t.Errorf("/aliases with %q: %d %s, want 415", p, status, body)
		}
	}
}
