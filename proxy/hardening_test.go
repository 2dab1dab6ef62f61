package proxy

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"context"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/obs/obstest"
	"github.com/aliasgate/aliasgate/internal/vaulttok"
	"github.com/aliasgate/aliasgate/routes/rewrite"
	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/memstore"
)

// allocated returns the bytes allocated on the heap while fn runs (the
// process's total, so the tests that use it do not run in parallel).
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// zeros is an endless reader of '0' bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = '0'
	}
	return len(p), nil
}

// countingUpstream counts the body bytes it receives without keeping them.
func countingUpstream(t *testing.T) (*upstream, *atomic.Int64) {
	var n atomic.Int64
	u := newUpstream(t, nil)
	u.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := io.Copy(io.Discard, r.Body)
		n.Add(c)
		u.mu.Lock()
		u.got = append(u.got, received{Method: r.Method, Path: r.URL.Path})
		u.mu.Unlock()
		io.WriteString(w, `{"ok":true}`)
	})
	return u, &n
}

// Test100MiBBodies: a 100 MiB body on a route without body filters streams
// to the upstream without being held in memory (the leak guard, which
// cannot read it, logs that); on a route whose filter must read it, or
// that redacts request bodies and no filter matched, it is refused with 413 (at once when the length is
// announced, after MaxBody+1 bytes when chunked) and nothing is forwarded.
func Test100MiBBodies(t *testing.T) {
	const size = 100 << 20
	const max = 1 << 20
	up, n := countingUpstream(t)
	g := newGateway(t, parseRoutes(t, testRoutes, up.URL), nil, gwOptions{maxBody: max, logger: obstest.Logger(t)})

	t.Run("refused on a redacting route no filter matched", func(t *testing.T) {
		req, _ := http.NewRequest("POST", g.URL+"/json/upload", io.LimitReader(zeros{}, size))
		req.ContentLength = size
		req.Header.Set("Content-Type", "application/octet-stream")
		res, err := g.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 413 || n.Load() != 0 {
			t.Fatalf("status %d, upstream got %d bytes", res.StatusCode, n.Load())
		}
	})
	t.Run("streamed through a route without body filters", func(t *testing.T) {
		var status int
		alloc := allocated(func() {
			req, _ := http.NewRequest("POST", g.URL+"/plain/upload", io.LimitReader(zeros{}, size))
			req.ContentLength = size
			req.Header.Set("Content-Type", "application/octet-stream")
			res, err := g.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			status = res.StatusCode
		})
		if status != 200 || n.Load() != size {
			t.Fatalf("status %d, upstream got %d bytes", status, n.Load())
		}
		if alloc > 32<<20 {
			t.Errorf("streaming 100 MiB allocated %d MiB", alloc>>20)
		}
	})
	for _, chunked := range []bool{false, true} {
		name := "announced length"
		if chunked {
			name = "chunked"
		}
		t.Run("refused by a body filter, "+name, func(t *testing.T) {
			before := len(up.requests())
			var res *http.Response
			var body []byte
			alloc := allocated(func() {
				var r io.Reader = io.MultiReader(strings.NewReader(`{"card":{"number":"`+testPAN+`"},"pad":"`), io.LimitReader(zeros{}, size))
				req, _ := http.NewRequest("POST", g.URL+"/json/pay", r)
				if !chunked {
					req.ContentLength = size + int64(len(`{"card":{"number":"`+testPAN+`"},"pad":"`))
				}
				req.Header.Set("Content-Type", "application/json")
				var err error
				if res, err = g.Client().Do(req); err != nil {
					t.Fatal(err)
				}
				body, _ = io.ReadAll(res.Body)
				res.Body.Close()
			})
			if res.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), "body_too_large") {
				t.Fatalf("status %d: %s", res.StatusCode, body)
			}
			if len(up.requests()) != before {
				t.Fatal("the refused request reached the upstream")
			}
			if alloc > 32<<20 {
				t.Errorf("refusing 100 MiB allocated %d MiB", alloc>>20)
			}
		})
	}
}

