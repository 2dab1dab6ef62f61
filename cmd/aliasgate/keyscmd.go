package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aliasgate/aliasgate/admin"
	"github.com/aliasgate/aliasgate/audit"
	"github.com/aliasgate/aliasgate/config"
	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/boltstore"
)

// Timings of the key worker (variables for the tests).
var (
	// keyRefreshInterval is how often a serving gateway looks for data-key
	// versions added by another process (`aliasgate keys rotate` on
	// PostgreSQL, or another gateway).
	keyRefreshInterval = vault.DefaultKeyRefresh
	// reencryptSettle is how long a PostgreSQL gateway waits before the
	// confirming pass of a re-encryption: other gateways sharing the store
	// may seal with the old version until their next refresh.
	reencryptSettle = 2*keyRefreshInterval + 5*time.Second
)

const keysRotateUsage = `Adds a data-key version: new records are encrypted with it, and the serving
gateway re-encrypts older records in the background (with progress lines,
resuming after a restart; reveals work throughout). Old versions stay, so
every record keeps decrypting.

How it reaches the vault:
  - bbolt, gateway stopped: directly; the gateway re-encrypts when it starts.
  - bbolt, gateway running (the file is locked): through the running
    gateway's admin listener, POST /admin/keys/rotate with admin.token
    (ALIASGATE_ADMIN_TOKEN), at listen.admin or --admin URL.
  - PostgreSQL: directly; running gateways pick the version up within 30 s.
Prints {"version":N,"created":true|false} (false: another process added that
version at the same moment; there is still one key per version). The
rotation is recorded in the audit log.`

const keysStatusUsage = `Prints the data-key versions and the state of the re-encryption as JSON:
directly from the vault (with a count of records by key version), or from
the running gateway's admin listener when a bbolt vault is locked by it.`

func runKeysRotate(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("keys rotate [--config FILE | --data-dir D] [--admin URL]", keysRotateUsage)
	cfgPath := fs.String("config", "", "configuration `file`")
	dataDir := fs.String("data-dir", "", "data `dir`ectory (overrides data_dir)")
	adminURL := fs.String("admin", "", "rotate through a running gateway's admin listener at this `URL` (http://host:port)")
	if err := parseFlags(fs, e, args); err != nil {
		return helpOK(err)
	}
	cfg, err := loadConfig(*cfgPath, *dataDir, e.getenv)
	if err != nil {
		return err
	}
	if *adminURL != "" {
		return adminCall(ctx, e, cfg, *adminURL, http.MethodPost, "/admin/keys/rotate")
	}
	v, err := openExistingVault(ctx, cfg, e.getenv)
	if errors.Is(err, boltstore.ErrLocked) {
		fmt.Fprintln(e.stderr, "the vault is locked by a running gateway: rotating through its admin listener")
		return adminCall(ctx, e, cfg, "", http.MethodPost, "/admin/keys/rotate")
	}
	if err != nil {
		return err
	}
	defer v.store.Close()
	w, err := auditCLI(cfg, v.master)
	if err != nil {
		return err
	}
	if w != nil {
		defer w.Close()
	}
	ver, created, err := v.keys.Rotate(ctx)
	if err != nil {
		return fmt.Errorf("keys rotate: %w", err)
	}
	if err := logCLI(ctx, w, audit.Event{Event: audit.EventKeyRotated, KeyVersion: ver}); err != nil {
		return fmt.Errorf("keys rotate: key version %d was added, but the audit log could not record it: %w", ver, err)
	}
	out, _ := json.Marshal(map[string]any{"version": ver, "created": created})
	if _, err := fmt.Fprintln(e.stdout, string(out)); err != nil {
		return fmt.Errorf("keys rotate: key version %d was added, but its answer could not be written: %w", ver, err)
	}
	fmt.Fprintf(e.stderr, "new records use key version %d; the serving gateway re-encrypts older records in the background\n", ver)
	return nil
}

func runKeysStatus(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("keys status [--config FILE | --data-dir D] [--admin URL]", keysStatusUsage)
	cfgPath := fs.String("config", "", "configuration `file`")
	dataDir := fs.String("data-dir", "", "data `dir`ectory (overrides data_dir)")
	adminURL := fs.String("admin", "", "ask a running gateway's admin listener at this `URL` (http://host:port)")
	if err := parseFlags(fs, e, args); err != nil {
		return helpOK(err)
	}
	cfg, err := loadConfig(*cfgPath, *dataDir, e.getenv)
	if err != nil {
		return err
	}
	if *adminURL != "" {
		return adminCall(ctx, e, cfg, *adminURL, http.MethodGet, "/admin/keys/status")
	}
	v, err := openExistingVault(ctx, cfg, e.getenv)
	if errors.Is(err, boltstore.ErrLocked) {
		return adminCall(ctx, e, cfg, "", http.MethodGet, "/admin/keys/status")
	}
	if err != nil {
		return err
	}
	defer v.store.Close()
	st := admin.KeysStatus{CurrentVersion: v.keys.Current(), Versions: v.keys.Versions(), RecordsByVersion: map[string]uint64{}}
	st.Reencryption.Target = st.CurrentVersion
	if st.Reencryption.Done, err = vault.ReencryptionDone(ctx, v.store, st.CurrentVersion); err != nil {
		return err
	}
	counts, err := vault.RecordsByKeyVersion(ctx, v.store)
	if err != nil {
		return fmt.Errorf("keys status: %w", err)
	}
	for ver, n := range counts {
		st.RecordsByVersion[strconv.FormatUint(uint64(ver), 10)] = n
	}
	out, _ := json.Marshal(st) // one line, as the admin listener answers
	fmt.Fprintln(e.stdout, string(out))
	return nil
}

