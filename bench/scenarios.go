package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/bits"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aliasgate/aliasgate/internal/pan"
	"github.com/aliasgate/aliasgate/proxy"
)

// The card data of the scenarios: a test PAN (redacted once at start, so
// that scenario 1 finds it in the vault) and a CVC.
const (
	benchPAN = "4111111111111111"
	benchCVC = "123"
)

// checkoutBody is a checkout request of about 1 KiB with a card number and
// a CVC, the two targets of the inbound route.
func checkoutBody(number, cvc string) []byte {
	var b strings.Builder
	b.WriteString(`{"order":{"id":"ord_8f1c2a","currency":"EUR","amount":12999,"items":[`)
	for i := range 6 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"sku":"SKU-%04d","name":"Item number %d","qty":%d,"price":%d}`, i, i, i+1, 1000+i)
	}
	b.WriteString(`]},"customer":{"email":"jane.doe@example.com","name":"Jane Doe","address":{"line1":"1 Main Street","city":"Springfield","zip":"12345","country":"US"}},`)
	b.WriteString(`"card":{"number":"` + number + `","cvc":"` + cvc + `","exp_month":"12","exp_year":"2030","holder":"JANE DOE"},`)
	b.WriteString(`"meta":{"ip":"203.0.113.7","ua":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)","session":"s_0123456789abcdef"}}`)
	return []byte(b.String())
}

// fixedBody sends the same body every time.
func fixedBody(body []byte) bodyFunc {
	return func(_ uint64, dst []byte) []byte { return append(dst, body...) }
}

// panSource makes distinct Luhn-valid 16-digit card numbers: the 14 digits
// after the leading 4 are (base + n) · mult mod 10^14, a permutation (mult is
// prime to 10), so numbers never repeat within 10^14 requests and spread
// over all BINs and last-four digits as real ones do.
type panSource struct {
	base uint64
	n    atomic.Uint64
}

const panMult = 3141592653589 // odd, not a multiple of 5

func (p *panSource) next(dst []byte) {
	hi, lo := bits.Mul64(p.base+p.n.Add(1), panMult)
	_, r := bits.Div64(hi%1e14, lo, 1e14) // hi%1e14 keeps Div64 from overflowing; same residue
	dst[0] = '4'
	for i := 14; i >= 1; i-- {
		dst[i] = byte('0' + r%10)
		r /= 10
	}
	dst[15] = pan.CheckDigit(dst[:15])
}

// newPANBody puts a new card number into every request.
func newPANBody(src *panSource) bodyFunc {
	tmpl := checkoutBody(benchPAN, benchCVC)
	at := bytes.Index(tmpl, []byte(benchPAN))
	return func(_ uint64, dst []byte) []byte {
		dst = append(dst, tmpl...)
		src.next(dst[at : at+16])
		return dst
	}
}

// target is one proxy under test.
type target struct {
	name string
	proc *proc
	gw   *gatewayProc // set for aliasgate
	ep   *endpoint
}

// runStats is one measured run of one target.
type runStats struct {
	load  loadResult
	cpu   float64 // CPU seconds of the proxy process
	rss   int64   // peak RSS of the proxy process during the run, bytes
	warns int     // WARN/ERROR lines the gateway logged during the run
	lines []string
}

// cpuCores is the proxy's CPU use in cores (CPU seconds / wall seconds).
func (r runStats) cpuCores() float64 {
	if r.load.elapsed <= 0 {
		return 0
	}
	return r.cpu / r.load.elapsed.Seconds()
}

// cpuPerReq is the proxy's CPU time per request.
func (r runStats) cpuPerReq() time.Duration {
	if r.load.requests == 0 {
		return 0
	}
	return time.Duration(r.cpu / float64(r.load.requests) * float64(time.Second))
}

