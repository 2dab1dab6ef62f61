// Package tsp is the token service provider side of network tokens: the
// Provider interface the Card Management API talks to, and Simulator, the
// built-in provider that behaves like a card network's token service closely
// enough to build and test a merchant flow (no network is reached).
//
// Simulator decisions:
//   - Token BIN ranges (the first 6 digits of every token PAN of a brand):
//     Visa 489537, Mastercard 558004, Amex 374856, Discover 601199. The token
//     PAN has the card's length, the rest is random, the last digit makes it
//     Luhn-valid, and it is never equal to the card's PAN. Other brands
//     (JCB, Diners, UnionPay, Maestro, unknown) → ErrUnsupportedBrand.
//   - payment_account_reference: 4-character prefix + 25 characters of
//     base32 (A–Z, 2–7) of HMAC-SHA256(key, "par\x00" ‖ PAN): 29 characters,
//     the same for every token of a PAN. Prefixes: V001 Visa, 5001
//     Mastercard, A001 Amex, D001 Discover.
//   - The token expiry is the card's expiry (and follows it through Update).
//   - Cryptograms are brand-correct (issue 22): the type, length and ECI
//     are the token's brand's (the brand of the token PAN's BIN), the ECI
//     also depends on the use (Use: a customer-initiated e-commerce payment,
//     or a merchant-initiated one on the stored credential). Visa: TAVV,
//     16 bytes, ECI 07 for both uses. Mastercard: UCAF, 20 bytes, ECI 06
//     for e-commerce and 07 card on file. Amex: AEVV, 20 bytes, 07 and 07.
//     Discover: DPAS, 20 bytes, 07 and 07. Visa, Amex and Discover use 05/06/07 (07: not 3-D Secure
//     authenticated, which a token cryptogram alone is not); Mastercard uses
//     00/01/02/06/07, where 06 is a network token without 3-D Secure and 07
//     an authenticated merchant-initiated transaction. The Mastercard
//     cryptogram is the DSRP cryptogram carried in the UCAF field, hence its
//     type name; Visa's 16 bytes are the length of the network tokens page's
//     example. value = base64 of the first <bytes> bytes of
//     HMAC-SHA256(key, "crypt\x00" ‖ type ‖ 0 ‖ ECI ‖ 0 ‖ token PAN ‖ 0 ‖
//     counter (8 bytes big endian) ‖ window (8 bytes big endian)), window =
//     Unix minutes, so a changed type or ECI fails Verify. Verify accepts a
//     cryptogram made in the last MaxAge (15 windows) whose type and ECI are
//     the brand's, once per (token, counter); a replay, an older or altered
//     one is refused. Used counters are remembered in memory only, and only
//     while the cryptogram accepted for them could verify (MaxAge from its
//     window; a cryptogram older is refused as such), at most MaxUsed at a
//     time (beyond, Verify refuses with ErrBusy: fail closed).
//   - A token's reference (Token.Ref, what Delete names it by) is "TKR"
//     and the base32 of its tokenKey: the simulator needs no table of
//     references, and a reference it did not make is ErrUnknownToken.
//   - Its memory holds no token PAN: deleted tokens and used counters are
//     kept under tokenKey, an HMAC of the token PAN with the simulator's
//     key. It remembers the latest MaxDeleted deleted tokens; an older
//     deletion is forgotten (the card record, which every gateway reads,
//     keeps the token's state; the simulator's mark only matters for a
//     deletion the card was not told of, see events.go).
//   - Lifecycle events (token updated, suspended, resumed, deleted; card
//     reissued): see events.go.
package tsp

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"math/big"
	"strings"
	"sync"
	"time"
)

// Token is a provisioned network token.
type Token struct {
	PAN      string // token PAN (sensitive: keep it in the vault)
	ExpMonth string
	ExpYear  string
	PAR      string // payment account reference
	// Ref is the token service's reference of the token (a token
	// reference id): what the token is deleted by (Provider.Delete), so
	// that a token whose PAN the requestor no longer has can still be
	// deleted. Not sensitive; never the PAN.
	Ref string
}

// Cryptogram is a payment cryptogram for one token transaction.
type Cryptogram struct {
	ECI   string `json:"eci"`
	Type  string `json:"type"`
	Value string `json:"value"`
}