// adminCall sends an admin request with admin.token to base (default: the
// listen.admin address) and prints the JSON answer.
func adminCall(ctx context.Context, e env, cfg config.Config, base, method, path string) error {
	if cfg.Admin.Token == "" {
		return errors.New("admin.token (ALIASGATE_ADMIN_TOKEN) is not set: the running gateway's admin endpoints need it " +
			"(set the same token for the gateway and this command), or stop the gateway and run this again")
	}
	return adminRequest(ctx, e, cfg, base, method, path, nil)
}

// adminRequest is adminCall with a JSON body (nil: none); the token is
// checked by the caller.
func adminRequest(ctx context.Context, e env, cfg config.Config, base, method, path string, body []byte) error {
	if base == "" {
		host, port, err := net.SplitHostPort(cfg.Listen.Admin)
		if err != nil {
			return fmt.Errorf("listen.admin: %w", err)
		}
		if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
			host = "127.0.0.1"
		}
		base = "http://" + net.JoinHostPort(host, port)
	} else if !strings.Contains(base, "://") {
		// host:port, as listen.admin is written and the gateway logs it.
		base = "http://" + base
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(base, "/")+path, rd)
	if err != nil {
		return fmt.Errorf("admin URL: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+cfg.Admin.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("reach the gateway's admin listener: %w", err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode == http.StatusUnauthorized {
		// The token was sent (the callers check it is set): it is not the
		// gateway's.
		return fmt.Errorf("the gateway answered %s: wrong admin token: admin.token (ALIASGATE_ADMIN_TOKEN) here must be the running gateway's", resp.Status)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the gateway answered %s: %s", resp.Status, bytes.TrimSpace(answer))
	}
	_, err = e.stdout.Write(answer)
	return err
}

// startKeyWorker starts the background key work of a serving gateway
// (vault.KeyWorker): every keyRefreshInterval, or at once after a rotation
// through the admin listener, it loads new data-key versions and
// re-encrypts records still on older ones. The returned function stops it
// and waits.
func (gw *gateway) startKeyWorker(ctx context.Context) (stop func()) {
	settle := time.Duration(0) // bbolt: this gateway is the only writer
	if gw.cfg.Vault.Store != "bolt" {
		settle = reencryptSettle
	}
	kw := vault.NewKeyWorker(gw.persistent, gw.keys, vault.KeyWorkerOptions{Refresh: keyRefreshInterval, Logger: gw.logger,
		OnRestored: func(ctx context.Context, v uint32) {
			_ = gw.auditEvent(ctx, audit.Event{Event: audit.EventKeyRestored, Actor: audit.ActorSystem, KeyVersion: v})
		},
		OnRotated: func(ctx context.Context, v uint32) {
			_ = gw.auditEvent(ctx, audit.Event{Event: audit.EventKeyRotated, Actor: audit.ActorSystem, KeyVersion: v})
		},
		Reencrypt: vault.ReencryptOptions{Settle: settle,
			OnFinish: func(ctx context.Context, v uint32, n uint64) {
				_ = gw.auditEvent(ctx, audit.Event{Event: audit.EventKeysReencrypt, Actor: audit.ActorSystem, KeyVersion: v, Records: n})
			}}})
	gw.keyWorker = kw
	gw.registerKeyMetrics(kw)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		kw.Run(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

func (gw *gateway) registerKeyMetrics(kw *vault.KeyWorker) {
	progress := func(f func(p vault.RekeyProgress) float64) func() float64 {
		return func() float64 {
			p, ok := kw.Progress()
			if !ok {
				return 0
			}
			return f(p)
		}
	}
	gauge := func(name, help string, labels prometheus.Labels, fn func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: labels}, fn)
	}
	const recHelp = "Records the re-encryption to the current key version has looked at (scanned), moved (rekeyed) or left because they do not decrypt (failed), since this process began it."
	for _, c := range []prometheus.Collector{
		gauge("aliasgate_keys_current_version", "Data-key version new records are sealed with.", nil,
			func() float64 { return float64(gw.keys.Current()) }),
		gauge("aliasgate_keys_reencryption_done", "1 when every persistent record uses the current key version.", nil,
			progress(func(p vault.RekeyProgress) float64 { return b2f(p.Done) })),
		gauge("aliasgate_keys_reencryption_records", recHelp, prometheus.Labels{"state": "scanned"},
			progress(func(p vault.RekeyProgress) float64 { return float64(p.Scanned) })),
		gauge("aliasgate_keys_reencryption_records", recHelp, prometheus.Labels{"state": "rekeyed"},
			progress(func(p vault.RekeyProgress) float64 { return float64(p.Rekeyed) })),
		gauge("aliasgate_keys_reencryption_records", recHelp, prometheus.Labels{"state": "failed"},
			progress(func(p vault.RekeyProgress) float64 { return float64(p.Failed) })),
	} {
		registerOnce(gw.metrics.Registry, c)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// auditRotation records a rotation through the admin listener in the audit
// log (admin.Options.Rotated).
func (gw *gateway) auditRotation(ctx context.Context, version uint32) error {
	return gw.auditEvent(ctx, audit.Event{Event: audit.EventKeyRotated, Actor: audit.ActorAdmin, KeyVersion: version})
}
