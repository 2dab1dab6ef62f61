package audit

// The audit line encoder as it was before the writer's hot path was cut
// (issue 21: the outbound reveal's audit line): appendLine and its helpers,
// Writer.lineOf and Writer.encode, copied unchanged but for their names, as
// the oracle of the differential tests and fuzz targets in
// encode_diff_test.go. Do not change it: it is what the bytes on disk were.

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"time"
)

// oldWriter holds what the old lineOf and encode used of a Writer.
type oldWriter struct {
	keys         Keys
	hashes       []byte
	count, found int
}

// oldAppendLine appends the JSON form of l: byte for byte what json.Marshal
// writes for it (the same members in the same order, the same omitempty
// rules, the same escaping, HTML characters included), which
// TestLineEncodingMatchesMarshal checks for every field of line. Every
// line, the chained body and its mac alike, is written by it: encoding/json
// took a third of the audit writer's CPU per line.
func oldAppendLine(b []byte, l *line) []byte {
	b = oldAppendLineSeq(b, l.Seq)
	b = oldAppendMember(b, `,"time":`, l.Time)
	return oldAppendLineRest(b, l)
}

// oldAppendLineAt is oldAppendLine of l with the time t (UTC) in place of
// l.Time, formatted as time.RFC3339Nano into b rather than into a string
// of its own: such a time needs no escaping, so the bytes are those of
// oldAppendLine with l.Time set to t.Format(time.RFC3339Nano).
func oldAppendLineAt(b []byte, l *line, t time.Time) []byte {
	b = append(oldAppendLineSeq(b, l.Seq), `,"time":"`...)
	b = append(oldAppendTime(b, t), '"')
	return oldAppendLineRest(b, l)
}

// oldAppendTime appends t.AppendFormat(b, time.RFC3339Nano). A UTC time of
// the years 0 to 9999 (every line's: the Writer's clock in UTC) is
// written digit by digit, without reading the layout, which was most of
// the formatting's cost (FuzzAppendTime checks it against AppendFormat).
func oldAppendTime(b []byte, t time.Time) []byte {
	year, month, day := t.Date()
	if t.Location() != time.UTC || year < 0 || year > 9999 {
		return t.AppendFormat(b, time.RFC3339Nano)
	}
	hour, minute, sec := t.Clock()
	b = oldAppendDigits(b, year, 4)
	b = oldAppendDigits(append(b, '-'), int(month), 2)
	b = oldAppendDigits(append(b, '-'), day, 2)
	b = oldAppendDigits(append(b, 'T'), hour, 2)
	b = oldAppendDigits(append(b, ':'), minute, 2)
	b = oldAppendDigits(append(b, ':'), sec, 2)
	if ns := t.Nanosecond(); ns != 0 {
		digits := 9 // the fraction without its trailing zeros
		for ns%10 == 0 {
			ns /= 10
			digits--
		}
		b = oldAppendDigits(append(b, '.'), ns, digits)
	}
	return append(b, 'Z')
}

