package obs

import (
	"bytes"
	"context"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/pan"
)

var timeField = regexp.MustCompile(`^\{"time":"[^"]*"`)

// slogAccessLine writes l through the slog path of the same logger
// construction (the redacting handler without its sink).
func slogAccessLine(t *testing.T, l *accessLine) []byte {
	t.Helper()
	var buf bytes.Buffer
	logger, err := NewLogger(&buf, "info", "json")
	if err != nil {
		t.Fatal(err)
	}
	rh := logger.Handler().(*redactingHandler)
	plain := slog.New(&redactingHandler{next: rh.next})
	plain.LogAttrs(context.Background(), slog.LevelInfo, "request", l.attrs()...)
	return buf.Bytes()
}

func fastAccessLine(t *testing.T, l *accessLine) []byte {
	t.Helper()
	var buf bytes.Buffer
	logger, err := NewLogger(&buf, "info", "json")
	if err != nil {
		t.Fatal(err)
	}
	logger.Handler().(*redactingHandler).sink.writeAccess(time.Now(), l)
	Flush(logger)
	return buf.Bytes()
}

// TestAccessLineEncoding: the hand-written access line is byte for byte
// the line slog's JSON handler writes for the same attributes (the time
// aside), for ordinary values and for hostile ones: quotes, control bytes,
// invalid UTF-8, U+2028, HTML characters, card numbers in strings and
// integers, large and tiny durations.
func TestAccessLineEncoding(t *testing.T) {
	hostile := []string{"", "-", "checkout", `a"b\c`, "tab\tnew\nline\rcr", "\x00\x01\x1f\x7f", "bs\bff\f", "<script>&amp;",
		"bad\xffutf8\xc3", "line\u2028sep\u2029", "4111111111111111", "4111 1111 1111 1111", "caf\u00e9 \u65e5\u672c",
		"[2001:db8::1]:51234", "127.0.0.1:8080", "\ufffd", "\\u0034"}
	rnd := rand.New(rand.NewPCG(1, 2))
	pick := func() string { return hostile[rnd.IntN(len(hostile))] }
	durs := []time.Duration{0, time.Microsecond, 999 * time.Microsecond, 1234567 * time.Microsecond, 90 * time.Minute, 5 * time.Nanosecond}
	cases := []accessLine{{listener: "inbound", method: "POST", host: "shop.example.com", path: "/checkout/pay", route: "checkout",
		filters: []string{"card-json"}, status: 200, bytes: 11, d: 1500 * time.Microsecond, vault: 300 * time.Microsecond,
		upstream: 900 * time.Microsecond, remote: "127.0.0.1:51234"}}
	for i := 0; i < 500; i++ {
		l := accessLine{listener: pick(), method: pick(), host: pick(), path: pick(), route: pick(), remote: pick(),
			queryLen: rnd.IntN(5000), status: 100 + rnd.IntN(500), bytes: rnd.Int64N(1 << 40),
			d: durs[rnd.IntN(len(durs))], vault: durs[rnd.IntN(len(durs))], upstream: durs[rnd.IntN(len(durs))],
			hijacked: rnd.IntN(2) == 0}
		if rnd.IntN(3) == 0 {
			l.bytes = 4111111111111111 // an integer that reads as a card number
		}
		if rnd.IntN(4) == 0 {
			l.refused = pick() // SetRefused's code (a fixed code; hostile here all the same)
		}
		for n := rnd.IntN(3); n > 0; n-- {
			l.filters = append(l.filters, pick())
		}
		cases = append(cases, l)
	}
	for i := range cases {
		want := timeField.ReplaceAll(slogAccessLine(t, &cases[i]), []byte(`{"time":"T"`))
		got := timeField.ReplaceAll(fastAccessLine(t, &cases[i]), []byte(`{"time":"T"`))
		if !bytes.Equal(got, want) {
			t.Fatalf("case %d:\n got %s\nwant %s", i, got, want)
		}
	}
}

