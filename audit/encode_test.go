package audit

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/vault"
)

// fillLine sets every field of a line through reflection, so a field added
// to line later is covered too: strings cycle through ss, integers are n
// (its absolute value for unsigned ones), pointers point at n, string
// slices hold ss. zero leaves every field at its zero value but pointers,
// which point at a zero.
func fillLine(t testing.TB, ss []string, n int64, zero bool) line {
	var l line
	v := reflect.ValueOf(&l).Elem()
	k := 0
	next := func() string { s := ss[k%len(ss)]; k++; return s }
	var setScalar func(f reflect.Value)
	setScalar = func(f reflect.Value) {
		switch f.Kind() {
		case reflect.String:
			if !zero {
				f.SetString(next())
			}
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			if !zero && !f.OverflowInt(n) {
				f.SetInt(n)
			}
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			u := uint64(n)
			if n < 0 {
				u = uint64(-n)
			}
			if !zero && !f.OverflowUint(u) {
				f.SetUint(u)
			}
		case reflect.Pointer:
			p := reflect.New(f.Type().Elem())
			setScalar(p.Elem())
			f.Set(p)
		case reflect.Slice:
			if f.Type().Elem().Kind() != reflect.String {
				t.Fatalf("line has a %s field: teach fillLine and appendLine about it", f.Type())
			}
			if !zero {
				f.Set(reflect.ValueOf(append([]string(nil), ss...)))
			}
		default:
			t.Fatalf("line has a %s field: teach fillLine and appendLine about it", f.Type())
		}
	}
	for i := range v.NumField() {
		if v.Type().Field(i).IsExported() { // the others are not in the JSON form
			setScalar(v.Field(i))
		}
	}
	return l
}

// encodingStrings are strings a line's fields could hold, plain and not:
// quotes, backslashes, control characters, the HTML characters
// json.Marshal escapes, U+2028/2029, invalid UTF-8 and other non-ASCII.
var encodingStrings = []string{
	"", "reveal", "route:checkout", "2026-03-01T12:00:00.123456789Z", "Zk3-_p0Q",
	`quote " and back \ slash`, "<script>&amp;</script>", "\x00\b\f\n\r\t\x1f\x7f",
	"line\u2028sep\u2029", "bad \xff\xfe utf-8", "café 日本 🙂", "~ !#$%'()*+,-./:;=?@[]^`{|}",
}

// TestLineEncodingMatchesMarshal: appendLine writes every field of every
// line exactly as json.Marshal does, so lines written before it was
// introduced and after read, chain and verify the same.
func TestLineEncodingMatchesMarshal(t *testing.T) {
	for _, n := range []int64{0, 1, -1, 42, 1 << 40, -1 << 40} {
		for i := range encodingStrings {
			ss := append(append([]string(nil), encodingStrings[i:]...), encodingStrings[:i]...)
			for _, zero := range []bool{false, true} {
				l := fillLine(t, ss, n, zero)
				assertEncodingMatches(t, l)
			}
		}
	}
}

func assertEncodingMatches(t testing.TB, l line) {
	t.Helper()
	want, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	if got := appendLine([]byte("prefix"), &l); !bytes.Equal(got[len("prefix"):], want) {
		t.Fatalf("appendLine(%+v)\n = %s\nwant %s", l, got[len("prefix"):], want)
	}
}

// TestEncodedLineVerifies: a line as the Writer encodes it parses back to
// what was encoded, under its mac.
func TestEncodedLineVerifies(t *testing.T) {
	k := testKeys(t, 3)
	w := &Writer{keys: k}
	now := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
	for i := range encodingStrings {
		ss := append(append([]string(nil), encodingStrings[i:]...), encodingStrings[:i]...)
		l := fillLine(t, ss, 7, false)
		b, mac := w.encode([]byte("x"), &l, 9, "prevmac", now)
		b = b[1:]
		if len(b) == 0 || b[len(b)-1] != '\n' {
			t.Fatalf("encoded line %q does not end with a newline", b)
		}
		got, err := k.parse(b[:len(b)-1])
		if err != nil {
			t.Fatalf("parse(%s): %v", b, err)
		}
		if got.Mac != mac {
			t.Fatalf("parsed mac %q, encode returned %q", got.Mac, mac)
		}
		l.Seq, l.Time, l.Prev, l.Mac = 9, now.Format(time.RFC3339Nano), "prevmac", mac
		want, _ := json.Marshal(l)
		again, _ := json.Marshal(got)
		// Invalid UTF-8 reads back as U+FFFD: compare the JSON forms.
		var wantV, gotV any
		json.Unmarshal(want, &wantV)
		json.Unmarshal(again, &gotV)
		if !reflect.DeepEqual(wantV, gotV) {
			t.Fatalf("parsed line\n %s\nwant %s", again, want)
		}
	}
}

