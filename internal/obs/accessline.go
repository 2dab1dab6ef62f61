package obs

import (
	"log/slog"
	"math"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/aliasgate/aliasgate/internal/pan"
)

// lineSink writes access lines of the process logger (NewLogger, JSON
// format) without slog: one line per request is most of what the gateway
// logs, and slog's general path (attribute values, ReplaceAttr, the
// redacting handler, encoding/json for every float) cost about as much CPU
// as a forwarded request, and so did a write(2) per line: lines are queued
// and written together (scrubWriter). The line is byte for byte what the slog path
// writes (TestAccessLineEncoding): the same keys in the same order, the
// same escaping, card numbers masked in every string as scrubAttr masks
// them (and again as encoded where escaping changed it) and in its other
// parts as the scrubbing writer's scan of the line would (maskNumbers), so
// that writer queues it without reading it again
// (FuzzAccessLineAgainstSlog).
type lineSink struct {
	w     *scrubWriter // queues the line (written at most accessFlushEvery later)
	level slog.Leveler
	pool  sync.Pool // *[]byte
}

func (s *lineSink) writeAccess(t time.Time, l *accessLine) {
	if s.level.Level() > slog.LevelInfo {
		return
	}
	bp, _ := s.pool.Get().(*[]byte)
	if bp == nil {
		b := make([]byte, 0, 512)
		bp = &b
	}
	b := (*bp)[:0]
	b = append(b, `{"time":"`...)
	// A time in UTC needs no mask: its longest group of digits that
	// internal/pan joins is the seconds and their fraction ("35.397346849",
	// 11 digits; ':' and 'T' end a number), and no part of it is a whole
	// number spelled in exponent notation (TestAccessLineTimeHoldsNoCardNumber).
	// Another zone's offset joins them ('+' and '-' are separators):
	// "07.123456014+05:45" is 13 digits, a card number in about one line in
	// ten, masked as the writer's scan masks it in every other line
	// (TestAccessLineTimeInAnyZoneHoldsNoCardNumber).
	from := len(b)
	b = appendRFC3339Nano(b, t)
	if b[len(b)-1] != 'Z' {
		b = maskNumbers(b, from)
	}
	b = append(b, `","level":"INFO","msg":"request","listener":`...)
	b = appendLogString(b, l.listener)
	b = append(b, `,"method":`...)
	b = appendLogString(b, l.method)
	b = append(b, `,"host":`...)
	b = appendLogString(b, l.host)
	b = append(b, `,"path":`...)
	b = appendLogString(b, l.path)
	b = append(b, `,"query_len":`...)
	b = appendLogInt(b, int64(l.queryLen))
	b = append(b, `,"route":`...)
	b = appendLogString(b, l.route)
	if len(l.filters) > 0 {
		b = append(b, `,"filters":[`...)
		for i, f := range l.filters {
			if i > 0 {
				b = append(b, ',')
			}
			// slog marshals a []string with encoding/json, and only the
			// writer's scan of the line masks it.
			b = maskNumbers(appendJSONStringMode(b, f, true), len(b))
		}
		b = append(b, ']')
	}
	b = append(b, `,"status":`...)
	b = appendLogInt(b, int64(l.status))
	if l.refused != "" {
		b = append(b, `,"refused":`...)
		b = appendLogString(b, l.refused)
	}
	b = append(b, `,"bytes":`...)
	b = appendLogInt(b, l.bytes)
	b = append(b, `,"duration_ms":`...)
	b = appendLogMillis(b, l.d)
	if l.vault > 0 {
		b = append(b, `,"vault_ms":`...)
		b = appendLogMillis(b, l.vault)
	}
	if l.upstream > 0 {
		b = append(b, `,"upstream_ms":`...)
		b = appendLogMillis(b, l.upstream)
	}
	b = append(b, `,"remote":`...)
	b = appendLogString(b, l.remote)
	if l.hijacked {
		b = append(b, `,"hijacked":true`...)
	}
	b = append(b, "}\n"...)
	s.w.appendLine(b)
	*bp = b
	s.pool.Put(bp)
}

