package dispatch_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/vault/boltstore"
	"github.com/aliasgate/aliasgate/webhooks"
	"github.com/aliasgate/aliasgate/webhooks/dispatch"
)

// The endpoints' signing secrets.
const (
	secret      = "whsec-test-0123456789abcdef0123456789"
	otherSecret = "whsec-other-0123456789abcdef012345678"
)

// syncBuffer is a log sink safe for the dispatcher's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func boltStore(t *testing.T) *boltstore.Store {
	t.Helper()
	s, err := boltstore.Open(filepath.Join(t.TempDir(), "vault.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// fast are the options of a test dispatcher: short waits, loopback
// allowed unless a test says otherwise.
func fast(eps ...webhooks.Endpoint) dispatch.Options {
	return dispatch.Options{Endpoints: eps, AllowHTTP: true, AllowPrivate: true, Timeout: 2 * time.Second,
		BackoffBase: 20 * time.Millisecond, BackoffMax: 80 * time.Millisecond, PollInterval: 10 * time.Millisecond}
}

func endpoint(id, url string, events ...string) webhooks.Endpoint {
	if len(events) == 0 {
		events = []string{"*"}
	}
	return webhooks.Endpoint{ID: id, Account: "acct1", URL: url, Secrets: [][]byte{[]byte(secret)}, Events: events}
}

// newPair returns an Outbox and its Dispatcher over s, the Outbox waking
// the Dispatcher as serve wires them.
func newPair(s webhooks.Store, opts dispatch.Options) (*webhooks.Outbox, *dispatch.Dispatcher, error) {
	d, err := dispatch.New(s, opts)
	if err != nil {
		return nil, nil, err
	}
	o, err := webhooks.New(s, webhooks.Options{Endpoints: opts.Endpoints, AllowHTTP: opts.AllowHTTP, Notify: d.Wake})
	return o, d, err
}

// start runs o until the test ends and waits for it to stop.
func start(t *testing.T, o *dispatch.Dispatcher) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// startWithOneEvent starts a dispatcher over s until the test ends and
// publishes one card.deleted event of acct1.
func startWithOneEvent(t *testing.T, s webhooks.Store, opts dispatch.Options) {
	t.Helper()
	o, oD, err := newPair(s, opts)
	if err != nil {
		t.Fatal(err)
	}
	start(t, oD)
	if err := o.Publish(context.Background(), "acct1", "card.deleted", []byte(`{"card_id":"CRD9"}`)); err != nil {
		t.Fatal(err)
	}
}

// waitState polls the delivery log until every delivery is in state (or
// the test's patience ends, which fails it).
func waitState(t *testing.T, s webhooks.Store, want int, state webhooks.State) []webhooks.Delivery {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ds, err := s.ListDeliveries(context.Background(), webhooks.Filter{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, d := range ds {
			if d.State == state {
				n++
			}
		}
		if n == want && len(ds) == want {
			return ds
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(ds, "", " ")
			t.Fatalf("waited for %d %s deliveries; the log:\n%s", want, state, b)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// receiver records what reaches it and verifies every signature.
type receiver struct {
	mu     sync.Mutex
	bodies [][]byte
	byID   map[string]int
	errs   []error
	reply  func(n int) int // the status of the n-th request (from 1)
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	err := webhooks.Verify(secret, r.Header.Get(webhooks.SignatureHeader), body, 0, time.Now())
	rc.mu.Lock()
	rc.bodies = append(rc.bodies, body)
	n := len(rc.bodies)
	if err != nil {
		rc.errs = append(rc.errs, err)
	}
	code := http.StatusNoContent
	if rc.reply != nil {
		code = rc.reply(n)
	}
	if code < 300 {
		if rc.byID == nil {
			rc.byID = map[string]int{}
		}
		rc.byID[r.Header.Get(webhooks.EventIDHeader)]++
	}
	rc.mu.Unlock()
	if r.Header.Get(webhooks.EventTypeHeader) == "" || !strings.HasPrefix(r.Header.Get(webhooks.DeliveryIDHeader), "dlv_") {
		code = http.StatusBadRequest
	}
	w.WriteHeader(code)
}

func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.bodies)
}

func TestSignedDeliveryReachesReceiver(t *testing.T) {
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	s := boltStore(t)
	o, oD, err := newPair(s, fast(endpoint("ep1", srv.URL, "card.*"), endpoint("ep2", srv.URL, "network_token.suspended")))
	if err != nil {
		t.Fatal(err)
	}
	start(t, oD)
	data := `{"card_id":"CRD1","last4":"4242","brand":"visa","exp_month":4,"exp_year":2028,"source":"api"}`
	if err := o.Publish(context.Background(), "acct1", "card.created", []byte(data)); err != nil {
		t.Fatal(err)
	}
	ds := waitState(t, s, 1, webhooks.StateDelivered) // ep2 does not want card.created
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.errs) != 0 || len(rc.bodies) != 1 {
		t.Fatalf("verify errors %v, %d bodies", rc.errs, len(rc.bodies))
	}
	var env struct {
		ID, Type, CreatedAt, AccountID string
		Data                           json.RawMessage
	}
	dec := json.NewDecoder(bytes.NewReader(rc.bodies[0]))
	dec.DisallowUnknownFields()
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(rc.bodies[0], &raw); err != nil || len(raw) != 5 {
		t.Fatalf("envelope %s: %v", rc.bodies[0], err)
	}
	if err := json.Unmarshal(rc.bodies[0], &struct {
		ID        *string          `json:"id"`
		Type      *string          `json:"type"`
		CreatedAt *string          `json:"created_at"`
		AccountID *string          `json:"account_id"`
		Data      *json.RawMessage `json:"data"`
	}{&env.ID, &env.Type, &env.CreatedAt, &env.AccountID, &env.Data}); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(env.ID, "evt_") || env.Type != "card.created" || env.AccountID != "acct1" || string(env.Data) != data {
		t.Fatalf("envelope %s", rc.bodies[0])
	}
	if ts, err := time.Parse(time.RFC3339, env.CreatedAt); err != nil || ts.Location() != time.UTC || !strings.HasSuffix(env.CreatedAt, "Z") {
		t.Fatalf("created_at %q: %v", env.CreatedAt, err)
	}
	d := ds[0]
	if d.EventID != env.ID || d.Endpoint != "ep1" || len(d.Attempts) != 1 || d.Attempts[0].Status != 204 || d.Attempts[0].Error != "" || d.Attempts[0].By != oD.Owner() {
		t.Fatalf("delivery %+v", d)
	}
	if n, _ := s.PendingDeliveries(context.Background()); n != 0 {
		t.Fatalf("backlog %d", n)
	}
}

func TestRetriedUntilReceiverComesBack(t *testing.T) {
	// The receiver is down (connection refused), then answers 500 twice,
	// then 200: one delivery, every attempt in the log.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	rc := &receiver{reply: func(n int) int {
		if n <= 2 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	}}
	logs := &syncBuffer{}
	s := boltStore(t)
	opts := fast(endpoint("ep1", "http://"+addr+"/hook"))
	opts.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	startWithOneEvent(t, s, opts)
	// Wait for two refused attempts, then bring the receiver up there.
	deadline := time.Now().Add(20 * time.Second)
	for {
		ds, _ := s.ListDeliveries(context.Background(), webhooks.Filter{})
		if len(ds) == 1 && len(ds[0].Attempts) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no two attempts: %+v", ds)
		}
		time.Sleep(5 * time.Millisecond)
	}
	l, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen again on %s: %v", addr, err)
	}
	srv := &http.Server{Handler: rc}
	go srv.Serve(l)
	defer srv.Close()
	d := waitState(t, s, 1, webhooks.StateDelivered)[0]
	n := len(d.Attempts)
	if n < 5 || d.Attempts[n-1].Status != 200 || d.Attempts[n-2].Status != 500 || d.Attempts[n-3].Status != 500 {
		t.Fatalf("attempts %+v", d.Attempts)
	}
	for i, a := range d.Attempts[:n-3] {
		if a.Error != "connection_refused" || a.Status != 0 || a.Next.IsZero() {
			t.Errorf("attempt %d: %+v", i, a)
		}
	}
	for i, a := range d.Attempts[:n-1] {
		if a.Next.Before(a.At) || !d.Attempts[i+1].At.After(a.At) {
			t.Errorf("attempt %d: next %v, at %v, the next made at %v", i, a.Next, a.At, d.Attempts[i+1].At)
		}
	}
	if rc.count() != 3 || len(rc.errs) != 0 {
		t.Fatalf("receiver saw %d requests, verify errors %v", rc.count(), rc.errs)
	}
	// Backoff grows: the wait before the k-th retry is at least half of
	// base·2^(k-1), capped.
	for i, a := range d.Attempts[:n-1] {
		wait := a.Next.Sub(a.At)
		lo := min(20*time.Millisecond<<i, 80*time.Millisecond) / 2
		if wait < lo || wait > 80*time.Millisecond {
			t.Errorf("attempt %d waited %v, want %v to 80ms", i, wait, lo)
		}
	}
	checkNoSecret(t, logs.String(), d)
	if !strings.Contains(logs.String(), "will retry") {
		t.Fatalf("no retry logged:\n%s", logs)
	}
}