// oldAppendDigits appends the n low decimal digits of v (0 <= v), zero-padded.
func oldAppendDigits(b []byte, v, n int) []byte {
	var d [9]byte
	for i := n - 1; i >= 0; i-- {
		d[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, d[:n]...)
}

// oldAppendLineSeq opens a line with its seq member.
func oldAppendLineSeq(b []byte, seq uint64) []byte {
	return strconv.AppendUint(append(b, `{"seq":`...), seq, 10)
}

// oldAppendLineRest appends the members of l after its time, and closes it.
func oldAppendLineRest(b []byte, l *line) []byte {
	b = oldAppendMember(b, `,"event":`, l.Event)
	if l.actorKind != "" {
		b = oldAppendJoined(append(b, `,"actor":`...), l.actorKind, l.Actor)
	} else {
		b = oldAppendMember(b, `,"actor":`, l.Actor)
	}
	if l.Route != "" {
		b = oldAppendMember(b, `,"route":`, l.Route)
	}
	if l.Client != "" {
		b = oldAppendMember(b, `,"client":`, l.Client)
	}
	if l.Account != "" {
		b = oldAppendMember(b, `,"account":`, l.Account)
	}
	if l.Purpose != "" {
		b = oldAppendMember(b, `,"purpose":`, l.Purpose)
	}
	if l.Count != nil {
		b = strconv.AppendInt(append(b, `,"count":`...), int64(*l.Count), 10)
	}
	if l.Found != nil {
		b = strconv.AppendInt(append(b, `,"found":`...), int64(*l.Found), 10)
	}
	if len(l.Aliases) > 0 {
		b = oldAppendStrings(append(b, `,"aliases":`...), l.Aliases)
	} else if len(l.aliasHashes) > 0 {
		b = oldAppendHashes(append(b, `,"aliases":`...), l.aliasHashes)
	}
	if l.Omitted != 0 {
		b = strconv.AppendInt(append(b, `,"aliases_omitted":`...), int64(l.Omitted), 10)
	}
	if l.KeyVersion != 0 {
		b = strconv.AppendUint(append(b, `,"key_version":`...), uint64(l.KeyVersion), 10)
	}
	if l.Records != nil {
		b = strconv.AppendUint(append(b, `,"records":`...), *l.Records, 10)
	}
	if l.Routes != nil {
		b = strconv.AppendInt(append(b, `,"routes":`...), int64(*l.Routes), 10)
	}
	if l.TornBytes != 0 {
		b = strconv.AppendInt(append(b, `,"torn_bytes":`...), l.TornBytes, 10)
	}
	if l.ExpectedSeq != 0 {
		b = strconv.AppendUint(append(b, `,"expected_seq":`...), l.ExpectedSeq, 10)
	}
	if l.File != "" {
		b = oldAppendMember(b, `,"file":`, l.File)
	}
	if l.Reason != "" {
		b = oldAppendMember(b, `,"reason":`, l.Reason)
	}
	if len(l.Removed) > 0 {
		b = oldAppendStrings(append(b, `,"removed_files":`...), l.Removed)
	}
	b = oldAppendMember(b, `,"outcome":`, l.Outcome)
	b = oldAppendMember(b, `,"prev":`, l.Prev)
	if l.Mac != "" {
		b = oldAppendMember(b, `,"mac":`, l.Mac)
	}
	return append(b, '}')
}

// oldAppendMember appends a member's key (with its leading comma and colon)
// and its string value.
func oldAppendMember(b []byte, key, s string) []byte {
	return oldAppendString(append(b, key...), s)
}

// oldAppendStrings appends a JSON array of strings.
func oldAppendStrings(b []byte, ss []string) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = oldAppendString(b, s)
	}
	return append(b, ']')
}

// oldAppendHashes appends a JSON array of the alias hashes in hs
// (aliasHashLen bytes each): base64url, which needs no escaping.
func oldAppendHashes(b, hs []byte) []byte {
	b = append(b, '[')
	for i := 0; i < len(hs); i += aliasHashLen {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(append(append(b, '"'), hs[i:i+aliasHashLen]...), '"')
	}
	return append(b, ']')
}

// oldAppendJoined appends a+b as a JSON string, as oldAppendString does,
// without making the string a+b when neither needs escaping.
func oldAppendJoined(dst []byte, a, b string) []byte {
	if !oldPlainString(a) || !oldPlainString(b) {
		return oldAppendString(dst, a+b)
	}
	dst = append(append(append(dst, '"'), a...), b...)
	return append(dst, '"')
}

// oldPlainString reports whether json.Marshal writes every byte of s as it
// is (oldPlainByte).
func oldPlainString(s string) bool {
	for i := 0; i < len(s); i++ {
		if !oldPlainByte(s[i]) {
			return false
		}
	}
	return true
}

