package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/vault"
)

// TestVaultLinesAreWhatJSONWrote: the lines a Writer writes for vault
// accesses, whose actor, route, client, account and purpose carry
// characters that need escaping or are not text (quotes, backslashes,
// control bytes, </script>, U+2028, invalid UTF-8, non-ASCII, empty ids),
// are byte for byte json.Marshal of the line as the Writer made it before
// the actor was kept in two parts and the alias hashes as bytes (the actor
// ActorOf's one string, the aliases one string each, the time formatted
// apart); the file verifies as a chain, line count and all.
func TestVaultLinesAreWhatJSONWrote(t *testing.T) {
	k := testKeys(t, 5)
	path := filepath.Join(t.TempDir(), "audit.log")
	now := time.Date(2026, 3, 1, 12, 0, 0, 120000000, time.UTC)
	w, err := Open(path, k, Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{"", "checkout", `q"uote\back`, "ctl\x00\x01\x1f\x7f", "</script><b>&amp;", "line\u2028sep\u2029",
		"bad \xff\xfe utf-8", "split \xe6\x97", "café 日本 🙂", "client:", "route:x"}
	var actors []vault.Actor
	for i, id := range ids {
		actors = append(actors, vault.Actor{Route: id}, vault.Actor{Client: id, Route: ids[(i+1)%len(ids)]},
			vault.Actor{Client: id, Account: ids[(i+2)%len(ids)], Purpose: ids[(i+3)%len(ids)]})
	}
	aliases := [][]string{nil, {"tok_live_a"}, {"4111119876541111", "tok_\x00\"x", "\xff"}}
	var events []vault.AuditEvent
	for i, a := range actors {
		events = append(events, vault.AuditEvent{Op: []string{vault.AuditReveal, vault.AuditDelete}[i%2], Actor: a,
			Aliases: aliases[i%len(aliases)], Found: i % 3, Outcome: vault.OutcomeOK})
	}
	for _, e := range events {
		if err := w.AuditVault(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	res, err := VerifyFile(path, k)
	if err != nil {
		t.Fatalf("VerifyFile: %v", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
	if res.Lines != len(lines) {
		t.Fatalf("VerifyFile verified %d lines of %d", res.Lines, len(lines))
	}
	j := 0
	for _, b := range lines {
		var got line
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("line %s: %v", b, err)
		}
		if got.Event != vault.AuditReveal && got.Event != vault.AuditDelete {
			continue // the Writer's own lines (gateway started, stopped)
		}
		e := events[j]
		j++
		// The line as it was made before: the strings as given (not as
		// read back, which turns invalid UTF-8 into U+FFFD), the actor
		// as ActorOf names it, the alias hashes as strings.
		want := got
		want.Actor, want.Route, want.Client, want.Account, want.Purpose = ActorOf(e.Actor), e.Actor.Route, e.Actor.Client, e.Actor.Account, e.Actor.Purpose
		want.Time, want.Mac, want.Aliases = now.Format(time.RFC3339Nano), "", nil
		for _, a := range e.Aliases {
			want.Aliases = append(want.Aliases, k.AliasHash(a))
		}
		body, err := json.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		i := bytes.LastIndex(b, macMember)
		if gotBody := append(bytes.Clone(b[:i]), '}'); !bytes.Equal(gotBody, body) {
			t.Errorf("actor %+v:\n wrote %s\n  want %s", e.Actor, gotBody, body)
		}
		if got.Mac != k.mac(body) {
			t.Errorf("actor %+v: mac %s, want %s", e.Actor, got.Mac, k.mac(body))
		}
	}
	if j != len(events) {
		t.Fatalf("%d vault lines in the file, want %d", j, len(events))
	}
}
