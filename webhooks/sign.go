package webhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// The headers of a delivery.
const (
	// SignatureHeader carries "t=<unix seconds>,v1=<hex>": v1 is
	// HMAC-SHA256(secret, "<t>.<raw body>") in lower-case hex, one v1 per
	// secret of the endpoint (two while a secret is rotated).
	SignatureHeader = "Aliasgate-Signature"
	// EventIDHeader carries the event's id (evt_…): the same on every
	// attempt and every endpoint, for receivers to drop duplicates.
	EventIDHeader = "Aliasgate-Event-Id"
	// EventTypeHeader carries the event's type (card.updated, …).
	EventTypeHeader = "Aliasgate-Event-Type"
	// DeliveryIDHeader carries the delivery's id (dlv_…): one per event and
	// endpoint.
	DeliveryIDHeader = "Aliasgate-Delivery-Id"
)

// DefaultTolerance is how far a signature's timestamp may be from the
// receiver's clock when Verify is given no tolerance: 5 minutes.
const DefaultTolerance = 5 * time.Minute

// Limits of what Verify parses: a header longer than maxHeaderLen or with
// more than maxSignatures v1 values is refused unread. An endpoint has at
// most MaxSecrets secrets, so every header the gateway sends is read.
const (
	maxHeaderLen  = 4096
	maxSignatures = MaxSecrets
)

// Verify's refusals. Every one wraps ErrInvalidSignature.
var (
	// ErrInvalidSignature: the delivery must not be trusted.
	ErrInvalidSignature = errors.New("webhooks: invalid signature")
	// ErrMalformedHeader: the header is missing or not t=…,v1=….
	ErrMalformedHeader = wrapInvalid("malformed " + SignatureHeader + " header")
	// ErrTimestampTolerance: the timestamp is further from now than the
	// tolerance (a replayed delivery, or clocks far apart).
	ErrTimestampTolerance = wrapInvalid("timestamp outside the tolerance")
	// ErrNoMatch: no v1 value is the HMAC of the body with the secret
	// (a changed body, another secret).
	ErrNoMatch = wrapInvalid("no signature matches the body")
	// ErrShortSecret: the receiver's secret is empty or shorter than
	// MinSecretLen, shorter than any the gateway signs with (a secret that
	// did not load: anyone can sign with an empty key).
	ErrShortSecret = wrapInvalid("the secret is shorter than any the gateway signs with")
)

type invalidError struct{ msg string }

func (e *invalidError) Error() string { return "webhooks: invalid signature: " + e.msg }
func (e *invalidError) Unwrap() error { return ErrInvalidSignature }

func wrapInvalid(msg string) error { return &invalidError{msg} }

// Sign returns the SignatureHeader value for body sent at t: one v1 per
// secret, in the order given.
func Sign(secrets [][]byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	var b strings.Builder
	b.WriteString("t=")
	b.WriteString(ts)
	for _, s := range secrets {
		b.WriteString(",v1=")
		b.WriteString(hex.EncodeToString(mac(s, ts, body)))
	}
	return b.String()
}

// mac is HMAC-SHA256(secret, ts + "." + body).
func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks a delivery as its receiver got it: header is the
// Aliasgate-Signature value, body the raw request body (before any JSON
// parsing), secret the endpoint's secret. It returns nil when the
// timestamp is within tolerance of now (DefaultTolerance when tolerance is
// 0 or less) and one of the v1 values is HMAC-SHA256(secret, "<t>.<body>"),
// compared in constant time; else an error wrapping ErrInvalidSignature.
// Values of other schemes than v1 are ignored. A secret shorter than
// MinSecretLen (an unset variable read as "") refuses every delivery
// (ErrShortSecret): the gateway signs with none, and anyone can sign with
// an empty key.
func Verify(secret, header string, body []byte, tolerance time.Duration, now time.Time) error {
	if len(secret) < MinSecretLen {
		return ErrShortSecret
	}
	ts, sigs, err := parseHeader(header)
	if err != nil {
		return err
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	t, _ := strconv.ParseInt(ts, 10, 64) // parseHeader checked it
	if d := now.Sub(time.Unix(t, 0)); d > tolerance || d < -tolerance {
		return ErrTimestampTolerance
	}
	want := mac([]byte(secret), ts, body)
	ok := false
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			ok = true // no early return: every value is compared
		}
	}
	if !ok {
		return ErrNoMatch
	}
	return nil
}

// parseHeader splits "t=<digits>,v1=<64 hex>[,v1=…]" into the timestamp
// (as sent, decimal) and the decoded v1 values. Exactly one t, at least
// one v1; spaces around items are allowed; other schemes are skipped.
func parseHeader(h string) (ts string, sigs [][]byte, err error) {
	if h == "" || len(h) > maxHeaderLen {
		return "", nil, ErrMalformedHeader
	}
	for item := range strings.SplitSeq(h, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok {
			return "", nil, ErrMalformedHeader
		}
		switch k {
		case "t":
			if ts != "" || !validTimestamp(v) {
				return "", nil, ErrMalformedHeader
			}
			ts = v
		case "v1":
			if len(sigs) == maxSignatures || len(v) != 2*sha256.Size {
				return "", nil, ErrMalformedHeader
			}
			b, err := hex.DecodeString(v)
			if err != nil {
				return "", nil, ErrMalformedHeader
			}
			sigs = append(sigs, b)
		}
	}
	if ts == "" || len(sigs) == 0 {
		return "", nil, ErrMalformedHeader
	}
	return ts, sigs, nil
}

// validTimestamp: 1 to 12 decimal digits (Unix seconds until year 33658),
// no sign, no leading zero.
func validTimestamp(s string) bool {
	if s == "" || len(s) > 12 || s[0] == '0' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