// oldAppendString appends s as a JSON string as json.Marshal writes it. The
// strings of a line are fixed words, ids from configuration, base64url
// hashes and times, which need no escaping: those are copied; anything
// else (a quote, a backslash, a control or non-ASCII character, or one of
// json.Marshal's HTML escapes <, > and &) is left to encoding/json itself,
// so there is one escaping rule.
func oldAppendString(b []byte, s string) []byte {
	if !oldPlainString(s) {
		q, err := json.Marshal(s)
		if err != nil { // a string always marshals
			panic("audit: marshal a string: " + err.Error())
		}
		return append(b, q...)
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// oldPlainByte reports whether json.Marshal writes c as it is in a string:
// printable ASCII but the quote, the backslash and the HTML characters <,
// > and &. A bit test of two constant masks (for 0x00–0x3F and 0x40–0x7F)
// instead of seven comparisons: every byte of a line's strings is tested.
func oldPlainByte(c byte) bool {
	const (
		low  uint64 = 0xFFFFFFFF_00000000 &^ (1<<'"' | 1<<'&' | 1<<'<' | 1<<'>') // 0x20–0x3F
		high uint64 = 0x7FFFFFFF_FFFFFFFF &^ (1 << ('\\' - 0x40))                // 0x40–0x7E
	)
	switch {
	case c < 0x40:
		return low>>c&1 != 0
	case c < 0x80:
		return high>>(c-0x40)&1 != 0
	}
	return false
}

// lineOf turns an event into a line (without seq, time, prev). The line
// points into w's scratch: it is valid until the next call. The caller
// holds commitMu.
func (w *oldWriter) lineOf(ev Event) line {
	l := line{Event: ev.Event, Actor: ev.Actor, actorKind: ev.actorKind, Route: ev.Route, Client: ev.Client, Account: ev.Account, Purpose: ev.Purpose,
		KeyVersion: ev.KeyVersion, Reason: ev.Reason, Outcome: ev.Outcome}
	if l.Actor == "" && l.actorKind == "" {
		l.Actor = "unknown"
	}
	if l.Outcome == "" {
		l.Outcome = OutcomeOK
	}
	if hasAliases(ev.Event) {
		w.count, w.found = len(ev.Aliases), ev.Found
		l.Count, l.Found = &w.count, &w.found
		n := min(len(ev.Aliases), maxAliasHashes)
		if ev.CountOnly {
			n = 0
		}
		// The hashes are made in one buffer the line points into: no
		// allocation per line.
		w.hashes = w.hashes[:0]
		for _, a := range ev.Aliases[:n] {
			w.hashes = oldAppendMAC(w.hashes, w.keys.alias, []byte(a), 16)
		}
		l.aliasHashes = w.hashes
		if cap(w.hashes) > maxKeptBuffer {
			w.hashes = nil // the line keeps its own
		}
		if !ev.CountOnly {
			l.Omitted = len(ev.Aliases) - n
		}
	}
	switch ev.Event {
	case EventRoutesReloaded:
		if ev.Outcome == "" || ev.Outcome == OutcomeOK {
			routes := ev.Routes
			l.Routes = &routes
		}
	case EventKeysReencrypt:
		records := ev.Records
		l.Records = &records
	}
	return l
}

// encode appends the line's bytes (with its mac and a newline) to dst and
// returns them with its mac.
func (w *oldWriter) encode(dst []byte, l line, seq uint64, prev string, now time.Time) ([]byte, string) {
	l.Seq, l.Time, l.Prev, l.Mac = seq, "", prev, ""
	start := len(dst)
	dst = oldAppendLineAt(dst, &l, now)
	end := len(dst)
	dst = oldAppendMAC(dst, w.keys.chain, dst[start:end], sha256.Size) // after the body, for the string
	mac := string(dst[end:])
	dst = append(dst[:end-1], macMember...)
	dst = append(dst, mac...)
	dst = append(dst, "\"}\n"...)
	return dst, mac
}

// oldAppendMAC appends the base64url form of the first n bytes of
// HMAC-SHA256(key, data), from a new HMAC state: what the pooled states
// of Keys wrote.
func oldAppendMAC(dst, key, data []byte, n int) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(data)
	return base64.RawURLEncoding.AppendEncode(dst, h.Sum(nil)[:n])
}
