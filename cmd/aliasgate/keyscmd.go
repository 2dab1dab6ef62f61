package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
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
	keyRefreshInterval = 30 * time.Second
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
	v, err := openVault(ctx, cfg, e.getenv)
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
	fmt.Fprintln(e.stdout, string(out))
	fmt.Fprintf(e.stderr, "new records use key version %d; the serving gateway re-encrypts older records in the background\n", ver)
	return nil
}

// keysStatus is the JSON of `keys status` and GET /admin/keys/status.
type keysStatus struct {
	CurrentVersion   uint32            `json:"current_version"`
	Versions         []uint32          `json:"versions"`
	RecordsByVersion map[string]uint64 `json:"records_by_version,omitempty"`
	Reencryption     reencryptStatus   `json:"reencryption"`
}

type reencryptStatus struct {
	Target  uint32 `json:"target_version"`
	Done    bool   `json:"done"`
	Running bool   `json:"running"`
	Pass    int    `json:"pass,omitempty"`
	Scanned uint64 `json:"scanned"`
	Rekeyed uint64 `json:"rekeyed"`
	Failed  uint64 `json:"failed"`
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
	v, err := openVault(ctx, cfg, e.getenv)
	if errors.Is(err, boltstore.ErrLocked) {
		return adminCall(ctx, e, cfg, "", http.MethodGet, "/admin/keys/status")
	}
	if err != nil {
		return err
	}
	defer v.store.Close()
	st := keysStatus{CurrentVersion: v.keys.Current(), Versions: v.keys.Versions(), RecordsByVersion: map[string]uint64{}}
	st.Reencryption.Target = st.CurrentVersion
	if st.Reencryption.Done, err = vault.ReencryptionDone(ctx, v.store, st.CurrentVersion); err != nil {
		return err
	}
	for after := ""; ; {
		page, err := v.store.ScanRecords(ctx, after, 1000)
		if err != nil {
			return fmt.Errorf("keys status: %w", err)
		}
		for _, r := range page {
			st.RecordsByVersion[strconv.FormatUint(uint64(r.KeyVersion), 10)]++
		}
		if len(page) < 1000 {
			break
		}
		after = page[len(page)-1].Alias
	}
	out, _ := json.MarshalIndent(st, "", "  ")
	fmt.Fprintln(e.stdout, string(out))
	return nil
}

// adminCall sends an admin request with admin.token to base (default: the
// listen.admin address) and prints the JSON answer.
func adminCall(ctx context.Context, e env, cfg config.Config, base, method, path string) error {
	if cfg.Admin.Token == "" {
		return errors.New("admin.token (ALIASGATE_ADMIN_TOKEN) is not set: the running gateway's key endpoints need it " +
			"(set the same token for the gateway and this command), or stop the gateway and run this again")
	}
	if base == "" {
		host, port, err := net.SplitHostPort(cfg.Listen.Admin)
		if err != nil {
			return fmt.Errorf("listen.admin: %w", err)
		}
		if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
			host = "127.0.0.1"
		}
		base = "http://" + net.JoinHostPort(host, port)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(base, "/")+path, nil)
	if err != nil {
		return fmt.Errorf("admin URL: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+cfg.Admin.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("reach the gateway's admin listener: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the gateway answered %s: %s", resp.Status, bytes.TrimSpace(body))
	}
	_, err = e.stdout.Write(body)
	return err
}

// keyWorker refreshes the gateway's keyring and runs the re-encryption.
type keyWorker struct {
	rekey *vault.Reencryptor // nil when the store cannot re-encrypt
	kick  chan struct{}
}

