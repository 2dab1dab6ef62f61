package cards

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"io"
	"strings"

	"github.com/aliasgate/aliasgate/internal/base58"
)

// Card brands returned in card_brand.
const (
	BrandVisa       = "VISA"
	BrandMastercard = "MASTERCARD"
	BrandAmex       = "AMEX"
	BrandDiscover   = "DISCOVER"
	BrandJCB        = "JCB"
	BrandDiners     = "DINERS"
	BrandUnionPay   = "UNIONPAY"
	BrandMaestro    = "MAESTRO"
	BrandUnknown    = "UNKNOWN"
)

// Capabilities a card may list.
const (
	CapabilityNetworkTokens = "network-tokens"
	CapabilityCardUpdates   = "card-updates"
)

// iinRange maps the PANs whose first len(lo) digits lie in [lo, hi] to a brand.
type iinRange struct {
	lo, hi string
	brand  string
}

// iinRanges is checked in order; longer, more specific prefixes come before
// shorter ones that overlap them (Discover 6011 and 644–649 before UnionPay 62
// and Maestro 63/67, Mastercard 2221–2720 before nothing else in 2).
var iinRanges = []iinRange{
	{"6011", "6011", BrandDiscover},
	{"644", "649", BrandDiscover},
	{"65", "65", BrandDiscover},
	{"3528", "3589", BrandJCB},
	{"300", "305", BrandDiners},
	{"36", "36", BrandDiners},
	{"38", "39", BrandDiners},
	{"34", "34", BrandAmex},
	{"37", "37", BrandAmex},
	{"2221", "2720", BrandMastercard},
	{"51", "55", BrandMastercard},
	{"62", "62", BrandUnionPay},
	{"50", "50", BrandMaestro},
	{"56", "58", BrandMaestro},
	{"63", "63", BrandMaestro},
	{"67", "67", BrandMaestro},
	{"4", "4", BrandVisa},
}

// Brand returns the card brand of pan from its IIN, or UNKNOWN.
func Brand(pan string) string {
	for _, r := range iinRanges {
		n := len(r.lo)
		if len(pan) < n {
			continue
		}
		p := pan[:n]
		if p >= r.lo && p <= r.hi {
			return r.brand
		}
	}
	return BrandUnknown
}

// cvcLength is the CVC length of a brand: 4 for AMEX (CID), else 3.
func cvcLength(brand string) int {
	if brand == BrandAmex {
		return 4
	}
	return 3
}

// capabilities lists what aliasgate supports for a card of brand. Network
// tokens exist for the four schemes with a token service (Visa VTS,
// Mastercard MDES, Amex, Discover); card updates (the network's token
// updates and account updater reissues, lifecycle.go) reach a card through
// its network token, so they are listed only while it has one (tokened).
// Other brands get an empty list.
func capabilities(brand string, tokened bool) []string {
	switch brand {
	case BrandVisa, BrandMastercard, BrandAmex, BrandDiscover:
		if tokened {
			return []string{CapabilityNetworkTokens, CapabilityCardUpdates}
		}
		return []string{CapabilityNetworkTokens}
	}
	return []string{}
}

// Card types returned in card_type.
const (
	TypeCredit  = "CREDIT"
	TypeDebit   = "DEBIT"
	TypePrepaid = "PREPAID"
	TypeUnknown = "UNKNOWN"
)

// DefaultBINTable is the embedded BIN table: "prefix,card_type" lines, the
// longest matching prefix wins. It holds the well-known test card ranges.
const DefaultBINTable = `# prefix,card_type
411111,DEBIT
424242,CREDIT
400005,DEBIT
401288,CREDIT
431940,DEBIT
455673,PREPAID
555555,CREDIT
520082,DEBIT
510510,PREPAID
222300,CREDIT
378282,CREDIT
371449,CREDIT
378734,CREDIT
601111,CREDIT
601100,DEBIT
353011,CREDIT
356600,CREDIT
305693,CREDIT
361400,CREDIT
620000,DEBIT
624000,CREDIT
676770,DEBIT
`

// binTable maps BIN prefixes to card types.
type binTable map[string]string

// CheckBINTable returns the first problem of a BIN table as
// Options.BINTable reads it (config check reads cards.bin_table before
// serve does).
func CheckBINTable(r io.Reader) error {
	return parseBINTable(binTable{}, r)
}

// parseBINTable reads "prefix,card_type" lines into t (later lines replace
// earlier ones for the same prefix). Blank lines, lines starting with '#'
// and a "prefix,card_type" header are skipped. prefix is 1–11 digits;
// card_type is CREDIT, DEBIT, PREPAID or UNKNOWN (case-insensitive).
func parseBINTable(t binTable, r io.Reader) error {
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		prefix, typ, ok := strings.Cut(s, ",")
		prefix, typ = strings.TrimSpace(prefix), strings.ToUpper(strings.TrimSpace(typ))
		if !ok {
			return fmt.Errorf("cards: BIN table line %d: want prefix,card_type", line)
		}
		if strings.EqualFold(prefix, "prefix") {
			continue
		}
		if len(prefix) == 0 || len(prefix) > 11 || !allDigits(prefix) {
			return fmt.Errorf("cards: BIN table line %d: prefix must be 1-11 digits", line)
		}
		switch typ {
		case TypeCredit, TypeDebit, TypePrepaid, TypeUnknown:
		default:
			return fmt.Errorf("cards: BIN table line %d: card_type must be CREDIT, DEBIT, PREPAID or UNKNOWN", line)
		}
		t[prefix] = typ
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("cards: read BIN table: %w", err)
	}
	return nil
}

// cardType returns the type of the longest prefix of pan in t, or UNKNOWN.
func (t binTable) cardType(pan string) string {
	for n := min(len(pan), 11); n > 0; n-- {
		if typ, ok := t[pan[:n]]; ok {
			return typ
		}
	}
	return TypeUnknown
}

// fingerprint is base58(HMAC-SHA256(HMAC-SHA256(key, account), pan)).
func fingerprint(key []byte, account, pan string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(account))
	acct := m.Sum(nil)
	m = hmac.New(sha256.New, acct)
	m.Write([]byte(pan))
	return base58.EncodeFixed(m.Sum(nil), 44)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
