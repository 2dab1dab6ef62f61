// Package admin serves the gateway's admin listener (listen.admin, local by
// default): GET /healthz (the process is up), GET /readyz (the stores
// answer and take writes, and the audit log when Options.Audit is set),
// GET /metrics, and the data-key endpoints behind admin.token,
// POST /admin/keys/rotate and GET /admin/keys/status, which `aliasgate keys
// rotate` and `keys status` call when a running gateway holds the bbolt
// vault's lock; and, the same way for `aliasgate clients list | revoke |
// rotate-secret`, the client endpoints GET /admin/clients, POST
// /admin/clients/{id}/revoke and POST /admin/clients/{id}/rotate-secret
// (clients.go); POST /admin/tsp/simulate, which raises a network
// lifecycle event from the token service simulator for `aliasgate tsp
// simulate` (tsp.go); and the webhook delivery log, GET
// /admin/webhooks/deliveries[/{id}] and POST
// /admin/webhooks/deliveries/{id}/redeliver (package webhooks' Handler).
//
// The key and client endpoints require "Authorization: Bearer <admin.token>"
// (the scheme in any case), compared in constant time; without a configured
// token they are off and answer 403.
// Wrong tokens are throttled per remote address (package internal/lockout,
// shared with the inspector): past the free failures the address, and only
// it, is locked out with 429, Retry-After and a JSON:API error. The address
// is the TCP peer; forwarding headers are not trusted on this listener.
// Every answer is JSON with Cache-Control: no-store.
//
// cmd/aliasgate serves the mux behind internal/hostguard: a Host that does
// not name the listener gets 421 and a cross-origin state-changing request
// 403 before any of these handlers (DNS rebinding, cross-site posts).
//
// The package holds the HTTP side only: the keys and the re-encryption are
// the vault's (vault.KeyWorker), readiness and metrics are given by the
// caller, and cmd/aliasgate wires them (and may add handlers to the mux it
// gets, such as the inspector's /ui/).
package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/aliasgate/aliasgate/internal/lockout"
	"github.com/aliasgate/aliasgate/vault"
)

// readyTimeout bounds the readiness check of GET /readyz.
const readyTimeout = 2 * time.Second

// Keys is what the key endpoints need of the vault (*vault.KeyWorker).
type Keys interface {
	// Rotate adds a data-key version and starts re-encrypting to it.
	Rotate(ctx context.Context) (version uint32, created bool, err error)
	// Status returns the key versions and the re-encryption's state.
	Status(ctx context.Context) (vault.KeyStatus, error)
}

// Options configures the admin handler.
type Options struct {
	// Token is admin.token; empty turns the key endpoints off (403).
	Token string
	// Ready reports whether the gateway can serve (GET /readyz: 200, or 503
	// "vault unavailable"); it gets a context of 2 s. nil: always ready.
	Ready func(ctx context.Context) bool
	// Audit, when set, reports whether the audit log takes lines (after
	// Ready, within the same 2 s): an error makes GET /readyz 503
	// {"status":"audit log unavailable","reason":<its text>}, so its text
	// must name no path or secret. nil: not checked.
	Audit func(ctx context.Context) error
	// Metrics serves GET /metrics; nil: not served.
	Metrics http.Handler
	// Keys backs the key endpoints; nil: not served.
	Keys Keys
	// Rotated, when set, is called after a rotation through
	// POST /admin/keys/rotate with the new version: it records the rotation
	// in the audit log. When it fails, the answer is 500 with the version
	// (which was added) and an error.
	Rotated func(ctx context.Context, version uint32) error
	// Clients backs the client endpoints; nil: not served.
	Clients Clients
	// TSP backs POST /admin/tsp/simulate (tsp.go); nil: not served.
	TSP TSPSimulator
	// ClientChanged, when set, is called after a client was revoked
	// (change ClientRevoked; not when it already was) or got a new secret
	// (ClientSecretRotated): it records the change in the audit log. When
	// it fails, the answer is 500 and a new secret is not shown.
	ClientChanged func(ctx context.Context, change, clientID string) error
	// Logger gets the rotations and their failures; nil logs nothing.
	Logger *slog.Logger
	// Webhooks serves the webhook delivery log under /admin/webhooks/
	// (webhooks.Outbox.Handler) behind the token; nil: not served.
	Webhooks http.Handler
	// Pprof serves Go's profiles under /debug/pprof/ behind the token
	// (admin.pprof); off by default.
	Pprof bool
	// Lockout throttles wrong tokens per remote address; share it with
	// every other check of admin.token (the inspector). nil: a table of
	// its own with lockout's defaults.
	Lockout *lockout.Table
}