// measure runs spec against t once.
func measure(ctx context.Context, t *target, spec loadSpec) (runStats, error) {
	t.proc.resetPeakRSS()
	c0, err := t.proc.cpuSeconds()
	if err != nil {
		return runStats{}, err
	}
	res, err := runLoad(ctx, t.ep, spec)
	if err != nil {
		return runStats{}, fmt.Errorf("%s: %w", t.name, err)
	}
	c1, err := t.proc.cpuSeconds()
	if err != nil {
		return runStats{}, err
	}
	rss, _ := t.proc.peakRSS()
	st := runStats{load: res, cpu: c1 - c0, rss: rss}
	if t.gw != nil {
		st.lines, st.warns = t.gw.logProblems(3)
	}
	return st, nil
}

// phase is one measurement mode of a scenario: closed loop (throughput) or
// open loop at a fixed rate (latency added).
type phase struct {
	rate  float64      // 0: closed loop
	bases [][]runStats // per baseline, in the order of scenarioResult.kinds
	gw    []runStats
}

// base returns the runs of the first baseline (tuned when it ran), the one
// targets are judged against.
func (ph phase) base() []runStats { return ph.bases[0] }

// measureSet measures the baselines and gw reps times each, gw next to
// every baseline and the order reversed every other rep (T A S, S A T, …
// with aliasgate A between the tuned and stock baselines; B A, A B, … with
// one), so that drifting load on the machine hits each pair alike.
func measureSet(ctx context.Context, o *options, bases []*target, gw *target, spec loadSpec) (phase, error) {
	ph := phase{rate: spec.rate, bases: make([][]runStats, len(bases))}
	for rep := range o.reps {
		order := append([]*target{bases[0], gw}, bases[1:]...)
		if rep%2 == 1 {
			slices.Reverse(order)
		}
		for _, t := range order {
			st, err := measure(ctx, t, spec)
			if err != nil {
				return ph, err
			}
			mode := "closed"
			if spec.rate > 0 {
				mode = fmt.Sprintf("open %.0f/s", spec.rate)
			}
			o.logf("  %-22s %-12s rep %d: %8.0f req/s  p50 %-9s p99 %-9s CPU/req %4.0f µs  errors %d", t.name, mode, rep+1,
				st.load.reqPerSec(), fmtDur(percentile(st.load.lat, 50)), fmtDur(percentile(st.load.lat, 99)),
				float64(st.cpuPerReq())/1e3, st.load.errors)
			if i := slices.Index(bases, t); i >= 0 {
				ph.bases[i] = append(ph.bases[i], st)
			} else {
				ph.gw = append(ph.gw, st)
			}
		}
	}
	return ph, nil
}

// scenarioResult is a measured scenario of the proxies.
type scenarioResult struct {
	id       int
	title    string
	baseName string   // "ReverseProxy" or "goproxy MITM"
	kinds    []string // the baselines run (kindTuned, kindStock), targets judged against the first
	tuning   []string // what each baseline reported of its GC policy and buffers
	closed   phase
	open     phase
	notes    []string
}

// baseLabel is the name of baseline i: "ReverseProxy (tuned)".
func (s *scenarioResult) baseLabel(i int) string { return baselineName(s.baseName, s.kinds[i]) }

// env is what the scenarios share: the processes and the card data.
type env struct {
	o      *options
	dir    string
	gw     *gatewayProc
	rp, gp map[string]*proc // ReverseProxy and goproxy baselines by kind (kindTuned, kindStock)
	echo   string
	psp    string
	mitmCA *x509.CertPool
	// upstreams are the echo and processor processes.
	upstreams            []*proc
	rpAddress, gpAddress map[string]string
	// rpArgs and gpArgs are the arguments each baseline was started with
	// (by kind), to start it again (-instructions).
	rpArgs, gpArgs map[string][]string
	// the gateway's binary, configuration, log, extra environment and
	// pprof address file; fresh until a scenario has used the gateway
	gwBin, gwCfg, gwLog, gwPprof string
	gwEnv                        []string
	fresh                        bool
	// aliases of benchPAN and benchCVC, made by the gateway at start.
	panAlias, cvcAlias string
}

func (e *env) inbound() *target {
	return &target{name: "aliasgate", proc: e.gw.proc, gw: e.gw, ep: &endpoint{addr: e.gw.inbound, host: "shop.example", path: "/checkout"}}
}

