package hostguard

import "testing"

// TestHostAllowed: the Host spellings a rebinding page or a confused
// client can send, against a listener on port 9090 with two configured
// names (one with a port: that name only there). Other ports of an
// address or localhost pass: a mapped port is not a rebinding. Values a Go client cannot send (zones, unbracketed IPv6) are
// checked here; the gateway test sends the rest through the listener.
func TestHostAllowed(t *testing.T) {
	g, err := New([]string{"Admin.Internal", "fwd.example:19090"})
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]bool{
		"":                        true,
		"127.0.0.1:9090":          true,
		"127.0.0.1":               true,
		"localhost:9090":          true,
		"LOCALHOST":               true,
		"[::1]:9090":              true,
		"[::1]":                   true,
		"[::ffff:127.0.0.1]:9090": true,
		"admin.internal:9090":     true,
		"ADMIN.internal":          true,
		"fwd.example:19090":       true,
		"evil.example":            false,
		"evil.example:9090":       false,
		"127.0.0.1.nip.io:9090":   false,
		"localhost.:9090":         false,
		"localhost.":              false,
		"admin.internal.":         false,
		"x.admin.internal":        false,
		"fwd.example:9090":        false,
		"fwd.example":             false,
		"127.0.0.1:9091":          true,
		"localhost:80":            true,
		"[::1]:1":                 true,
		"::1":                     false,
		"::1:9090":                false,
		"[::1%lo]:9090":           false,
		"[fe80::1%25eth0]:9090":   false,
		"[127.0.0.1]:9090":        false,
		"[::1":                    false,
		"[::1]x":                  false,
		"127.0.0.1:":              false,
		"127.0.0.1:+9090":         false,
		"127.0.0.1:0":             false,
		"127.1:9090":              false,
		"2130706433:9090":         false,
		"0x7f.0.0.1:9090":         false,
		"127.0.0.1.:9090":         false,
	} {
		if got := g.HostAllowed(host); got != want {
			t.Errorf("HostAllowed(%q) = %v, want %v", host, got, want)
		}
	}
}

// TestParseName: what admin.allowed_hosts accepts.
func TestParseName(t *testing.T) {
	for s, want := range map[string]string{"Gw.Example": "gw.example", "gw.example:8443": "gw.example:8443", "10.0.0.1": "10.0.0.1", "[::1]:9": "[::1]:9", "svc_name": "svc_name"} {
		if got, err := ParseName(s); err != nil || got != want {
			t.Errorf("ParseName(%q) = %q, %v; want %q", s, got, err, want)
		}
	}
	for _, s := range []string{"", "*.example", "a..b", "http://x", "x:y", "x:99999", "a b", ":9090", "::1"} {
		if _, err := ParseName(s); err == nil {
			t.Errorf("ParseName(%q) accepted", s)
		}
	}
}