// New returns the admin listener's routes. The caller may add more.
func New(opts Options) *http.ServeMux {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Lockout == nil {
		opts.Lockout = lockout.New(lockout.Options{})
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeStatus(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		if opts.Ready != nil && !opts.Ready(ctx) {
			writeStatus(w, http.StatusServiceUnavailable, "vault unavailable")
			return
		}
		if opts.Audit != nil {
			if err := opts.Audit(ctx); err != nil {
				writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "audit log unavailable", "reason": err.Error()})
				return
			}
		}
		writeStatus(w, http.StatusOK, "ok")
	})
	if opts.Metrics != nil {
		mux.Handle("GET /metrics", opts.Metrics)
	}
	if opts.Keys != nil {
		k := &keysHandler{keys: opts.Keys, rotated: opts.Rotated, log: opts.Logger}
		mux.Handle("POST /admin/keys/rotate", requireToken(opts, http.HandlerFunc(k.rotate)))
		mux.Handle("GET /admin/keys/status", requireToken(opts, http.HandlerFunc(k.status)))
	}
	if opts.Clients != nil {
		c := &clientsHandler{clients: opts.Clients, changed: opts.ClientChanged, log: opts.Logger}
		mux.Handle("GET /admin/clients", requireToken(opts, http.HandlerFunc(c.list)))
		mux.Handle("POST /admin/clients/{id}/revoke", requireToken(opts, http.HandlerFunc(c.revoke)))
		mux.Handle("POST /admin/clients/{id}/rotate-secret", requireToken(opts, http.HandlerFunc(c.rotateSecret)))
	}
	if opts.TSP != nil {
		t := &tspHandler{sim: opts.TSP, log: opts.Logger}
		mux.Handle("POST /admin/tsp/simulate", requireToken(opts, http.HandlerFunc(t.simulate)))
	}
	if opts.Webhooks != nil {
		mux.Handle("/admin/webhooks/", requireToken(opts, opts.Webhooks))
	}
	if opts.Pprof {
		// Behind the token: a profile tells the gateway's code paths and
		// load (never a value: profiles hold stacks and sizes, not memory).
		// No /cmdline: it would answer the process's arguments.
		mux.Handle("GET /debug/pprof/", requireToken(opts, http.HandlerFunc(pprof.Index)))
		mux.Handle("GET /debug/pprof/profile", requireToken(opts, http.HandlerFunc(pprof.Profile)))
		mux.Handle("GET /debug/pprof/symbol", requireToken(opts, http.HandlerFunc(pprof.Symbol)))
		mux.Handle("GET /debug/pprof/trace", requireToken(opts, http.HandlerFunc(pprof.Trace)))
		mux.Handle("GET /debug/pprof/cmdline", http.NotFoundHandler())
	}
	// The inbound listener's mounts, asked of this one (the admin port for
	// the inbound one): say where they are rather than a bare 404. The
	// path is not echoed: an alias or a card number may be in it.
	for _, mount := range []string{"/oauth/token", "/aliases", "/cards"} {
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": mount +
				" is served on the inbound listener (listen.inbound), not on the admin listener"})
		})
		mux.Handle(mount, h)
		mux.Handle(mount+"/", h)
	}
	return mux
}

