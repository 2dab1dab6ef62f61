package dispatch_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aliasgate/aliasgate/webhooks"
)

// multiResolver resolves fixed names to several addresses.
type multiResolver map[string][]string

func (m multiResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	ips, ok := m[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var out []net.IPAddr
	for _, ip := range ips {
		out = append(out, net.IPAddr{IP: net.ParseIP(ip)})
	}
	return out, nil
}

// TestNameWithOnePrivateAddressIsRefused: a host name whose answer holds
// a public address and a private one (in either order) is refused as a
// whole, never dialled at its public address first and the private one
// next; the receiver on loopback is never reached.
func TestNameWithOnePrivateAddressIsRefused(t *testing.T) {
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	s := boltStore(t)
	opts := fast(endpoint("public-first", "http://mixed1.hooks.test:"+port+"/hook"),
		endpoint("private-first", "http://mixed2.hooks.test:"+port+"/hook"),
		endpoint("v6-loopback", "http://mixed3.hooks.test:"+port+"/hook"))
	opts.AllowPrivate = false
	opts.Resolver = multiResolver{
		"mixed1.hooks.test": {"93.184.216.34", "127.0.0.1"},
		"mixed2.hooks.test": {"127.0.0.1", "93.184.216.34"},
		"mixed3.hooks.test": {"2606:4700::1111", "::1", "127.0.0.1"},
	}
	o, d, err := newPair(s, opts)
	if err != nil {
		t.Fatal(err)
	}
	start(t, d)
	if err := o.Publish(context.Background(), "acct1", "card.created", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	for _, dl := range waitState(t, s, 3, webhooks.StateFailed) {
		if len(dl.Attempts) != 1 || dl.Attempts[0].Error != "forbidden_destination" || dl.Attempts[0].Detail != "loopback address" {
			t.Errorf("%s: attempts %+v", dl.Endpoint, dl.Attempts)
		}
	}
	if rc.count() != 0 {
		t.Fatal("a name with a loopback address was dialled")
	}
}

// TestProxyEnvironmentIsNotUsed: HTTPS_PROXY, HTTP_PROXY and ALL_PROXY in
// the gateway's environment do not route deliveries: a proxy would see
// the signed events, and reach what the checked dialer refuses.
func TestProxyEnvironmentIsNotUsed(t *testing.T) {
	proxied := &receiver{}
	proxy := httptest.NewServer(proxied)
	defer proxy.Close()
	for _, k := range []string{"HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy", "all_proxy"} {
		t.Setenv(k, proxy.URL)
	}
	t.Setenv("NO_PROXY", "")
	t.Setenv("no_proxy", "")
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	s := boltStore(t)
	// A name, not a loopback literal: Go's environment proxy leaves
	// localhost and loopback addresses alone.
	opts := fast(endpoint("ep1", "http://receiver.hooks.test:"+port+"/hook"))
	opts.Resolver = multiResolver{"receiver.hooks.test": {"127.0.0.1"}}
	o, d, err := newPair(s, opts)
	if err != nil {
		t.Fatal(err)
	}
	start(t, d)
	if err := o.Publish(context.Background(), "acct1", "card.created", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	waitState(t, s, 1, webhooks.StateDelivered)
	if rc.count() != 1 || proxied.count() != 0 {
		t.Fatalf("receiver got %d, the proxy %d", rc.count(), proxied.count())
	}
}

var _ http.Handler = (*receiver)(nil)
