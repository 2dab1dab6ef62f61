package routes

import (
	"strings"
	"testing"
)

func TestSplitHostNormalises(t *testing.T) {
	for _, c := range []struct{ in, host, port string }{
		{"Shop.Test", "shop.test", ""},
		{"shop.test.", "shop.test", ""},
		{"shop.test.:80", "shop.test", "80"},
		{"SHOP.TEST.:8443", "shop.test", "8443"},
		{"[::1]:443", "::1", "443"},
		{"[::1]", "::1", ""},
		{"Bücher.Example", "xn--bcher-kva.example", ""},
		{"bücher.example.:443", "xn--bcher-kva.example", "443"},
		{"xn--bcher-kva.example", "xn--bcher-kva.example", ""},
		{"ＳＨＯＰ.test", "shop.test", ""}, // full-width letters map to ASCII (UTS #46)
		{"a\ufffdb.test", "", ""},      // no IDNA form: matches no named host
	} {
		h, p := SplitHost(c.in)
		if h != c.host || p != c.port {
			t.Errorf("SplitHost(%q) = %q %q, want %q %q", c.in, h, p, c.host, c.port)
		}
	}
}

func TestRouteHostsNormalisedLikeRequests(t *testing.T) {
	set, err := Parse([]byte(`routes:
  - {id: idn, direction: outbound, host: "Bücher.Example"}
  - {id: sub, direction: outbound, host: "*.Bücher.Example"}
`), "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]string{
		"xn--bcher-kva.example:443":      "idn",
		"BÜCHER.example.":                "idn",
		"api.bücher.example":             "sub",
		"api.xn--bcher-kva.example.:443": "sub",
	} {
		if r := set.Match(Outbound, host, "/"); r == nil || r.ID != want {
			t.Errorf("Match(%q) = %v, want %s", host, r, want)
		}
	}
}

// FuzzNormalizeHost: whatever a client sends, the compared form is ASCII
// without upper-case letters, and a name already in that form (no dot at
// its end, no brackets) is its own form.
func FuzzNormalizeHost(f *testing.F) {
	for _, s := range []string{"Shop.Test.", "[::1]", "Bücher.Example", "ＳＨＯＰ.test", "a\ufffdb.test", "xn--bcher-kva.example"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		n := NormalizeHost(h)
		for i := 0; i < len(n); i++ {
			if n[i] >= 0x80 || n[i] >= 'A' && n[i] <= 'Z' {
				t.Fatalf("NormalizeHost(%q) = %q: not lower-case ASCII", h, n)
			}
		}
		if n != "" && !strings.HasSuffix(n, ".") && !strings.ContainsAny(n, "[]") && NormalizeHost(n) != n {
			t.Fatalf("NormalizeHost(%q) = %q, but NormalizeHost(%q) = %q", h, n, n, NormalizeHost(n))
		}
	})
}