// startKeyWorker starts the background key work of a serving gateway:
// every keyRefreshInterval (or at once after a rotation through the admin
// listener) it loads new data-key versions and re-encrypts records still
// on older ones. The returned function stops it and waits.
func (gw *gateway) startKeyWorker(ctx context.Context) (stop func()) {
	kw := &keyWorker{kick: make(chan struct{}, 1)}
	gw.keyWorker = kw
	settle := time.Duration(0) // bbolt: this gateway is the only writer
	if gw.cfg.Vault.Store != "bolt" {
		settle = reencryptSettle
	}
	r, err := vault.NewReencryptor(gw.persistent, gw.keys, vault.ReencryptOptions{Logger: gw.logger, Settle: settle,
		OnFinish: func(ctx context.Context, v uint32, n uint64) {
			_ = gw.auditEvent(ctx, audit.Event{Event: audit.EventKeysReencrypt, Actor: audit.ActorSystem, KeyVersion: v, Records: n})
		}})
	if err != nil {
		gw.logger.Warn("keys: records of this store are not re-encrypted after a rotation", "error", err.Error())
	}
	kw.rekey = r
	gw.registerKeyMetrics(kw)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(keyRefreshInterval)
		defer t.Stop()
		for {
			if kw.rekey != nil {
				if err := kw.rekey.Run(ctx); err != nil && ctx.Err() == nil {
					gw.logger.Warn("keys: re-encryption paused; it resumes from its checkpoint", "error", err.Error(), "retry_in", keyRefreshInterval.String())
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			case <-kw.kick:
			}
			before := gw.keys.Current()
			if v, err := gw.keys.Refresh(ctx); err != nil {
				if ctx.Err() == nil {
					gw.logger.Warn("keys: could not look for new data-key versions", "error", err.Error())
				}
			} else if v != before {
				gw.logger.Info("keys: new data-key version in use", "version", v)
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

func (gw *gateway) registerKeyMetrics(kw *keyWorker) {
	progress := func(f func(p vault.RekeyProgress) float64) func() float64 {
		return func() float64 {
			if kw.rekey == nil {
				return 0
			}
			return f(kw.rekey.Progress())
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

// mountKeysAdmin adds the key endpoints to the admin listener, behind
// admin.token: POST /admin/keys/rotate and GET /admin/keys/status.
func (gw *gateway) mountKeysAdmin(mux *http.ServeMux) {
	mux.Handle("POST /admin/keys/rotate", gw.adminToken(http.HandlerFunc(gw.handleKeysRotate)))
	mux.Handle("GET /admin/keys/status", gw.adminToken(http.HandlerFunc(gw.handleKeysStatus)))
}

// adminToken requires "Authorization: Bearer <admin.token>", compared in
// constant time (over SHA-256 digests, so the length does not leak either).
// Without admin.token the endpoints are off (403).
func (gw *gateway) adminToken(next http.Handler) http.Handler {
	want := sha256.Sum256([]byte(gw.cfg.Admin.Token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if gw.cfg.Admin.Token == "" {
			writeAdminJSON(w, http.StatusForbidden, map[string]string{"error": "admin.token is not set: the key endpoints are off"})
			return
		}
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		got := sha256.Sum256([]byte(strings.TrimSpace(tok)))
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 || !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="aliasgate-admin"`)
			writeAdminJSON(w, http.StatusUnauthorized, map[string]string{"error": "send Authorization: Bearer <admin.token>"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (gw *gateway) handleKeysRotate(w http.ResponseWriter, r *http.Request) {
	ver, created, err := gw.keys.Rotate(r.Context())
	if err != nil {
		gw.logger.Error("keys: rotation failed", "error", err.Error())
		writeAdminJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "the rotation failed: " + err.Error()})
		return
	}
	gw.logger.Info("keys: data key rotated", "version", ver, "created", created, "by", "admin")
	if gw.keyWorker != nil {
		select {
		case gw.keyWorker.kick <- struct{}{}:
		default:
		}
	}
	if err := gw.auditEvent(r.Context(), audit.Event{Event: audit.EventKeyRotated, Actor: audit.ActorAdmin, KeyVersion: ver}); err != nil {
		writeAdminJSON(w, http.StatusInternalServerError, map[string]any{"version": ver, "created": created,
			"error": "the key version was added, but the audit log could not record it"})
		return
	}
	writeAdminJSON(w, http.StatusOK, map[string]any{"version": ver, "created": created})
}

func (gw *gateway) handleKeysStatus(w http.ResponseWriter, r *http.Request) {
	st := keysStatus{CurrentVersion: gw.keys.Current(), Versions: gw.keys.Versions()}
	st.Reencryption.Target = st.CurrentVersion
	if gw.keyWorker != nil && gw.keyWorker.rekey != nil {
		if p := gw.keyWorker.rekey.Progress(); p.Target == st.CurrentVersion {
			st.Reencryption = reencryptStatus{Target: p.Target, Done: p.Done, Running: p.Running, Pass: p.Pass,
				Scanned: p.Scanned, Rekeyed: p.Rekeyed, Failed: p.Failed}
		}
	}
	if !st.Reencryption.Done {
		done, err := vault.ReencryptionDone(r.Context(), gw.persistent, st.CurrentVersion)
		if err != nil {
			writeAdminJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "the vault is unavailable"})
			return
		}
		st.Reencryption.Done = done
	}
	writeAdminJSON(w, http.StatusOK, st)
}

func writeAdminJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	b, _ := json.Marshal(v)
	w.Write(append(b, '\n'))
}
