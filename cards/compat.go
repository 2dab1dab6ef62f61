package cards

// Compatibility with what VGS clients send and expect (issue 22).
//
// Decisions where the spec pages are silent:
//   - cardholder: an object {"name", "address": {"address1" … "address4",
//     "city", "region", "postal_code", "country"}}, every member an optional
//     string of at most MaxCardholderLen characters, without control
//     characters or a card number a reader sees (pan.ContainsShownValue,
//     as meta; 422 with the member's pointer);
//     other members → 422. Kept in the card record as sent and returned as
//     the "cardholder" attribute to every client with cards:read (it is not
//     card data the vault must hold: PCI DSS asks that the PAN be
//     unreadable, not the name). PATCH replaces the whole object (null or
//     {} removes it); the card update lists "cardholder" in changed_fields
//     without its values (personal data is not copied into the history).
//   - token_type: "pan" (the only kind of card alias aliasgate makes, and
//     what VGS clients send today) is accepted on POST and PATCH and stored;
//     any other value → 422 invalid_token_type.
//   - An expired card is accepted and flagged: "expired": true once its
//     expiry month has ended (UTC), absent otherwise.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	pkgpan "github.com/aliasgate/aliasgate/internal/pan"
)

// MaxCardholderLen is the longest cardholder member, in characters.
const MaxCardholderLen = 200

// TokenTypePAN is the token_type of every card.
const TokenTypePAN = "pan"

// Cardholder is the cardholder attribute of a card.
type Cardholder struct {
	Name    string   `json:"name,omitempty"`
	Address *Address `json:"address,omitempty"`
}

// Address is a cardholder's billing address.
type Address struct {
	Address1   string `json:"address1,omitempty"`
	Address2   string `json:"address2,omitempty"`
	Address3   string `json:"address3,omitempty"`
	Address4   string `json:"address4,omitempty"`
	City       string `json:"city,omitempty"`
	Region     string `json:"region,omitempty"`
	PostalCode string `json:"postal_code,omitempty"`
	Country    string `json:"country,omitempty"`
}

// cardExpired reports whether a card expiring in month/year (as stored)
// has expired at now: it is valid through the last day of its month, UTC.
func cardExpired(month, year int, now time.Time) bool {
	fy, ok := fullYear(year)
	if !ok || month < 1 || month > 12 {
		return false
	}
	return !now.UTC().Before(time.Date(fy, time.Month(month)+1, 1, 0, 0, 0, 0, time.UTC))
}

// cardholderText checks one cardholder member; "" when it is good.
func cardholderText(s string) string {
	switch {
	case !utf8.ValidString(s):
		return "must be valid UTF-8"
	case utf8.RuneCountInString(s) > MaxCardholderLen:
		return fmt.Sprintf("is at most %d characters", MaxCardholderLen)
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return "must not hold control characters"
	case pkgpan.ContainsShownValue(s):
		return "must not hold a card number"
	}
	return ""
}

// stringMembers decodes raw as an object whose members are all strings
// and named in allowed; errors point below ptr.
func stringMembers(c *errs, raw json.RawMessage, ptr string, allowed ...string) (map[string]string, map[string]json.RawMessage, bool) {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil || m == nil {
		c.add(invalid(ptr, "invalid_type", ptr+" must be an object"))
		return nil, nil, false
	}
	out := map[string]string{}
	good := true
	for _, k := range sortedKeys(m) {
		if !contains(allowed, k) {
			p := ptr
			if safeName(k) {
				p += "/" + escapePointer(k)
			}
			c.add(invalid(p, "unknown_attribute", "accepted members: "+strings.Join(allowed, ", ")))
			good = false
			continue
		}
		if k == "address" { // the one object member; the caller reads it
			continue
		}
		var s string
		if !bytes.HasPrefix(bytes.TrimSpace(m[k]), []byte(`"`)) || json.Unmarshal(m[k], &s) != nil {
			c.add(invalid(ptr+"/"+k, "invalid_type", k+" must be a string"))
			good = false
			continue
		}
		if bad := cardholderText(s); bad != "" {
			c.add(invalid(ptr+"/"+k, "invalid_cardholder", k+" "+bad))
			good = false
			continue
		}
		out[k] = s
	}
	return out, m, good
}

// cardholderAttr reads cardholder; present with a nil value when it is
// null or empty (PATCH: remove it).
func cardholderAttr(c *errs, attrs map[string]json.RawMessage) (*Cardholder, bool) {
	raw, ok := attrs["cardholder"]
	if !ok {
		return nil, false
	}
	if string(bytes.TrimSpace(raw)) == "null" {
		return nil, true
	}
	top, members, good := stringMembers(c, raw, "cardholder", "name", "address")
	if members == nil {
		return nil, false
	}
	ch := &Cardholder{Name: top["name"]}
	if a, ok := members["address"]; ok && string(bytes.TrimSpace(a)) != "null" {
		m, _, ok := stringMembers(c, a, "cardholder/address", "address1", "address2", "address3", "address4",
			"city", "region", "postal_code", "country")
		good = good && ok
		addr := Address{Address1: m["address1"], Address2: m["address2"], Address3: m["address3"],
			Address4: m["address4"], City: m["city"], Region: m["region"], PostalCode: m["postal_code"],
			Country: m["country"]}
		if addr != (Address{}) {
			ch.Address = &addr
		}
	}
	if !good {
		return nil, false
	}
	if ch.Name == "" && ch.Address == nil {
		return nil, true
	}
	return ch, true
}

// tokenTypeAttr reads token_type; only "pan" is accepted.
func tokenTypeAttr(c *errs, attrs map[string]json.RawMessage) (string, bool) {
	s, ok := stringAttr(c, attrs, "token_type")
	if ok && s != TokenTypePAN {
		c.add(invalid("token_type", "invalid_token_type", `token_type must be "pan"`))
		return "", false
	}
	return s, ok
}

// sameCardholder reports whether a and b hold the same values.
func sameCardholder(a, b *Cardholder) bool {
	switch {
	case a == nil || b == nil:
		return a == b
	case a.Name != b.Name:
		return false
	case a.Address == nil || b.Address == nil:
		return a.Address == b.Address
	}
	return *a.Address == *b.Address
}