// checkNoSecret fails when the secret is in the logs or the delivery log.
func checkNoSecret(t *testing.T, logs string, ds ...webhooks.Delivery) {
	t.Helper()
	b, _ := json.Marshal(ds)
	for _, where := range []string{logs, string(b)} {
		if strings.Contains(where, secret) || strings.Contains(where, otherSecret) {
			t.Fatalf("a secret is written:\n%s", where)
		}
	}
}

func TestGivesUpAfterRetryFor(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		// An answer with a card number, control bytes and more than the
		// excerpt keeps.
		// A number in exponent notation whose value is a card number is
		// card data too (the leak guard's reading).
		io.WriteString(w, "down\x00\x1b[31m card 4111111111111111 amount 4111111111111111000e-3 "+strings.Repeat("z", 500))
	}))
	defer srv.Close()
	s := boltStore(t)
	opts := fast(endpoint("ep1", srv.URL))
	opts.RetryFor = 150 * time.Millisecond
	o, oD, err := newPair(s, opts)
	if err != nil {
		t.Fatal(err)
	}
	start(t, oD)
	if err := o.Publish(context.Background(), "acct1", "card.updated", []byte(`{"card_id":"CRD1"}`)); err != nil {
		t.Fatal(err)
	}
	d := waitState(t, s, 1, webhooks.StateFailed)[0]
	last := d.Attempts[len(d.Attempts)-1]
	if len(d.Attempts) < 2 || !last.Next.IsZero() || last.Status != 503 || last.Error != "http_status" {
		t.Fatalf("attempts %+v", d.Attempts)
	}
	for _, a := range d.Attempts {
		if len(a.Excerpt) > webhooks.ExcerptLen || strings.Contains(a.Excerpt, "4111111111111111") || strings.ContainsAny(a.Excerpt, "\x00\x1b") ||
			!strings.HasPrefix(a.Excerpt, "down") {
			t.Fatalf("excerpt %q", a.Excerpt)
		}
	}
}

