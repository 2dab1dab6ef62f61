package admin

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"
)

// Changes passed to Options.ClientChanged.
const (
	ClientRevoked       = "revoked"
	ClientSecretRotated = "secret_rotated"
)

// Errors a Clients implementation wraps so that the endpoints answer 404
// and 409; any other error is 503.
var (
	ErrNoClient      = errors.New("admin: no such client")
	ErrClientRevoked = errors.New("admin: the client is revoked")
)

// ClientInfo is an API or outbound client as GET /admin/clients and
// `aliasgate clients list` show it. It never holds a secret or its hash.
type ClientInfo struct {
	ID              string     `json:"client_id"`
	Name            string     `json:"name"`
	Account         string     `json:"account"`
	Scopes          []string   `json:"scopes"`
	PCI             bool       `json:"pci"`
	Outbound        bool       `json:"outbound"`
	CreatedAt       time.Time  `json:"created_at"`
	RevokedAt       *time.Time `json:"revoked_at,omitempty"`
	SecretRotatedAt *time.Time `json:"secret_rotated_at,omitempty"`
}

// ClientList is the JSON of GET /admin/clients and `clients list`.
type ClientList struct {
	Clients []ClientInfo `json:"clients"`
}

// Revoked is the JSON of POST /admin/clients/{id}/revoke and `clients
// revoke`: AlreadyRevoked when an earlier revocation did it (RevokedAt is
// that one's time).
type Revoked struct {
	ID             string    `json:"client_id"`
	RevokedAt      time.Time `json:"revoked_at"`
	AlreadyRevoked bool      `json:"already_revoked"`
}

// NewSecret is the JSON of POST /admin/clients/{id}/rotate-secret and
// `clients rotate-secret`, the shape `clients create` prints.
type NewSecret struct {
	ID     string `json:"client_id"`
	Secret string `json:"client_secret"`
}

// Clients is what the client endpoints need (auth.Service, adapted by
// cmd/aliasgate: this package does not import auth).
type Clients interface {
	// List returns every client, revoked ones included, in id order.
	List(ctx context.Context) ([]ClientInfo, error)
	// Revoke revokes a client; changed is false when it already was.
	Revoke(ctx context.Context, id string) (c ClientInfo, changed bool, err error)
	// RotateSecret gives a client a new secret and returns it.
	RotateSecret(ctx context.Context, id string) (c ClientInfo, secret string, err error)
}

// clientsHandler serves the client endpoints.
type clientsHandler struct {
	clients Clients
	changed func(ctx context.Context, change, clientID string) error
	log     *slog.Logger
}

// failed answers a Clients error: 404, 409, or 503 or 500 (storeFailed).
func (c *clientsHandler) failed(w http.ResponseWriter, what string, err error) {
	switch {
	case errors.Is(err, ErrNoClient):
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no client has this id"})
	case errors.Is(err, ErrClientRevoked):
		writeJSON(w, http.StatusConflict, map[string]string{"error": "the client is revoked: revocation is final, create a new client"})
	default:
		c.log.Error("admin: "+what+" failed", "error", err.Error())
		storeFailed(w, err, what+" failed: the client store could not answer")
	}
}

// list serves GET /admin/clients: 200 with a ClientList.
func (c *clientsHandler) list(w http.ResponseWriter, r *http.Request) {
	list, err := c.clients.List(r.Context())
	if err != nil {
		c.failed(w, "listing clients", err)
		return
	}
	if list == nil {
		list = []ClientInfo{}
	}
	writeJSON(w, http.StatusOK, ClientList{Clients: list})
}

// revoke serves POST /admin/clients/{id}/revoke: 200 with a Revoked (also
// when the client already was: idempotent), 404, 503; 500 when the audit
// log could not record the revocation (which holds).
func (c *clientsHandler) revoke(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	info, changed, err := c.clients.Revoke(r.Context(), id)
	if err != nil {
		c.failed(w, "revoking the client", err)
		return
	}
	out := Revoked{ID: info.ID, AlreadyRevoked: !changed}
	if info.RevokedAt != nil {
		out.RevokedAt = *info.RevokedAt
	}
	if changed {
		c.log.Info("admin: client revoked", "client_id", info.ID, "by", "admin")
		if c.changed != nil {
			if err := c.changed(r.Context(), ClientRevoked, info.ID); err != nil {
				writeJSON(w, http.StatusInternalServerError, map[string]any{"client_id": info.ID, "revoked_at": out.RevokedAt,
					"error": "the client is revoked, but the audit log could not record it"})
				return
			}
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// rotateSecret serves POST /admin/clients/{id}/rotate-secret: 200 with a
// NewSecret (shown this once), 404, 409 for a revoked client, 503; 500
// without the secret when the audit log could not record the rotation
// (the old secret is refused all the same: rotate again once the log
// works).
func (c *clientsHandler) rotateSecret(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	info, secret, err := c.clients.RotateSecret(r.Context(), id)
	if err != nil {
		c.failed(w, "rotating the secret", err)
		return
	}
	c.log.Info("admin: client secret rotated", "client_id", info.ID, "by", "admin")
	if c.changed != nil {
		if err := c.changed(r.Context(), ClientSecretRotated, info.ID); err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"client_id": info.ID,
				"error": "the secret was rotated, but the audit log could not record it, so the new secret is not shown: rotate again once the log works"})
			return
		}
	}
	writeJSON(w, http.StatusOK, NewSecret{ID: info.ID, Secret: secret})
}
