package crash

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/obs/obstest"
	"github.com/aliasgate/aliasgate/internal/pan"
	"github.com/aliasgate/aliasgate/internal/pgtest"
)

const (
	// minAcked is how many aliases must have been acknowledged (2xx) before
	// the gateway is killed; the kill comes at a random count up to
	// minAcked+killSpread.
	minAcked   = 10000
	killSpread = 2000
	// clients is the number of concurrent load clients.
	clients = 16
	// loadTimeout bounds the load phase: the whole test must stay well
	// under two minutes.
	loadTimeout = 75 * time.Second
	// revealBatch is how many aliases one GET /aliases?q=… reveals (the
	// vault API's maximum).
	revealBatch = 20
)

// TestKill9LosesNoAcknowledgedAlias drives new-value redactions through the
// inbound proxy of a real aliasgate process with concurrent clients, kills
// the process with SIGKILL at a random moment after at least minAcked
// aliases were acknowledged, restarts it on the same vault and checks that
// every acknowledged alias reveals its original value through the vault
// API. No log line of either process, no byte the upstream received and no
// file of the data dir may hold a card number.
func TestKill9LosesNoAcknowledgedAlias(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: builds the gateway and runs it under load (skipped with -short)")
	}
	bin := buildGateway(t)
	t.Run("bolt", func(t *testing.T) {
		runCrash(t, bin, "vault: {store: bolt}\n")
	})
	t.Run("postgres", func(t *testing.T) {
		u := pgtest.NewDatabase(t, "aliasgate_crash")
		runCrash(t, bin, fmt.Sprintf("vault: {store: postgres, postgres_url: %q}\n", u))
	})
}

// buildGateway builds cmd/aliasgate (without -race: the process under test
// is the product as shipped).
func buildGateway(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "aliasgate")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/aliasgate/aliasgate/cmd/aliasgate").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// ack is an alias whose request the gateway answered 2xx.
type ack struct{ alias, value string }

func runCrash(t *testing.T, bin, storeYAML string) {
	up := newEchoUpstream(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "aliasgate.yaml")
	writeFile(t, cfg, fmt.Sprintf(`data_dir: %s
env: crash
listen: {inbound: "127.0.0.1:0", outbound: "127.0.0.1:0", admin: "127.0.0.1:0"}
%svault_api: {enabled: true}
log: {level: info, format: json}
# Thousands of new card numbers from one loopback client and address: the
# load the abuse limits exist to refuse (cmd/aliasgate/abuse_test.go).
limits: {client_rate: 0, source_new_values: 0, enumeration_threshold: 0}
routes:
  - id: pay
    direction: inbound
    host: "*"
    path_prefix: /pay
    upstream: %s
    leak_guard: block
    filters:
      - id: pan
        match: {methods: [POST], content_type: json}
        operation: redact
        targets:
          - {json: card.number, classifiers: [pan]}
`, data, storeYAML, up.URL))

	var (
		logs  []*bytes.Buffer
		procs []*gatewayProc
	)
	defer func() {
		for _, p := range procs {
			p.kill(t) // no-op when it has exited; its log is complete after
		}
		scanLogs(t, logs)
	}()
	cred, clog := createClient(t, bin, cfg)
	logs = append(logs, clog)

	g := startGateway(t, bin, cfg)
	logs, procs = append(logs, g.stderr), append(procs, g)
	start := time.Now()
	acks := drive(t, g)
	t.Logf("killed the gateway (SIGKILL) after %d acknowledged aliases in %s", len(acks), time.Since(start).Round(time.Millisecond))
	if len(acks) < minAcked {
		t.Fatalf("only %d aliases acknowledged before the kill, want at least %d", len(acks), minAcked)
	}

	start = time.Now()
	g2 := startGateway(t, bin, cfg)
	logs, procs = append(logs, g2.stderr), append(procs, g2)
	// The checker itself: an alias that was never made counts as lost.
	if n := verify(t, g2, cred, []ack{{alias: "tok_crash_NeverMade1111111111111", value: "4111111111111111"}}); n != 1 {
		t.Fatalf("the check counts %d lost of one alias that does not exist", n)
	}
	lost := verify(t, g2, cred, acks)
	t.Logf("restarted and revealed %d aliases in %s: %d lost", len(acks), time.Since(start).Round(time.Millisecond), lost)
	if lost != 0 {
		t.Errorf("%d of %d acknowledged aliases were lost or reveal another value", lost, len(acks))
	}
	g2.stop(t)
	if n := up.leaks.Load(); n != 0 {
		t.Errorf("the upstream received %d bodies holding a card number", n)
	}
	scanDataDir(t, data)
}