func TestTLSIsVerified(t *testing.T) {
	rc := &receiver{}
	srv := httptest.NewUnstartedServer(rc)           // its certificate is not trusted by the system
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
	srv.StartTLS()
	defer srv.Close()
	s := boltStore(t)
	opts := fast(endpoint("ep1", srv.URL))
	opts.AllowHTTP, opts.RetryFor = false, 100*time.Millisecond
	o, oD, err := newPair(s, opts)
	if err != nil {
		t.Fatal(err)
	}
	start(t, oD)
	if err := o.Publish(context.Background(), "acct1", "card.created", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	d := waitState(t, s, 1, webhooks.StateFailed)[0]
	for _, a := range d.Attempts {
		if a.Error != "tls_certificate" {
			t.Fatalf("attempt %+v", a)
		}
	}
	if rc.count() != 0 {
		t.Fatal("a request reached a receiver whose certificate does not verify")
	}

	// With its CA given: delivered.
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	s2 := boltStore(t)
	opts.RootCAs = pool
	o2, o2D, err := newPair(s2, opts)
	if err != nil {
		t.Fatal(err)
	}
	start(t, o2D)
	if err := o2.Publish(context.Background(), "acct1", "card.created", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	waitState(t, s2, 1, webhooks.StateDelivered)
	if rc.count() != 1 || len(rc.errs) != 0 {
		t.Fatalf("receiver %d, %v", rc.count(), rc.errs)
	}
}

func TestRedirectsAreNotFollowed(t *testing.T) {
	target := &receiver{}
	tsrv := httptest.NewServer(target)
	defer tsrv.Close()
	redirect := httptest.NewServer(http.RedirectHandler(tsrv.URL+"/stolen", http.StatusTemporaryRedirect))
	defer redirect.Close()
	s := boltStore(t)
	opts := fast(endpoint("ep1", redirect.URL))
	opts.RetryFor = 100 * time.Millisecond
	o, oD, err := newPair(s, opts)
	if err != nil {
		t.Fatal(err)
	}
	start(t, oD)
	if err := o.Publish(context.Background(), "acct1", "card.created", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	d := waitState(t, s, 1, webhooks.StateFailed)[0]
	if a := d.Attempts[0]; a.Status != 307 || a.Error != "redirect" {
		t.Fatalf("attempt %+v", a)
	}
	if target.count() != 0 {
		t.Fatal("the redirect was followed")
	}
}

// mapResolver resolves fixed names.
type mapResolver map[string]string

func (m mapResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	ip, ok := m[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return []net.IPAddr{{IP: net.ParseIP(ip)}}, nil
}

func TestForbiddenDestinationsAreRefused(t *testing.T) {
	rc := &receiver{}
	srv := httptest.NewServer(rc) // a real receiver on loopback: never reached
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	cases := map[string]string{
		"metadata":      "http://169.254.169.254/latest/meta-data",
		"ten":           "http://10.1.2.3/hook",
		"loopback":      srv.URL,
		"localhost":     "http://localhost:" + port + "/hook",
		"name-to-meta":  "http://meta.hooks.test/hook",
		"name-to-loop":  "http://rebind.hooks.test:" + port + "/hook",
		"mapped-loop":   "http://[::ffff:127.0.0.1]:" + port + "/hook",
		"private-range": "http://192.168.1.1/hook",
	}
	var eps []webhooks.Endpoint
	for id, u := range cases {
		eps = append(eps, endpoint(id, u))
	}
	logs := &syncBuffer{}
	s := boltStore(t)
	opts := fast(eps...)
	opts.AllowPrivate = false
	opts.Resolver = mapResolver{"meta.hooks.test": "169.254.169.254", "rebind.hooks.test": "127.0.0.1", "localhost": "127.0.0.1"}
	opts.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	o, oD, err := newPair(s, opts)
	if err != nil {
		t.Fatal(err)
	}
	start(t, oD)
	if err := o.Publish(context.Background(), "acct1", "card.created", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	ds := waitState(t, s, len(cases), webhooks.StateFailed)
	for _, d := range ds {
		if len(d.Attempts) != 1 || d.Attempts[0].Error != "forbidden_destination" {
			t.Errorf("%s: attempts %+v", d.Endpoint, d.Attempts)
		}
	}
	if rc.count() != 0 {
		t.Fatal("a forbidden destination was reached")
	}
	if got := strings.Count(logs.String(), "destination refused"); got != len(cases) {
		t.Fatalf("%d refusals logged, want %d:\n%s", got, len(cases), logs)
	}
	checkNoSecret(t, logs.String(), ds...)
}

func TestOperatorView(t *testing.T) {
	rc := &receiver{reply: func(int) int { return http.StatusInternalServerError }}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	s := boltStore(t)
	opts := fast(endpoint("ep1", srv.URL))
	opts.RetryFor = 50 * time.Millisecond
	o, oD, err := newPair(s, opts)
	if err != nil {
		t.Fatal(err)
	}
	start(t, oD)
	if err := o.Publish(context.Background(), "acct1", "card.created", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	d := waitState(t, s, 1, webhooks.StateFailed)[0]
	admin := httptest.NewServer(oD.Handler())
	defer admin.Close()
	get := func(method, path string, want int) []byte {
		t.Helper()
		req, _ := http.NewRequest(method, admin.URL+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want || resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("%s %s = %d %s", method, path, resp.StatusCode, b)
		}
		return b
	}
	var list struct {
		Data []webhooks.Delivery `json:"data"`
	}
	json.Unmarshal(get("GET", "/admin/webhooks/deliveries?state=failed&account=acct1", 200), &list)
	if len(list.Data) != 1 || list.Data[0].ID != d.ID || len(list.Data[0].Attempts) == 0 {
		t.Fatalf("list %+v", list)
	}
	json.Unmarshal(get("GET", "/admin/webhooks/deliveries?state=delivered", 200), &list)
	if len(list.Data) != 0 {
		t.Fatalf("delivered list %+v", list)
	}
	get("GET", "/admin/webhooks/deliveries?state=nope", 400)
	get("GET", "/admin/webhooks/deliveries?limit=0", 400)
	get("GET", "/admin/webhooks/deliveries/dlv_nope", 404)
	get("GET", "/admin/webhooks/deliveries/"+d.ID, 200)
	// The receiver is fixed; the operator redelivers.
	rc.mu.Lock()
	rc.reply = nil
	rc.mu.Unlock()
	get("POST", "/admin/webhooks/deliveries/"+d.ID+"/redeliver", 200)
	d2 := waitState(t, s, 1, webhooks.StateDelivered)[0]
	if d2.Attempts[len(d2.Attempts)-1].Status != 204 || len(d2.Attempts) <= len(d.Attempts) {
		t.Fatalf("after redeliver %+v", d2.Attempts)
	}
	get("POST", "/admin/webhooks/deliveries/dlv_nope/redeliver", 404)
}

// TestAttemptsOfADeliveryAreCapped: a delivery whose receiver always
// fails keeps its last webhooks.MaxAttempts attempts and counts the
// others in attempts_dropped, through the dispatcher and the bbolt store.
// Before, every attempt was kept: a delivery retried for a day (or
// redelivered again and again) grew without bound, and so did every read
// and write of its record.
func TestAttemptsOfADeliveryAreCapped(t *testing.T) {
	rc := &receiver{reply: func(int) int { return http.StatusInternalServerError }}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	s := boltStore(t)
	opts := fast(endpoint("ep1", srv.URL+"/hook"))
	opts.BackoffBase, opts.BackoffMax = time.Millisecond, 2*time.Millisecond
	startWithOneEvent(t, s, opts)
	deadline := time.Now().Add(20 * time.Second)
	for rc.count() < webhooks.MaxAttempts+10 {
		if time.Now().After(deadline) {
			t.Fatalf("the receiver saw %d attempts only", rc.count())
		}
		time.Sleep(5 * time.Millisecond)
	}
	ds, err := s.ListDeliveries(context.Background(), webhooks.Filter{})
	if err != nil || len(ds) != 1 {
		t.Fatalf("deliveries %v %v", ds, err)
	}
	d := ds[0]
	if len(d.Attempts) != webhooks.MaxAttempts || d.AttemptsDropped < 5 || d.AttemptsDropped+len(d.Attempts) > rc.count() {
		t.Fatalf("%d attempts kept, %d dropped, %d made", len(d.Attempts), d.AttemptsDropped, rc.count())
	}
	for i := 1; i < len(d.Attempts); i++ {
		if d.Attempts[i].At.Before(d.Attempts[i-1].At) || d.Attempts[i].Status != 500 {
			t.Fatalf("attempt %d: %+v after %+v", i, d.Attempts[i], d.Attempts[i-1])
		}
	}
}
