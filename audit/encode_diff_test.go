package audit

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/vault"
)

// The differential tests of the writer's line encoding against the
// encoder it had before its hot path was cut (oldencode_test.go): every
// line, its mac and so its chain, byte for byte.

// diffEvents are events of every kind the Writer writes, with every field
// set by some, and strings that need escaping.
func diffEvents() []Event {
	many := make([]string, maxAliasHashes+3)
	for i := range many {
		many[i] = "tok_" + strings.Repeat("x", i%40)
	}
	reveal := func(a vault.Actor, purpose string, aliases []string, found int, outcome string) Event {
		a.Account, a.Purpose = "acct_1", purpose
		return eventOf(vault.AuditEvent{Op: vault.AuditReveal, Actor: a, Aliases: aliases, Found: found, Outcome: outcome})
	}
	return []Event{
		reveal(vault.Actor{Client: "CLTabc", Route: "psp"}, "", []string{fpeAlias, uuidAlias}, 2, vault.OutcomeOK),
		reveal(vault.Actor{Route: "outbound"}, "", []string{fpeAlias, uuidAlias}, 2, vault.OutcomeOK),
		reveal(vault.Actor{}, "create", []string{fpeAlias}, 0, vault.OutcomeNotFound),
		reveal(vault.Actor{Route: `odd "route" <id> & \ é`}, "leak_guard", []string{"a\x00b", "\xff"}, 1, vault.OutcomeRefused),
		reveal(vault.Actor{Client: "café\u2028"}, "", many, 7, vault.OutcomeOK),
		{Event: EventReveal, Actor: "route:checkout", Route: "checkout", Aliases: []string{fpeAlias, uuidAlias}, Found: 2},
		{Event: EventReveal, Actor: ActorAdmin, Purpose: "leak_guard", Aliases: many, Found: 3, CountOnly: true},
		{Event: EventDelete, Actor: ActorCLI, Aliases: []string{uuidAlias}, Found: 1, Outcome: OutcomeError},
		{Event: EventUpdate, Aliases: []string{fpeAlias}, Found: 0, Outcome: OutcomeNotFound},
		{Event: EventRoutesReloaded, Actor: ActorSystem, Routes: 12},
		{Event: EventRoutesReloaded, Actor: ActorAdmin, Reason: "inspector", Routes: 3, Outcome: OutcomeOK},
		{Event: EventRoutesReloaded, Actor: ActorSystem, Routes: 5, Outcome: OutcomeError},
		{Event: EventKeysReencrypt, Actor: ActorCLI, KeyVersion: 4, Records: 1 << 40},
		{Event: EventKeyRotated, Actor: ActorSystem, KeyVersion: 1<<32 - 1},
		{Event: EventAbuseAlert, Actor: "source:10.0.0.1", Reason: "enumeration", Outcome: OutcomeInvalid},
		{Event: EventClientCreated, Actor: ActorCLI, Client: "CLT\"q\"", Account: "<acct>"},
		{Event: "", Actor: "", Outcome: ""},
		{Event: "reveal\n", Actor: "\x7f", Route: strings.Repeat("r", 300), Aliases: []string{"x"}, Found: -1},
	}
}

// diffTimes are clock readings in UTC: days and years apart, back and
// forth, fractions of every length, and years appendTime leaves to
// AppendFormat.
func diffTimes() []time.Time {
	base := time.Date(2026, 12, 7, 23, 59, 59, 999999999, time.UTC)
	return []time.Time{
		base, base.Add(time.Nanosecond), base.Add(2 * time.Second), base.Add(-24 * time.Hour), base.Add(100),
		time.Unix(0, 0).UTC(), time.Unix(-1, 0).UTC(), time.Unix(-86400, 1).UTC(), time.Unix(-86401, 120000000).UTC(),
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 1, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 12, 31, 23, 0, 0, 5, time.UTC),
		time.Date(2024, 2, 29, 12, 30, 45, 500, time.UTC), time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC),
	}
}

// assertSameLines encodes ev at each time through w (the Writer's lineOf
// and encode) and through the old encoder, chaining both from prev, and
// fails where their bytes or macs differ.
func assertSameLines(t testing.TB, w *Writer, old *oldWriter, evs []Event, times []time.Time, seq uint64, prev string) {
	t.Helper()
	var got, want []byte
	gotMac, wantMac := prev, prev
	for i, now := range times {
		ev := evs[i%len(evs)]
		old.hashes = nil // what the Writer's line points into is not the old one's
		got, gotMac = w.encode(got[:0], w.lineOf(&ev), seq+uint64(i), gotMac, now)
		want, wantMac = old.encode(want[:0], old.lineOf(ev), seq+uint64(i), wantMac, now)
		if !bytes.Equal(got, want) || gotMac != wantMac {
			t.Fatalf("event %+v at %v:\n got %s (mac %s)\nwant %s (mac %s)", ev, now, got, gotMac, want, wantMac)
		}
	}
}

// TestLinesAgainstOldEncoder: every event at every time is written byte
// for byte as before, one Writer keeping its date and states from line to
// line.
func TestLinesAgainstOldEncoder(t *testing.T) {
	k := testKeys(t, 5)
	w, old := &Writer{keys: k}, &oldWriter{keys: k}
	evs, times := diffEvents(), diffTimes()
	for i := range evs {
		rotated := append(append([]Event(nil), evs[i:]...), evs[:i]...)
		assertSameLines(t, w, old, rotated, times, uint64(i*100+1), genesis)
	}
	// The lines the Writer makes itself (resync, rotate), every field set.
	for i := range encodingStrings {
		ss := append(append([]string(nil), encodingStrings[i:]...), encodingStrings[:i]...)
		l := fillLine(t, ss, int64(i)*7-3, false)
		ol := l
		now := times[i%len(times)]
		got, gotMac := w.encode(nil, &l, 9, "prev", now)
		want, wantMac := old.encode(nil, ol, 9, "prev", now)
		if !bytes.Equal(got, want) || gotMac != wantMac {
			t.Fatalf("line %+v:\n got %s\nwant %s", ol, got, want)
		}
	}
}