// TestCompressionBombsAreBounded: a small gzip or deflate body that
// decodes to 100 MiB gets 413 on a route that must read it, after decoding
// at most MaxBody bytes; nothing is forwarded and memory stays bounded. A
// response bomb on a route with a response filter gives 502.
func TestCompressionBombsAreBounded(t *testing.T) {
	const max = 1 << 20
	prefix := []byte(`{"card":{"number":"` + testPAN + `"},"pad":"`)
	bombs := map[string][]byte{"gzip": gzipBomb(prefix, 100), "deflate": deflateBomb(prefix, 100)}
	for enc, b := range bombs {
		if len(b) > max/2 {
			t.Fatalf("%s bomb is %d bytes compressed", enc, len(b))
		}
		// It is a bomb: far more than max_body comes out of it.
		d, err := decodeBody(enc, b, 16*max)
		if !errors.Is(err, errTooLarge) {
			t.Fatalf("%s bomb decodes to %d bytes (%v)", enc, len(d), err)
		}
	}
	var mu sync.Mutex
	respBomb := ""
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		enc := respBomb
		mu.Unlock()
		if enc == "" {
			w.Write([]byte(`{"ok":true}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Encoding", enc)
		w.Write(bombs[enc])
	})
	g := newGateway(t, parseRoutes(t, testRoutes, up.URL), nil, gwOptions{maxBody: max, logger: obstest.Logger(t)})
	for enc, bomb := range bombs {
		t.Run("request "+enc, func(t *testing.T) {
			before := len(up.requests())
			var res *http.Response
			var body []byte
			alloc := allocated(func() {
				res, body = g.do(t, "POST", "/json/pay", "application/json", bytes.NewReader(bomb), map[string]string{"Content-Encoding": enc})
			})
			if res.StatusCode != http.StatusRequestEntityTooLarge {
				t.Fatalf("status %d: %s", res.StatusCode, body)
			}
			if len(up.requests()) != before {
				t.Fatal("the bomb reached the upstream")
			}
			if alloc > 24<<20 {
				t.Errorf("a 100 MiB bomb allocated %d MiB", alloc>>20)
			}
		})
		t.Run("response "+enc, func(t *testing.T) {
			mu.Lock()
			respBomb = enc
			mu.Unlock()
			defer func() { mu.Lock(); respBomb = ""; mu.Unlock() }()
			var res *http.Response
			var body []byte
			alloc := allocated(func() {
				res, body = g.do(t, "GET", "/respredact/x", "", nil, nil)
			})
			if res.StatusCode != http.StatusBadGateway {
				t.Fatalf("status %d: %s", res.StatusCode, body)
			}
			if alloc > 24<<20 {
				t.Errorf("a 100 MiB response bomb allocated %d MiB", alloc>>20)
			}
		})
	}
}

// failingPuts is a store whose writes fail while fail is set (a full disk).
type failingPuts struct {
	vault.Store
	fail atomic.Bool
}

func (f *failingPuts) Put(ctx context.Context, items []vault.PutItem) ([]vault.PutResult, error) {
	if f.fail.Load() {
		return nil, errors.New("write vault.db: no space left on device")
	}
	return f.Store.Put(ctx, items)
}

// TestFullDiskRefusesAndLosesNothing: while the vault's store cannot write,
// a request whose card number needs a new alias is refused with 503 and
// nothing reaches the upstream; values aliased before still redact to the
// same alias and reveal; once the store writes again the request goes
// through.
func TestFullDiskRefusesAndLosesNothing(t *testing.T) {
	mem := memstore.New(memstore.Options{SweepInterval: -1})
	vol := memstore.New(memstore.Options{SweepInterval: -1})
	t.Cleanup(func() { mem.Close(); vol.Close() })
	disk := &failingPuts{Store: mem}
	kr, err := vault.OpenKeyring(context.Background(), mem, bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := vault.New(disk, vol, kr, vault.Options{Env: "test"})
	if err != nil {
		t.Fatal(err)
	}
	tv := &testVault{svc: svc, persistent: mem, tok: vaulttok.New(svc)}
	up := newUpstream(t, nil)
	log := obstest.NewCapture(t)
	g := newGateway(t, parseRoutes(t, testRoutes, up.URL), tv, gwOptions{logger: log.Logger})

	known, err := tv.tok.Redact(context.Background(), []rewrite.RedactItem{{Value: testPAN2, Format: "FPE_SIX_T_FOUR"}})
	if err != nil {
		t.Fatal(err)
	}
	disk.fail.Store(true)
	res, body := g.do(t, "POST", "/json/pay", "application/json", strings.NewReader(cardJSON), nil)
	if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "vault_unavailable") {
		t.Fatalf("full disk: %d %s", res.StatusCode, body)
	}
	if len(up.requests()) != 0 {
		t.Fatal("a request the vault could not store reached the upstream")
	}
	assertNoPAN(t, "error body", body)
	// A known value needs no write: it still redacts, to the same alias.
	res, _ = g.do(t, "POST", "/json/pay", "application/json", strings.NewReader(`{"card":{"number":"`+testPAN2+`"}}`), nil)
	if res.StatusCode != 200 || !strings.Contains(string(up.last(t).Body), known[0]) {
		t.Fatalf("known value while the disk is full: %d %s", res.StatusCode, up.last(t).Body)
	}
	if got, err := tv.tok.Reveal(context.Background(), known); err != nil || got[0] != testPAN2 {
		t.Fatalf("reveal while the disk is full: %q %v", got, err)
	}
	disk.fail.Store(false)
	res, body = g.do(t, "POST", "/json/pay", "application/json", strings.NewReader(cardJSON), nil)
	if res.StatusCode != 200 {
		t.Fatalf("after the disk recovers: %d %s", res.StatusCode, body)
	}
	assertNoPAN(t, "forwarded body", up.last(t).Body)
	if len(log.Messages("proxy: filter failed, message refused")) != 1 {
		t.Errorf("the refusal was not logged once:\n%s", log.String())
	}
}

// TestRevealOfDeletedAndExpiredAliases: an outbound reveal of an alias that
// was deleted, or of a volatile alias whose TTL has passed, refuses the
// request (422, naming the target) and sends nothing to the processor.
func TestRevealOfDeletedAndExpiredAliases(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	mem := memstore.New(memstore.Options{SweepInterval: -1, Now: clock})
	vol := memstore.New(memstore.Options{SweepInterval: -1, Now: clock})
	t.Cleanup(func() { mem.Close(); vol.Close() })
	kr, err := vault.OpenKeyring(context.Background(), mem, bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := vault.New(mem, vol, kr, vault.Options{Env: "test", VolatileTTL: time.Minute, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	tv := &testVault{svc: svc, persistent: mem, tok: vaulttok.New(svc)}
	psp := newTLSUpstream(t, nil)
	g := newOutGateway(t, tv, outOpts{allowPrivate: true, roots: []*x509.Certificate{psp.Certificate()}})
	panAlias, cvcAlias := aliases(t, tv)
	if err := svc.Delete(context.Background(), panAlias); err != nil {
		t.Fatal(err)
	}
	c := g.client()
	u := "https://psp.example.com:" + psp.port() + "/charge"
	resp, body := post(t, c, u, "application/json", `{"card":{"number":"`+panAlias+`"}}`)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "card.number") {
		t.Fatalf("deleted alias: %d %s", resp.StatusCode, body)
	}
	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()
	resp, body = post(t, c, u, "application/json", `{"card":{"cvc":"`+cvcAlias+`"}}`)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "card.cvc") {
		t.Fatalf("expired alias: %d %s", resp.StatusCode, body)
	}
	if n := len(psp.requests()); n != 0 {
		t.Fatalf("the processor got %d requests", n)
	}
}

// gzipBomb is a gzip body of prefix and then mib MiB of '0': one member of
// prefix and 1 MiB, then the same 1 MiB member again and again (gzip
// readers read concatenated members as one stream), so making it costs one
// MiB of compression, not a hundred.
func gzipBomb(prefix []byte, mib int) []byte {
	member := func(p []byte) []byte {
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		w.Write(p)
		io.Copy(w, io.LimitReader(zeros{}, 1<<20))
		w.Close()
		return b.Bytes()
	}
	out := member(prefix)
	rest := member(nil)
	for range mib - 1 {
		out = append(out, rest...)
	}
	return out
}

// deflateBomb is a zlib body of prefix and then about mib MiB of '0': the
// stream is flushed after the first MiB, and the block of the second MiB
// (which only refers back to zeros) is repeated. Its checksum is never
// reached: a reader bounded below the full size stops before it.
func deflateBomb(prefix []byte, mib int) []byte {
	var b bytes.Buffer
	w := zlib.NewWriter(&b)
	w.Write(prefix)
	io.Copy(w, io.LimitReader(zeros{}, 1<<20))
	w.Flush()
	head := len(b.Bytes())
	io.Copy(w, io.LimitReader(zeros{}, 1<<20))
	w.Flush()
	out := bytes.Clone(b.Bytes())
	block := out[head:]
	for range mib - 2 {
		out = append(out, block...)
	}
	return out
}
