package vaultapi_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestAliasNeverSpellsOutTheValue: a format that keeps part of the value
// in its alias (the last 4, or the first 6 and the last 4) refuses a
// value so short that the alias would hold all of it, or all but one or
// two characters: GENERIC_T_FOUR of a 4-digit CID or PIN ("1234") made
// tok_sandbox_…_1234, the whole value in a token meant to be shown, and
// ALPHANUMERIC_SIX_T_FOUR of 12 digits kept 10 of them, the case for which
// FPE_SIX_T_FOUR already refused 12-digit values. Such an item is refused
// 400 at /data/<i>/format, nothing created, in either storage; values with
// enough free characters still get their alias.
func TestAliasNeverSpellsOutTheValue(t *testing.T) {
	e := setup(t, nil)
	for _, storage := range []string{"PERSISTENT", "VOLATILE"} {
		for _, c := range []struct{ format, value string }{
			{"GENERIC_T_FOUR", "1234"},
			{"GENERIC_T_FOUR", "98765"},
			{"GENERIC_T_FOUR", "x4321"},
			{"ALPHANUMERIC_SIX_T_FOUR", "411111111111"},
		} {
			body := `{"data":[{"value":"` + c.value + `","format":"` + c.format + `","storage":"` + storage + `"}]}`
			r := e.do(t, "POST", "/aliases", e.writer, "application/json", body)
			var doc errorDoc
			if r.status != 400 || json.Unmarshal(r.body, &doc) != nil || len(doc.Errors) != 1 ||
				doc.Errors[0].Source.Pointer != "/data/0/format" || doc.Errors[0].Code != "invalid_format" {
				t.Errorf("%s %s of %d characters = %d %s, want 400 invalid_format at /data/0/format",
					storage, c.format, len(c.value), r.status, r.body)
			}
			if strings.Contains(string(r.body), c.value[len(c.value)-4:]) {
				t.Errorf("%s %s: the answer holds the value's last 4: %s", storage, c.format, r.body)
			}
		}
		// Enough free characters: still an alias, with the kept ones.
		for _, c := range []struct{ format, value, keep string }{
			{"GENERIC_T_FOUR", "ab1234", "_1234"},
			{"GENERIC_T_FOUR", card, "_1111"},
			{"ALPHANUMERIC_SIX_T_FOUR", "4111111111111", "1111"},
		} {
			r := e.do(t, "POST", "/aliases", e.writer, "application/json",
				`{"data":[{"value":"`+c.value+`","format":"`+c.format+`","storage":"`+storage+`"}]}`)
			var doc struct{ Data []record }
			if r.status != 201 || json.Unmarshal(r.body, &doc) != nil || !strings.HasSuffix(doc.Data[0].Aliases[0].Alias, c.keep) {
				t.Errorf("%s %s of %d characters = %d %s, want 201 with an alias ending %s", storage, c.format, len(c.value), r.status, r.body, c.keep)
			}
		}
	}
}

// TestCreateWithAnInvalidItemStoresNothing (regression cover, passed
// before): a create is all or nothing. A batch with one item the vault
// refuses answers 400 naming that item, and its valid items are not
// stored: the value created afterwards is new (its created_at is the
// later time), in both storages.
func TestCreateWithAnInvalidItemStoresNothing(t *testing.T) {
	e := setup(t, nil)
	r := e.do(t, "POST", "/aliases", e.writer, "application/json",
		`{"data":[{"value":"5555555555554444"},{"value":"x","storage":"VOLATILE"},{"value":"1234","format":"GENERIC_T_FOUR"}]}`)
	var doc errorDoc
	if r.status != 400 || json.Unmarshal(r.body, &doc) != nil || len(doc.Errors) != 1 || doc.Errors[0].Source.Pointer != "/data/2/format" {
		t.Fatalf("mixed batch = %d %s, want 400 at /data/2/format", r.status, r.body)
	}
	before := e.clk.Now()
	e.clk.Advance(time.Hour)
	recs := e.create(t, `{"data":[{"value":"5555555555554444"}]}`)
	if recs[0].CreatedAt == before.UTC().Format(time.RFC3339) {
		t.Fatalf("the valid item of the refused batch was stored: %+v", recs[0])
	}
}