// Provider is a token service provider.
type Provider interface {
	// Provision issues a token for the card.
	Provision(ctx context.Context, pan, expMonth, expYear string) (Token, error)
	// Update tells the provider the card's expiry changed (lifecycle update).
	Update(ctx context.Context, tokenPAN, expMonth, expYear string) error
	// Delete deactivates a token; no cryptogram is made for it afterwards.
	// The token is named by ref, its Token.Ref; a token stored before
	// references were kept (ref "") by its tokenPAN.
	Delete(ctx context.Context, ref, tokenPAN string) error
	// Cryptogram makes the cryptogram of transaction counter of the token
	// for a payment of the given use.
	Cryptogram(ctx context.Context, tokenPAN string, counter uint64, use Use, now time.Time) (Cryptogram, error)
	// Verify checks a cryptogram; each (token, counter) is accepted once.
	Verify(tokenPAN string, c Cryptogram, counter uint64, now time.Time) error
	// Subscribe registers the receiver of the provider's lifecycle events
	// (events.go); the Card Management side calls it once, at construction.
	Subscribe(sink Sink)
}

// Errors of the simulator.
var (
	ErrUnsupportedBrand = errors.New("tsp: the card brand has no token service")
	ErrInvalidPAN       = errors.New("tsp: invalid card number")
	ErrDeleted          = errors.New("tsp: the token is deleted")
	ErrReplay           = errors.New("tsp: cryptogram already used")
	ErrInvalid          = errors.New("tsp: cryptogram invalid or expired")
	ErrInvalidUse       = errors.New("tsp: unknown cryptogram use")
	ErrBusy             = errors.New("tsp: too many cryptograms verified within MaxAge")
	ErrUnknownToken     = errors.New("tsp: no such token")
)

// Use is what a cryptogram is for.
type Use string

// Uses of a cryptogram.
const (
	// UseEcommerce: a customer-initiated online payment (the default).
	UseEcommerce Use = "ecommerce"
	// UseCardOnFile: a merchant-initiated payment on the stored credential
	// (recurring, unscheduled).
	UseCardOnFile Use = "card_on_file"
)

// ParseUse returns the Use named s; "" is UseEcommerce.
func ParseUse(s string) (Use, error) {
	switch Use(s) {
	case "", UseEcommerce:
		return UseEcommerce, nil
	case UseCardOnFile:
		return UseCardOnFile, nil
	}
	return "", ErrInvalidUse
}

// Cryptogram types of the simulator (see the package doc).
const (
	TypeTAVV = "TAVV"
	TypeUCAF = "UCAF"
	TypeAEVV = "AEVV"
	TypeDPAS = "DPAS"
)

// cryptoSpec is a brand's cryptogram: type, length and ECI by use.
type cryptoSpec struct {
	typ  string
	size int
	eci  map[Use]string
}

var cryptoSpecs = map[string]cryptoSpec{
	BrandVisa:       {TypeTAVV, 16, map[Use]string{UseEcommerce: "07", UseCardOnFile: "07"}},
	BrandMastercard: {TypeUCAF, 20, map[Use]string{UseEcommerce: "06", UseCardOnFile: "07"}},
	BrandAmex:       {TypeAEVV, 20, map[Use]string{UseEcommerce: "07", UseCardOnFile: "07"}},
	BrandDiscover:   {TypeDPAS, 20, map[Use]string{UseEcommerce: "07", UseCardOnFile: "07"}},
}

// Constants of the simulator's cryptograms.
const (
	// Window is the time step of a cryptogram; MaxAge how long Verify accepts it.
	Window = time.Minute
	MaxAge = 15 * Window
)

// Brands the simulator tokenizes (same names as cards.Brand*).
const (
	BrandVisa       = "VISA"
	BrandMastercard = "MASTERCARD"
	BrandAmex       = "AMEX"
	BrandDiscover   = "DISCOVER"
)

type brandInfo struct{ tokenBIN, parPrefix string }

var brands = map[string]brandInfo{
	BrandVisa:       {"489537", "V001"},
	BrandMastercard: {"558004", "5001"},
	BrandAmex:       {"374856", "A001"},
	BrandDiscover:   {"601199", "D001"},
}

