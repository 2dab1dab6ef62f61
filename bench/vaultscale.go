package main

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/boltstore"
	"github.com/aliasgate/aliasgate/vault/memstore"
)

// scaleRow is scenario 4 at one vault size.
type scaleRow struct {
	aliases   int
	fill      time.Duration
	fileBytes int64 // size of the vault file (bolt), 0 when unknown
	liveBytes int64 // bytes of pages in use by the buckets (bolt), 0 when unknown
	// compactBytes is the size of a compacted copy (bolt), 0 when unknown.
	compactBytes int64
	runs         [][]time.Duration // reveal latencies of each rep, sorted
	revealsPS    []float64         // reveals per second of each rep
}

// scaleResult is scenario 4.
type scaleResult struct {
	store   string // what was measured
	workers int
	rows    []*scaleRow
	notes   []string
}

// revealer reveals one alias.
type revealer func(ctx context.Context, alias string) error

// boltVault is a bolt-backed vault.Service in a file of its own.
type boltVault struct {
	path  string
	store *boltstore.Store
	mem   *memstore.Store
	svc   *vault.Service
	src   *panSource
}

func openBoltVault(ctx context.Context, path string) (*boltVault, error) {
	st, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		return nil, err
	}
	master := make([]byte, 32)
	_, _ = crand.Read(master)
	kr, err := vault.OpenKeyring(ctx, st, master)
	if err != nil {
		st.Close()
		return nil, err
	}
	mem := memstore.New(memstore.Options{})
	svc, err := vault.New(st, mem, kr, vault.Options{Env: "bench"})
	if err != nil {
		mem.Close()
		st.Close()
		return nil, err
	}
	return &boltVault{path: path, store: st, mem: mem, svc: svc, src: &panSource{base: rand.Uint64() % 1e12}}, nil
}

func (v *boltVault) close() {
	v.mem.Close()
	_ = v.store.Close()
}

// fill redacts n new card numbers (FPE_SIX_T_FOUR, persistent: the
// format and storage of the inbound route's PAN target) in batches, two
// batches at a time so that sealing overlaps the commit.
func (v *boltVault) fill(ctx context.Context, n int) ([]string, error) {
	const batch = 5000
	out := make([]string, 0, n)
	var mu sync.Mutex
	var firstErr error
	next := 0
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			num := make([]byte, 16)
			for {
				mu.Lock()
				if firstErr != nil || next >= n {
					mu.Unlock()
					return
				}
				k := min(batch, n-next)
				next += k
				mu.Unlock()
				reqs := make([]vault.RedactRequest, k)
				for i := range reqs {
					v.src.next(num)
					reqs[i] = vault.RedactRequest{Value: string(num), Format: vault.FormatFPESixTFour, Classifiers: []string{"pan"}}
				}
				toks, err := v.svc.Redact(ctx, reqs)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				for _, t := range toks {
					out = append(out, t.Alias)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return out, firstErr
}

func (v *boltVault) reveal(ctx context.Context, alias string) error {
	got, err := v.svc.Reveal(ctx, []string{alias})
	if err == nil && got[0].Err != nil {
		err = got[0].Err
	}
	return err
}

// boltSpace returns the file size, the bytes of pages the vault's buckets
// use (branch + leaf pages in use, from bbolt's statistics) and the size of
// a compacted copy (bbolt's Compact, pages filled to 100 %), read with the
// file closed by the store.
func boltSpace(path string) (file, live, compacted int64, err error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, 0, 0, err
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		return fi.Size(), 0, 0, err
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(_ []byte, b *bolt.Bucket) error {
			s := b.Stats()
			live += int64(s.BranchInuse + s.LeafInuse)
			return nil
		})
	})
	if err != nil {
		return fi.Size(), live, 0, err
	}
	cpath := path + ".compact"
	defer os.Remove(cpath)
	dst, err := bolt.Open(cpath, 0o600, &bolt.Options{NoSync: true}) // a measurement copy, removed at once
	if err != nil {
		return fi.Size(), live, 0, err
	}
	err = bolt.Compact(dst, db, 64<<20)
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fi.Size(), live, 0, err
	}
	ci, err := os.Stat(cpath)
	if err != nil {
		return fi.Size(), live, 0, err
	}
	return fi.Size(), live, ci.Size(), nil
}

