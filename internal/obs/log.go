// Package obs is aliasgate's observability plumbing: the slog logger (with a
// card-number scrubber as defence in depth), the Sensitive value type that
// redacts itself wherever it is printed, the Prometheus registry with the
// gateway's metrics, the per-request access log middleware, and
// WatchUnserved for the requests net/http refuses before any handler.
//
// The primary rule is that card data never reaches a logger in the first
// place: vault values travel as [Sensitive] and paths are masked before they
// are logged. The scrubber in [NewLogger] is a second net for mistakes, not a
// licence to log bodies.
//
// The package keeps no globals and registers nothing at init; callers build a
// logger with [NewLogger] and a registry with [NewMetrics] and pass them down.
package obs

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aliasgate/aliasgate/internal/pan"
)

// NewLogger returns a logger writing to w at the given level ("debug",
// "info", "warn" or "error"; empty means "info") in the given format ("json"
// or "text"; empty means "json"). Times are written in RFC 3339 with
// milliseconds (the slog default).
//
// The handler is wrapped in [NewRedactingHandler]: values logged under a
// sensitive key (pan, cvc, value, secret, authorization, token, body, …;
// see IsSensitiveKey) are replaced by "[redacted]" whatever their type.
//
// The handler scrubs card data as defence in depth: its ReplaceAttr replaces
// every card number (13–19 Luhn-valid digits in any spelling [pan.Find]
// knows: plain, in groups, full-width, JSON/percent/HTML-escaped; and a
// number in exponent notation or a fraction whose value is one,
// [pan.FindExponent]'s "4111111111111111000e-3") in the message, in
// attribute keys, in string values (also inside groups), in the text of
// error values and in integer values with its [pan.MaskAll] form (first six
// and last four digits; the first six of a number's mantissa). Duration values are written as Go duration
// strings ("1.5ms") rather than nanosecond integers, which could themselves
// look like card numbers. Finally the writer under the handler masks any
// card-like run left in a finished line, which covers values the handler
// encodes itself (structs, maps, floats) and digit runs formed by escaping
// (a control character escaped as \u0000 next to digits). As a consequence a
// legitimate number that looks like a card number (a Luhn-valid 13-digit
// millisecond timestamp, digits in groups) is masked too.
func NewLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	switch strings.ToLower(level) {
	case "debug":
		lv = slog.LevelDebug
	case "", "info":
		lv = slog.LevelInfo
	case "warn":
		lv = slog.LevelWarn
	case "error":
		lv = slog.LevelError
	default:
		return nil, fmt.Errorf("obs: unknown log level %q (want debug, info, warn or error)", level)
	}
	opts := &slog.HandlerOptions{Level: lv, ReplaceAttr: scrubAttr}
	sw := &scrubWriter{w: w}
	switch strings.ToLower(format) {
	case "", "json":
		h := slog.NewJSONHandler(sw, opts)
		return slog.New(&redactingHandler{next: h, sink: &lineSink{w: sw, level: lv}}), nil
	case "text":
		return slog.New(NewRedactingHandler(slog.NewTextHandler(sw, opts))), nil
	}
	return nil, fmt.Errorf("obs: unknown log format %q (want json or text)", format)
}

// scrubAttr is the ReplaceAttr of NewLogger. slog calls it for every
// non-group attribute, including the built-in message, with LogValuer values
// already resolved.
func scrubAttr(_ []string, a slog.Attr) slog.Attr {
	if mayHoldRun(a.Key) {
		a.Key = pan.MaskAll(a.Key)
	}
	switch a.Value.Kind() {
	case slog.KindString:
		if s := a.Value.String(); mayHoldRun(s) {
			a.Value = slog.StringValue(pan.MaskAll(s))
		}
	case slog.KindInt64:
		if s := strconv.FormatInt(a.Value.Int64(), 10); mayHoldRun(s) {
			a.Value = slog.StringValue(pan.MaskAll(s))
		}
	case slog.KindUint64:
		if s := strconv.FormatUint(a.Value.Uint64(), 10); mayHoldRun(s) {
			a.Value = slog.StringValue(pan.MaskAll(s))
		}
	case slog.KindDuration:
		a.Value = slog.StringValue(a.Value.Duration().String())
	case slog.KindAny:
		if err, ok := a.Value.Any().(error); ok && err != nil {
			a.Value = slog.StringValue(pan.MaskAll(err.Error()))
		}
	}
	return a
}

// mayHoldRun reports whether s holds a card number in any spelling
// package pan reads (pan.ContainsAllString: plain, grouped, full-width,
// escaped, or a number whose value is one), without allocating unless s
// escapes a character of a number; pan.MaskAll is called only then.
func mayHoldRun(s string) bool {
	return pan.ContainsAllString(s)
}

