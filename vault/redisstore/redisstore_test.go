package redisstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/aliasgate/aliasgate/internal/faultnet"
	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/vaulttest"
)

// TestConformance runs the vault store suite. Reopen is a new client on the
// same prefix: the data lives in Redis, not in the client, so what one
// gateway process wrote is there for the next one (or for another node) —
// the durability tests check exactly that. They do not prove that Redis
// itself survives a crash: that is its persistence setting, and volatile
// values do not need it.
func TestConformance(t *testing.T) {
	vaulttest.Run(t, vaulttest.Harness{
		VolatileOnly: true,
		Open: func(t *testing.T, now func() time.Time) vault.Store {
			return openStore(t, "", now)
		},
		Reopen: func(t *testing.T, store vault.Store, now func() time.Time) vault.Store {
			prefix := store.(*Store).Prefix()
			if err := store.Close(); err != nil {
				t.Fatal(err)
			}
			return openStore(t, prefix, now)
		},
	})
}

// record returns a record with a random ciphertext and, unless index is
// empty, an index key hashed from it.
func record(alias, index string, created time.Time) *vault.Record {
	ct := make([]byte, 40)
	rand.Read(ct)
	r := &vault.Record{Alias: alias, Format: vault.FormatUUID, Storage: vault.StorageVolatile, KeyVersion: 1,
		Ciphertext: ct, Classifiers: []string{"cvc"}, CreatedAt: created}
	if index != "" {
		k := sha256.Sum256([]byte(index))
		r.IndexKey = k[:]
	}
	return r
}

func items(recs ...*vault.Record) []vault.PutItem {
	out := make([]vault.PutItem, len(recs))
	for i, r := range recs {
		out[i] = vault.PutItem{Record: r}
	}
	return out
}

func pttl(t *testing.T, c *redis.Client, key string) int64 {
	t.Helper()
	n, err := c.Do(context.Background(), "PTTL", key).Int64()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestKeysHaveNativeTTL(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, "", nil)
	a := admin(t)
	const ttl = 90 * time.Second
	now := time.Now()
	r := record("tok_ttl", "cvc-ttl", now)
	r.ExpiresAt = now.Add(ttl)
	p := record("tok_forever", "", now)
	res, err := s.Put(ctx, items(r, p))
	if err != nil || res[0].Status != vault.PutCreated || res[1].Status != vault.PutCreated {
		t.Fatalf("Put = %+v, %v", res, err)
	}
	rk, ik := s.Prefix()+"r:tok_ttl", s.Prefix()+"i:"+fmt.Sprintf("%x", r.IndexKey)
	for _, k := range []string{rk, ik} {
		if ms := pttl(t, a, k); ms <= 0 || ms > ttl.Milliseconds() {
			t.Fatalf("PTTL %s = %d ms, want in (0, %d]", k, ms, ttl.Milliseconds())
		}
	}
	if ms := pttl(t, a, s.Prefix()+"r:tok_forever"); ms != -1 {
		t.Fatalf("PTTL of a record without expiry = %d, want -1 (no TTL)", ms)
	}
	// The stored bytes are vault.MarshalRecord's, and the index entry holds
	// the alias.
	if b, _ := a.Get(ctx, rk).Bytes(); !bytes.Equal(b, vault.MarshalRecord(r)) {
		t.Fatal("stored record is not vault.MarshalRecord bytes")
	}
	if v, _ := a.Get(ctx, ik).Result(); v != "tok_ttl" {
		t.Fatalf("index entry = %q", v)
	}

	// SetClassifiers rewrites the record and keeps its TTL.
	if err := s.SetClassifiers(ctx, []string{"tok_ttl"}, []string{"cvc", "x.y:z"}); err != nil {
		t.Fatal(err)
	}
	if ms := pttl(t, a, rk); ms <= 0 || ms > ttl.Milliseconds() {
		t.Fatalf("PTTL after SetClassifiers = %d ms, want in (0, %d]", ms, ttl.Milliseconds())
	}
	want := r.Clone()
	want.Classifiers = []string{"cvc", "x.y:z"}
	if b, _ := a.Get(ctx, rk).Bytes(); !bytes.Equal(b, vault.MarshalRecord(want)) {
		t.Fatal("SetClassifiers did not write what vault.MarshalRecord would")
	}
	if err := s.SetClassifiers(ctx, []string{"tok_forever"}, nil); err != nil {
		t.Fatal(err)
	}
	if ms := pttl(t, a, s.Prefix()+"r:tok_forever"); ms != -1 {
		t.Fatalf("SetClassifiers gave a record without expiry a TTL: %d", ms)
	}
	if got, _ := s.Get(ctx, []string{"tok_forever"}); got[0] == nil || len(got[0].Classifiers) != 0 {
		t.Fatalf("classifiers after clearing = %+v", got[0])
	}

	// Redis drops the keys by itself once the time is up.
	short := record("tok_short", "cvc-short", time.Now())
	short.ExpiresAt = time.Now().Add(30 * time.Millisecond)
	if _, err := s.Put(ctx, items(short)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(80 * time.Millisecond)
	n, err := a.Exists(ctx, s.Prefix()+"r:tok_short", s.Prefix()+"i:"+fmt.Sprintf("%x", short.IndexKey)).Result()
	if err != nil || n != 0 {
		t.Fatalf("EXISTS after expiry = %d, %v; want 0", n, err)
	}
}

func TestMetaKeysHaveNoTTL(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, "", nil)
	if _, err := s.PutMetaIfAbsent(ctx, "dek/1", []byte{0, 1, 2, 255}); err != nil {
		t.Fatal(err)
	}
	a := admin(t)
	if ms := pttl(t, a, s.Prefix()+"m:dek/1"); ms != -1 {
		t.Fatalf("PTTL of a meta key = %d, want -1", ms)
	}
	if v, err := s.GetMeta(ctx, "dek/1"); err != nil || !bytes.Equal(v, []byte{0, 1, 2, 255}) {
		t.Fatalf("GetMeta = %v, %v", v, err)
	}
}