const (
	nameReverseProxy = "ReverseProxy"
	nameGoproxy      = "goproxy MITM"
)

func (e *env) reverseProxy(kind string) *target {
	return &target{name: baselineName(nameReverseProxy, kind), proc: e.rp[kind],
		ep: &endpoint{addr: e.rpAddress[kind], host: "shop.example", path: "/checkout"}}
}

func (e *env) tunnel(addr string) *endpoint {
	return &endpoint{addr: addr, connect: e.psp, host: e.psp, path: "/v1/charges",
		tls: &tls.Config{RootCAs: e.mitmCA, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}}
}

func (e *env) outbound() *target {
	return &target{name: "aliasgate", proc: e.gw.proc, gw: e.gw, ep: e.tunnel(e.gw.outbound)}
}

func (e *env) goproxy(kind string) *target {
	return &target{name: baselineName(nameGoproxy, kind), proc: e.gp[kind], ep: e.tunnel(e.gpAddress[kind])}
}

// routesYAML is the gateway's route set: redact on the way in, reveal on
// the way out to the processor.
func routesYAML(echoAddr string) string {
	return `routes:
  - id: checkout
    direction: inbound
    host: "*"
    path_prefix: /checkout
    upstream: http://` + echoAddr + `
    filters:
      - id: card-in
        phase: request
        match: {methods: [POST], content_type: json}
        operation: redact
        targets:
          - {json: card.number, format: FPE_SIX_T_FOUR, classifiers: [pan]}
          - {json: card.cvc, storage: volatile}
  - id: psp
    direction: outbound
    host: 127.0.0.1
    filters:
      - id: card-out
        phase: request
        match: {methods: [POST], content_type: json}
        operation: reveal
        targets:
          - {json: card.number}
          - {json: card.cvc}
`
}

// limitsYAML is the limits line of a gateway's configuration. With -limits
// on the gateway keeps its default abuse limits, except
// limits.source_volatile_values and limits.account_volatile_share (every
// checkout carries a CVC, a new volatile value, and all come from one
// loopback address to one account: the load those limits refuse, 120 a
// minute, half the volatile store an hour) and, when it must carry a new-value load (a
// new card number in every request, all from one loopback address:
// scenarios 2 and 6; scenario 5 fills its vault through one vault API
// client as fast as it can), limits.source_new_values,
// limits.enumeration_threshold and limits.client_rate, which refuse
// exactly that. limits.outbound_client_rate is off in every case:
// scenario 3 sends thousands of checkouts a second through the outbound
// proxy without proxy credentials, all from one loopback address, which
// the default rate (100 a second per client or address) would refuse
// nearly all of; the harness measures the proxy, not its rate limit.
// -limits off turns every abuse limit off.
// limitsNote says the same in the report.
func limitsYAML(o *options, newValueLoad bool) string {
	switch {
	case o.limits == "off":
		return "limits: {client_rate: 0, outbound_client_rate: 0, outbound_unknown_aliases: 0, inbound_unknown_numbers: 0, source_new_values: 0, source_volatile_values: 0, account_volatile_share: 0, enumeration_threshold: 0, duplicate_threshold: 0}\n"
	case newValueLoad:
		return "limits: {client_rate: 0, outbound_client_rate: 0, source_new_values: 0, source_volatile_values: 0, account_volatile_share: 0, enumeration_threshold: 0}\n"
	}
	return "limits: {outbound_client_rate: 0, source_volatile_values: 0, account_volatile_share: 0}\n"
}

// limitsNote states the limits of a run for its report.
func limitsNote(o *options) string {
	switch {
	case o.limits == "off":
		return "Abuse limits: **off** (`-limits off`)."
	case slices.Contains(o.scenarios, 2) || slices.Contains(o.scenarios, 6) || o.store == "postgres":
		return "Abuse limits: the gateway's defaults, except `source_volatile_values` and `account_volatile_share` off (a CVC in every request from one address and account), `outbound_client_rate` off (scenario 3's checkouts all come from one address through the outbound proxy), and `client_rate`, `source_new_values` and `enumeration_threshold` off for the gateways that carry a new card number in every request from one address or client (scenarios 2, 5 and 6, and the scenarios sharing their gateway)."
	}
	return "Abuse limits: the gateway's defaults (`-limits on`), except `source_volatile_values` and `account_volatile_share` off (a CVC in every request from one address and account) and `outbound_client_rate` off (scenario 3's checkouts all come from one address through the outbound proxy)."
}