// drive runs the load until the random kill count, kills the gateway and
// returns every acknowledged alias.
func drive(t *testing.T, g *gatewayProc) []ack {
	t.Helper()
	killAt := int64(minAcked + rand.IntN(killSpread))
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		MaxIdleConnsPerHost: clients, DisableCompression: true}}
	defer client.CloseIdleConnections()
	prefix := fmt.Sprintf("4%06d", rand.IntN(1000000))
	var (
		seq    atomic.Int64
		acked  atomic.Int64
		mu     sync.Mutex
		acks   = make([]ack, 0, killAt+killSpread)
		bad    atomic.Int64 // 2xx answers without a proper alias
		kill   = make(chan struct{})
		once   sync.Once
		halt   atomic.Bool
		wg     sync.WaitGroup
		others sync.Map // status → count, for the report
	)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !halt.Load() {
				value := luhn(fmt.Sprintf("%s%08d", prefix, seq.Add(1)))
				body := `{"card":{"number":"` + value + `"},"amount":1999}`
				res, err := client.Post(g.inbound+"/pay", "application/json", strings.NewReader(body))
				if err != nil {
					continue // the gateway is gone, or a timeout: not acknowledged
				}
				b, err := io.ReadAll(res.Body)
				res.Body.Close()
				if err != nil {
					continue
				}
				if res.StatusCode/100 != 2 {
					n, _ := others.LoadOrStore(res.StatusCode, new(atomic.Int64))
					n.(*atomic.Int64).Add(1)
					continue
				}
				var echo struct {
					Card struct{ Number string }
				}
				if json.Unmarshal(b, &echo) != nil || !strings.HasPrefix(echo.Card.Number, "tok_crash_") {
					bad.Add(1)
					continue
				}
				mu.Lock()
				acks = append(acks, ack{alias: echo.Card.Number, value: value})
				mu.Unlock()
				if acked.Add(1) == killAt {
					once.Do(func() { close(kill) })
				}
			}
		}()
	}
	select {
	case <-kill:
	case <-time.After(loadTimeout):
		halt.Store(true)
		g.kill(t)
		wg.Wait()
		t.Fatalf("only %d aliases acknowledged in %s (want %d)", acked.Load(), loadTimeout, killAt)
	}
	g.kill(t)
	halt.Store(true)
	wg.Wait()
	others.Range(func(k, v any) bool {
		t.Logf("%d answers with status %v (not acknowledged)", v.(*atomic.Int64).Load(), k)
		return true
	})
	if n := bad.Load(); n != 0 {
		t.Errorf("%d 2xx answers did not carry an alias", n)
	}
	mu.Lock()
	defer mu.Unlock()
	return acks
}

// verify reveals every acknowledged alias through the vault API (HTTP
// Basic with the client's credentials, revealBatch aliases a call, four
// calls at a time) and returns how many are missing or reveal another
// value.
func verify(t *testing.T, g *gatewayProc, cred credential, acks []ack) int {
	t.Helper()
	var lost atomic.Int64
	batches := make(chan []ack)
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 30 * time.Second}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				lost.Add(int64(revealBatchOf(t, client, g, cred, b)))
			}
		}()
	}
	for i := 0; i < len(acks); i += revealBatch {
		batches <- acks[i:min(i+revealBatch, len(acks))]
	}
	close(batches)
	wg.Wait()
	return int(lost.Load())
}

func revealBatchOf(t *testing.T, client *http.Client, g *gatewayProc, cred credential, b []ack) int {
	q := make([]string, len(b))
	for i, a := range b {
		q[i] = a.alias
	}
	req, _ := http.NewRequest("GET", g.inbound+"/aliases?q="+url.QueryEscape(strings.Join(q, ",")), nil)
	req.SetBasicAuth(cred.ID, cred.Secret)
	res, err := client.Do(req)
	if err != nil {
		t.Errorf("reveal: %v", err)
		return len(b)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode == http.StatusNotFound {
		return len(b) // none of the batch exists
	}
	if res.StatusCode != http.StatusOK {
		t.Errorf("reveal: status %d: %s", res.StatusCode, pan.Mask(string(body)))
		return len(b)
	}
	var doc struct {
		Data map[string]struct{ Value string }
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Errorf("reveal: %v", err)
		return len(b)
	}
	lost := 0
	for _, a := range b {
		if r, ok := doc.Data[a.alias]; !ok || r.Value != a.value {
			lost++
		}
	}
	return lost
}

// luhn appends the Luhn check digit to payload.
func luhn(payload string) string {
	sum := 0
	double := true
	for i := len(payload) - 1; i >= 0; i-- {
		d := int(payload[i] - '0')
		if double {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return payload + strconv.Itoa((10-sum%10)%10)
}

// echoUpstream answers every request with its body, as the merchant app of
// examples/sidecar does, and counts bodies that hold a card number.
type echoUpstream struct {
	*httptest.Server
	leaks atomic.Int64
}

func newEchoUpstream(t *testing.T) *echoUpstream {
	t.Helper()
	u := &echoUpstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if pan.Contains(b) {
			u.leaks.Add(1)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	}))
	t.Cleanup(u.Close)
	return u
}

// credential is what "clients create" prints.
type credential struct {
	ID     string `json:"client_id"`
	Secret string `json:"client_secret"`
}

// childEnv is the environment of the gateway processes: this process's,
// without any ALIASGATE_ variable that could change the configuration.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ALIASGATE_") {
			env = append(env, kv)
		}
	}
	return env
}