// BrandOf returns the brand of pan among the four tokenizable ones, or "".
func BrandOf(pan string) string {
	in := func(n int, lo, hi string) bool { return len(pan) >= n && pan[:n] >= lo && pan[:n] <= hi }
	switch {
	case in(4, "6011", "6011"), in(3, "644", "649"), in(2, "65", "65"):
		return BrandDiscover
	case in(2, "34", "34"), in(2, "37", "37"):
		return BrandAmex
	case in(4, "2221", "2720"), in(2, "51", "55"):
		return BrandMastercard
	case in(1, "4", "4"):
		return BrandVisa
	}
	return ""
}

// Bounds of a Simulator's memory.
const (
	// MaxDeleted is how many deleted tokens a Simulator remembers (the latest).
	MaxDeleted = 1 << 16
	// MaxUsed is how many used (token, counter) pairs it remembers at once.
	MaxUsed = 1 << 20
)

// tokenKey names a token in the simulator's memory: the first 16 bytes of
// HMAC-SHA256(key, "token\x00" ‖ token PAN), never the token PAN.
type tokenKey [16]byte

// usedKey is a used (token, counter) pair.
type usedKey struct {
	token   tokenKey
	counter uint64
}

// Simulator is the built-in Provider.
type Simulator struct {
	key        []byte
	mu         sync.Mutex
	used       map[usedKey]int64 // the window of the cryptogram accepted
	usedPruned int64             // the window used was last pruned at
	deleted    map[tokenKey]struct{}
	order      []tokenKey // deleted, oldest first from next once full (a ring of MaxDeleted)
	next       int
	sink       Sink // Subscribe
}

// NewSimulator returns a simulator keyed with key.
func NewSimulator(key []byte) *Simulator {
	return &Simulator{key: append([]byte(nil), key...), used: map[usedKey]int64{}, deleted: map[tokenKey]struct{}{}}
}

func (s *Simulator) tokenKey(tokenPAN string) tokenKey {
	var k tokenKey
	copy(k[:], s.mac([]byte("token\x00"), []byte(tokenPAN)))
	return k
}

// isDeleted reports whether the token of k is deleted; s.mu is held.
func (s *Simulator) isDeleted(k tokenKey) bool {
	_, ok := s.deleted[k]
	return ok
}

// markDeleted remembers the token of k as deleted, forgetting the oldest
// deletion beyond MaxDeleted; s.mu is held.
func (s *Simulator) markDeleted(k tokenKey) {
	if s.isDeleted(k) {
		return
	}
	s.deleted[k] = struct{}{}
	if len(s.order) < MaxDeleted {
		s.order = append(s.order, k)
		return
	}
	delete(s.deleted, s.order[s.next])
	s.order[s.next] = k
	s.next = (s.next + 1) % MaxDeleted
}

