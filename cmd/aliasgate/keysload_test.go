package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// rotationLoad is redact/reveal/delete traffic through gateways while keys
// rotate: every worker makes new aliases, reveals its own and others',
// deletes some, and checks every answer. It keeps the aliases alive at the
// end and the first failure.
type rotationLoad struct {
	gateways []*gatewayProc
	c        credential

	mu    sync.Mutex
	live  map[string]string
	err   error
	ops   int
	stop  chan struct{}
	wg    sync.WaitGroup
	moved chan struct{} // closed once every worker has done some work
}

func (l *rotationLoad) fail(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err == nil {
		l.err = err
	}
}

func (l *rotationLoad) do(method, url, body string) (int, []byte, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.SetBasicAuth(l.c.ID, l.c.Secret)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, b, err
}

func (l *rotationLoad) worker(w int, started *sync.WaitGroup) {
	defer l.wg.Done()
	first := true
	for i := 0; ; i++ {
		select {
		case <-l.stop:
			return
		default:
		}
		g := l.gateways[(w+i)%len(l.gateways)]
		v := fmt.Sprintf("w%02d-%06d", w, i)
		status, body, err := l.do("POST", g.inbound+"/aliases", `{"data":[{"value":"`+v+`"}]}`)
		var created struct {
			Data []struct{ Aliases []struct{ Alias string } }
		}
		if err != nil || status != 201 || json.Unmarshal(body, &created) != nil || len(created.Data) != 1 || len(created.Data[0].Aliases) == 0 {
			l.fail(fmt.Errorf("create %s on %s: %d %s %v", v, g.inbound, status, body, err))
			return
		}
		alias := created.Data[0].Aliases[0].Alias
		// A volatile value too (a CVC: Redis on PostgreSQL gateways),
		// revealed on the next gateway.
		cvc := fmt.Sprintf("%03d", i%1000)
		status, body, err = l.do("POST", g.inbound+"/aliases", `{"data":[{"value":"`+cvc+`","storage":"VOLATILE"}]}`)
		created.Data = nil
		if err != nil || status != 201 || json.Unmarshal(body, &created) != nil || len(created.Data) != 1 || len(created.Data[0].Aliases) == 0 {
			l.fail(fmt.Errorf("create a volatile value on %s: %d %s %v", g.inbound, status, body, err))
			return
		}
		volatile := created.Data[0].Aliases[0].Alias
		// Reveal it on the next gateway, and one alias of another worker.
		check := map[string]string{alias: v, volatile: cvc}
		l.mu.Lock()
		for a, val := range l.live {
			check[a] = val
			break
		}
		l.live[alias] = v
		l.ops++
		l.mu.Unlock()
		g2 := l.gateways[(w+i+1)%len(l.gateways)]
		for a, want := range check {
			status, body, err := l.do("GET", g2.inbound+"/aliases/"+a, "")
			if status == 404 && a != alias && a != volatile {
				continue // deleted meanwhile by its worker
			}
			if err != nil || status != 200 || !bytes.Contains(body, []byte(`"value":"`+want+`"`)) {
				l.fail(fmt.Errorf("reveal %s on %s: %d %s %v, want %s", a, g2.inbound, status, body, err, want))
				return
			}
		}
		if i%5 == 4 { // delete every fifth of its own
			l.mu.Lock()
			delete(l.live, alias)
			l.mu.Unlock()
			if status, body, err := l.do("DELETE", g.inbound+"/aliases/"+alias, ""); err != nil || status != 204 {
				l.fail(fmt.Errorf("delete %s: %d %s %v", alias, status, body, err))
				return
			}
			if status, body, err := l.do("GET", g2.inbound+"/aliases/"+alias, ""); err != nil || status != 404 {
				l.fail(fmt.Errorf("reveal of deleted %s: %d %s %v", alias, status, body, err))
				return
			}
		}
		if first && i >= 5 {
			first = false
			started.Done()
		}
	}
}