// appendRFC3339Nano appends t.AppendFormat(b, time.RFC3339Nano) without
// parsing the layout, for a time whose zone is UTC's offset and whose year
// has 4 digits (the access lines' times); any other goes to AppendFormat
// (TestAppendRFC3339NanoAgainstFormat, FuzzAppendRFC3339Nano).
func appendRFC3339Nano(b []byte, t time.Time) []byte {
	if _, off := t.Zone(); off != 0 {
		return t.AppendFormat(b, time.RFC3339Nano)
	}
	u := t.UTC()
	year, month, day := u.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, time.RFC3339Nano)
	}
	hour, minute, sec := u.Clock()
	// 2006-01-02T15:04:05.999999999Z, filled in up to the seconds.
	t30 := [30]byte{byte('0' + year/1000), byte('0' + year/100%10), byte('0' + year/10%10), byte('0' + year%10), '-',
		byte('0' + month/10), byte('0' + month%10), '-', byte('0' + day/10), byte('0' + day%10), 'T',
		byte('0' + hour/10), byte('0' + hour%10), ':', byte('0' + minute/10), byte('0' + minute%10), ':',
		byte('0' + sec/10), byte('0' + sec%10)}
	n := 19
	if ns := u.Nanosecond(); ns != 0 {
		t30[19] = '.'
		for i := 28; i > 19; i-- {
			t30[i] = byte('0' + ns%10)
			ns /= 10
		}
		for n = 29; t30[n-1] == '0'; n-- { // the fraction's trailing zeros go
		}
	}
	t30[n] = 'Z'
	return append(b, t30[:n+1]...)
}

// appendLogString appends s as scrubAttr and slog's JSON handler write a
// string value: card numbers masked, then quoted and escaped; and, when
// escaping changed it, masked again as the writer's scan of the line would:
// an escape writes digits of its own (a control byte as \u0004, U+2028 as
// \u2028) that join the digits after it, so "\x04" and fifteen 1s, no card
// number, are written "\u0004111111111111111", which reads as one
// (TestAccessLineEscapesFormNoCardNumber).
// A string mayHoldCard rules out is not scanned (most fields of a line:
// the listener, the method, the route, a short path).
func appendLogString(b []byte, s string) []byte {
	if mayHoldCard(s) && mayHoldRun(s) {
		s = pan.MaskAll(s)
	}
	from := len(b)
	b = appendJSONString(b, s)
	if len(b)-from != len(s)+2 {
		b = maskNumbers(b, from)
	}
	return b
}

// appendLogInt appends an integer value as scrubAttr and slog write it: a
// number, or a masked string when its digits are a card number.
func appendLogInt(b []byte, n int64) []byte {
	if n >= 1e12 || n <= -1e12 {
		if s := strconv.FormatInt(n, 10); mayHoldRun(s) {
			return appendJSONString(b, pan.MaskAll(s))
		}
	}
	return strconv.AppendInt(b, n, 10)
}

// appendLogFloat appends a float value as the slog path writes it: a number
// (scrubAttr leaves floats alone), its digits masked where the writer's scan
// of the line would mask them.
func appendLogFloat(b []byte, f float64) []byte {
	return maskNumbers(appendJSONFloat(b, f), len(b))
}