// gatewayConfig is the configuration file of the gateway under test.
func gatewayConfig(o *options, dir, echoAddr string, psp pspFiles, caCert, caKey string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "data_dir: %s\nenv: bench\n", filepath.Join(dir, "gw-data"))
	b.WriteString("listen: {inbound: 127.0.0.1:0, outbound: 127.0.0.1:0, admin: 127.0.0.1:0}\n")
	if o.store == "postgres" {
		b.WriteString("vault: {store: postgres, volatile: redis}\n")          // URLs from the environment: secrets stay out of files
		b.WriteString("vault_api: {enabled: true}\nauth: {token_ttl: 24h}\n") // scenario 4 goes through the vault API
	}
	fmt.Fprintf(&b, "outbound: {require_auth: false, allow_private_destinations: true, ca_bundle: %s, ca_cert: %s, ca_key: %s}\n",
		psp.caCert, caCert, caKey)
	if o.profileDir != "" {
		b.WriteString("admin: {pprof: true}\n")
	}
	fmt.Fprintf(&b, "log: {level: %s, format: json}\n", o.logLevel)
	b.WriteString(limitsYAML(o, slices.Contains(o.scenarios, 2) || o.store == "postgres"))
	if o.auditFsync != "" {
		fmt.Fprintf(&b, "audit: {fsync: %s}\n", o.auditFsync)
	}
	b.WriteString(routesYAML(echoAddr))
	return b.String()
}

// setUp starts the upstreams, the baselines and the gateway, and makes the
// aliases of the test card through the gateway.
func setUp(ctx context.Context, o *options, dir string) (_ *env, err error) {
	e := &env{o: o, dir: dir, rp: map[string]*proc{}, gp: map[string]*proc{},
		rpAddress: map[string]string{}, gpAddress: map[string]string{},
		rpArgs: map[string][]string{}, gpArgs: map[string][]string{}}
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	psp, err := writePSPCerts(dir)
	if err != nil {
		return nil, err
	}
	caCert, caKey := filepath.Join(dir, "mitm-ca.pem"), filepath.Join(dir, "mitm-ca.key")
	ca, err := proxy.LoadOrCreateCA(caCert, caKey)
	if err != nil {
		return nil, err
	}
	e.mitmCA = x509.NewCertPool()
	e.mitmCA.AddCert(ca.Certificate())

	var echoP, pspP *proc
	if echoP, e.echo, err = startRole(ctx, roleEcho); err != nil {
		return nil, err
	}
	e.upstreams = append(e.upstreams, echoP)
	if pspP, e.psp, err = startRole(ctx, rolePSP, "-cert", psp.cert, "-key", psp.key, "-expect", benchPAN); err != nil {
		return nil, err
	}
	e.upstreams = append(e.upstreams, pspP)
	var prof []string
	if o.profileDir != "" {
		prof = []string{"-pprof"}
	}
	for _, kind := range o.baselines {
		e.rpArgs[kind] = baselineArgs(kind, append([]string{"-upstream", "http://" + e.echo}, prof...)...)
		e.gpArgs[kind] = baselineArgs(kind, append([]string{"-cert", caCert, "-key", caKey, "-roots", psp.caCert}, prof...)...)
		p, addr, err := startRoleEnv(ctx, roleReverseProxy, o.baselineEnv, e.rpArgs[kind]...)
		if err != nil {
			return nil, err
		}
		e.rp[kind], e.rpAddress[kind] = p, addr
		o.logf("%s: %s", baselineName(nameReverseProxy, kind), p.tuning)
		if p, addr, err = startRoleEnv(ctx, roleGoproxy, o.baselineEnv, e.gpArgs[kind]...); err != nil {
			return nil, err
		}
		e.gp[kind], e.gpAddress[kind] = p, addr
		o.logf("%s: %s", baselineName(nameGoproxy, kind), p.tuning)
	}

	bin := o.gatewayBin
	if bin == "" {
		o.logf("building cmd/aliasgate…")
		if bin, err = buildGateway(ctx, dir, o.profileDir != ""); err != nil {
			return nil, err
		}
	}
	cfg := filepath.Join(dir, "aliasgate.yaml")
	if err := os.WriteFile(cfg, []byte(gatewayConfig(o, dir, e.echo, psp, caCert, caKey)), 0o600); err != nil {
		return nil, err
	}
	genv := slices.Clone(o.gatewayEnv)
	if o.store == "postgres" {
		genv = append(genv, "ALIASGATE_VAULT_POSTGRES_URL="+o.pgURL, "ALIASGATE_VAULT_REDIS_URL="+o.redisURL)
		if os.Getenv(masterKeyEnv) == "" {
			key, err := benchMasterKey()
			if err != nil {
				return nil, err
			}
			genv = append(genv, masterKeyEnv+"="+key)
		}
	}
	pprofFile := ""
	if o.profileDir != "" {
		pprofFile = filepath.Join(dir, "pprof.addr")
	}
	e.gwBin, e.gwCfg, e.gwEnv, e.gwLog, e.gwPprof = bin, cfg, genv, filepath.Join(dir, "aliasgate.log"), pprofFile
	if e.gw, err = startGateway(ctx, bin, cfg, e.gwLog, genv, pprofFile); err != nil {
		return nil, err
	}
	e.fresh = true
	return e, e.makeAliases(ctx)
}

