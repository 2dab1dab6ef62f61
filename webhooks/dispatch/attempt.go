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
// printable ASCII, card numbers masked. It masks what it read before it
// cuts (masking keeps the length): cut first, a card number across the cut
// would keep up to all but one of its digits, no longer a Luhn-valid
// number for the mask to find.
func readExcerpt(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, bodyReadLimit))
	b = []byte(pan.MaskAll(string(b))) // every spelling, numbers in exponent notation too
	if len(b) > webhooks.ExcerptLen {
		b = b[:webhooks.ExcerptLen]
	}
	var s strings.Builder
	for _, c := range b {
		switch {
		case c >= 0x20 && c < 0x7f:
			s.WriteByte(c)
		case c == '\n' || c == '\r' || c == '\t':
			s.WriteByte(' ')
		default:
			s.WriteByte('?')
		}
	}
	return strings.TrimSpace(s.String())
}
