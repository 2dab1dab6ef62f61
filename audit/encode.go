package audit

import (
	"encoding/json"
	"strconv"
)

// appendLine appends the JSON form of l: byte for byte what json.Marshal
// writes for it (the same members in the same order, the same omitempty
// rules, the same escaping, HTML characters included), which
// TestLineEncodingMatchesMarshal checks for every field of line. Every
// line, the chained body and its mac alike, is written by it: encoding/json
// took a third of the audit writer's CPU per line.
func appendLine(b []byte, l *line) []byte {
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, l.Seq, 10)
	b = appendMember(b, `,"time":`, l.Time)
	b = appendMember(b, `,"event":`, l.Event)
	b = appendMember(b, `,"actor":`, l.Actor)
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

// appendString appends s as a JSON string as json.Marshal writes it. The
// strings of a line are fixed words, ids from configuration, base64url
// hashes and times, which need no escaping: those are copied; anything
// else (a quote, a backslash, a control or non-ASCII character, or one of
// json.Marshal's HTML escapes <, > and &) is left to encoding/json itself,
// so there is one escaping rule.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, err := json.Marshal(s)
			if err != nil { // a string always marshals
				panic("audit: marshal a string: " + err.Error())
			}
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
