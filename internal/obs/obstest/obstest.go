// Package obstest helps tests prove that no card number reaches a log. Import
// it from _test.go files only.
//
// [Logger] (or [NewCapture], when the test also wants to read what was
// logged) gives a test a JSON, debug-level *slog.Logger that writes to
// memory with no scrubbing at all, unlike the production logger of package
// obs: whatever the code under test logs is kept raw, so the check is real.
// When the test ends (t.Cleanup) the captured text is scanned with
// [pan.Find], and the test fails, naming the byte offsets and line numbers
// (never the digits), if a card-like run (13–19 digits passing the Luhn
// check) appears. [AssertNoPAN] makes the same check on any other bytes:
// response bodies, error texts, files written to the data dir.
//
// Caveat: the check cannot tell a card number from any other 13–19 digit
// number that happens to pass the Luhn check, which one in ten does: a Unix
// time in nanoseconds (19 digits), or a duration in nanoseconds (13 digits
// from about 17 minutes on). The capture logger therefore writes times in RFC
// 3339 (the slog default) and slog.Duration values as strings ("1.5ms"), and
// code that logs durations should log milliseconds as floats or strings
// (obs.AccessLog writes duration_ms). Do not log raw nanosecond counts or
// other long integers, or tests will fail one time in ten.
package obstest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/aliasgate/aliasgate/internal/pan"
)

// Capture is an in-memory log sink bound to a test. Its Logger writes JSON
// lines into it; it is also an io.Writer, so a test can hand it to any other
// handler (for example obs.NewLogger) and have that output checked as well.
// It is safe for concurrent use.
type Capture struct {
	// Logger writes JSON at debug level into the capture, without
	// scrubbing.
	Logger *slog.Logger

	t   testing.TB
	mu  sync.Mutex
	buf bytes.Buffer
}

// NewCapture returns a Capture whose contents are checked for card-like runs
// when t ends (t.Cleanup): each one fails t with t.Errorf naming its byte
// offsets and line. If t has failed by then, for any reason, the captured
// log is also written to t.Log with card-like runs masked, to help
// debugging. The fake testing.TB a test may pass needs Helper, Cleanup,
// Errorf, Failed and Logf.
func NewCapture(t testing.TB) *Capture {
	t.Helper()
	c := &Capture{t: t}
	c.Logger = slog.New(slog.NewJSONHandler(c, &slog.HandlerOptions{
		Level:       slog.LevelDebug,
		ReplaceAttr: durationsAsStrings,
	}))
	t.Cleanup(c.check)
	return c
}

// Logger returns the Logger of a new Capture for t (see NewCapture), for
// tests that only need the PAN check and never read the log.
func Logger(t testing.TB) *slog.Logger {
	t.Helper()
	return NewCapture(t).Logger
}

// durationsAsStrings writes slog.Duration values as "1.5ms" instead of a
// nanosecond count that could look like a card number. It scrubs nothing.
func durationsAsStrings(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}

// Write appends p to the capture.
func (c *Capture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Write(p)
}

// String returns everything captured so far.
func (c *Capture) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// Bytes returns a copy of everything captured so far.
func (c *Capture) Bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.buf.Bytes())
}

// Lines decodes every captured line as a JSON object (numbers become
// float64, as with encoding/json). A line that is not JSON fails the test
// (t.Errorf) and is skipped.
func (c *Capture) Lines() []map[string]any {
	c.t.Helper()
	var out []map[string]any
	for i, line := range strings.Split(c.String(), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			c.t.Errorf("obstest: log line %d is not a JSON object: %v", i+1, err)
			continue
		}
		out = append(out, m)
	}
	return out
}

// Messages returns the lines whose "msg" is msg, decoded as in Lines.
func (c *Capture) Messages(msg string) []map[string]any {
	c.t.Helper()
	var out []map[string]any
	for _, m := range c.Lines() {
		if m[slog.MessageKey] == msg {
			out = append(out, m)
		}
	}
	return out
}

func (c *Capture) check() {
	c.t.Helper()
	b := c.Bytes()
	AssertNoPAN(c.t, "log output", b)
	if c.t.Failed() && len(b) > 0 {
		c.t.Logf("obstest: captured log (card-like runs masked):\n%s", pan.MaskAll(string(b)))
	}
}

// AssertNoPAN fails t (t.Errorf) when b contains a card-like run, naming
// what, the runs' byte offsets and line numbers, but never their digits,
// or a number whose value is a card number (pan.FindExponent).
func AssertNoPAN(t testing.TB, what string, b []byte) {
	t.Helper()
	runs := pan.Find(b)
	const maxListed = 10
	var where []string
	for i, r := range runs {
		if i == maxListed {
			where = append(where, fmt.Sprintf("and %d more", len(runs)-maxListed))
			break
		}
		line := 1 + bytes.Count(b[:r.Start], []byte("\n"))
		where = append(where, fmt.Sprintf("bytes %d-%d (line %d)", r.Start, r.End, line))
	}
	if len(runs) > 0 {
		t.Errorf("%s holds %d card-like digit run(s) (13-19 digits passing the Luhn check; digits not shown): %s",
			what, len(runs), strings.Join(where, ", "))
	}
	if n := len(pan.FindExponent(b)); n > 0 {
		// A number in exponent notation, or a fraction a parser rounds,
		// whose value is a card number (pan.MaskAll masks them).
		t.Errorf("%s holds %d number(s) whose value is a card number (exponent notation or a rounded fraction; digits not shown)", what, n)
	}
}
