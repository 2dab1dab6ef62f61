package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Scenario 6 (scale-out): the vault's three operations through the inbound
// proxy — redact of a value already in the vault, redact of a new value
// (a durable write), and reveal (a response filter turns the alias the
// echo upstream sends back into the value) — on bbolt with one gateway,
// and on PostgreSQL + Redis with one and with two gateway processes
// sharing the database, in the same run. The load's connections are split
// evenly over the gateways of a set-up; requests per second are summed.
// It needs -postgres-url and -redis-url.

// scaleOutRoutes adds the reveal route to the redact route of the other
// scenarios.
func scaleOutRoutes(echoAddr string) string {
	return routesYAML(echoAddr) + `  - id: reveal
    direction: inbound
    host: "*"
    path_prefix: /reveal
    upstream: http://` + echoAddr + `
    filters:
      - id: card-back
        phase: response
        match: {content_type: json}
        operation: reveal
        targets:
          - {json: card.number}
`
}

// scaleOutSetup is one vault set-up of scenario 6.
type scaleOutSetup struct {
	name     string
	gateways int
	pg       bool
}

// scaleOutRow is one measured cell of scenario 6.
type scaleOutRow struct {
	setup, op string
	res       loadResult
}

func runScaleOut(ctx context.Context, o *options, dir string) ([]scaleOutRow, error) {
	if o.pgURL == "" || o.redisURL == "" {
		return nil, fmt.Errorf("scenario 6 needs -postgres-url and -redis-url")
	}
	echoP, echo, err := startRole(ctx, roleEcho)
	if err != nil {
		return nil, err
	}
	defer echoP.stop()
	bin := o.gatewayBin
	if bin == "" {
		o.logf("building cmd/aliasgate…")
		if bin, err = buildGateway(ctx, dir, false); err != nil {
			return nil, err
		}
	}
	key, err := benchMasterKey()
	if err != nil {
		return nil, err
	}
	var rows []scaleOutRow
	for _, su := range []scaleOutSetup{{"bbolt, 1 gateway", 1, false}, {"PostgreSQL + Redis, 1 gateway", 1, true}, {"PostgreSQL + Redis, 2 gateways", 2, true}} {
		o.logf("scenario 6: %s", su.name)
		gws, err := startScaleOutGateways(ctx, o, dir, bin, echo, key, su)
		if err != nil {
			return nil, err
		}
		r, err := measureScaleOut(ctx, o, su, gws)
		for _, g := range gws {
			g.stop()
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", su.name, err)
		}
		rows = append(rows, r...)
	}
	return rows, nil
}

func startScaleOutGateways(ctx context.Context, o *options, dir, bin, echo, key string, su scaleOutSetup) ([]*gatewayProc, error) {
	var gws []*gatewayProc
	tag := strings.NewReplacer(" ", "", ",", "-", "+", "").Replace(su.name)
	for i := range su.gateways {
		d := filepath.Join(dir, fmt.Sprintf("s6-%s-%d", tag, i))
		var b strings.Builder
		fmt.Fprintf(&b, "data_dir: %s\nenv: bench\n", d)
		b.WriteString("listen: {inbound: 127.0.0.1:0, outbound: 127.0.0.1:0, admin: 127.0.0.1:0}\n")
		if su.pg {
			b.WriteString("vault: {store: postgres, volatile: redis}\n")
		}
		fmt.Fprintf(&b, "log: {level: %s, format: json}\n", o.logLevel)
		b.WriteString(limitsYAML(o, true))
		if o.auditFsync != "" {
			fmt.Fprintf(&b, "audit: {fsync: %s}\n", o.auditFsync)
		}
		b.WriteString(scaleOutRoutes(echo))
		cfg := d + ".yaml"
		if err := os.WriteFile(cfg, []byte(b.String()), 0o600); err != nil {
			return gws, err
		}
		env := append(slices.Clone(o.gatewayEnv), masterKeyEnv+"="+key)
		if su.pg {
			env = append(env, "ALIASGATE_VAULT_POSTGRES_URL="+o.pgURL, "ALIASGATE_VAULT_REDIS_URL="+o.redisURL)
		}
		g, err := startGateway(ctx, bin, cfg, d+".log", env, "")
		if err != nil {
			for _, g := range gws {
				g.stop()
			}
			return nil, err
		}
		gws = append(gws, g)
	}
	return gws, nil
}