func FuzzLineEncoding(f *testing.F) {
	for i, s := range encodingStrings {
		f.Add(s, encodingStrings[(i+1)%len(encodingStrings)], int64(i)-3)
	}
	f.Fuzz(func(t *testing.T, a, b string, n int64) {
		assertEncodingMatches(t, fillLine(t, []string{a, b}, n, false))
		assertEncodingMatches(t, fillLine(t, []string{b, "", a}, n, false))
		if got, want := appendJoined(nil, a, b), appendString(nil, a+b); !bytes.Equal(got, want) {
			t.Fatalf("appendJoined(%q, %q) = %s, want %s", a, b, got, want)
		}
	})
}

// TestPlainByte: plainByte is true exactly for the bytes json.Marshal
// writes as they are in a string, but DEL (0x7F), which json.Marshal
// writes as it is too and appendString leaves to it, as it always did.
func TestPlainByte(t *testing.T) {
	for c := range 256 {
		q, err := json.Marshal(string([]byte{byte(c)}))
		if err != nil {
			t.Fatal(err)
		}
		if want := string(q) == `"`+string([]byte{byte(c)})+`"` && c != 0x7f; plainByte(byte(c)) != want {
			t.Errorf("plainByte(%#x) = %v, want %v (json.Marshal writes %s)", c, !want, want, q)
		}
	}
}

// TestEncodeWritesTheTimeInPlace: the line encode writes is, byte for
// byte, appendLine of the line with its time as time.RFC3339Nano formats
// it (trailing zeros of the fraction dropped), followed by its mac; and a
// line costs encode one allocation (its mac, kept as the chain head; not
// counted under the race detector: raceEnabled).
func TestEncodeWritesTheTimeInPlace(t *testing.T) {
	k := testKeys(t, 3)
	w := &Writer{keys: k}
	l := line{Event: EventReveal, Actor: "route:checkout", Route: "checkout", Aliases: []string{"Zk3-_p0QZk3-_p0QZk3-_p"}, Outcome: OutcomeOK}
	for _, now := range []time.Time{
		time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
		time.Date(2026, 3, 1, 12, 0, 0, 100_000_000, time.UTC),
		time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC),
		time.Date(2026, 12, 31, 23, 59, 59, 1, time.UTC),
	} {
		want := l
		got, mac := w.encode(nil, &l, 9, "prevmac", now)
		want.Seq, want.Time, want.Prev = 9, now.Format(time.RFC3339Nano), "prevmac"
		body := appendLine(nil, &want)
		if wantMac := k.mac(body); mac != wantMac {
			t.Fatalf("%s: mac %q, want %q", now, mac, wantMac)
		}
		line := append(append(append(body[:len(body)-1:len(body)-1], macMember...), mac...), "\"}\n"...)
		if !bytes.Equal(got, line) {
			t.Fatalf("%s: encode =\n %s\nwant %s", now, got, line)
		}
	}
	buf := make([]byte, 0, 1024)
	now := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
	if n := testing.AllocsPerRun(100, func() { buf, _ = w.encode(buf[:0], &l, 9, "prevmac", now) }); n > 1 && !raceEnabled {
		t.Errorf("encode: %v allocations, want 1", n)
	}
}