// requireToken requires "Authorization: Bearer <admin.token>" (the scheme
// in any case), compared in constant time (over SHA-256 digests, so the
// length does not leak either):
// 401 with a Bearer challenge otherwise. Without a token the endpoints are
// off (403). A bearer token is checked through opts.Lockout under the TCP
// peer's address: a locked-out address gets 429 without a comparison.
func requireToken(opts Options, next http.Handler) http.Handler {
	token := opts.Token
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token == "" {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "admin.token is not set: the key and client endpoints are off"})
			return
		}
		// The scheme is case-insensitive (RFC 9110 §11.1), as the APIs
		// and the inspector take it.
		scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		if tok = strings.TrimSpace(tok); !strings.EqualFold(scheme, "Bearer") || tok == "" { // no guess: not counted
			w.Header().Set("WWW-Authenticate", `Bearer realm="aliasgate-admin"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "send Authorization: Bearer <admin.token>"})
			return
		}
		addr := lockout.Key(r.RemoteAddr)
		verdict, wait := opts.Lockout.Try(addr, func() bool {
			got := sha256.Sum256([]byte(tok))
			return subtle.ConstantTimeCompare(got[:], want[:]) == 1
		})
		switch verdict {
		case lockout.LockedOut:
			lockout.WriteLockedOut(w, wait)
			return
		case lockout.Denied:
			if wait > 0 {
				opts.Logger.Warn("admin: address locked out after wrong admin tokens", "remote", r.RemoteAddr, "address", addr, "for", wait.String())
			} else {
				opts.Logger.Warn("admin: wrong admin token", "remote", r.RemoteAddr)
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="aliasgate-admin"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "send Authorization: Bearer <admin.token>"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// keysHandler serves the key endpoints.
type keysHandler struct {
	keys    Keys
	rotated func(ctx context.Context, version uint32) error
	log     *slog.Logger
}

// rotate serves POST /admin/keys/rotate: 200 {"version","created"}, 503
// (with Retry-After) or 500 when the rotation fails (storeFailed), 500
// when the audit log cannot record it.
func (k *keysHandler) rotate(w http.ResponseWriter, r *http.Request) {
	ver, created, err := k.keys.Rotate(r.Context())
	if err != nil {
		k.log.Error("keys: rotation failed", "error", err.Error())
		storeFailed(w, err, "the rotation failed: "+err.Error())
		return
	}
	k.log.Info("keys: data key rotated", "version", ver, "created", created, "by", "admin")
	if k.rotated != nil {
		if err := k.rotated(r.Context(), ver); err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]any{"version": ver, "created": created,
				"error": "the key version was added, but the audit log could not record it"})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"version": ver, "created": created})
}

// status serves GET /admin/keys/status: 200 with a KeysStatus, 503 or 500
// (storeFailed) when the vault cannot tell whether the re-encryption is
// done.
func (k *keysHandler) status(w http.ResponseWriter, r *http.Request) {
	st, err := k.keys.Status(r.Context())
	if err != nil {
		storeFailed(w, err, "the vault cannot tell the key status")
		return
	}
	writeJSON(w, http.StatusOK, StatusOf(st))
}

// KeysStatus is the JSON of GET /admin/keys/status and of `aliasgate keys
// status`.
type KeysStatus struct {
	CurrentVersion uint32   `json:"current_version"`
	Versions       []uint32 `json:"versions"`
	// RecordsByVersion counts records by key version (decimal); only
	// `keys status` on a vault it opened itself fills it.
	RecordsByVersion map[string]uint64  `json:"records_by_version,omitempty"`
	Reencryption     ReencryptionStatus `json:"reencryption"`
}

// ReencryptionStatus is the state of the re-encryption to Target
// (vault.RekeyProgress).
type ReencryptionStatus struct {
	Target  uint32 `json:"target_version"`
	Done    bool   `json:"done"`
	Running bool   `json:"running"`
	Pass    int    `json:"pass,omitempty"`
	Scanned uint64 `json:"scanned"`
	Rekeyed uint64 `json:"rekeyed"`
	Failed  uint64 `json:"failed"`
}

// StatusOf returns the JSON form of a vault's key status.
func StatusOf(st vault.KeyStatus) KeysStatus {
	p := st.Reencryption
	return KeysStatus{CurrentVersion: st.Current, Versions: st.Versions,
		Reencryption: ReencryptionStatus{Target: p.Target, Done: p.Done, Running: p.Running, Pass: p.Pass,
			Scanned: p.Scanned, Rekeyed: p.Rekeyed, Failed: p.Failed}}
}

func writeStatus(w http.ResponseWriter, code int, status string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	fmt.Fprintf(w, "{\"status\":%q}\n", status)
}

// storeFailed answers an error of the vault or a store behind an admin
// endpoint by the one rule of every API (vault.Unavailable): 503 with
// Retry-After when a retry may succeed, 500 when it cannot (a store that
// refuses the gateway, a tampered record, a key version it lacks).
func storeFailed(w http.ResponseWriter, err error, msg string) {
	if vault.Unavailable(err) {
		w.Header().Set("Retry-After", strconv.Itoa(int(vault.UnavailableRetryAfter/time.Second)))
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": msg})
		return
	}
	writeJSON(w, http.StatusInternalServerError, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	b, _ := json.Marshal(v) // maps of strings and numbers, and KeysStatus: cannot fail
	_, _ = w.Write(append(b, '\n'))
}