func measureScaleOut(ctx context.Context, o *options, su scaleOutSetup, gws []*gatewayProc) ([]scaleOutRow, error) {
	ep := func(g *gatewayProc, path string) *endpoint {
		return &endpoint{addr: g.inbound, host: "shop.example", path: path}
	}
	// The known value and its alias, made through the first gateway.
	a, err := once(ctx, ep(gws[0], "/checkout"), checkoutBody(benchPAN, benchCVC))
	if err != nil || a.status != 200 || bytes.Contains(a.body, []byte(benchPAN)) {
		return nil, fmt.Errorf("first redaction: %v (status %v)", err, statusOf(a))
	}
	alias := string(a.body[bytes.Index(a.body, []byte(`"number":"`))+10:][:16])
	revealBody := checkoutBody(alias, "000")
	if a, err := once(ctx, ep(gws[len(gws)-1], "/reveal"), revealBody); err != nil || a.status != 200 || !bytes.Contains(a.body, []byte(benchPAN)) {
		return nil, fmt.Errorf("reveal check through the last gateway: %v (status %v)", err, statusOf(a))
	}
	src := &panSource{base: uint64(time.Now().UnixNano())}
	ops := []struct {
		name, path string
		body       bodyFunc
	}{
		{"redact, known value", "/checkout", fixedBody(checkoutBody(benchPAN, benchCVC))},
		{"redact, new value (durable write)", "/checkout", newPANBody(src)},
		{"reveal", "/reveal", fixedBody(revealBody)},
	}
	var rows []scaleOutRow
	for _, op := range ops {
		var mu sync.Mutex
		var sum loadResult
		var wg sync.WaitGroup
		var firstErr error
		for i, g := range gws {
			conns := o.conns / len(gws)
			if i < o.conns%len(gws) {
				conns++
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := runLoad(ctx, ep(g, op.path), loadSpec{conns: conns, duration: o.duration, body: op.body})
				mu.Lock()
				defer mu.Unlock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				sum.requests += r.requests
				sum.errors += r.errors
				sum.elapsed = max(sum.elapsed, r.elapsed)
				sum.lat = append(sum.lat, r.lat...)
			}()
		}
		wg.Wait()
		if firstErr != nil {
			return nil, firstErr
		}
		slices.Sort(sum.lat)
		o.logf("  %-34s %8.0f req/s  p50 %-9s p99 %-9s errors %d", op.name, sum.reqPerSec(),
			fmtDur(percentile(sum.lat, 50)), fmtDur(percentile(sum.lat, 99)), sum.errors)
		rows = append(rows, scaleOutRow{setup: su.name, op: op.name, res: sum})
	}
	return rows, nil
}

func statusOf(a *answer) any {
	if a == nil {
		return "none"
	}
	return a.status
}

// scaleOutMarkdown is the table of scenario 6.
func scaleOutMarkdown(o *options, rows []scaleOutRow) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### Scenario 6: scale-out — the vault on bbolt vs PostgreSQL + Redis, 1 and 2 gateways\n\n")
	fmt.Fprintf(&b, "Closed loop, %d keep-alive connections split over the gateways, %v per cell, 1 KiB JSON through the inbound proxy:\n\n", o.conns, o.duration)
	b.WriteString("| set-up | operation | req/s (all gateways) | p50 | p99 | errors |\n|---|---|---:|---:|---:|---:|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %.0f | %s | %s | %d |\n", r.setup, r.op, r.res.reqPerSec(),
			fmtDur(percentile(r.res.lat, 50)), fmtDur(percentile(r.res.lat, 99)), r.res.errors)
	}
	return b.String()
}