// runVaultScaling is scenario 4 on the embedded store: one bolt file per
// size, filled through vault.Service, then reveal latency measured on the
// files in turn (rep by rep, so that drifting load hits every size alike).
func runVaultScaling(ctx context.Context, o *options, dir string) (*scaleResult, error) {
	res := &scaleResult{store: "bbolt (vault.Service in process, fsync on)", workers: o.revealWorkers}
	vaults := make([]*boltVault, len(o.vaultSizes))
	aliases := make([][]string, len(o.vaultSizes))
	defer func() {
		for _, v := range vaults {
			if v != nil {
				v.close()
			}
		}
	}()
	for i, n := range o.vaultSizes {
		v, err := openBoltVault(ctx, filepath.Join(dir, fmt.Sprintf("scale-%d.db", n)))
		if err != nil {
			return nil, err
		}
		vaults[i] = v
		start := time.Now()
		if aliases[i], err = v.fill(ctx, n); err != nil {
			return nil, fmt.Errorf("fill %d: %w", n, err)
		}
		row := &scaleRow{aliases: len(aliases[i]), fill: time.Since(start)}
		res.rows = append(res.rows, row)
		o.logf("scenario 4: filled %d aliases in %s", row.aliases, row.fill.Round(time.Millisecond))
	}
	revealers := make([]revealer, len(vaults))
	for i, v := range vaults {
		revealers[i] = v.reveal
	}
	if err := measureReveals(ctx, o, res, revealers, aliases); err != nil {
		return nil, err
	}
	for i, v := range vaults {
		v.close()
		vaults[i] = nil
		file, live, compacted, err := boltSpace(v.path)
		if err != nil {
			res.notes = append(res.notes, fmt.Sprintf("bolt statistics of %d aliases: %v", res.rows[i].aliases, err))
		}
		res.rows[i].fileBytes, res.rows[i].liveBytes, res.rows[i].compactBytes = file, live, compacted
	}
	return res, nil
}

// measureReveals measures reveal latency of random aliases, o.reps rounds
// over every size.
func measureReveals(ctx context.Context, o *options, res *scaleResult, revealers []revealer, aliases [][]string) error {
	for rep := range o.reps {
		for i, rv := range revealers {
			lat, n, err := revealLoad(ctx, rv, aliases[i], o.revealWorkers, o.duration)
			if err != nil {
				return fmt.Errorf("reveal at %d aliases: %w", len(aliases[i]), err)
			}
			row := res.rows[i]
			row.runs = append(row.runs, lat)
			row.revealsPS = append(row.revealsPS, float64(n)/o.duration.Seconds())
			o.logf("  %9d aliases rep %d: %8.0f reveals/s  p50 %-9s p99 %-9s p99.9 %s", row.aliases, rep+1,
				row.revealsPS[len(row.revealsPS)-1], fmtDur(percentile(lat, 50)), fmtDur(percentile(lat, 99)), fmtDur(percentile(lat, 99.9)))
		}
	}
	return nil
}

// revealLoad reveals uniformly random aliases with workers goroutines for
// d and returns every latency, sorted.
func revealLoad(ctx context.Context, rv revealer, aliases []string, workers int, d time.Duration) ([]time.Duration, int, error) {
	if len(aliases) == 0 {
		return nil, 0, fmt.Errorf("no aliases")
	}
	var mu sync.Mutex
	var all []time.Duration
	var firstErr error
	var wg sync.WaitGroup
	deadline := time.Now().Add(d)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			lat := make([]time.Duration, 0, 1<<14)
			var err error
			for time.Now().Before(deadline) && ctx.Err() == nil {
				a := aliases[rng.IntN(len(aliases))]
				start := time.Now()
				if err = rv(ctx, a); err != nil {
					break
				}
				lat = append(lat, time.Since(start))
			}
			mu.Lock()
			all = append(all, lat...)
			if err != nil && firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, 0, firstErr
	}
	slices.Sort(all)
	return all, len(all), ctx.Err()
}

// apiVault reaches the vault through the gateway's vault API (scenario 4 on
// PostgreSQL + Redis, whose store the harness cannot open itself).
type apiVault struct {
	base   string // http://inbound
	token  string
	client *http.Client
	src    *panSource
}