// FuzzLinesAgainstOldEncoder: an event of any fields, at any time and
// then at a second one (the kept date), is written byte for byte as the
// old encoder wrote it.
func FuzzLinesAgainstOldEncoder(f *testing.F) {
	f.Add(0, "route:checkout", "checkout", "", "acct", "", fpeAlias, uuidAlias, 2, false, uint32(0), uint64(0), 0, "", "", int64(1765000000), int64(123456789), int64(5))
	f.Add(1, "", "psp", "CLTabc", "", "create", "x", "", 0, true, uint32(3), uint64(9), 4, "inspector", "refused", int64(-62135596800), int64(0), int64(86400))
	f.Add(7, `"<&>\`, "é\u2028", "\x00", "\xff", "~", "", "", -5, false, uint32(1), uint64(1<<63), -1, "\n", "ok", int64(253402300799), int64(999999999), int64(-1))
	events := []string{EventReveal, EventDelete, EventUpdate, EventRoutesReloaded, EventKeysReencrypt, EventKeyRotated, EventAbuseAlert, EventClientCreated}
	f.Fuzz(func(t *testing.T, kind int, actor, route, client, account, purpose, a1, a2 string, found int, countOnly bool,
		keyVersion uint32, records uint64, routes int, reason, outcome string, sec, nsec, step int64) {
		name := actor // an event name of no kind, when kind is none of them
		if kind >= 0 {
			name = events[kind%len(events)]
		}
		var aliases []string
		if a1 != "" || a2 != "" {
			aliases = []string{a1, a2}
		}
		ev := Event{Event: name, Actor: actor, Route: route, Client: client, Account: account, Purpose: purpose, Aliases: aliases,
			Found: found, CountOnly: countOnly, KeyVersion: keyVersion, Records: records, Routes: routes, Reason: reason, Outcome: outcome}
		vev := eventOf(vault.AuditEvent{Op: name, Actor: vault.Actor{Client: client, Route: route, Account: account, Purpose: purpose},
			Aliases: aliases, Found: found, Outcome: outcome})
		t0 := time.Unix(sec, nsec).UTC()
		k := testKeys(t, 5)
		assertSameLines(t, &Writer{keys: k}, &oldWriter{keys: k}, []Event{ev, vev}, []time.Time{t0, t0.Add(time.Duration(step)), t0}, 1, genesis)
		if got, want := plainString(actor+route), oldPlainString(actor+route); got != want {
			t.Fatalf("plainString(%q) = %v, want %v", actor+route, got, want)
		}
	})
}

// FuzzPlainString: plainString, eight bytes at a time, against the byte
// loop it replaced, on any string and each of its suffixes (every
// alignment of the words and the tail).
func FuzzPlainString(f *testing.F) {
	for _, s := range encodingStrings {
		f.Add(s)
	}
	f.Add("Zk3-_p0QZk3-_p0QZk3-_p0QZk3-_p0QZk3-_p0QZk3")
	f.Add("abcdefgh\x7f")
	f.Fuzz(func(t *testing.T, s string) {
		for i := range len(s) + 1 {
			if got, want := plainString(s[i:]), oldPlainString(s[i:]); got != want {
				t.Fatalf("plainString(%q) = %v, want %v", s[i:], got, want)
			}
		}
	})
}

// TestPlainWord: plainWord of eight bytes holds exactly when plainByte
// holds for each, for every byte value in every position, among plain
// bytes and beside another byte that is not plain.
func TestPlainWord(t *testing.T) {
	for c := range 256 {
		for pos := range 8 {
			for _, fill := range []byte{'a', '~', ' ', '"', 0x80, 0xff, 0x00, 0x7f} {
				b := bytes.Repeat([]byte{fill}, 8)
				b[pos] = byte(c)
				want := true
				for _, x := range b {
					want = want && oldPlainByte(x)
				}
				if got := plainString(string(b)); got != want {
					t.Fatalf("plainString(%q) = %v, want %v", b, got, want)
				}
			}
		}
	}
}

// TestWriterFileAgainstOldEncoder: the file a Writer writes (one line a
// Log, a clock that moves across days) is byte for byte the old encoder's
// chain of the same events at the same times, and Verify accepts it.
func TestWriterFileAgainstOldEncoder(t *testing.T) {
	k := testKeys(t, 6)
	path := filepath.Join(t.TempDir(), "audit.log")
	times := diffTimes()[:5] // years appendTime writes itself; the clock goes back once
	var read []time.Time
	clock := func() time.Time {
		now := times[len(read)%len(times)].Add(time.Duration(len(read)) * time.Hour)
		read = append(read, now)
		return now
	}
	w, err := Open(path, k, Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	old := &oldWriter{keys: k}
	var want []byte
	mac := genesis
	for i, ev := range append(diffEvents(), diffEvents()...) {
		if err := w.Log(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
		now := read[len(read)-1].UTC() // the reading of this line's append
		want, mac = old.encode(want, old.lineOf(ev), uint64(i+1), mac, now)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("the Writer's file differs from the old encoder's:\n got %s\nwant %s", got, want)
	}
	res, err := VerifyFile(path, k)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if res.Lines != 2*len(diffEvents()) {
		t.Fatalf("verify: %d lines, want %d", res.Lines, 2*len(diffEvents()))
	}
}
