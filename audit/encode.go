package audit

import (
	"encoding/json"
	"strconv"
	"time"
)

// appendLine appends the JSON form of l: byte for byte what json.Marshal
// writes for it (the same members in the same order, the same omitempty
// rules, the same escaping, HTML characters included), which
// TestLineEncodingMatchesMarshal checks for every field of line. Every
// line, the chained body and its mac alike, is written by it: encoding/json
// took a third of the audit writer's CPU per line.
func appendLine(b []byte, l *line) []byte {
	b = appendLineSeq(b, l.Seq)
	b = appendMember(b, `,"time":`, l.Time)
	return appendLineRest(b, l)
}

// appendLineAt is appendLine of l with the time t (UTC) in place of
// l.Time, formatted as time.RFC3339Nano into b rather than into a string
// of its own (by d, which keeps the date of the last time it wrote): such
// a time needs no escaping, so the bytes are those of appendLine with
// l.Time set to t.Format(time.RFC3339Nano).
func appendLineAt(b []byte, l *line, t time.Time, d *dateText) []byte {
	b = append(appendLineSeq(b, l.Seq), `,"time":"`...)
	b = append(d.appendTime(b, t), '"')
	return appendLineRest(b, l)
}

// appendTime appends t.AppendFormat(b, time.RFC3339Nano). A UTC time of
// the years 0 to 9999 (every line's: the Writer's clock in UTC) is
// written digit by digit, without reading the layout, which was most of
// the formatting's cost (FuzzAppendTime checks it against AppendFormat).
func appendTime(b []byte, t time.Time) []byte {
	year, month, day := t.Date()
	if t.Location() != time.UTC || year < 0 || year > 9999 {
		return t.AppendFormat(b, time.RFC3339Nano)
	}
	hour, minute, sec := t.Clock()
	return appendClock(appendDate(b, year, int(month), day), hour, minute, sec, t.Nanosecond())
}

// appendDate appends the date part of appendTime, through the T.
func appendDate(b []byte, year, month, day int) []byte {
	b = appendDigits(b, year, 4)
	b = appendDigits(append(b, '-'), month, 2)
	b = appendDigits(append(b, '-'), day, 2)
	return append(b, 'T')
}

// appendClock appends the part of appendTime after the T.
func appendClock(b []byte, hour, minute, sec, ns int) []byte {
	b = appendDigits(b, hour, 2)
	b = appendDigits(append(b, ':'), minute, 2)
	b = appendDigits(append(b, ':'), sec, 2)
	if ns != 0 {
		digits := 9 // the fraction without its trailing zeros
		for ns%10 == 0 {
			ns /= 10
			digits--
		}
		b = appendDigits(append(b, '.'), ns, digits)
	}
	return append(b, 'Z')
}

// dateText keeps the date part of the last time appendTime wrote (UTC),
// so that the lines of one day work out and write their date once: the
// date of a UTC time is its Unix seconds' day (Go has no leap seconds).
// The zero dateText keeps none.
type dateText struct {
	day  int64 // days since 1970-01-01, when ok
	ok   bool
	text [len("2006-01-02T")]byte
}

const secondsPerDay = 24 * 60 * 60

// appendTime appends appendTime(b, t), the date from d when t's day is
// the one d keeps (TestDateTextAgainstAppendFormat).
func (d *dateText) appendTime(b []byte, t time.Time) []byte {
	if t.Location() != time.UTC {
		return appendTime(b, t)
	}
	sec := t.Unix()
	day := sec / secondsPerDay
	if sec%secondsPerDay < 0 {
		day-- // the day before 1970 it is in (floor)
	}
	if !d.ok || day != d.day {
		year, month, dd := t.Date()
		if year < 0 || year > 9999 {
			return appendTime(b, t)
		}
		appendDate(d.text[:0], year, int(month), dd) // in place: the text is always its 11 bytes
		d.day, d.ok = day, true
	}
	s := int(sec - day*secondsPerDay)
	return appendClock(append(b, d.text[:]...), s/3600, s/60%60, s%60, t.Nanosecond())
}