// freshGateway gives a scenario a gateway process of its own (same data
// dir, so the vault keeps its persistent aliases), so that the RSS and heap
// it reports are not what earlier scenarios left (scenario 2 grows the
// vault).
func (e *env) freshGateway(ctx context.Context) error {
	if e.fresh {
		e.fresh = false
		return nil
	}
	e.gw.stop()
	e.gw = nil
	if e.gwPprof != "" {
		_ = os.Remove(e.gwPprof)
	}
	g, err := startGateway(ctx, e.gwBin, e.gwCfg, e.gwLog, e.gwEnv, e.gwPprof)
	if err != nil {
		return err
	}
	e.gw = g
	return e.makeAliases(ctx) // volatile aliases (the CVC's) may have gone with the old process
}

const masterKeyEnv = "ALIASGATE_MASTER_KEY"

// benchMasterKey returns the master key of the bench's PostgreSQL vault: a
// shared database outlives the run, so every run must use the same key. It
// lives in the user's cache directory (created 0600 on first use); export
// ALIASGATE_MASTER_KEY to use another.
func benchMasterKey() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "aliasgate-bench", "master.key")
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return "", err
	}
	key := base64.StdEncoding.EncodeToString(k)
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		return "", err
	}
	return key, nil
}

// makeAliases redacts the test card through the gateway (so scenario 1
// finds it in the vault) and keeps its aliases for scenario 3, checking on
// the way that the echo upstream saw aliases only.
func (e *env) makeAliases(ctx context.Context) error {
	a, err := once(ctx, e.inbound().ep, checkoutBody(benchPAN, benchCVC))
	if err != nil {
		return fmt.Errorf("first request through the gateway: %w", err)
	}
	if a.status != http.StatusOK {
		return fmt.Errorf("first request through the gateway: status %d: %.300s", a.status, a.body)
	}
	var doc struct {
		Card struct{ Number, CVC string }
	}
	if err := json.Unmarshal(a.body, &doc); err != nil {
		return fmt.Errorf("echoed body: %w", err)
	}
	if bytes.Contains(a.body, []byte(benchPAN)) || len(doc.Card.Number) != 16 || doc.Card.Number == benchPAN ||
		!strings.HasPrefix(doc.Card.CVC, "tok_bench_") {
		return fmt.Errorf("the upstream did not get aliases (card %q, cvc alias %q)", doc.Card.Number, doc.Card.CVC)
	}
	e.panAlias, e.cvcAlias = doc.Card.Number, doc.Card.CVC
	return nil
}