// TestAliasHashesEncodeAsAliases: a line holding its alias hashes as
// bytes (aliasHashes, as lineOf makes it) is written byte for byte as the
// line holding them as strings (Aliases), and lineOf makes a reveal's line
// without an allocation (not counted under the race detector).
func TestAliasHashesEncodeAsAliases(t *testing.T) {
	k := testKeys(t, 3)
	for _, aliases := range [][]string{{"tok_live_a"}, {"4111119876541111", "tok_live_b", "123"}} {
		var hs []byte
		var strs []string
		for _, a := range aliases {
			hs = k.appendAliasHash(hs, a)
			strs = append(strs, k.AliasHash(a))
		}
		l := line{Seq: 3, Time: "t", Event: EventReveal, Actor: "route:r", Outcome: OutcomeOK, Prev: "p"}
		withStrings, withBytes := l, l
		withStrings.Aliases, withBytes.aliasHashes = strs, hs
		if a, b := appendLine(nil, &withStrings), appendLine(nil, &withBytes); !bytes.Equal(a, b) {
			t.Fatalf("aliases %q:\n as bytes   %s\n as strings %s", aliases, b, a)
		}
	}
	w := &Writer{keys: k}
	ev := Event{Event: EventReveal, Actor: "route:checkout", Route: "checkout", Aliases: []string{"4111119876541111", "tok_live_b"}, Found: 2}
	w.lineOf(&ev)
	if n := testing.AllocsPerRun(100, func() { w.lineOf(&ev) }); n != 0 && !raceEnabled {
		t.Errorf("lineOf: %v allocations, want 0", n)
	}
}

// TestVaultActorIsWrittenAsActorOf: the line of a vault access names its
// actor as ActorOf does (client, route, neither; an id that needs
// escaping too), and making its Event allocates nothing.
func TestVaultActorIsWrittenAsActorOf(t *testing.T) {
	w := &Writer{keys: testKeys(t, 3)}
	for _, a := range []vault.Actor{
		{Client: "CLTabc", Route: "checkout"}, {Route: "checkout"}, {}, {Route: `odd "route" <id>`}, {Client: "café"},
	} {
		e := vault.AuditEvent{Op: vault.AuditReveal, Actor: a, Aliases: []string{"tok_live_a"}, Found: 1, Outcome: vault.OutcomeOK}
		ev := eventOf(e)
		got := *w.lineOf(&ev)
		got.Seq, got.Time, got.Prev = 1, "t", "p"
		b := appendLine(nil, &got)
		want := got
		want.Actor, want.actorKind = ActorOf(a), ""
		if wb := appendLine(nil, &want); !bytes.Equal(b, wb) {
			t.Errorf("actor %+v:\n got %s\nwant %s", a, b, wb)
		}
	}
	e := vault.AuditEvent{Op: vault.AuditReveal, Actor: vault.Actor{Route: "checkout"}, Aliases: []string{"tok_live_a"}, Found: 1}
	if n := testing.AllocsPerRun(100, func() { _ = eventOf(e) }); n != 0 {
		t.Errorf("eventOf: %v allocations, want 0", n)
	}
}

// checkAppendTime compares appendTime with time.Time.AppendFormat.
func checkAppendTime(t *testing.T, tm time.Time) {
	t.Helper()
	got := string(appendTime([]byte("x"), tm))
	if want := string(tm.AppendFormat([]byte("x"), time.RFC3339Nano)); got != want {
		t.Fatalf("appendTime(%v) = %q, AppendFormat gives %q", tm, got, want)
	}
}

// TestAppendTime: appendTime writes what AppendFormat writes with
// time.RFC3339Nano, for UTC times (every fraction length, no fraction, the
// years' ends) and for times of other zones and years, which it leaves to
// AppendFormat.
func TestAppendTime(t *testing.T) {
	for _, tm := range []time.Time{
		time.Unix(0, 0).UTC(), time.Unix(1765000000, 123456789).UTC(), time.Unix(1765000000, 100).UTC(),
		time.Unix(1765000000, 120000000).UTC(), time.Unix(1765000000, 1).UTC(), time.Unix(1765000000, 999999999).UTC(),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 1, 1, 0, 0, 0, 5, time.UTC),
		time.Date(2026, 12, 7, 18, 0, 0, 500, time.FixedZone("x", 3600)), time.Unix(1765000000, 5).Local(),
		time.Date(2026, 2, 29, 1, 2, 3, 40, time.UTC),
	} {
		checkAppendTime(t, tm)
	}
}

// FuzzAppendTime: appendTime against AppendFormat for any instant, in UTC
// and in a fixed zone.
func FuzzAppendTime(f *testing.F) {
	f.Add(int64(1765000000), int64(123456789), 0)
	f.Add(int64(-62135596800), int64(0), 3600)
	f.Add(int64(253402300799), int64(999999999), -1)
	f.Fuzz(func(t *testing.T, sec, nsec int64, offset int) {
		tm := time.Unix(sec, nsec)
		checkAppendTime(t, tm.UTC())
		checkAppendTime(t, tm.In(time.FixedZone("z", offset%100000)))
	})
}