func createClient(t *testing.T, bin, cfg string) (credential, *bytes.Buffer) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "clients", "create", "--config", cfg, "--name", "crash-check", "--account", "acct_crash",
		"--scopes", "aliases:reveal")
	cmd.Env = childEnv()
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("clients create: %v\n%s", err, stderr.String())
	}
	var c credential
	if err := json.Unmarshal(stdout.Bytes(), &c); err != nil || c.ID == "" {
		t.Fatalf("clients create printed %q: %v", stdout.String(), err)
	}
	return c, &stderr
}

// gatewayProc is `aliasgate serve` in a child process.
type gatewayProc struct {
	cmd     *exec.Cmd
	stderr  *bytes.Buffer // written by the child's stderr copier only; read after Wait
	inbound string
	done    chan struct{}
	mu      sync.Mutex
	partial bytes.Buffer // stderr seen so far, for the listener addresses
}

// Write collects the child's stderr.
func (g *gatewayProc) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.stderr.Write(p)
	return g.partial.Write(p)
}

func (g *gatewayProc) log() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.partial.String()
}

var listenRE = regexp.MustCompile(`"msg":"listening","listener":"(\w+)","addr":"([^"]+)"`)

func startGateway(t *testing.T, bin, cfg string) *gatewayProc {
	t.Helper()
	g := &gatewayProc{stderr: &bytes.Buffer{}, done: make(chan struct{})}
	g.cmd = exec.Command(bin, "serve", "--config", cfg)
	g.cmd.Env = childEnv()
	g.cmd.Stdout = io.Discard
	g.cmd.Stderr = g
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { g.cmd.Wait(); close(g.done) }()
	t.Cleanup(func() { g.kill(t) })
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if m := listenRE.FindAllStringSubmatch(g.log(), -1); len(m) > 0 {
			for _, l := range m {
				if l[1] == "inbound" {
					g.inbound = "http://" + l[2]
				}
			}
			if g.inbound != "" && strings.Contains(g.log(), `"listener":"admin"`) {
				return g
			}
		}
		select {
		case <-g.done:
			t.Fatalf("serve exited early: %s\n%s", g.cmd.ProcessState, pan.Mask(g.log()))
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("serve did not log its listeners:\n%s", pan.Mask(g.log()))
	return nil
}

// kill sends SIGKILL and waits for the process to be gone.
func (g *gatewayProc) kill(t *testing.T) {
	select {
	case <-g.done:
		return
	default:
	}
	g.cmd.Process.Signal(syscall.SIGKILL)
	<-g.done
}

// stop sends SIGTERM and waits for a clean exit.
func (g *gatewayProc) stop(t *testing.T) {
	t.Helper()
	g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.done:
		if !g.cmd.ProcessState.Success() {
			t.Errorf("serve exited with %s after SIGTERM", g.cmd.ProcessState)
		}
	case <-time.After(20 * time.Second):
		t.Errorf("serve did not stop within 20s of SIGTERM")
		g.kill(t)
	}
}

// maskedRun is what the production logger's scrubber writes in place of a
// card number: the logger is a second line of defence, so a masked run in
// the log means the first line (never log card data) failed.
var maskedRun = regexp.MustCompile(`[0-9]{6}\*{3,9}[0-9]{4}`)

func scanLogs(t *testing.T, logs []*bytes.Buffer) {
	t.Helper()
	for i, l := range logs {
		b := l.Bytes()
		obstest.AssertNoPAN(t, fmt.Sprintf("log of process %d", i+1), b)
		if n := len(maskedRun.FindAll(b, -1)); n > 0 {
			t.Errorf("log of process %d: the scrubber masked %d card numbers (something logged card data)", i+1, n)
		}
	}
}

func scanDataDir(t *testing.T, dir string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		obstest.AssertNoPAN(t, p, b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}