// lockedBuffer is a bytes.Buffer safe for the flush timer's goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestAccessLinesAreQueuedInOrder: access lines go out together within
// accessFlushEvery, or before the next other line (the order of lines is
// kept), or at Flush; the scrubbing writer still masks them.
func TestAccessLinesAreQueuedInOrder(t *testing.T) {
	var out lockedBuffer
	logger, err := NewLogger(&out, "info", "json")
	if err != nil {
		t.Fatal(err)
	}
	h := AccessLog(logger, nil, "inbound", http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	serve := func(path string) {
		req := httptest.NewRequest("GET", "http://x"+path, nil)
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	serve("/one")
	serve("/two")
	logger.Info("other")
	serve("/three")
	got := out.String()
	if i, j := strings.Index(got, `"path":"/two"`), strings.Index(got, `"msg":"other"`); i < 0 || j < i || strings.Contains(got, "/three") {
		t.Fatalf("an other line must follow the access lines queued before it, and /three is not flushed yet:\n%s", got)
	}
	deadline := time.Now().Add(2 * time.Second)
	for !strings.Contains(out.String(), `"path":"/three"`) {
		if time.Now().After(deadline) {
			t.Fatalf("the queued access line was not written within %v:\n%s", accessFlushEvery, out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	serve("/4111111111111111")
	Flush(logger)
	if got := out.String(); !strings.Contains(got, `"path":"/411111******1111"`) || strings.Contains(got, "4111111111111111") {
		t.Fatalf("Flush: %s", got)
	}
}

// FuzzAccessLineAgainstSlog: the hand-written access line, which the
// scrubbing writer does not read again, is byte for byte the line the slog
// path writes (scrubAttr, slog's JSON handler, then the writer's scan of the
// whole line) for every value of every field: no card number the writer
// would mask can appear in it, within a field or across fields.
func FuzzAccessLineAgainstSlog(f *testing.F) {
	f.Add("inbound", "POST", "shop.example", "/checkout", "checkout", "card-in", "", "127.0.0.1:41390", int64(268), int64(19860), int64(540), int64(17484), 200, 0)
	f.Add("4111", "1111", "1111 1111", "1111", "\\u0034111111111111111", "4111111111111111", "5555555555554444", "[2001:db8::1]:4111", int64(4111111111111111), int64(9223372036854775807), int64(1), int64(0), 599, 4111)
	f.Add(`a"4111`, "1111\x011111", "\u2028411111", "1111111\ufffd", "bad\xff4111", "1111\"", "-", "41111111111111", int64(-4111111111111111), int64(4111111111111), int64(4111111111111111), int64(1234567890123), 100, 1<<30)
	f.Add("\x04111111111111111", "GET", "\x04111111111111111.example", "/\u2028111111117", "a\x01111111111112", "\x00\x04111111111111111", "\x04111 1111 1111 1111", "\x04111111111111111", int64(0), int64(0), int64(0), int64(0), 200, 0)
	// Numbers whose mantissa has 6 digits or fewer (4111160000000000):
	// masking kept the first 6 digits, all of them.
	f.Add("411116e10", "57E11", "411116e10.example", "/pay/4.11116E+15", "411116e10", "%34%31%31%31%31%36e10", "411116e10", "57E11", int64(0), int64(0), int64(0), int64(0), 200, 0)
	f.Fuzz(func(t *testing.T, listener, method, host, path, route, filter, refused, remote string, bytes_, d, vault, upstream int64, status, queryLen int) {
		l := accessLine{listener: listener, method: method, host: host, path: path, route: route, refused: refused, remote: remote,
			queryLen: queryLen, status: status, bytes: bytes_,
			d: time.Duration(d), vault: time.Duration(vault), upstream: time.Duration(upstream), hijacked: status%2 == 0}
		if filter != "" {
			l.filters = []string{filter, route}
		}
		want := timeField.ReplaceAll(slogAccessLine(t, &l), []byte(`{"time":"T"`))
		got := timeField.ReplaceAll(fastAccessLine(t, &l), []byte(`{"time":"T"`))
		if !bytes.Equal(got, want) {
			t.Fatalf("\n got %s\nwant %s", got, want)
		}
		// The writer does not read the line again: what it would have
		// written must hold nothing pan reads as a card number either.
		if pan.ContainsAll(got) {
			t.Fatalf("the line holds a card number (%q): %s", pan.MaskAll(string(got)), got)
		}
	})
}

// TestAccessLineTimeHoldsNoCardNumber: the access line's time is written
// without a mask (lineSink.writeAccess), so no RFC 3339 time with
// nanoseconds may read as a card number to the scrubbing writer: not the
// widest digits of each field, not a run of times over years of seconds.
func TestAccessLineTimeHoldsNoCardNumber(t *testing.T) {
	times := []time.Time{
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC),
		time.Date(4111, 11, 11, 11, 11, 11, 111111111, time.UTC),
		time.Date(5555, 5, 5, 5, 5, 55, 555555554, time.UTC),
	}
	rnd := rand.New(rand.NewPCG(3, 4))
	for range 200000 {
		times = append(times, time.Unix(rnd.Int64N(1<<35), rnd.Int64N(1e9)).UTC())
	}
	for _, tm := range times {
		if s := tm.Format(time.RFC3339Nano); pan.ContainsAllString(s) {
			t.Fatalf("the time %s reads as a card number", s)
		}
	}
}

// TestAccessLineEscapesFormNoCardNumber: the JSON encoding of a string
// writes digits of its own (a control byte as \u0004, U+2028 as \u2028),
// which join the digits after them into a card number the string did not
// hold: the path "/%04111111111111111" is "/\x04" and fifteen 1s, no card
// number, and its line "/\u0004111111111111111" shows 4111111111111111 to
// a reader and to pan. The writer does not read access lines again, so
// the line must be masked as it is built; through a real listener, for the
// path (percent-decoded) and for a Host an intercepted tunnel's request may
// carry unchecked.
func TestAccessLineEscapesFormNoCardNumber(t *testing.T) {
	var out lockedBuffer
	logger, err := NewLogger(&out, "info", "json")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(AccessLog(logger, nil, "inbound", http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})))
	defer srv.Close()
	for _, target := range []string{"/%04111111111111111", "/%E2%80%A8111111117", "/a%01111111111112"} {
		resp, err := http.Get(srv.URL + target)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	// The Host of a request read from an intercepted tunnel
	// (http.ReadRequest checks no Host), through the same finish.
	req := httptest.NewRequest("GET", "http://x/", nil)
	req.Host = "\x04111111111111111.example"
	var l Line
	l.Start(logger, nil, "outbound", req)
	l.End(200, 0)
	Flush(logger)
	got := out.String()
	if n := strings.Count(got, "\n"); n != 4 {
		t.Fatalf("want 4 access lines, got %d:\n%s", n, got)
	}
	if pan.ContainsAllString(got) {
		t.Fatalf("an access line holds a card number (%q):\n%s", pan.MaskAll(got), got)
	}
}

// TestAccessLineTimeInAnyZoneHoldsNoCardNumber: the access line's time is
// the request's end in the process's zone (time.Now()), and outside UTC
// its offset joins the seconds and their fraction: "07.123456014+05:45" is
// the 13 digits 0712345601405 to internal/pan ('.' and '+' are
// separators), a Luhn-valid card number in about one line in ten. The
// writer does not read access lines again, so the line must be masked as
// it is built, as the writer's scan masks the time of every other line.
func TestAccessLineTimeInAnyZoneHoldsNoCardNumber(t *testing.T) {
	var out lockedBuffer
	logger, err := NewLogger(&out, "info", "json")
	if err != nil {
		t.Fatal(err)
	}
	sink := logger.Handler().(*redactingHandler).sink
	l := accessLine{listener: "inbound", method: "GET", host: "shop.example", path: "/", route: "-", remote: "127.0.0.1:1"}
	zones := []*time.Location{time.FixedZone("NPT", 5*3600+45*60), time.FixedZone("BRT", -3*3600), time.FixedZone("CET", 3600)}
	n := 0
	for _, loc := range zones {
		for ns := 0; ns < 200; ns++ {
			sink.writeAccess(time.Date(2026, 12, 7, 5, 50, 7, 123456000+ns, loc), &l)
			n++
		}
	}
	Flush(logger)
	got := out.String()
	if c := strings.Count(got, "\n"); c != n {
		t.Fatalf("want %d access lines, got %d", n, c)
	}
	for _, line := range strings.Split(strings.TrimSuffix(got, "\n"), "\n") {
		if pan.ContainsAllString(line) {
			t.Fatalf("an access line's time reads as a card number: %s", line)
		}
	}
}

// TestAccessLineNumberOfFewDigitsIsMasked: a number in exponent notation
// whose mantissa has 6 digits or fewer ("411116e10" is 4111160000000000 to
// a parser and to pan.ContainsAll) was left whole by pan.MaskAll, which
// kept the first 6 digits of a mantissa, and so written in clear in the
// access line; through a real listener, for the path.
func TestAccessLineNumberOfFewDigitsIsMasked(t *testing.T) {
	var out lockedBuffer
	logger, err := NewLogger(&out, "info", "json")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(AccessLog(logger, nil, "inbound", http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})))
	defer srv.Close()
	targets := []string{"/pay/411116e10", "/pay/4.11116E+15", "/n/57E11"}
	for _, target := range targets {
		resp, err := http.Get(srv.URL + target)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	Flush(logger)
	got := out.String()
	if n := strings.Count(got, "\n"); n != len(targets) {
		t.Fatalf("want %d access lines, got %d:\n%s", len(targets), n, got)
	}
	for _, line := range strings.Split(strings.TrimSuffix(got, "\n"), "\n") {
		if pan.ContainsAllString(line) {
			t.Errorf("an access line holds a card number: %s", line)
		}
	}
}
