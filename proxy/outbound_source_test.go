package proxy

import (
	"context"
	"crypto/x509"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/aliasgate/aliasgate/vault"
)

// actorSpy is a vault Admission that records the actor of every call.
type actorSpy struct {
	mu     sync.Mutex
	actors []vault.Actor
}

func (a *actorSpy) Admit(ctx context.Context, _ [][]byte, _ []bool, _ int) error {
	a.mu.Lock()
	a.actors = append(a.actors, vault.ActorFrom(ctx))
	a.mu.Unlock()
	return nil
}

// TestOutboundAnonymousSenderIsItsAddress: without proxy credentials
// (outbound.require_auth off), the vault calls of an outbound route act
// for the sender's address (inside a MITM tunnel, the CONNECT's peer), so
// the per-sender limits tell senders apart; before, every sender of a
// route shared one caller, and one of them could spend or flag the route's
// limits for all (found in review).
func TestOutboundAnonymousSenderIsItsAddress(t *testing.T) {
	psp := newTLSUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"echo":{"pan":"`+testPAN+`"},"status":"authorized"}`)
	})
	spy := &actorSpy{}
	tv := newTestVaultWith(t, vault.Options{Admission: spy})
	g := newOutGateway(t, tv, outOpts{allowPrivate: true, noAuth: true, roots: []*x509.Certificate{psp.Certificate()}})
	panA, cvcA := aliases(t, tv)
	spy.mu.Lock()
	spy.actors = nil
	spy.mu.Unlock()

	resp, body := post(t, g.client(), "https://psp.example.com:"+psp.port()+"/v1/charges", "application/json",
		`{"amount":100,"card":{"number":"`+panA+`","cvc":"`+cvcA+`"}}`)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	spy.mu.Lock()
	defer spy.mu.Unlock()
	if len(spy.actors) == 0 {
		t.Fatal("the response redaction did not reach the vault")
	}
	for _, a := range spy.actors {
		if a.Client != "" || a.Source != "127.0.0.1" || a.Route != "psp" {
			t.Fatalf("actor %+v: want the sender's address as Source, route psp", a)
		}
	}
}