// scrubWriter masks card-like runs in what it writes. slog's built-in
// handlers write each record with a single Write call, so a run never spans
// two calls. pan.MaskAll keeps the length and only turns bytes of digits
// (escaped or not) into '*', which needs no quoting in JSON or logfmt, so the
// line stays well formed.
//
// Access lines (lineSink) are masked where they are built, field by field,
// exactly as this writer would mask the whole line (FuzzAccessLineAgainstSlog),
// so the writer does not read them again. They are not written one by one: they wait in pending
// and go out in one write every accessFlushEvery, when pending holds
// accessFlushSize bytes, before any other line (so the order of lines is
// kept), and at Flush. A killed process loses at most the access lines of
// the last interval; audit lines are a separate file with its own rules.
type scrubWriter struct {
	mu        sync.Mutex // slog's handler and the access lines (lineSink) share the writer
	w         io.Writer
	pending   []byte
	scheduled bool
}

// Access lines are flushed at least this often, or at this size.
const (
	accessFlushEvery = 100 * time.Millisecond
	accessFlushSize  = 32 << 10
)

func (s *scrubWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flushLocked()
	return s.writeLocked(p)
}

func (s *scrubWriter) writeLocked(p []byte) (int, error) {
	out := p
	if pan.ContainsAll(p) {
		out = []byte(pan.MaskAll(string(p)))
	}
	n, err := s.w.Write(out)
	if n > len(p) {
		n = len(p)
	}
	return n, err
}

// appendLine queues one access line.
func (s *scrubWriter) appendLine(line []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending = append(s.pending, line...)
	if len(s.pending) >= accessFlushSize {
		s.flushLocked()
		return
	}
	if !s.scheduled {
		s.scheduled = true
		time.AfterFunc(accessFlushEvery, s.timedFlush)
	}
}

func (s *scrubWriter) timedFlush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scheduled = false
	s.flushLocked()
}

// Flush writes the queued access lines.
func (s *scrubWriter) Flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flushLocked()
}

func (s *scrubWriter) flushLocked() {
	if len(s.pending) == 0 {
		return
	}
	// Access lines are masked as they are built (lineSink), so the
	// writer does not read them again.
	_, _ = s.w.Write(s.pending)
	if cap(s.pending) > 4*accessFlushSize {
		s.pending = nil // a burst's buffer is not kept
		return
	}
	s.pending = s.pending[:0]
}

// Flush writes the access lines a logger of NewLogger still holds (see
// scrubWriter); call it before the process exits. Other loggers: nothing.
func Flush(logger *slog.Logger) {
	if logger == nil {
		return
	}
	if rh, ok := logger.Handler().(*redactingHandler); ok && rh.sink != nil {
		rh.sink.w.Flush()
	}
}

// Sensitive is a string that must never be printed: a vault value (card
// number, CVC, any redacted field) or a secret. Vault values travel as
// Sensitive at the API edges where they may end up in a log line, an error or
// a debug print; code that really needs the value converts it explicitly
// with string(v).
//
// Every way of printing a Sensitive shows "[redacted len=N]" instead of the
// value: slog (LogValue), fmt with any verb (Format, String, GoString) and
// encoding/json (MarshalJSON), so a Sensitive inside a struct that is logged
// or marshalled does not leak either. Only the length is shown.
type Sensitive string

// redacted is the text every printing method returns.
func (s Sensitive) redacted() string {
	return "[redacted len=" + strconv.Itoa(len(s)) + "]"
}

// LogValue implements slog.LogValuer: the value is logged as
// "[redacted len=N]".
func (s Sensitive) LogValue() slog.Value { return slog.StringValue(s.redacted()) }

// String implements fmt.Stringer and returns "[redacted len=N]".
func (s Sensitive) String() string { return s.redacted() }

// GoString implements fmt.GoStringer and returns "[redacted len=N]".
func (s Sensitive) GoString() string { return s.redacted() }

// Format implements fmt.Formatter so that every verb (%s, %v, %+v, %#v, %d,
// %x, …) prints "[redacted len=N]"; %q prints it quoted. Width and flags
// are ignored.
func (s Sensitive) Format(f fmt.State, verb rune) {
	r := s.redacted()
	if verb == 'q' {
		r = strconv.Quote(r)
	}
	_, _ = io.WriteString(f, r)
}

// MarshalJSON implements json.Marshaler and encodes the JSON string
// "[redacted len=N]". A response that must carry the value uses a plain
// string field set with string(v).
func (s Sensitive) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('"')
	b.WriteString(s.redacted())
	b.WriteByte('"')
	return b.Bytes(), nil
}
