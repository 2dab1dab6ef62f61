package obs

import (
	"context"
	"log/slog"
	"strings"
	"unicode/utf8"

	"github.com/aliasgate/aliasgate/internal/pan"
)

// Redacted is what a value logged under a sensitive key (see
// [NewRedactingHandler]) is replaced with.
const Redacted = "[redacted]"

// sensitiveKeys are attribute keys whose values are never logged, whatever
// their type: card data, secrets and message bodies. Keys are compared in
// lower case with '-' as '_' (so "Proxy-Authorization" matches).
var sensitiveKeys = map[string]bool{
	"pan": true, "card_number": true, "cardnumber": true, "card_pan": true, "number": true,
	"cvc": true, "cvv": true, "cvc2": true, "cvv2": true, "csc": true,
	"value": true, "values": true, "track1": true, "track2": true, "pin": true,
	"secret": true, "client_secret": true, "password": true, "passwd": true,
	"authorization": true, "proxy_authorization": true, "cookie": true, "set_cookie": true,
	"token": true, "access_token": true, "refresh_token": true, "bearer": true,
	"body": true, "request_body": true, "response_body": true,
}

// IsSensitiveKey reports whether an attribute key names data that
// [NewRedactingHandler] never logs (card data, secrets, bodies).
func IsSensitiveKey(key string) bool {
	return sensitiveKeys[strings.ReplaceAll(strings.ToLower(key), "-", "_")]
}

// NewRedactingHandler wraps next so that no record reaches it with card
// data in it, whatever the caller passed:
//
//   - the value of an attribute whose key is sensitive (IsSensitiveKey:
//     pan, cvc, value, secret, authorization, token, body, …), at any depth
//     of groups, is replaced by "[redacted]", whatever its type;
//   - LogValuer values are resolved first, so a [Sensitive] logs as
//     "[redacted len=N]" and an [Untrusted] as its masked form;
//   - every card number pan.Find finds (13–19 Luhn-valid digits, plain,
//     in groups, full-width or escaped), and every number in exponent
//     notation or fraction whose value is one (pan.FindExponent), in the
//     message, in keys, group names and string values, in the text of
//     error values and in integers is replaced by its pan.MaskAll form
//     (first six and last four digits; the first six of a mantissa).
//
// It is the handler [NewLogger] builds on; use it to wrap any other handler
// a component is given. Values of other kinds (structs, maps, slices) are
// left to next: do not log them with request data in them.
func NewRedactingHandler(next slog.Handler) slog.Handler {
	if h, ok := next.(*redactingHandler); ok {
		return h
	}
	return &redactingHandler{next: next}
}

type redactingHandler struct {
	next slog.Handler
	// sink writes access lines directly (NewLogger's JSON handler only;
	// nil once WithAttrs or WithGroup made another handler).
	sink *lineSink
}

func (h *redactingHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h *redactingHandler) Handle(ctx context.Context, r slog.Record) error {
	msg := r.Message
	if mayHoldRun(msg) {
		msg = pan.MaskAll(msg)
	}
	// Pass r itself when no attribute changes (the common case: an access
	// line), sparing a copy of every attribute; otherwise a new record.
	same := msg == r.Message
	if same {
		r.Attrs(func(a slog.Attr) bool {
			same = sameAttr(a, redactAttr(a))
			return same
		})
	}
	if same {
		return h.next.Handle(ctx, r)
	}
	out := slog.NewRecord(r.Time, r.Level, msg, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redactAttr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

// sameAttr reports whether redactAttr left a unchanged (b is its result).
// Groups and values of kind Any count as changed unless redactAttr kept
// their kind and, for Any, the very same value.
func sameAttr(a, b slog.Attr) bool {
	if a.Key != b.Key || a.Value.Kind() != b.Value.Kind() {
		return false
	}
	switch a.Value.Kind() {
	case slog.KindGroup, slog.KindLogValuer:
		return false
	case slog.KindAny:
		// redactAttr replaces an Any only by a string (an error's masked
		// text), which changes the kind; a kept Any is the same value.
		return true
	}
	return a.Value.Equal(b.Value)
}

func (h *redactingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	safe := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		safe[i] = redactAttr(a)
	}
	return &redactingHandler{next: h.next.WithAttrs(safe)}
}

func (h *redactingHandler) WithGroup(name string) slog.Handler {
	if mayHoldRun(name) {
		name = pan.MaskAll(name)
	}
	return &redactingHandler{next: h.next.WithGroup(name)}
}

// redactAttr applies the handler's rules to one attribute (and its group
// members).
func redactAttr(a slog.Attr) slog.Attr {
	a.Value = a.Value.Resolve()
	if IsSensitiveKey(a.Key) {
		return slog.String(maskKey(a.Key), Redacted)
	}
	if a.Value.Kind() == slog.KindGroup {
		g := a.Value.Group()
		safe := make([]slog.Attr, len(g))
		for i, m := range g {
			safe[i] = redactAttr(m)
		}
		return slog.Attr{Key: maskKey(a.Key), Value: slog.GroupValue(safe...)}
	}
	return scrubAttr(nil, a)
}

func maskKey(k string) string {
	if mayHoldRun(k) {
		return pan.MaskAll(k)
	}
	return k
}

// maxUntrusted is how much of an Untrusted string is logged.
const maxUntrusted = 256

// Untrusted is text taken from a request that is not secret but that a
// client controls, so it may hold card data by mistake or on purpose: a
// host, a path, a header value, a field name. It logs (slog, fmt) as a safe
// form of itself: invalid UTF-8 and control characters replaced by U+FFFD,
// cut to 256 bytes (marked with "…", the ASCII digits and separators before
// the cut dropped, and an exponent's 'e' before them), and every card number
// in any spelling package pan reads (plain, in groups, full-width, escaped,
// or a number whose value is one) masked by pan.MaskAll, and groups of
// digits apart by two separators or a U+FFFD by pan.MaskReadable.
type Untrusted string

// LogValue implements slog.LogValuer.
func (u Untrusted) LogValue() slog.Value { return slog.StringValue(u.String()) }

// String implements fmt.Stringer and returns the safe form.
func (u Untrusted) String() string {
	s := string(u)
	cut := len(s) > maxUntrusted
	if cut {
		// A number cut in two could be the head of a card number, too
		// short to be found: its digits and separators go too.
		s = strings.TrimRight(s[:maxUntrusted], "0123456789 -.+eE")
	}
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f || c >= utf8.RuneSelf {
			clean = false
			break
		}
	}
	if !clean {
		var b strings.Builder
		for _, r := range s {
			if r == utf8.RuneError || r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 {
				r = utf8.RuneError
			}
			b.WriteRune(r)
		}
		s = b.String()
	}
	// Masked as package pan reads it, then as a reader would: groups
	// apart by two separators or a U+FFFD are a card number to whoever
	// reads the log (pan.MaskShown, MaskReadable after MaskAll; second
	// review).
	s = pan.MaskShown(s)
	if cut {
		s += "…"
	}
	return s
}
