package webhooks_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"

	"github.com/aliasgate/aliasgate/vault/boltstore"
	"github.com/aliasgate/aliasgate/webhooks"
)

func boltStore(t *testing.T) *boltstore.Store {
	t.Helper()
	s, err := boltstore.Open(filepath.Join(t.TempDir(), "vault.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func endpoint(id, url string, events ...string) webhooks.Endpoint {
	return webhooks.Endpoint{ID: id, Account: "acct1", URL: url, Secrets: [][]byte{[]byte(secret)}, Events: events}
}

func TestPublish(t *testing.T) {
	s := boltStore(t)
	notified := 0
	o, err := webhooks.New(s, webhooks.Options{Endpoints: []webhooks.Endpoint{endpoint("ep1", "https://hooks.example.com/a", "card.updated"),
		endpoint("ep2", "https://hooks.example.com/b", "card.*", "network_token.deleted")}, Notify: func() { notified++ }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, c := range []struct {
		account, typ string
		want         int
	}{
		{"acct1", "card.updated", 2}, {"acct1", "card.created", 1}, {"acct1", "network_token.deleted", 1},
		{"acct1", "network_token.created", 0}, {"other", "card.updated", 0},
	} {
		before, _ := s.ListDeliveries(ctx, webhooks.Filter{})
		if err := o.Publish(ctx, c.account, c.typ, []byte(`{"card_id":"CRD1"}`)); err != nil {
			t.Fatal(err)
		}
		after, _ := s.ListDeliveries(ctx, webhooks.Filter{})
		if got := len(after) - len(before); got != c.want {
			t.Errorf("%s %s: %d deliveries, want %d", c.account, c.typ, got, c.want)
		}
	}
	if notified != 3 {
		t.Errorf("Notify called %d times, want once per event recorded (3)", notified)
	}
	all, _ := s.ListDeliveries(ctx, webhooks.Filter{})
	first, second := all[len(all)-1], all[len(all)-2] // the card.updated event, oldest
	if first.EventID != second.EventID || first.ID == second.ID || first.Endpoint == second.Endpoint {
		t.Fatalf("the two deliveries of one event: %+v %+v", first, second)
	}
	for _, bad := range []string{``, `[]`, `"x"`, `{"a":`, `null`} {
		if err := o.Publish(ctx, "acct1", "card.updated", []byte(bad)); !errors.Is(err, webhooks.ErrBadEvent) {
			t.Errorf("Publish(%q) = %v", bad, err)
		}
	}
	// A store that cannot write: Publish fails.
	s.Close()
	if err := o.Publish(ctx, "acct1", "card.updated", []byte(`{}`)); err == nil {
		t.Fatal("Publish on a closed store succeeded")
	}
}

func TestNewRefusesBadEndpoints(t *testing.T) {
	good := endpoint("ep1", "https://hooks.example.com/x")
	for name, mod := range map[string]func(*webhooks.Endpoint){
		"http":          func(e *webhooks.Endpoint) { e.URL = "http://hooks.example.com/x" },
		"no scheme":     func(e *webhooks.Endpoint) { e.URL = "hooks.example.com/x" },
		"ftp":           func(e *webhooks.Endpoint) { e.URL = "ftp://hooks.example.com/x" },
		"credentials":   func(e *webhooks.Endpoint) { e.URL = "https://u:p@hooks.example.com/x" },
		"fragment":      func(e *webhooks.Endpoint) { e.URL = "https://hooks.example.com/x#f" },
		"short secret":  func(e *webhooks.Endpoint) { e.Secrets = [][]byte{[]byte("short")} },
		"no secret":     func(e *webhooks.Endpoint) { e.Secrets = nil },
		"no events":     func(e *webhooks.Endpoint) { e.Events = nil },
		"typo event":    func(e *webhooks.Endpoint) { e.Events = []string{"card.create"} },
		"unknown fam":   func(e *webhooks.Endpoint) { e.Events = []string{"cards.*"} },
		"no account":    func(e *webhooks.Endpoint) { e.Account = "" },
		"empty id":      func(e *webhooks.Endpoint) { e.ID = "" },
		"bare wildcard": func(e *webhooks.Endpoint) { e.Events = []string{".*"} },
		// review: a URL no delivery can reach was accepted, then retried
		// for a day.
		"no host name":   func(e *webhooks.Endpoint) { e.URL = "https://:443/x" },
		"port 0":         func(e *webhooks.Endpoint) { e.URL = "https://hooks.example.com:0/x" },
		"port too large": func(e *webhooks.Endpoint) { e.URL = "https://hooks.example.com:65536/x" },
	} {
		ep := good
		mod(&ep)
		if _, err := webhooks.New(boltStore(t), webhooks.Options{Endpoints: []webhooks.Endpoint{ep}}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := webhooks.New(boltStore(t), webhooks.Options{Endpoints: []webhooks.Endpoint{good, good}}); err == nil {
		t.Error("a duplicate id was accepted")
	}
}

func TestPublishEnvelope(t *testing.T) {
	s := boltStore(t)
	o, err := webhooks.New(s, webhooks.Options{Endpoints: []webhooks.Endpoint{endpoint("ep1", "https://hooks.example.com/a", "*")}})
	if err != nil {
		t.Fatal(err)
	}
	data := `{"card_id":"CRD1","last4":"4242","changed_fields":["exp_year"],"source":"account-updater"}`
	if err := o.Publish(context.Background(), "acct1", "card.updated", []byte(" "+data+"\n")); err != nil {
		t.Fatal(err)
	}
	ds, _ := s.ListDeliveries(context.Background(), webhooks.Filter{})
	if len(ds) != 1 {
		t.Fatalf("%d deliveries", len(ds))
	}
	var env map[string]json.RawMessage
	if err := json.Unmarshal(ds[0].Payload, &env); err != nil || len(env) != 5 {
		t.Fatalf("envelope %s: %v", ds[0].Payload, err)
	}
	if string(env["id"]) != `"`+ds[0].EventID+`"` || string(env["type"]) != `"card.updated"` || string(env["account_id"]) != `"acct1"` ||
		string(env["data"]) != data {
		t.Fatalf("envelope %s", ds[0].Payload)
	}
}

func TestMatch(t *testing.T) {
	for _, c := range []struct {
		p, t string
		want bool
	}{
		{"*", "card.created", true}, {"card.*", "card.created", true}, {"card.*", "network_token.created", false},
		{"card.created", "card.created", true}, {"card.created", "card.updated", false}, {"card", "card.created", false},
		{"card.", "card.created", false}, {".*", "card.created", false}, {"network_token.*", "network_token.suspended", true},
	} {
		if got := webhooks.Match(c.p, c.t); got != c.want {
			t.Errorf("Match(%q, %q) = %v", c.p, c.t, got)
		}
	}
	for _, p := range []string{"card.crated", "cards.*", "", "card.created,card.updated"} {
		if err := webhooks.CheckPattern(p); !errors.Is(err, webhooks.ErrBadPattern) {
			t.Errorf("CheckPattern(%q) = %v", p, err)
		}
	}
}
