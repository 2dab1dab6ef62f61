package routes

import (
	"errors"
	"testing"
)

func TestCanonicalPath(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "/"},
		{"/", "/"},
		{"/checkout", "/checkout"},
		{"/checkout/", "/checkout/"},
		{"//checkout", "/checkout"},
		{"/checkout;x=1", "/checkout"},
		{"/checkout;jsessionid=ABC/pay;v=2", "/checkout/pay"},
		{"/./checkout", "/checkout"},
		{"/x/../checkout", "/checkout"},
		{"/../../checkout", "/checkout"},
		{"/a/b/./../c/", "/a/c/"},
		{"/%63heckout", "/checkout"},
		{"/%2e%2e/checkout", "/checkout"},
		{"/a%2E/checkout", "/a./checkout"},
		{"/caf%c3%a9", "/caf%C3%A9"},
		{"/a%20b", "/a%20b"},
		{"/CHECKOUT", "/CHECKOUT"},
		{"/v1/cards/tok_abc", "/v1/cards/tok_abc"},
		{"/a;/b", "/a/b"},
		{"/;x", "/"},
		{"/a/b/..", "/a/"},
		{"/a/.", "/a/"},
		{"//checkout//", "/checkout/"},
	} {
		got, err := CanonicalPath(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("CanonicalPath(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
		again, err := CanonicalPath(got)
		if err != nil || again != got {
			t.Errorf("CanonicalPath is not idempotent on %q: %q, %v", got, again, err)
		}
	}
	for _, in := range []string{"/a%2Fb", "/a%2fb", "/a%5Cb", "/a\\b", "/a%00b", "/a%0ab", "/a%", "/a%4", "/a%zz", "/a\x01b", "/a b"} {
		if got, err := CanonicalPath(in); !errors.Is(err, ErrUnsafePath) {
			t.Errorf("CanonicalPath(%q) = %q, %v; want ErrUnsafePath", in, got, err)
		}
	}
}

func TestCanonicalPathAllocatesNothingForCanonicalPaths(t *testing.T) {
	n := testing.AllocsPerRun(100, func() {
		if _, err := CanonicalPath("/v1/checkout/sessions"); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Errorf("%v allocations", n)
	}
}

func FuzzCanonicalPath(f *testing.F) {
	for _, s := range []string{"/checkout", "//a/./b/../c;x/", "/%63%2e%2E/", "/a%2Fb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		got, err := CanonicalPath(p)
		if err != nil {
			return
		}
		if got == "" || got[0] != '/' {
			t.Fatalf("CanonicalPath(%q) = %q", p, got)
		}
		again, err := CanonicalPath(got)
		if err != nil || again != got {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v", p, got, again, err)
		}
	})
}