// newAPIVault creates an API client with "clients create" and gets a token.
func newAPIVault(ctx context.Context, bin, cfg, inbound string, env []string) (*apiVault, error) {
	cmd := exec.CommandContext(ctx, bin, "clients", "create", "--config", cfg, "--name", "bench", "--account", "acct_bench",
		"--scopes", "aliases:write,aliases:reveal")
	cmd.Env = append(cleanEnv(), env...)
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("clients create: %w", err)
	}
	var cred struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	if err := json.Unmarshal(out, &cred); err != nil {
		return nil, fmt.Errorf("clients create printed no credential: %w", err)
	}
	v := &apiVault{base: "http://" + inbound, client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
		src: &panSource{base: uint64(time.Now().UnixNano()) % 1e12}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, v.base+"/oauth/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(cred.ID+":"+cred.Secret)))
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		return nil, fmt.Errorf("oauth token: status %d (%v)", resp.StatusCode, err)
	}
	v.token = tok.AccessToken
	return v, nil
}

func (v *apiVault) call(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, v.base+path, r)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+v.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode/100 != 2 {
		err = fmt.Errorf("%s %s: status %d", method, strings.SplitN(path, "/", 3)[1], resp.StatusCode)
	}
	return b, err
}

// fill creates n aliases, 20 a call (the API's limit), 8 calls at a time.
func (v *apiVault) fill(ctx context.Context, n int) ([]string, error) {
	var mu sync.Mutex
	var out []string
	var firstErr error
	next := 0
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			num := make([]byte, 16)
			for {
				mu.Lock()
				if firstErr != nil || next >= n {
					mu.Unlock()
					return
				}
				k := min(20, n-next)
				next += k
				mu.Unlock()
				var b bytes.Buffer
				b.WriteString(`{"data":[`)
				for i := range k {
					if i > 0 {
						b.WriteByte(',')
					}
					v.src.next(num)
					fmt.Fprintf(&b, `{"value":"%s","classifiers":["pan"],"format":"FPE_SIX_T_FOUR"}`, num)
				}
				b.WriteString(`]}`)
				got, err := v.call(ctx, http.MethodPost, "/aliases", b.Bytes())
				var doc struct {
					Data []struct{ Aliases []struct{ Alias string } }
				}
				if err == nil {
					err = json.Unmarshal(got, &doc)
				}
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				for _, d := range doc.Data {
					if len(d.Aliases) > 0 {
						out = append(out, d.Aliases[0].Alias)
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return out, firstErr
}

func (v *apiVault) reveal(ctx context.Context, alias string) error {
	_, err := v.call(ctx, http.MethodGet, "/aliases/"+url.PathEscape(alias), nil)
	return err
}

// runVaultScalingAPI is scenario 4 through the vault API of a gateway on
// PostgreSQL + Redis: one database grows from size to size (the aliases
// of the earlier sizes stay), reveal latency includes HTTP and the JWT
// check. Bytes on disk come from the database, not the harness.
func runVaultScalingAPI(ctx context.Context, o *options, e *env) (*scaleResult, error) {
	res := &scaleResult{store: "PostgreSQL + Redis (vault API over HTTP)", workers: o.revealWorkers,
		notes: []string{"bytes on disk: not measured by the harness on PostgreSQL (query pg_total_relation_size of the store's tables)",
			"sizes are cumulative in one database; reveal latency includes HTTP and the JWT check"}}
	v, err := newAPIVault(ctx, e.gwBin, e.gwCfg, e.gw.inbound, e.gwEnv)
	if err != nil {
		return nil, err
	}
	var have []string
	for _, n := range o.vaultSizes {
		start := time.Now()
		got, err := v.fill(ctx, n-len(have))
		if err != nil {
			return nil, fmt.Errorf("fill to %d: %w", n, err)
		}
		have = append(have, got...)
		row := &scaleRow{aliases: len(have), fill: time.Since(start)}
		res.rows = append(res.rows, row)
		lat, cnt, err := revealLoad(ctx, v.reveal, have, o.revealWorkers, o.duration)
		if err != nil {
			return nil, err
		}
		row.runs = append(row.runs, lat)
		row.revealsPS = append(row.revealsPS, float64(cnt)/o.duration.Seconds())
		o.logf("  %9d aliases: %8.0f reveals/s  p99 %s", row.aliases, row.revealsPS[0], fmtDur(percentile(lat, 99)))
	}
	return res, nil
}