// appendLogMillis appends d in milliseconds as appendLogFloat(b,
// millis(d)) does, without formatting a float: millis(d) is a whole number
// of microseconds over 1000, correctly rounded, which encoding/json's
// shortest form writes as the exact decimal (at most 3 decimals, trailing
// zeros dropped) for any value under 10^15 µs (fewer than 16 significant
// digits, which a float64 tells apart). Its digits are masked as the
// writer's scan would mask them; a decimal of digits and one '.' shorter
// than the shortest card number holds none (no exponent: its digits are
// its number's), and is not scanned. A negative or larger d goes the
// float's way (TestAppendLogMillisAgainstFloat, FuzzAppendLogMillis).
func appendLogMillis(b []byte, d time.Duration) []byte {
	us := d.Microseconds()
	if us < 0 || us >= 1e15 {
		return appendLogFloat(b, millis(d))
	}
	from := len(b)
	b = strconv.AppendInt(b, us/1000, 10)
	if frac := us % 1000; frac != 0 {
		b = append(b, '.', byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
		for b[len(b)-1] == '0' {
			b = b[:len(b)-1]
		}
	}
	if len(b)-from >= pan.MinLen {
		b = maskNumbers(b, from)
	}
	return b
}

// maskNumbers masks the card numbers in b[from:] as the scrubbing writer
// would in the whole line (pan.MaskAll keeps the length), for the parts of
// an access line that scrubAttr does not mask: the floats, the filters,
// the strings escaping changed and a time outside UTC. Every part of the
// line is bounded by a key, whose letters end any run, so masking the
// parts one by one masks what a scan of the line would
// (FuzzAccessLineAgainstSlog). A part shorter than the shortest card
// number holds one only in exponent notation ("411116e10" is
// 4111160000000000), so only when it has a byte such a number starts
// from (pan.MayHoldNumberBytes): the filter id "411116e10" was written in clear.
func maskNumbers(b []byte, from int) []byte {
	seg := b[from:]
	if (len(seg) >= pan.MinLen || pan.MayHoldNumberBytes(seg)) && pan.ContainsAll(seg) {
		copy(seg, pan.MaskAll(string(seg)))
	}
	return b
}

// appendJSONFloat appends f as encoding/json writes a float64, which is
// what slog's JSON handler calls.
func appendJSONFloat(b []byte, f float64) []byte {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return append(b, `"!ERROR:unsupported value"`...)
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9, as encoding/json does
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s quoted as slog's JSON handler (and
// encoding/json without HTML escaping) writes it: '"' and '\\' escaped,
// \n \r \t, other control bytes as \u00XX, invalid UTF-8 as \ufffd, and
// U+2028 and U+2029 escaped.
func appendJSONString(b []byte, s string) []byte { return appendJSONStringMode(b, s, false) }

// appendJSONStringMode is appendJSONString; marshal writes '\b' and '\f'
// as encoding/json does (slog's own string encoder writes \u0008, \u000c).
func appendJSONStringMode(b []byte, s string, marshal bool) []byte {
	b = append(b, '"')
	start := 0
	// The bytes before plainLen's are written as they are: the loop
	// below starts past them.
	for i := plainLen(s); i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b', '\f':
				if marshal {
					b = append(b, '\\', "b\x00\x00\x00f"[c-'\b'])
					break
				}
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// plainLen returns the length of the run of bytes at the start of s that a
// JSON string holds as they are (appendJSONStringMode): printable ASCII but
// '"' and '\\'. It reads 8 bytes at a time (an access line's fields are
// such bytes throughout).
func plainLen(s string) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(s); i += 8 {
		// Constant indices into 8 bytes: one load and no bounds check
		// (indices off i kept one check for each byte).
		w := s[i : i+8]
		v := uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
			uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
		q, bs := v^('"'*ones), v^('\\'*ones)
		// The high bit of a byte set: a byte under 0x20, 0x80 or over,
		// '"' or '\\' (each test exact as to whether any byte is one).
		if ((v-0x20*ones)&^v|v|(q-ones)&^q|(bs-ones)&^bs)&highs != 0 {
			break
		}
	}
	for ; i < len(s) && !escapedByte[s[i]]; i++ {
	}
	return i
}

// escapedByte marks the bytes plainLen's run ends at: under 0x20, 0x80 or
// over, '"' and '\\'.
var escapedByte = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\'
	}
	return t
}()