// countHook counts the commands a client sends.
type countHook struct {
	mu    sync.Mutex
	names []string
}

func (h *countHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.mu.Lock()
		h.names = append(h.names, cmd.Name())
		h.mu.Unlock()
		return next(ctx, cmd)
	}
}

func (h *countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.mu.Lock()
		for _, c := range cmds {
			h.names = append(h.names, c.Name())
		}
		h.mu.Unlock()
		return next(ctx, cmds)
	}
}

func (h *countHook) take() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := h.names
	h.names = nil
	return n
}

func TestPutBatchIsOneAtomicScript(t *testing.T) {
	ctx := context.Background()
	clk := vaulttest.NewClock()
	s := openStore(t, "", clk.Now)
	h := &countHook{}
	s.client.AddHook(h)
	// Warm the script cache: the first EVALSHA of a new script may be
	// answered NOSCRIPT and followed by an EVAL.
	if _, err := s.Put(ctx, items(record("tok_warm", "warm", clk.Now()))); err != nil {
		t.Fatal(err)
	}
	h.take()

	var batch []*vault.Record
	for i := range 20 {
		batch = append(batch, record(fmt.Sprintf("tok_b%d", i), fmt.Sprintf("v%d", i), clk.Now()))
	}
	res, err := s.Put(ctx, items(batch...))
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Status != vault.PutCreated {
			t.Fatalf("item %d: %v", i, r.Status)
		}
	}
	if got := h.take(); len(got) != 1 || got[0] != "evalsha" {
		t.Fatalf("a 20-item Put sent %v, want one evalsha", got)
	}
	aliases := make([]string, len(batch))
	for i, r := range batch {
		aliases[i] = r.Alias
	}
	if _, err := s.Get(ctx, aliases); err != nil {
		t.Fatal(err)
	}
	if got := h.take(); len(got) != 1 || got[0] != "mget" {
		t.Fatalf("a 20-alias Get sent %v, want one mget", got)
	}

	// All or nothing: an undecodable record under the alias of the third
	// item fails the call, and the first two are not written either.
	a := admin(t)
	if err := a.Set(ctx, s.Prefix()+"r:tok_bad", "\x01garbage", 0).Err(); err != nil {
		t.Fatal(err)
	}
	one, two, bad := record("tok_n1", "n1", clk.Now()), record("tok_n2", "n2", clk.Now()), record("tok_bad", "n3", clk.Now())
	_, err = s.Put(ctx, items(one, two, bad))
	if err == nil || errors.Is(err, vault.ErrUnavailable) || !errors.Is(err, errCorrupt) {
		t.Fatalf("Put over a corrupt record = %v; want the corrupt-record error", err)
	}
	if strings.Contains(err.Error(), "tok_") {
		t.Fatalf("error names an alias: %v", err)
	}
	got, err := s.Get(ctx, []string{"tok_n1", "tok_n2"})
	if err != nil || got[0] != nil || got[1] != nil {
		t.Fatalf("after a failed batch Get = %v, %v; want nothing written", got, err)
	}
	keys, err := s.LookupIndex(ctx, [][]byte{one.IndexKey, two.IndexKey})
	if err != nil || keys[0] != "" || keys[1] != "" {
		t.Fatalf("after a failed batch LookupIndex = %q, %v", keys, err)
	}
	if _, err := s.Get(ctx, []string{"tok_bad"}); !errors.Is(err, errCorrupt) {
		t.Fatalf("Get of a corrupt record = %v", err)
	}
}

