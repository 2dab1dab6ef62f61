package dispatch

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/aliasgate/aliasgate/internal/netguard"
	"github.com/aliasgate/aliasgate/internal/pan"
	"github.com/aliasgate/aliasgate/webhooks"
)

// classify names the class of a failed POST (Attempt.Error) and a detail
// that never holds a secret or a payload.
func classify(err error) (class, detail string) {
	var fe *netguard.ForbiddenError
	var dnsErr *net.DNSError
	var uae x509.UnknownAuthorityError
	var he x509.HostnameError
	var cie x509.CertificateInvalidError
	var cve *tls.CertificateVerificationError
	var ne net.Error
	switch {
	case errors.As(err, &fe):
		return "forbidden_destination", fe.Reason + " address"
	case headersTooLarge(err):
		return "response_too_large", "the answer's headers exceed 64 KiB"
	case errors.As(err, &cve), errors.As(err, &uae), errors.As(err, &he), errors.As(err, &cie):
		return "tls_certificate", "the endpoint's certificate does not verify"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout", "no answer within webhooks.timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection_refused", ""
	case errors.As(err, &dnsErr):
		return "dns", "the host name does not resolve"
	}
	return "connection", "the connection failed"
}

// readExcerpt reads at most bodyReadLimit bytes of an answer (so the
// connection can be reused) and keeps its first webhooks.ExcerptLen bytes as
// printable ASCII, card numbers masked. It masks the answer as it came
// (escapes, UTF-8 separators), then again as shown, then cuts:
//
//   - masked only as it came, a tab or a line break between digit groups
//     (a breaker to internal/pan) became a space (a separator), and
//     "4539\t5787\t6362\t1486" was kept as a card number in clear; a
//     CRLF became two spaces, which end a number for internal/pan, so it
//     is one space; NUL bytes, which UTF-16 and UTF-32 put between the
//     characters of ASCII text, became '?' and left every digit in a row
//     ("4?5?3?9?…"), so they are dropped
//     (TestExcerptMasksCardNumbersInEverySpelling);
//   - shown, digit groups apart by two separators or by anything else
//     that is neither letter nor digit ("4539 \t5787…", "4539\f5787…", a
//     no-break or zero-width space shown as '?') are a card number to
//     whoever reads the log, though not to internal/pan, which ends a
//     number there: pan.MaskReadable masks them too;
//   - masking keeps the length, so the cut comes after: cut first, a card
//     number across the cut would keep up to all but one of its digits,
//     no longer a Luhn-valid number for the mask to find;
//   - and what is kept is masked again: a run of 20 or more digits is no
//     card number to internal/pan, but the cut could leave its first 16,
//     a Luhn-valid number, at the excerpt's end.
func readExcerpt(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, bodyReadLimit))
	s := maskShown(printable(pan.MaskAll(string(b)))) // every spelling, numbers in exponent notation too
	if len(s) > webhooks.ExcerptLen {
		s = maskShown(s[:webhooks.ExcerptLen])
		s = s[:min(len(s), webhooks.ExcerptLen)]
	}
	return strings.TrimSpace(s)
}

// maskShown masks the card numbers of the printable excerpt s as
// internal/pan reads them, then as a reader would (pan.MaskReadable).
func maskShown(s string) string { return pan.MaskShown(s) }

// printable spells s in printable ASCII: NUL bytes dropped, a line break
// (CRLF, LF or CR) and a tab as one space, any other byte as '?'.
func printable(s string) string {
	s = strings.ReplaceAll(strings.ReplaceAll(s, "\x00", ""), "\r\n", "\n")
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 0x20 && c < 0x7f:
			b.WriteByte(c)
		case c == '\n' || c == '\r' || c == '\t':
			b.WriteByte(' ')
		default:
			b.WriteByte('?')
		}
	}
	return b.String()
}

// headersTooLarge reports whether err is net/http's refusal of an HTTP/1
// answer whose headers pass MaxResponseHeaderBytes. The error is
// unexported, so it is told by its text; TestHugeAnswerHeadersAreNotRead
// notices a change of it. Over HTTP/2 the transport ends the connection
// with a PROTOCOL_ERROR, which stays a "connection" failure.
func headersTooLarge(err error) bool {
	return strings.Contains(err.Error(), "server response headers exceeded")
}
