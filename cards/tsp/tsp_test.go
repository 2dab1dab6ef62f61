package tsp

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	pkgpan "github.com/aliasgate/aliasgate/internal/pan"
)

func luhn(s string) bool {
	sum, double := 0, false
	for i := len(s) - 1; i >= 0; i-- {
		d := int(s[i] - '0')
		if double {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

// randomPAN makes a Luhn-valid PAN of the given prefix and length.
func randomPAN(r *rand.Rand, prefix string, n int) string {
	b := []byte(prefix)
	for len(b) < n-1 {
		b = append(b, byte('0'+r.IntN(10)))
	}
	return string(append(b, checkDigit(b)))
}

var rePAR = regexp.MustCompile(`^[A-Z0-9]{29}$`)

func TestProvisionProperties(t *testing.T) {
	s := NewSimulator([]byte("k"))
	r := rand.New(rand.NewPCG(1, 2))
	cases := []struct {
		prefix, brand, par string
		n                  int
	}{
		{"4", BrandVisa, "V001", 16}, {"4", BrandVisa, "V001", 19}, {"4", BrandVisa, "V001", 13},
		{"5", BrandMastercard, "5001", 16}, {"2221", BrandMastercard, "5001", 16},
		{"37", BrandAmex, "A001", 15}, {"34", BrandAmex, "A001", 15},
		{"6011", BrandDiscover, "D001", 16}, {"65", BrandDiscover, "D001", 19},
		{"489537", BrandVisa, "V001", 16}, // card inside the token BIN range
	}
	for _, c := range cases {
		for i := 0; i < 200; i++ {
			pan := randomPAN(r, c.prefix, c.n)
			if c.prefix == "5" {
				pan = randomPAN(r, "5"+strconv.Itoa(1+r.IntN(5)), c.n)
			}
			tok, err := s.Provision(context.Background(), pan, "4", "26")
			if err != nil {
				t.Fatal(err)
			}
			if !luhn(tok.PAN) || len(tok.PAN) != len(pan) || BrandOf(tok.PAN) != c.brand || tok.PAN == pan {
				t.Fatalf("token for %s-%d: luhn %v len %d brand %s equal %v", c.brand, c.n, luhn(tok.PAN),
					len(tok.PAN), BrandOf(tok.PAN), tok.PAN == pan)
			}
			if tok.PAN[:6] != brands[c.brand].tokenBIN {
				t.Fatalf("token BIN %s", tok.PAN[:6])
			}
			if !rePAR.MatchString(tok.PAR) || tok.PAR[:4] != c.par || tok.ExpMonth != "4" || tok.ExpYear != "26" {
				t.Fatalf("token %+v", tok)
			}
			again, _ := s.Provision(context.Background(), pan, "4", "26")
			if again.PAR != tok.PAR {
				t.Fatalf("PAR not stable")
			}
			if other := s.PAR(randomPAN(r, c.prefix+"1", c.n)); other == tok.PAR {
				t.Fatalf("PAR collision")
			}
		}
	}
	if _, err := s.Provision(context.Background(), randomPAN(r, "3530", 16), "1", "30"); err != ErrUnsupportedBrand {
		t.Errorf("JCB: %v", err)
	}
	if _, err := s.Provision(context.Background(), "4111x", "1", "30"); err != ErrInvalidPAN {
		t.Errorf("bad PAN: %v", err)
	}
	if NewSimulator([]byte("other")).PAR("4111111111111111") == s.PAR("4111111111111111") {
		t.Errorf("PAR does not depend on the key")
	}
}

func TestCryptogramVerify(t *testing.T) {
	s := NewSimulator([]byte("k"))
	ctx := context.Background()
	now := time.Date(2026, 11, 23, 12, 0, 30, 0, time.UTC)
	tok, _ := s.Provision(ctx, "4111111111111111", "4", "26")
	c, err := s.Cryptogram(ctx, tok.PAN, 1, UseEcommerce, now)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(c.Value)
	if c.ECI != "07" || c.Type != "TAVV" || err != nil || len(raw) != 16 {
		t.Fatalf("cryptogram %+v", c)
	}
	if c2, _ := s.Cryptogram(ctx, tok.PAN, 2, UseEcommerce, now); c2.Value == c.Value {
		t.Errorf("counter not in the cryptogram")
	}
	// altered
	alt := c
	raw[0] ^= 1
	alt.Value = base64.StdEncoding.EncodeToString(raw)
	for _, bad := range []Cryptogram{alt, {ECI: "05", Type: c.Type, Value: c.Value}, {ECI: c.ECI, Type: "X", Value: c.Value}} {
		if err := s.Verify(tok.PAN, bad, 1, now); err != ErrInvalid {
			t.Errorf("altered %+v: %v", bad, err)
		}
	}
	if err := s.Verify(tok.PAN, c, 2, now); err != ErrInvalid {
		t.Errorf("wrong counter: %v", err)
	}
	if err := s.Verify("4895370000000000", c, 1, now); err != ErrInvalid {
		t.Errorf("wrong token: %v", err)
	}
	// expired
	if err := s.Verify(tok.PAN, c, 1, now.Add(MaxAge+time.Minute)); err != ErrInvalid {
		t.Errorf("expired: %v", err)
	}
	// accepted once within MaxAge, then a replay
	if err := s.Verify(tok.PAN, c, 1, now.Add(10*time.Minute)); err != nil {
		t.Errorf("verify: %v", err)
	}
	if err := s.Verify(tok.PAN, c, 1, now.Add(10*time.Minute)); err != ErrReplay {
		t.Errorf("replay: %v", err)
	}
	// deleted tokens get no cryptogram
	_ = s.Delete(ctx, "", tok.PAN)
	if _, err := s.Cryptogram(ctx, tok.PAN, 3, UseEcommerce, now); err != ErrDeleted {
		t.Errorf("deleted: %v", err)
	}
}

// TestCryptogramsAreBrandCorrect: each brand's token gets its type, length
// and ECI for each use; Verify accepts each once and refuses it with
// another brand's type or the other use's ECI where they differ.
func TestCryptogramsAreBrandCorrect(t *testing.T) {
	s := NewSimulator([]byte("k"))
	ctx := context.Background()
	now := time.Date(2026, 11, 23, 12, 0, 30, 0, time.UTC)
	for _, tc := range []struct {
		pan, typ string
		size     int
		eci      map[Use]string
	}{
		{"4111111111111111", "TAVV", 16, map[Use]string{UseEcommerce: "07", UseCardOnFile: "07"}},
		{"5555555555554444", "UCAF", 20, map[Use]string{UseEcommerce: "06", UseCardOnFile: "07"}},
		{"378282246310005", "AEVV", 20, map[Use]string{UseEcommerce: "07", UseCardOnFile: "07"}},
		{"6011111111111117", "DPAS", 20, map[Use]string{UseEcommerce: "07", UseCardOnFile: "07"}},
	} {
		tok, err := s.Provision(ctx, tc.pan, "4", "30")
		if err != nil {
			t.Fatal(err)
		}
		counter := uint64(0)
		for _, use := range []Use{UseEcommerce, UseCardOnFile} {
			counter++
			c, err := s.Cryptogram(ctx, tok.PAN, counter, use, now)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := base64.StdEncoding.DecodeString(c.Value)
			if c.Type != tc.typ || c.ECI != tc.eci[use] || err != nil || len(raw) != tc.size {
				t.Errorf("%s %s: cryptogram %+v (%d bytes), want %s %s %d bytes", tc.typ, use, c, len(raw), tc.typ, tc.eci[use], tc.size)
			}
			for _, bad := range []Cryptogram{{ECI: c.ECI, Type: "TAVV", Value: c.Value}, {ECI: "05", Type: c.Type, Value: c.Value}} {
				if bad.Type == c.Type && bad.ECI == c.ECI {
					continue
				}
				if err := s.Verify(tok.PAN, bad, counter, now); err != ErrInvalid {
					t.Errorf("%s %s: altered %+v verified: %v", tc.typ, use, bad, err)
				}
			}
			if err := s.Verify(tok.PAN, c, counter, now); err != nil {
				t.Errorf("%s %s: verify: %v", tc.typ, use, err)
			}
		}
	}
	mc, _ := s.Provision(ctx, "5555555555554444", "4", "30")
	c, _ := s.Cryptogram(ctx, mc.PAN, 9, UseEcommerce, now)
	c.ECI = "07" // the card-on-file ECI on an e-commerce cryptogram
	if err := s.Verify(mc.PAN, c, 9, now); err != ErrInvalid {
		t.Errorf("Mastercard cryptogram with the other use's ECI verified: %v", err)
	}
	if _, err := s.Cryptogram(ctx, mc.PAN, 10, Use("moto"), now); err != ErrInvalidUse {
		t.Errorf("unknown use: %v", err)
	}
	if u, err := ParseUse(""); u != UseEcommerce || err != nil {
		t.Errorf("ParseUse(\"\") = %q, %v", u, err)
	}
	if _, err := ParseUse("recurring"); err != ErrInvalidUse {
		t.Errorf("ParseUse(recurring) = %v", err)
	}
}

type sinkFunc func(context.Context, Event) error

func (f sinkFunc) TokenEvent(ctx context.Context, ev Event) error { return f(ctx, ev) }

// TestRaise: each event reaches the sink; the simulator enforces
// deletion, and keeps no suspension (the card record, shared by every
// gateway, holds it: a second simulator, another gateway's, would not hear
// of a resume raised through this one); a reissued PAN keeps the BIN and
// length, is Luhn-valid and new; Event never prints a PAN.
func TestRaise(t *testing.T) {
	s := NewSimulator([]byte("k"))
	ctx := context.Background()
	const card = "4111111111111111"
	tok, err := s.Provision(ctx, card, "4", "30")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Raise(ctx, RaiseRequest{Type: EventTokenSuspended, TokenPAN: tok.PAN}); !errors.Is(err, ErrNoSink) {
		t.Errorf("no sink: %v", err)
	}
	var got []Event
	s.Subscribe(sinkFunc(func(_ context.Context, ev Event) error { got = append(got, ev); return nil }))
	now := time.Now()
	crypt := func() error { _, err := s.Cryptogram(ctx, tok.PAN, uint64(len(got)), UseEcommerce, now); return err }
	other := NewSimulator([]byte("k")) // another gateway's simulator
	other.Subscribe(sinkFunc(func(context.Context, Event) error { return nil }))
	if _, err := s.Raise(ctx, RaiseRequest{Type: EventTokenSuspended, TokenPAN: tok.PAN, Requestor: "a/b"}); err != nil || crypt() != nil {
		t.Errorf("suspended: %v, cryptogram %v (the requestor enforces a suspension)", err, crypt())
	}
	if _, err := other.Raise(ctx, RaiseRequest{Type: EventTokenResumed, TokenPAN: tok.PAN, Requestor: "a/b"}); err != nil || crypt() != nil {
		t.Errorf("resumed through another simulator: %v, cryptogram here %v", err, crypt())
	}
	if _, err := s.Raise(ctx, RaiseRequest{Type: EventTokenResumed, TokenPAN: tok.PAN}); err != nil || crypt() != nil {
		t.Errorf("resumed: %v, cryptogram %v", err, crypt())
	}
	if _, err := s.Raise(ctx, RaiseRequest{Type: EventTokenUpdated, TokenPAN: tok.PAN, ExpMonth: "5", ExpYear: "2031"}); err != nil {
		t.Errorf("updated: %v", err)
	}
	for i := 0; i < 50; i++ {
		ev, err := s.Raise(ctx, RaiseRequest{Type: EventCardReissued, TokenPAN: tok.PAN, CardPAN: card, NewPAN: true})
		if err != nil || ev.NewPAN == card || !strings.HasPrefix(ev.NewPAN, "411111") || len(ev.NewPAN) != len(card) ||
			!pkgpan.Valid(ev.NewPAN) {
			t.Fatalf("reissue: %v (new PAN of %d digits)", err, len(ev.NewPAN))
		}
		for _, s := range []string{ev.String(), fmt.Sprintf("%#v", ev), fmt.Sprint(ev.LogValue())} {
			if strings.Contains(s, ev.NewPAN) || strings.Contains(s, tok.PAN) {
				t.Fatalf("an event prints a PAN: %s", s)
			}
		}
	}
	for _, bad := range []RaiseRequest{
		{Type: EventTokenUpdated, TokenPAN: tok.PAN},
		{Type: EventTokenUpdated, TokenPAN: tok.PAN, ExpMonth: "5"},
		{Type: EventTokenSuspended, TokenPAN: tok.PAN, NewPAN: true},
		{Type: EventCardReissued, TokenPAN: tok.PAN},
		{Type: EventCardReissued, TokenPAN: tok.PAN, NewPAN: true, CardPAN: "12"},
		{Type: "explode", TokenPAN: tok.PAN},
		{Type: EventTokenSuspended},
	} {
		if _, err := s.Raise(ctx, bad); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
	// token-updated without an expiry says that it needs one (it said
	// "takes a new expiry only", as if one had been given with more).
	if _, err := s.Raise(ctx, RaiseRequest{Type: EventTokenUpdated, TokenPAN: tok.PAN}); err == nil || !strings.Contains(err.Error(), "needs a new expiry") {
		t.Errorf("token-updated without an expiry: %v", err)
	}
	if _, err := s.Raise(ctx, RaiseRequest{Type: EventTokenDeleted, TokenPAN: tok.PAN}); err != nil || !errors.Is(crypt(), ErrDeleted) {
		t.Errorf("deleted: %v, cryptogram %v", err, crypt())
	}
	if _, err := s.Raise(ctx, RaiseRequest{Type: EventTokenResumed, TokenPAN: tok.PAN}); !errors.Is(err, ErrDeleted) {
		t.Errorf("resume of a deleted token: %v", err)
	}
	if len(got) != 54 { // suspended, resumed, updated, 50 reissues, deleted
		t.Errorf("the sink got %d events, want 54", len(got))
	}
}

// TestDeleteByReference: a token is deleted by the reference Provision
// gave (no PAN needed); a reference the simulator did not make deletes
// nothing.
func TestDeleteByReference(t *testing.T) {
	ctx := context.Background()
	s := NewSimulator(bytes.Repeat([]byte{5}, 32))
	tok, err := s.Provision(ctx, "4111111111111111", "4", "30")
	if err != nil || tok.Ref == "" || strings.Contains(tok.Ref, tok.PAN) {
		t.Fatalf("provision: %v, ref %q", err, tok.Ref)
	}
	for _, bad := range []string{"TKR", "TKRAAAA", "XYZ" + tok.Ref[3:], tok.Ref + "A"} {
		if err := s.Delete(ctx, bad, ""); !errors.Is(err, ErrUnknownToken) {
			t.Errorf("Delete(%q): %v, want ErrUnknownToken", bad, err)
		}
	}
	if err := s.Update(ctx, tok.PAN, "4", "30"); err != nil {
		t.Fatalf("a bad reference deleted the token: %v", err)
	}
	if err := s.Delete(ctx, tok.Ref, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Cryptogram(ctx, tok.PAN, 1, UseEcommerce, time.Now()); !errors.Is(err, ErrDeleted) {
		t.Fatalf("cryptogram after Delete by reference: %v", err)
	}
}
