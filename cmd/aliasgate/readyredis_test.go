package main

import (
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/redistest"
)

// TestReadyzFollowsTheVolatileRedisProcess: the volatile Redis (one of the
// test's own) killed under a serving gateway: /readyz answers 503 and a
// checkout that holds a CVC 503, nothing forwarded; the same server
// started again, empty (no persistence), on its address: /readyz answers
// 200 and checkouts are served again, without a restart of the gateway.
// Regression cover next to TestStoreOutage (a cut connection) and
// TestReadOnlyStoreIsNotReady (passed before).
func TestReadyzFollowsTheVolatileRedisProcess(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	stop := redistest.Run(t, addr, t.TempDir())

	dir := t.TempDir()
	psp := newRecorder(t)
	routesFile := filepath.Join(dir, "routes.yaml")
	if err := os.WriteFile(routesFile, []byte(`routes:
  - id: checkout
    direction: inbound
    host: "*"
    path_prefix: /checkout
    upstream: `+psp.URL+`
    filters:
      - id: card
        operation: redact
        targets:
          - json: card.number
          - {json: card.cvc, storage: volatile}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := testEnv(map[string]string{"ALIASGATE_ROUTES_FILE": routesFile,
		"ALIASGATE_VAULT_VOLATILE": "redis", "ALIASGATE_VAULT_REDIS_URL": "redis://" + addr + "/0"})
	g := startGateway(t, env, "--data-dir", filepath.Join(dir, "data"))
	send := checkoutSender(t, g.inbound)
	ready := func() int { st, _ := callNoFatal("GET", g.admin+"/readyz", "", "", nil); return st }
	if st, _ := send(); st != 200 || ready() != 200 {
		t.Fatalf("before: checkout %d, /readyz %d", st, ready())
	}
	forwarded := len(psp.bodies())

	stop()
	if r := ready(); r != 503 {
		t.Errorf("/readyz %d with the volatile Redis gone; want 503", r)
	}
	if st, ra := send(); st != 503 || ra == "" {
		t.Errorf("checkout with the volatile Redis gone: %d, Retry-After %q; want 503 with Retry-After", st, ra)
	}
	if n := len(psp.bodies()); n != forwarded {
		t.Errorf("%d requests forwarded while the volatile Redis was gone", n-forwarded)
	}

	redistest.Run(t, addr, t.TempDir())
	if !waitFor(15*time.Second, func() bool { return ready() == 200 }) {
		t.Fatalf("/readyz did not recover once Redis was back; log:\n%s", g.stderr.String())
	}
	if st, _ := send(); st != 200 {
		t.Errorf("checkout once Redis was back and /readyz said 200: %d", st)
	}
}
