package admin

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/lockout"
)

// fakeClock is a settable clock for the lockout table.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// clientFrom returns a client whose connections come from ip (Linux routes
// all of 127/8 to the loopback interface).
func clientFrom(t *testing.T, ip string) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

type answer struct {
	code       int
	retryAfter string
	ctype      string
	body       []byte
}

func call(t *testing.T, c *http.Client, method, url, token string) answer {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return answer{res.StatusCode, res.Header.Get("Retry-After"), res.Header.Get("Content-Type"), b}
}

// TestWrongTokensLockOutThatAddressOnly: wrong tokens from 127.0.0.2 lock
// that address out with 429 and Retry-After; the operator at 127.0.0.1 is
// not affected; the lockout expires; a correct token resets the address.
func TestWrongTokensLockOutThatAddressOnly(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1e9, 0)}
	table := lockout.New(lockout.Options{Now: clk.now})
	srv := httptest.NewServer(New(Options{Token: token, Keys: &fakeKeys{current: 1}, Lockout: table}))
	defer srv.Close()
	attacker, operator := clientFrom(t, "127.0.0.2"), clientFrom(t, "127.0.0.1")
	status := srv.URL + "/admin/keys/status"

	var unauthorized, locked int
	var last answer
	for i := range 25 {
		a := call(t, attacker, "GET", status, fmt.Sprintf("wrong-token-%02d-wrong-token", i))
		switch a.code {
		case http.StatusUnauthorized:
			unauthorized++
		case http.StatusTooManyRequests:
			locked++
			last = a
		default:
			t.Fatalf("wrong token %d: %d %s", i, a.code, a.body)
		}
		if a := call(t, operator, "GET", status, token); a.code != http.StatusOK {
			t.Fatalf("the operator after %d wrong tokens from another address: %d %s", i+1, a.code, a.body)
		}
	}
	if unauthorized != lockout.DefaultFree+1 || locked != 25-unauthorized {
		t.Fatalf("%d answers 401, %d answers 429", unauthorized, locked)
	}
	var doc struct {
		Errors []struct{ Status, Code, Title, Detail string }
	}
	if last.retryAfter != "1" || last.ctype != "application/vnd.api+json" || json.Unmarshal(last.body, &doc) != nil ||
		len(doc.Errors) != 1 || doc.Errors[0].Status != "429" || doc.Errors[0].Code != "locked_out" {
		t.Fatalf("the lockout answer: Retry-After %q, %s %s", last.retryAfter, last.ctype, last.body)
	}
	// Locked out, the right token is not even compared.
	if a := call(t, attacker, "POST", srv.URL+"/admin/keys/rotate", token); a.code != http.StatusTooManyRequests {
		t.Fatalf("the right token from the locked-out address: %d", a.code)
	}
	if table.Lockouts() != 1 {
		t.Fatalf("Lockouts = %d", table.Lockouts())
	}

	// The next failure doubles the lockout.
	clk.add(time.Second)
	if a := call(t, attacker, "GET", status, "wrong-token-again-wrong-token"); a.code != http.StatusUnauthorized {
		t.Fatalf("a wrong token after the lockout: %d", a.code)
	}
	if a := call(t, attacker, "GET", status, token); a.code != http.StatusTooManyRequests || a.retryAfter != "2" {
		t.Fatalf("after the next failure: %d, Retry-After %q", a.code, a.retryAfter)
	}
	clk.add(2 * time.Second)
	if a := call(t, attacker, "GET", status, token); a.code != http.StatusOK {
		t.Fatalf("the right token once the lockout expired: %d %s", a.code, a.body)
	}
	if table.Len() != 0 {
		t.Fatalf("a success kept the address: %d entries", table.Len())
	}
	for range lockout.DefaultFree {
		if a := call(t, attacker, "GET", status, "wrong-token-after-reset"); a.code != http.StatusUnauthorized {
			t.Fatalf("the success did not reset the address: %d", a.code)
		}
	}
}

// TestRequestsWithoutATokenAreNotCounted: a probe without a token is not a
// guess and locks nothing.
func TestRequestsWithoutATokenAreNotCounted(t *testing.T) {
	table := lockout.New(lockout.Options{})
	srv := httptest.NewServer(New(Options{Token: token, Keys: &fakeKeys{current: 1}, Lockout: table}))
	defer srv.Close()
	for range 30 {
		if a := call(t, srv.Client(), "GET", srv.URL+"/admin/keys/status", ""); a.code != http.StatusUnauthorized {
			t.Fatalf("no token: %d", a.code)
		}
	}
	if table.Len() != 0 {
		t.Fatalf("%d entries", table.Len())
	}
}

// TestLockoutTableStaysBounded: one wrong token from each of 300 loopback
// addresses leaves at most MaxEntries of them in the table, and the
// operator still gets in.
func TestLockoutTableStaysBounded(t *testing.T) {
	table := lockout.New(lockout.Options{MaxEntries: 50})
	srv := httptest.NewServer(New(Options{Token: token, Keys: &fakeKeys{current: 1}, Lockout: table}))
	defer srv.Close()
	for i := range 300 {
		c := clientFrom(t, fmt.Sprintf("127.0.%d.%d", 10+i/250, 1+i%250))
		if a := call(t, c, "GET", srv.URL+"/admin/keys/status", "wrong-token-wrong-token"); a.code != http.StatusUnauthorized {
			t.Fatalf("address %d: %d", i, a.code)
		}
		c.Transport.(*http.Transport).CloseIdleConnections()
	}
	if n := table.Len(); n != 50 {
		t.Fatalf("%d entries after 300 addresses, want 50", n)
	}
	if a := call(t, srv.Client(), "GET", srv.URL+"/admin/keys/status", token); a.code != http.StatusOK {
		t.Fatalf("the operator: %d", a.code)
	}
}