func TestReplayedPutIsCreatedAgain(t *testing.T) {
	// go-redis resends a command whose connection broke; if Redis had run
	// the script, the replay must not turn the put into a collision.
	ctx := context.Background()
	clk := vaulttest.NewClock()
	s := openStore(t, "", clk.Now)
	for _, index := range []string{"", "replay"} {
		r := record("tok_r"+index, index, clk.Now())
		for i := range 2 {
			res, err := s.Put(ctx, items(r))
			if err != nil || res[0].Status != vault.PutCreated {
				t.Fatalf("index %q put %d = %+v, %v; want created", index, i, res, err)
			}
		}
		other := record("tok_r"+index, index, clk.Now()) // same alias, other bytes
		res, err := s.Put(ctx, items(other))
		if err != nil {
			t.Fatal(err)
		}
		if index == "" && res[0].Status != vault.PutCollision || index != "" && res[0].Status != vault.PutExisting {
			t.Fatalf("index %q other record = %v", index, res[0].Status)
		}
	}
}

// TestScriptExpiryMatchesGo checks the scripts' reading of ExpiresAt (byte
// comparison of varints) against vault.Record.Expired around many instants,
// to the nanosecond, before 1970 too.
func TestScriptExpiryMatchesGo(t *testing.T) {
	ctx := context.Background()
	var nowNS atomic.Int64
	s := openStore(t, "", func() time.Time { return time.Unix(0, nowNS.Load()) })
	a := admin(t)
	base := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	offsets := []time.Duration{-400 * 24 * time.Hour, -time.Hour, -time.Second, -time.Millisecond, -128, -127, -2, -1, 0,
		1, 2, 127, 128, 16383, 16384, time.Millisecond, time.Second, time.Hour, 400 * 24 * time.Hour}
	var exps []time.Time
	for _, d := range offsets {
		exps = append(exps, base.Add(d))
	}
	exps = append(exps, time.Time{}, time.Unix(-5, 0), time.Unix(-1, 999), time.Unix(0, 1), time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC))
	var recs []*vault.Record
	var keys [][]byte
	for i, e := range exps {
		r := record(fmt.Sprintf("tok_e%d", i), fmt.Sprintf("e%d", i), base)
		r.ExpiresAt = e
		recs = append(recs, r)
		keys = append(keys, r.IndexKey)
		// Written without TTL, so that only the scripts' check decides.
		if err := a.Set(ctx, s.Prefix()+"r:"+r.Alias, vault.MarshalRecord(r), 0).Err(); err != nil {
			t.Fatal(err)
		}
		if err := a.Set(ctx, s.indexKey(r.IndexKey), r.Alias, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	nows := append([]time.Time{time.Unix(-3, 0), time.Unix(0, 0), time.Unix(-1, 999)}, exps...)
	for _, d := range []time.Duration{-1, 1} {
		for _, e := range exps {
			if !e.IsZero() {
				nows = append(nows, e.Add(d))
			}
		}
	}
	for _, now := range nows {
		nowNS.Store(now.UnixNano())
		got, err := s.LookupIndex(ctx, keys)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range recs {
			if live := got[i] != ""; live == r.Expired(now) {
				t.Fatalf("now %s, expires %s: script says live=%v, Go says expired=%v",
					now.Format(time.RFC3339Nano), r.ExpiresAt.Format(time.RFC3339Nano), live, r.Expired(now))
			}
		}
	}
}

func TestRacingClientsAgreeOnOneAlias(t *testing.T) {
	ctx := context.Background()
	prefix := newPrefix(t)
	stores := []*Store{openStore(t, prefix, nil), openStore(t, prefix, nil)}
	const values, workersPerStore = 20, 8
	type outcome struct {
		alias   string
		created bool
	}
	var mu sync.Mutex
	results := map[string][]outcome{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, 2*workersPerStore)
	for si, s := range stores {
		for w := range workersPerStore {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for i := range values {
					v := fmt.Sprintf("cvc-%d", (i+w)%values)
					r := record(fmt.Sprintf("tok_s%d_w%d_%d", si, w, i), v, time.Now())
					r.ExpiresAt = time.Now().Add(time.Minute)
					res, err := s.Put(ctx, items(r))
					if err != nil {
						errs <- err
						return
					}
					if res[0].Status == vault.PutCollision {
						errs <- errors.New("unexpected collision")
						return
					}
					mu.Lock()
					results[v] = append(results[v], outcome{res[0].Record.Alias, res[0].Status == vault.PutCreated})
					mu.Unlock()
				}
			}()
		}
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for v, outs := range results {
		created := 0
		for _, o := range outs {
			if o.alias != outs[0].alias {
				t.Fatalf("%s got aliases %s and %s", v, outs[0].alias, o.alias)
			}
			if o.created {
				created++
			}
		}
		if created != 1 || len(outs) != 2*workersPerStore {
			t.Fatalf("%s: %d puts, %d created; want %d, 1", v, len(outs), created, 2*workersPerStore)
		}
	}
	if len(results) != values {
		t.Fatalf("%d values, want %d", len(results), values)
	}
}

// clientIDs returns the ids of the connections named name.
func clientIDs(t *testing.T, a *redis.Client, name string) []string {
	t.Helper()
	list, err := a.ClientList(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, line := range strings.Split(list, "\n") {
		var id string
		named := false
		for _, f := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(f, "id="); ok {
				id = v
			}
			if f == "name="+name {
				named = true
			}
		}
		if named && id != "" {
			ids = append(ids, id)
		}
	}
	return ids
}

func withQuery(t *testing.T, rawURL string, kv ...string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// TestReconnectsAfterConnectionsAreKilled kills the store's connections
// server-side (CLIENT KILL ID of the connections carrying the store's client
// name — not TYPE normal, which would also cut other test processes sharing
// the server) and checks that the next calls succeed on new connections.
func TestReconnectsAfterConnectionsAreKilled(t *testing.T) {
	ctx := context.Background()
	name := "aliasgate-test-" + newPrefix(t)[15:31]
	s := openStoreURL(t, withQuery(t, testURL(), "client_name", name), "", nil)
	a := admin(t)
	r := record("tok_k", "kill", time.Now())
	r.ExpiresAt = time.Now().Add(time.Minute)
	if _, err := s.Put(ctx, items(r)); err != nil {
		t.Fatal(err)
	}
	before := clientIDs(t, a, name)
	if len(before) == 0 {
		t.Fatal("no connection of the store in CLIENT LIST")
	}
	for _, id := range before {
		if err := a.ClientKillByFilter(ctx, "ID", id).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if ids := clientIDs(t, a, name); len(ids) != 0 {
		t.Fatalf("connections %v survived CLIENT KILL", ids)
	}
	got, err := s.Get(ctx, []string{"tok_k"})
	if err != nil || got[0] == nil {
		t.Fatalf("Get after kill = %v, %v; want the record", got, err)
	}
	res, err := s.Put(ctx, items(record("tok_k2", "kill2", time.Now())))
	if err != nil || res[0].Status != vault.PutCreated {
		t.Fatalf("Put after kill = %+v, %v", res, err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	after := clientIDs(t, a, name)
	if len(after) == 0 || after[0] == before[0] {
		t.Fatalf("connections after kill %v, before %v: want new ones", after, before)
	}
}

func TestUnreachableRedisIsUnavailableThenRecovers(t *testing.T) {
	o, err := redis.ParseURL(testURL())
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(testURL())
	if u.Scheme != "redis" {
		t.Skipf("the proxy test needs a redis:// URL, %s has %s://", envURL, u.Scheme)
	}
	p := faultnet.New(t, o.Network, o.Addr)
	u.Host = p.Addr()
	s := openStoreURL(t, withQuery(t, u.String(), "max_retries", "1", "dial_timeout", "1s"), "", nil)
	ctx := context.Background()
	r := record("tok_p", "proxy", time.Now())
	if _, err := s.Put(ctx, items(r)); err != nil {
		t.Fatal(err)
	}

	p.Down()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	calls := map[string]func() error{
		"Get":            func() error { _, err := s.Get(cctx, []string{"tok_p"}); return err },
		"LookupIndex":    func() error { _, err := s.LookupIndex(cctx, [][]byte{r.IndexKey}); return err },
		"Put":            func() error { _, err := s.Put(cctx, items(record("tok_p2", "", time.Now()))); return err },
		"Delete":         func() error { return s.Delete(cctx, "tok_p", "") },
		"SetClassifiers": func() error { return s.SetClassifiers(cctx, []string{"tok_p"}, nil) },
		"GetMeta":        func() error { _, err := s.GetMeta(cctx, "k"); return err },
		"PutMetaIfAbsent": func() error {
			_, err := s.PutMetaIfAbsent(cctx, "k", []byte("v"))
			return err
		},
		"Ping": func() error { return s.Ping(cctx) },
	}
	// go-redis retries a refused dial a few times with backoff, so each
	// call takes about a second to give up: run them side by side.
	var wg sync.WaitGroup
	for name, call := range calls {
		wg.Go(func() {
			err := call()
			if !errors.Is(err, vault.ErrUnavailable) {
				t.Errorf("%s with Redis down = %v, want ErrUnavailable", name, err)
			} else if strings.Contains(err.Error(), "tok_") {
				t.Errorf("%s error names an alias: %v", name, err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	p.Up() // Redis is back at the same address
	back := time.Now()
	defer func() {
		t.Logf("calls succeed again %s after Redis came back", time.Since(back).Round(time.Millisecond))
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := s.Get(ctx, []string{"tok_p"})
		if err == nil {
			if got[0] == nil {
				t.Fatal("record lost")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Get still failing 10s after Redis came back: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const secret = "s3cretPW"
	host := "127.0.0.1:6379"
	if u, err := url.Parse(testURL()); err == nil && u.Host != "" {
		host = u.Host
	}
	tests := []struct {
		name, url   string
		unavailable bool
		contains    string
	}{
		{"unreachable", "redis://user:" + secret + "@127.0.0.1:1/0", true, "redisstore: connect 127.0.0.1:1: "},
		{"wrong password", "redis://aliasgate-nobody:" + secret + "@" + host + "/0", true, "redisstore: connect " + host + ": "},
		{"password with a slash", "redis://user:" + secret + "/x@" + host + "/0", false, "invalid redis URL"},
		{"bad port", "redis://user:" + secret + "@host:port/0", false, "invalid redis URL"},
		{"bad scheme", "http://" + host, false, "invalid redis URL"},
		{"empty", "", false, "no redis URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(ctx, tt.url, Options{})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if errors.Is(err, vault.ErrUnavailable) != tt.unavailable {
				t.Fatalf("Open = %v; ErrUnavailable %v, want %v", err, !tt.unavailable, tt.unavailable)
			}
			if !strings.Contains(err.Error(), tt.contains) {
				t.Fatalf("Open = %q; want it to contain %q", err, tt.contains)
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("error shows the password: %v", err)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := Open(ctx, testURL(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Prefix() != DefaultPrefix || s.Addr() == "" {
		t.Fatalf("prefix %q addr %q", s.Prefix(), s.Addr())
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := s.Ping(ctx); !errors.Is(err, vault.ErrClosed) {
		t.Fatalf("Ping after Close = %v", err)
	}
	for name, call := range map[string]func() error{
		"LookupIndex":     func() error { _, err := s.LookupIndex(ctx, [][]byte{{1}}); return err },
		"Delete":          func() error { return s.Delete(ctx, "a", "") },
		"SetClassifiers":  func() error { return s.SetClassifiers(ctx, []string{"a"}, nil) },
		"GetMeta":         func() error { _, err := s.GetMeta(ctx, "k"); return err },
		"PutMetaIfAbsent": func() error { _, err := s.PutMetaIfAbsent(ctx, "k", nil); return err },
	} {
		if err := call(); !errors.Is(err, vault.ErrClosed) {
			t.Fatalf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
}

// TestScriptCacheFlushIsRecovered: after SCRIPT FLUSH (or a Redis restart)
// EVALSHA answers NOSCRIPT and the store sends the script again.
func TestScriptCacheFlushIsRecovered(t *testing.T) {
	ctx := context.Background()
	clk := vaulttest.NewClock()
	s := openStore(t, "", clk.Now)
	r := record("tok_f", "flush", clk.Now())
	if _, err := s.Put(ctx, items(r)); err != nil {
		t.Fatal(err)
	}
	if err := admin(t).ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if res, err := s.Put(ctx, items(record("tok_f2", "flush2", clk.Now()))); err != nil || res[0].Status != vault.PutCreated {
		t.Fatalf("Put after SCRIPT FLUSH = %+v, %v", res, err)
	}
	if keys, err := s.LookupIndex(ctx, [][]byte{r.IndexKey}); err != nil || keys[0] != "tok_f" {
		t.Fatalf("LookupIndex after SCRIPT FLUSH = %q, %v", keys, err)
	}
	if err := s.SetClassifiers(ctx, []string{"tok_f"}, []string{"a"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "tok_f", ""); err != nil {
		t.Fatal(err)
	}
}
