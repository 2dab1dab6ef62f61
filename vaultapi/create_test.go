package vaultapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vaultapi"
)

// describeCounter counts the Describe calls the API makes.
type describeCounter struct {
	vaultapi.Vault
	mu sync.Mutex
	n  int
}

func (d *describeCounter) Describe(ctx context.Context, aliases []string) ([]vault.Entry, error) {
	d.mu.Lock()
	d.n++
	d.mu.Unlock()
	return d.Vault.Describe(ctx, aliases)
}

func (d *describeCounter) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.n
}

// TestCreateAnswersFromRedactAsAReveal: POST /aliases answers from what
// Redact returns, without a Describe call, and each record it answers is
// byte for byte the one GET /aliases/{alias} answers for the same alias
// (value, classifiers, every alias of the value, created_at, storage).
func TestCreateAnswersFromRedactAsAReveal(t *testing.T) {
	dc := &describeCounter{}
	e := setup(t, func(v vaultapi.Vault) vaultapi.Vault { dc.Vault = v; return dc })
	// create posts body and checks each record answered against GET.
	create := func(body string) []json.RawMessage {
		t.Helper()
		r := e.do(t, "POST", "/aliases", e.both, "application/json", body)
		var doc struct{ Data []json.RawMessage }
		if r.status != 201 || json.Unmarshal(r.body, &doc) != nil {
			t.Fatalf("create %s = %d %s", body, r.status, r.body)
		}
		for i, raw := range doc.Data {
			var rec record
			if err := json.Unmarshal(raw, &rec); err != nil {
				t.Fatal(err)
			}
			r := e.do(t, "GET", "/aliases/"+rec.Aliases[0].Alias, e.reveal, "", "")
			var got struct{ Data []json.RawMessage }
			if r.status != 200 || json.Unmarshal(r.body, &got) != nil || len(got.Data) != 1 {
				t.Fatalf("GET = %d %s", r.status, r.body)
			}
			if !bytes.Equal(raw, got.Data[0]) {
				t.Errorf("record %d: create answered\n%s\nGET answers\n%s", i, raw, got.Data[0])
			}
		}
		return doc.Data
	}
	first := create(`{"data":[{"value":"` + card + `","classifiers":["pan"]},{"value":"123","storage":"VOLATILE"},{"value":"x-1234","format":"GENERIC_T_FOUR"}]}`)
	var rec0 record
	if err := json.Unmarshal(first[0], &rec0); err != nil {
		t.Fatal(err)
	}
	alias := rec0.Aliases[0].Alias
	var rec1 record
	if err := json.Unmarshal(first[1], &rec1); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(2e9) // a later create keeps the record's created_at
	later := create(`{"data":[{"value":"` + card + `","format":"FPE_SIX_T_FOUR"},{"value":"` + card + `","classifiers":["other"]},` +
		`{"alias":"` + alias + `","format":"PFPT"},{"alias":"` + rec1.Aliases[0].Alias + `","format":"RAW_UUID"}]}`)
	if dc.count() != len(first)+len(later) {
		t.Fatalf("%d Describe calls, want only the test's %d GETs", dc.count(), len(first)+len(later))
	}
	// The PFPT item (after the FPE one) lists the UUID and FPE aliases of the value.
	var pfpt record
	if err := json.Unmarshal(later[2], &pfpt); err != nil {
		t.Fatal(err)
	}
	var formats []string
	for _, a := range pfpt.Aliases {
		formats = append(formats, a.Format)
	}
	if strings.Join(formats, ",") != "PFPT,UUID,FPE_SIX_T_FOUR" || pfpt.Classifiers[0] != "pan" || pfpt.Value != card {
		t.Fatalf("PFPT record %+v", pfpt)
	}
}

// A value sent as a JSON number is stored as its text, exactly as sent
// (VGS's own example sends 122105155).
func TestNumberValueIsItsText(t *testing.T) {
	e := setup(t, nil)
	recs := e.create(t, `{"data":[{"value":122105155,"format":"UUID"},{"value":1.50e3},{"value":-0.25,"format":"RAW_UUID"},{"value":4111111111111111,"format":"FPE_SIX_T_FOUR"}]}`)
	for i, want := range []string{"122105155", "1.50e3", "-0.25", card} {
		if recs[i].Value != want {
			t.Errorf("item %d: value %q, want %q", i, recs[i].Value, want)
		}
		r := e.do(t, "GET", "/aliases/"+recs[i].Aliases[0].Alias, e.reveal, "", "")
		var doc struct{ Data []record }
		if r.status != 200 || json.Unmarshal(r.body, &doc) != nil || doc.Data[0].Value != want {
			t.Errorf("item %d: GET %d %s", i, r.status, r.body)
		}
	}
	// The number and the string of the same text are the same value.
	again := e.create(t, `{"data":[{"value":"122105155","format":"UUID"}]}`)
	if again[0].Aliases[0].Alias != recs[0].Aliases[0].Alias {
		t.Error("the string \"122105155\" got another alias than the number 122105155")
	}
}