func (e *env) close() {
	if e.gw != nil {
		e.gw.stop()
	}
	for _, m := range []map[string]*proc{e.rp, e.gp} {
		for _, p := range m {
			p.stop()
		}
	}
	for _, p := range e.upstreams {
		p.stop()
	}
}

// check sends one request to each target and verifies the answer.
func check(ctx context.Context, t *target, body []byte, ok func(*answer) error) error {
	a, err := once(ctx, t.ep, body)
	if err == nil && a.status != http.StatusOK {
		err = fmt.Errorf("status %d: %.300s", a.status, a.body)
	}
	if err == nil {
		err = ok(a)
	}
	if err != nil {
		return fmt.Errorf("%s: check request: %w", t.name, err)
	}
	return nil
}

// runProxyScenario measures one of scenarios 1–3: warm-up, the closed-loop
// pairs, then the open-loop pairs at 1/openDiv of the baseline's
// throughput, and a CPU and allocation profile of the gateway when asked.
func runProxyScenario(ctx context.Context, e *env, id int) (*scenarioResult, error) {
	o := e.o
	if err := e.freshGateway(ctx); err != nil {
		return nil, err
	}
	var gw *target
	var bases []*target
	var body bodyFunc
	var sample []byte
	res := &scenarioResult{id: id, kinds: o.baselines}
	baselines := func(name string, mk func(kind string) *target) {
		res.baseName = name
		for _, kind := range o.baselines {
			t := mk(kind)
			bases = append(bases, t)
			res.tuning = append(res.tuning, t.proc.tuning)
		}
	}
	checkBases := func(ok func(*answer) error) error {
		for _, b := range bases {
			if err := check(ctx, b, sample, ok); err != nil {
				return err
			}
		}
		return nil
	}
	switch id {
	case 1:
		res.title = "inbound redact, PAN already in the vault + CVC, 1 KiB JSON"
		baselines(nameReverseProxy, e.reverseProxy)
		gw = e.inbound()
		sample = checkoutBody(benchPAN, benchCVC)
		body = fixedBody(sample)
		if err := check(ctx, gw, sample, func(a *answer) error {
			if bytes.Contains(a.body, []byte(benchPAN)) || !bytes.Contains(a.body, []byte(e.panAlias)) {
				return fmt.Errorf("the upstream did not get the known alias")
			}
			return nil
		}); err != nil {
			return nil, err
		}
		if err := checkBases(func(a *answer) error {
			if !bytes.Equal(a.body, sample) {
				return fmt.Errorf("the echo is not the body sent")
			}
			return nil
		}); err != nil {
			return nil, err
		}
	case 2:
		res.title = "inbound redact, a new PAN in every request (durable write, fsync) + CVC, 1 KiB JSON"
		baselines(nameReverseProxy, e.reverseProxy)
		gw = e.inbound()
		src := &panSource{base: uint64(time.Now().UnixNano()) % 1e12}
		body = newPANBody(src)
		sample = body(0, nil)
		if err := check(ctx, gw, sample, func(a *answer) error {
			if bytes.Contains(a.body, sample[bytes.Index(sample, []byte(`"number":"`))+10:][:16]) {
				return fmt.Errorf("the upstream got the new card number")
			}
			return nil
		}); err != nil {
			return nil, err
		}
	case 3:
		res.title = "outbound CONNECT MITM, reveal PAN + CVC aliases, 1 KiB JSON, TLS processor"
		baselines(nameGoproxy, e.goproxy)
		gw = e.outbound()
		sample = checkoutBody(e.panAlias, e.cvcAlias)
		body = fixedBody(sample)
		seen := func(want string) func(*answer) error {
			return func(a *answer) error {
				if got := a.header.Get("X-Value-Seen"); got != want {
					return fmt.Errorf("processor saw the card number: %q, want %q", got, want)
				}
				return nil
			}
		}
		if err := check(ctx, gw, sample, seen("1")); err != nil {
			return nil, err
		}
		if err := checkBases(seen("0")); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("no proxy scenario %d", id)
	}
	o.logf("scenario %d: %s", id, res.title)

	// Warm-up: connections, caches, JIT-free but GC-sized heaps.
	for _, t := range append(slices.Clone(bases), gw) {
		st, err := measure(ctx, t, loadSpec{conns: o.conns, duration: o.warmup, body: body})
		if err != nil {
			return nil, err
		}
		if st.load.requests == 0 || st.load.errors > 0 {
			return nil, fmt.Errorf("%s: warm-up: %d requests, %d errors (first: %s) %v", t.name, st.load.requests, st.load.errors, st.load.firstErr, st.lines)
		}
	}
	var err error
	spec := loadSpec{conns: o.conns, duration: o.duration, body: body}
	if res.closed, err = measureSet(ctx, o, bases, gw, spec); err != nil {
		return nil, err
	}
	rate := median(mapf(res.closed.base(), func(r runStats) float64 { return r.load.reqPerSec() })) / o.openDiv
	if rate < 1 {
		rate = 1
	}
	spec.rate = rate
	if res.open, err = measureSet(ctx, o, bases, gw, spec); err != nil {
		return nil, err
	}
	if o.profileDir != "" {
		if err := profileTarget(ctx, e, gw, e.gw.pprof, body, fmt.Sprintf("scenario%d", id)); err != nil {
			res.notes = append(res.notes, "profile failed: "+err.Error())
			o.logf("  profile failed: %v", err)
		}
		e.gw.logProblems(0)
		// The baselines under the same load, so that the two profiles can
		// be read side by side.
		for i, b := range bases {
			name := fmt.Sprintf("scenario%d-baseline-%s", id, o.baselines[i])
			if err := profileTarget(ctx, e, b, b.proc.pprof, body, name); err != nil {
				res.notes = append(res.notes, "profile of "+b.name+" failed: "+err.Error())
				o.logf("  profile of %s failed: %v", b.name, err)
			}
		}
	}
	return res, nil
}