func (s *Simulator) mac(parts ...[]byte) []byte {
	m := hmac.New(sha256.New, s.key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// PAR returns the payment account reference of pan ("" for other brands).
func (s *Simulator) PAR(pan string) string {
	b, ok := brands[BrandOf(pan)]
	if !ok {
		return ""
	}
	enc := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(s.mac([]byte("par\x00"), []byte(pan)))
	return b.parPrefix + enc[:25]
}

func digitsOnly(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func checkDigit(payload []byte) byte {
	sum, double := 0, true
	for i := len(payload) - 1; i >= 0; i-- {
		d := int(payload[i] - '0')
		if double {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return byte('0' + (10-sum%10)%10)
}

// Provision issues a token PAN of the card's brand and length.
func (s *Simulator) Provision(_ context.Context, pan, expMonth, expYear string) (Token, error) {
	if !digitsOnly(pan) || len(pan) < 13 || len(pan) > 19 {
		return Token{}, ErrInvalidPAN
	}
	b, ok := brands[BrandOf(pan)]
	if !ok {
		return Token{}, ErrUnsupportedBrand
	}
	for {
		t := []byte(b.tokenBIN)
		for len(t) < len(pan)-1 {
			n, err := rand.Int(rand.Reader, big.NewInt(10))
			if err != nil {
				return Token{}, err
			}
			t = append(t, byte('0'+n.Int64()))
		}
		t = append(t, checkDigit(t))
		if string(t) != pan {
			return Token{PAN: string(t), ExpMonth: expMonth, ExpYear: expYear, PAR: s.PAR(pan),
				Ref: s.ref(s.tokenKey(string(t)))}, nil
		}
	}
}

// Update accepts the card's new expiry (the simulator keeps no token metadata).
func (s *Simulator) Update(_ context.Context, tokenPAN, _, _ string) error {
	k := s.tokenKey(tokenPAN)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.isDeleted(k) {
		return ErrDeleted
	}
	return nil
}

// refPrefix starts every token reference the simulator gives.
const refPrefix = "TKR"

var refEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// ref is the token reference of the token of k: its key itself, so the
// simulator keeps no table of references (k is an HMAC of the token PAN).
func (s *Simulator) ref(k tokenKey) string { return refPrefix + refEncoding.EncodeToString(k[:]) }

// Delete deactivates the token of reference ref (Token.Ref), or of
// tokenPAN when ref is "". A ref the simulator did not make is
// ErrUnknownToken.
func (s *Simulator) Delete(_ context.Context, ref, tokenPAN string) error {
	var k tokenKey
	switch {
	case ref != "":
		b, err := refEncoding.DecodeString(strings.TrimPrefix(ref, refPrefix))
		if !strings.HasPrefix(ref, refPrefix) || err != nil || len(b) != len(k) {
			return ErrUnknownToken
		}
		copy(k[:], b)
	case digitsOnly(tokenPAN):
		k = s.tokenKey(tokenPAN)
	default:
		return ErrUnknownToken
	}
	s.mu.Lock()
	s.markDeleted(k)
	s.mu.Unlock()
	return nil
}

func (s *Simulator) value(spec cryptoSpec, eci, tokenPAN string, counter uint64, window int64) string {
	var c, w [8]byte
	binary.BigEndian.PutUint64(c[:], counter)
	binary.BigEndian.PutUint64(w[:], uint64(window))
	mac := s.mac([]byte("crypt\x00"), []byte(spec.typ), []byte{0}, []byte(eci), []byte{0}, []byte(tokenPAN), []byte{0}, c[:], w[:])
	return base64.StdEncoding.EncodeToString(mac[:spec.size])
}

func window(t time.Time) int64 { return t.Unix() / int64(Window/time.Second) }

// Cryptogram makes the brand's cryptogram of tokenPAN for use.
func (s *Simulator) Cryptogram(_ context.Context, tokenPAN string, counter uint64, use Use, now time.Time) (Cryptogram, error) {
	spec, ok := cryptoSpecs[BrandOf(tokenPAN)]
	if !ok {
		return Cryptogram{}, ErrUnsupportedBrand
	}
	eci, ok := spec.eci[use]
	if !ok {
		return Cryptogram{}, ErrInvalidUse
	}
	k := s.tokenKey(tokenPAN)
	s.mu.Lock()
	del := s.isDeleted(k)
	s.mu.Unlock()
	if del {
		return Cryptogram{}, ErrDeleted
	}
	return Cryptogram{ECI: eci, Type: spec.typ, Value: s.value(spec, eci, tokenPAN, counter, window(now))}, nil
}

// Verify accepts c once if it was made for (tokenPAN, counter) less than
// MaxAge ago with the type and one of the ECIs of the token's brand.
func (s *Simulator) Verify(tokenPAN string, c Cryptogram, counter uint64, now time.Time) error {
	spec, ok := cryptoSpecs[BrandOf(tokenPAN)]
	if !ok || c.Type != spec.typ {
		return ErrInvalid
	}
	known := false
	for _, e := range spec.eci {
		known = known || e == c.ECI
	}
	if !known {
		return ErrInvalid
	}
	const windows = int64(MaxAge / Window)
	w := window(now)
	match, made := false, int64(0)
	for i := int64(0); i < windows; i++ {
		if subtle.ConstantTimeCompare([]byte(s.value(spec, c.ECI, tokenPAN, counter, w-i)), []byte(c.Value)) == 1 {
			match, made = true, w-i
		}
	}
	if !match {
		return ErrInvalid
	}
	k := usedKey{token: s.tokenKey(tokenPAN), counter: counter}
	s.mu.Lock()
	defer s.mu.Unlock()
	if w > s.usedPruned {
		// A pair whose accepted cryptogram can no longer verify needs no
		// memory: once a window.
		for u, at := range s.used {
			if w-at >= windows {
				delete(s.used, u)
			}
		}
		s.usedPruned = w
	}
	if at, ok := s.used[k]; ok && w-at < windows {
		return ErrReplay
	}
	if len(s.used) >= MaxUsed {
		return ErrBusy
	}
	s.used[k] = made
	return nil
}

var _ Provider = (*Simulator)(nil)