// start runs n workers until stopped; it returns once each has done some
// work.
func (l *rotationLoad) start(n int) {
	l.live = map[string]string{}
	l.stop = make(chan struct{})
	var started sync.WaitGroup
	started.Add(n)
	for w := 0; w < n; w++ {
		l.wg.Add(1)
		go l.worker(w, &started)
	}
	done := make(chan struct{})
	go func() { started.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
	}
}

func (l *rotationLoad) finish(t *testing.T) map[string]string {
	t.Helper()
	close(l.stop)
	l.wg.Wait()
	if l.err != nil {
		t.Fatalf("during key rotation: %v", l.err)
	}
	return l.live
}

// rotationConfig is a bbolt gateway configuration without the per-source
// limits on new values (the load makes thousands from one address).
func rotationConfig(t *testing.T, data string) string {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "gw.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`data_dir: %s
listen: {inbound: "127.0.0.1:0", outbound: "127.0.0.1:0"}
vault_api: {enabled: true}
limits: {source_new_values: 0, enumeration_threshold: 0, client_rate: 0}
`, data)), 0o600)
	return cfg
}

// TestKeysRotateUnderLoadLosesNothing: `keys rotate` twice in a row while
// eight clients create, reveal and delete aliases through a bbolt gateway.
// No request fails or answers a wrong value, the re-encryption finishes,
// `keys status` says every record uses the last version, and every alias
// still alive reveals its value.
func TestKeysRotateUnderLoadLosesNothing(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	env := testEnv(map[string]string{"ALIASGATE_ADMIN_TOKEN": adminToken, "ALIASGATE_LISTEN_ADMIN": freeAddr(t)})
	api := createClient(t, env, data, "--name", "api", "--account", "acct_1", "--scopes", "aliases:write,aliases:reveal")
	g := startGateway(t, env, "--config", rotationConfig(t, data))
	before := makeAliases(t, g, api, 0, 300)

	l := &rotationLoad{gateways: []*gatewayProc{g}, c: api}
	l.start(8)
	for _, want := range []string{`"version":2`, `"version":3`} {
		if out, _, err := runCmd(t, env, "keys", "rotate", "--data-dir", data); err != nil || !strings.Contains(out, want) {
			t.Fatalf("keys rotate = %q %v", out, err)
		}
	}
	waitReencrypted(t, g, 3)
	live := l.finish(t)
	revealEach(t, g, api, before)
	revealEach(t, g, api, live)
	if st := keysStatusOf(t, env, "--admin", g.admin); st.CurrentVersion != 3 || !st.Reencryption.Done {
		t.Fatalf("status from the gateway after two rotations under load: %+v", st)
	}
	g.stop(t)
	st := keysStatusOf(t, env, "--data-dir", data)
	if st.CurrentVersion != 3 || len(st.RecordsByVersion) != 1 || st.RecordsByVersion["3"] != uint64(len(before)+len(live)) {
		t.Fatalf("status after two rotations under load (%d operations, %d records): %+v", l.ops, len(before)+len(live), st)
	}
	t.Logf("%d operations during two rotations", l.ops)
}

// TestKeysRotateUnderLoadOnPostgresWithTwoGateways: the same on one
// PostgreSQL database with two gateways, both re-encrypting, the load
// spread over both (each reveal on the other gateway than its create).
func TestKeysRotateUnderLoadOnPostgresWithTwoGateways(t *testing.T) {
	oldRefresh, oldSettle := keyRefreshInterval, reencryptSettle
	keyRefreshInterval, reencryptSettle = 200*time.Millisecond, 500*time.Millisecond
	t.Cleanup(func() { keyRefreshInterval, reencryptSettle = oldRefresh, oldSettle })

	pgURL := testPostgresURL(t)
	env := testEnv(map[string]string{"ALIASGATE_MASTER_KEY": newMasterKey(), "ALIASGATE_ADMIN_TOKEN": adminToken})
	cfgA, cfgB := sharedConfig(t, pgURL, testRedisURL(), ""), sharedConfig(t, pgURL, testRedisURL(), "")
	for _, cfg := range []string{cfgA, cfgB} { // no client rate: the load is one client
		b, _ := os.ReadFile(cfg)
		os.WriteFile(cfg, bytes.Replace(b, []byte("limits: {"), []byte("limits: {client_rate: 0, "), 1), 0o600)
	}
	a := startGateway(t, env, "--config", cfgA)
	b := startGateway(t, env, "--config", cfgB)
	var c credential
	out, _, err := runCmd(t, env, "clients", "create", "--config", cfgA, "--name", "api", "--account", "acct_1",
		"--scopes", "aliases:write,aliases:reveal")
	if err != nil || json.Unmarshal([]byte(out), &c) != nil {
		t.Fatalf("clients create: %v %q", err, out)
	}
	before := makeAliases(t, a, c, 0, 300)

	l := &rotationLoad{gateways: []*gatewayProc{a, b}, c: c}
	l.start(8)
	for _, want := range []string{`"version":2`, `"version":3`} {
		if out, _, err := runCmd(t, env, "keys", "rotate", "--config", cfgB); err != nil || !strings.Contains(out, want) {
			t.Fatalf("keys rotate = %q %v", out, err)
		}
	}
	waitReencrypted(t, a, 3)
	waitReencrypted(t, b, 3)
	live := l.finish(t)
	revealEach(t, a, c, before)
	revealEach(t, b, c, live)
	st := keysStatusOf(t, env, "--config", cfgA)
	if st.CurrentVersion != 3 || !st.Reencryption.Done || len(st.RecordsByVersion) != 1 || st.RecordsByVersion["3"] != uint64(len(before)+len(live)) {
		t.Fatalf("status after two rotations under load (%d operations, %d records): %+v", l.ops, len(before)+len(live), st)
	}
	t.Logf("%d operations during two rotations", l.ops)
}

// TestReencryptionStoppedHalfWayResumesAtTheNextStart: a gateway stopped
// during its re-encryption (after a checkpoint) resumes it at the next
// start from that checkpoint and finishes; every record is on the new
// version and reveals.
func TestReencryptionStoppedHalfWayResumesAtTheNextStart(t *testing.T) {
	const n = 4000 // at 500 records/s, past the first checkpoint (5 s)
	data := filepath.Join(t.TempDir(), "data")
	env := testEnv(nil)
	api := createClient(t, env, data, "--name", "api", "--account", "default", "--scopes", "aliases:reveal")
	sample := map[string]string{}
	for v, a := range fillBolt(t, data, n) {
		sample[a] = v
	}
	if out, _, err := runCmd(t, env, "keys", "rotate", "--data-dir", data); err != nil || !strings.Contains(out, `"version":2`) {
		t.Fatalf("keys rotate = %q %v", out, err)
	}
	g := startGateway(t, env, "--config", rotationConfig(t, data))
	for deadline := time.Now().Add(60 * time.Second); !strings.Contains(g.stderr.String(), `"msg":"keys: re-encryption progress"`); {
		if time.Now().After(deadline) { // a hang, not a speed
			t.Fatalf("no checkpoint within a minute:\n%s", g.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	g.stop(t)
	st := keysStatusOf(t, env, "--data-dir", data)
	if st.Reencryption.Done || st.RecordsByVersion["2"] == 0 || st.RecordsByVersion["1"] == 0 || st.RecordsByVersion["1"]+st.RecordsByVersion["2"] != n {
		t.Fatalf("status after stopping half way: %+v", st)
	}

	g = startGateway(t, env, "--config", rotationConfig(t, data))
	waitReencrypted(t, g, 2)
	revealEach(t, g, api, sample)
	g.stop(t)
	if !strings.Contains(g.stderr.String(), `"msg":"keys: re-encryption resumes"`) {
		t.Errorf("the second start did not resume from the checkpoint:\n%s", g.stderr.String())
	}
	if st := keysStatusOf(t, env, "--data-dir", data); !st.Reencryption.Done || len(st.RecordsByVersion) != 1 || st.RecordsByVersion["2"] != n {
		t.Fatalf("status after the resumed re-encryption: %+v", st)
	}
}