// appendDigits appends the n low decimal digits of v (0 <= v), zero-padded.
func appendDigits(b []byte, v, n int) []byte {
	var d [9]byte
	for i := n - 1; i >= 0; i-- {
		d[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, d[:n]...)
}

// appendLineSeq opens a line with its seq member.
func appendLineSeq(b []byte, seq uint64) []byte {
	return strconv.AppendUint(append(b, `{"seq":`...), seq, 10)
}

// appendLineRest appends the members of l after its time, and closes it.
func appendLineRest(b []byte, l *line) []byte {
	b = appendMember(b, `,"event":`, l.Event)
	if l.actorKind != "" {
		b = appendJoined(append(b, `,"actor":`...), l.actorKind, l.Actor)
	} else {
		b = appendMember(b, `,"actor":`, l.Actor)
	}
	if l.Route != "" {
		b = appendMember(b, `,"route":`, l.Route)
	}
	if l.Client != "" {
		b = appendMember(b, `,"client":`, l.Client)
	}
	if l.Account != "" {
		b = appendMember(b, `,"account":`, l.Account)
	}
	if l.Purpose != "" {
		b = appendMember(b, `,"purpose":`, l.Purpose)
	}
	if l.Count != nil {
		b = strconv.AppendInt(append(b, `,"count":`...), int64(*l.Count), 10)
	}
	if l.Found != nil {
		b = strconv.AppendInt(append(b, `,"found":`...), int64(*l.Found), 10)
	}
	if len(l.Aliases) > 0 {
		b = appendStrings(append(b, `,"aliases":`...), l.Aliases)
	} else if len(l.aliasHashes) > 0 {
		b = appendHashes(append(b, `,"aliases":`...), l.aliasHashes)
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
		b = appendMember(b, `,"file":`, l.File)
	}
	if l.Reason != "" {
		b = appendMember(b, `,"reason":`, l.Reason)
	}
	if len(l.Removed) > 0 {
		b = appendStrings(append(b, `,"removed_files":`...), l.Removed)
	}
	b = appendMember(b, `,"outcome":`, l.Outcome)
	b = appendMember(b, `,"prev":`, l.Prev)
	if l.Mac != "" {
		b = appendMember(b, `,"mac":`, l.Mac)
	}
	return append(b, '}')
}

// appendMember appends a member's key (with its leading comma and colon)
// and its string value.
func appendMember(b []byte, key, s string) []byte {
	return appendString(append(b, key...), s)
}

// appendStrings appends a JSON array of strings.
func appendStrings(b []byte, ss []string) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}

// appendHashes appends a JSON array of the alias hashes in hs
// (aliasHashLen bytes each): base64url, which needs no escaping.
func appendHashes(b, hs []byte) []byte {
	b = append(b, '[')
	for i := 0; i < len(hs); i += aliasHashLen {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(append(append(b, '"'), hs[i:i+aliasHashLen]...), '"')
	}
	return append(b, ']')
}

// appendJoined appends a+b as a JSON string, as appendString does,
// without making the string a+b when neither needs escaping.
func appendJoined(dst []byte, a, b string) []byte {
	if !plainString(a) || !plainString(b) {
		return appendString(dst, a+b)
	}
	dst = append(append(append(dst, '"'), a...), b...)
	return append(dst, '"')
}

// plainString reports whether json.Marshal writes every byte of s as it
// is (plainByte). Every string of a line is tested, a third of the bytes
// being the 43 of prev: eight bytes are tested at once (plainWord), the
// last eight of a string whose length is not a multiple of eight again
// with some before them, and a string shorter than eight one by one.
func plainString(s string) bool {
	if len(s) < 8 {
		for i := 0; i < len(s); i++ {
			if !plainByte(s[i]) {
				return false
			}
		}
		return true
	}
	last := s[len(s)-8:]
	for ; len(s) >= 8; s = s[8:] {
		if !plainWord(word(s[:8])) {
			return false
		}
	}
	return len(s) == 0 || plainWord(word(last))
}

// word returns the eight bytes of s (one load, little-endian).
func word(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// plainWord reports whether plainByte holds for each of the eight bytes
// of w. With no byte's high bit set (checked first), adding a constant
// below 0x80 to each byte carries into no other byte, so bit 7 of each
// byte of a sum tells one thing of that byte alone: of w+0x60, that it is
// at least 0x20; of w+0x01, that it is 0x7F (DEL); of (w^c)+0x7F, that it
// is not c, for each of the five printable bytes json.Marshal escapes.
// FuzzPlainString checks it against plainByte.
func plainWord(w uint64) bool {
	const (
		ones = 0x0101010101010101
		high = 0x8080808080808080
	)
	if w&high != 0 {
		return false
	}
	ok := (w + 0x60*ones) &^ (w + 0x01*ones) &
		((w ^ '"'*ones) + 0x7F*ones) & ((w ^ '\\'*ones) + 0x7F*ones) &
		((w ^ '<'*ones) + 0x7F*ones) & ((w ^ '>'*ones) + 0x7F*ones) & ((w ^ '&'*ones) + 0x7F*ones)
	return ok&high == high
}

// appendString appends s as a JSON string as json.Marshal writes it. The
// strings of a line are fixed words, ids from configuration, base64url
// hashes and times, which need no escaping: those are copied; anything
// else (a quote, a backslash, a control or non-ASCII character, or one of
// json.Marshal's HTML escapes <, > and &) is left to encoding/json itself,
// so there is one escaping rule.
func appendString(b []byte, s string) []byte {
	if !plainString(s) {
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

// plainByte reports whether json.Marshal writes c as it is in a string:
// printable ASCII but the quote, the backslash and the HTML characters <,
// > and &. A bit test of two constant masks (for 0x00–0x3F and 0x40–0x7F)
// instead of seven comparisons: every byte of a line's strings is tested.
func plainByte(c byte) bool {
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