// profileTarget records a CPU profile and an allocation profile of a proxy
// (the gateway or a baseline, serving them at addr) under closed-loop load
// into the profile directory, as <name>-cpu.pprof and <name>-allocs.pprof.
func profileTarget(ctx context.Context, e *env, t *target, addr string, body bodyFunc, name string) error {
	o := e.o
	if addr == "" {
		return fmt.Errorf("%s serves no pprof", t.name)
	}
	secs := max(int(o.duration/time.Second), 1)
	if err := os.MkdirAll(o.profileDir, 0o755); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() {
		res, err := runLoad(ctx, t.ep, loadSpec{conns: o.conns, duration: time.Duration(secs+1) * time.Second, body: body})
		if err == nil {
			o.logf("  profile run of %s: %.0f req/s over %s (%d errors)", t.name, res.reqPerSec(), res.elapsed.Round(time.Millisecond), res.errors)
		}
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	errs := make(chan error, 2)
	for _, kind := range []string{"profile", "allocs"} {
		go func() {
			url := fmt.Sprintf("http://%s/debug/pprof/%s?seconds=%d", addr, kind, secs)
			resp, err := http.Get(url)
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			suffix := map[string]string{"profile": "cpu", "allocs": "allocs"}[kind]
			f, err := os.Create(filepath.Join(o.profileDir, fmt.Sprintf("%s-%s.pprof", name, suffix)))
			if err != nil {
				errs <- err
				return
			}
			_, err = io.Copy(f, resp.Body)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			errs <- err
		}()
	}
	var first error
	for range 2 {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	if err := <-done; err != nil && first == nil {
		first = err
	}
	o.logf("  profiles of %s written to %s", t.name, o.profileDir)
	return first
}

func mapf[T, U any](in []T, f func(T) U) []U {
	out := make([]U, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}

// median returns the median of v (the mean of the two middle values for an
// even count), 0 for none.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
