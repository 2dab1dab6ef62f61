package proxy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/ratelimit"
	"github.com/aliasgate/aliasgate/routes/rewrite"
	"github.com/aliasgate/aliasgate/vault"
)

// maskingGateway is a gateway with a route /form whose leak guard masks,
// a budget of burst card-like numbers that are no alias (one an hour
// more), its recording upstream and a live alias of testPAN; known, when
// set, is its AliasChecker.
func maskingGateway(t *testing.T, burst int, known AliasChecker) (*upstream, *gateway, string) {
	t.Helper()
	up := newUpstream(t, nil)
	tv := newTestVault(t)
	made, err := tv.tok.Redact(context.Background(), []rewrite.RedactItem{{Value: testPAN, Format: "FPE_SIX_T_FOUR"}})
	if err != nil {
		t.Fatal(err)
	}
	g := newGateway(t, parseRoutes(t, "routes:\n"+inboundRoute("masking", "form", "    leak_guard: redact\n"), up.URL), tv,
		gwOptions{misses: ratelimit.NewPer(1, time.Hour, burst, nil), known: known})
	return up, g, made[0]
}

// TestMaskingGuardIsNoAliasOracle: a route whose leak guard masks
// forwards a live alias as it is and a card number that is no alias
// masked, which the app's answer may tell apart (cmd/aliasgate
// TestLeakGuardIsNoAliasOracle for a guard that blocks). Each masking is
// charged to the sender's budget (InboundOptions.Misses); once it is spent
// the sender's requests carrying a card-like number the route did not
// make are refused 429 too_many_unknown_numbers with Retry-After, the
// live alias too, nothing forwarded; a request without one passes.
func TestMaskingGuardIsNoAliasOracle(t *testing.T) {
	up, g, alias := maskingGateway(t, 2, nil)
	post := func(number string) (int, string, string) {
		resp, body := g.do(t, "POST", "/form", "application/json", strings.NewReader(`{"card":{"number":"`+number+`"}}`), nil)
		return resp.StatusCode, resp.Header.Get("Retry-After"), string(body)
	}
	if status, _, body := post(alias); status != 200 || !bytes.Contains(up.last(t).Body, []byte(alias)) {
		t.Fatalf("the live alias: %d %s", status, body)
	}
	for range 2 {
		if status, _, body := post(testPAN2); status != 200 || bytes.Contains(up.last(t).Body, []byte(testPAN2)) {
			t.Fatalf("a card number that is no alias: %d %s, upstream got %s", status, body, up.last(t).Body)
		}
	}
	before := len(up.requests())
	for _, n := range []string{alias, testPAN2} {
		status, retry, body := post(n)
		if status != 429 || retry == "" || !strings.Contains(body, "too_many_unknown_numbers") || strings.Contains(body, n) {
			t.Errorf("after the budget is spent: %d (Retry-After %q) %s", status, retry, body)
		}
	}
	if n := len(up.requests()) - before; n != 0 {
		t.Errorf("%d requests forwarded after the budget was spent", n)
	}
	if resp, body := g.do(t, "POST", "/form", "application/json", strings.NewReader(`{"order":"A-17"}`), nil); resp.StatusCode != 200 {
		t.Errorf("a request without a card number: %d %s", resp.StatusCode, body)
	}
}

// otherPANs are Luhn-valid card numbers that are no alias of the test
// vault (test cards of the networks).
var otherPANs = []string{testPAN2, "4012888888881881", "378282246310005", "6011111111111117", "5105105105105100", "4242424242424242"}

// TestMaskingGuardChargesEveryUnknownNumber: one request holding many
// candidates is a guess at each of them (the route masks all but a live
// alias, and the app's answer may tell which it forwarded), so it is
// charged each distinct card-like number that is no alias, not one: after
// one request of six wrong numbers and the alias, a budget of three is in
// debt and the next request carrying the alias is refused.
func TestMaskingGuardChargesEveryUnknownNumber(t *testing.T) {
	up, g, alias := maskingGateway(t, 3, nil)
	guesses := `{"cards":["` + strings.Join(append(slices.Clone(otherPANs), alias, otherPANs[0]), `","`) + `"]}`
	resp, body := g.do(t, "POST", "/form", "application/json", strings.NewReader(guesses), nil)
	if resp.StatusCode != 200 || !bytes.Contains(up.last(t).Body, []byte(alias)) || bytes.Contains(up.last(t).Body, []byte(testPAN2)) {
		t.Fatalf("the batch of guesses: %d %s, upstream got %s", resp.StatusCode, body, up.last(t).Body)
	}
	before := len(up.requests())
	resp, body = g.do(t, "POST", "/form", "application/json", strings.NewReader(`{"card":"`+alias+`"}`), nil)
	if resp.StatusCode != 429 || !strings.Contains(string(body), "too_many_unknown_numbers") {
		t.Errorf("after a request of %d numbers that are no alias on a budget of 3: %d %s", len(otherPANs), resp.StatusCode, body)
	}
	if n := len(up.requests()) - before; n != 0 {
		t.Errorf("%d requests forwarded after the budget was spent", n)
	}
}

// TestUnknownNumbersBudgetCountsAnIPv6SourceByItsSlash64: the budget is
// per sender, and an IPv6 sender holds a whole /64 (one subscriber's
// usual share: the connection bound and the other per-source limits count
// it so): stepping through the addresses of one /64 buys no new budget;
// an address of another /64 has its own.
func TestUnknownNumbersBudgetCountsAnIPv6SourceByItsSlash64(t *testing.T) {
	up := newUpstream(t, nil)
	g := newGateway(t, parseRoutes(t, "routes:\n"+inboundRoute("blocking", "form", "    leak_guard: block\n"), up.URL), nil,
		gwOptions{misses: ratelimit.NewPer(1, time.Hour, 2, nil), sources: NewSources([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")})})
	post := func(from string) (int, string) {
		resp, body := g.do(t, "POST", "/form", "application/json", strings.NewReader(`{"card":"`+testPAN2+`"}`),
			map[string]string{"X-Forwarded-For": from})
		return resp.StatusCode, string(body)
	}
	for i := range 3 {
		from := fmt.Sprintf("2001:db8:1:2::%x", i+1)
		want := 422
		if i == 2 {
			want = 429
		}
		if status, body := post(from); status != want {
			t.Errorf("guess %d from %s of one /64: %d, want %d: %s", i+1, from, status, want, body)
		}
	}
	if status, body := post("2001:db8:1:3::1"); status != 422 {
		t.Errorf("a guess from another /64: %d, want 422: %s", status, body)
	}
}

// heldChecker is the vault's AliasChecker holding every call until
// release is closed, counting the calls in arrived.
type heldChecker struct {
	AliasChecker
	arrived chan struct{}
	release chan struct{}
}

func (h *heldChecker) Known(ctx context.Context, candidates []string) ([]vault.Presence, error) {
	h.arrived <- struct{}{}
	<-h.release
	return h.AliasChecker.Known(ctx, candidates)
}

// TestUnknownNumbersBudgetHoldsAgainstAWave: requests sent together all
// passed the budget's check before any was charged (charged after the
// vault answered, into debt), so one wave of requests over as many
// connections as the listener allows one source, each holding as many
// candidates as the guard asks about, had every candidate answered
// before the first debt. The numbers a request will ask the vault about
// are taken from the budget before it is asked: of five requests of one
// wrong number each on a budget of two, two reach the vault and three are
// refused 429 before it.
func TestUnknownNumbersBudgetHoldsAgainstAWave(t *testing.T) {
	up := newUpstream(t, nil)
	tv := newTestVault(t)
	held := &heldChecker{AliasChecker: tv.tok, arrived: make(chan struct{}, 16), release: make(chan struct{})}
	g := newGateway(t, parseRoutes(t, "routes:\n"+inboundRoute("blocking", "form", "    leak_guard: block\n"), up.URL), tv,
		gwOptions{misses: ratelimit.NewPer(1, time.Hour, 2, nil), known: held})
	const wave = 5
	statuses := make(chan int, wave)
	for i := range wave {
		go func() {
			req, _ := http.NewRequest("POST", g.URL+"/form", strings.NewReader(`{"card":"`+otherPANs[i]+`"}`))
			req.Header.Set("Content-Type", "application/json")
			resp, err := g.Client().Do(req)
			if err != nil {
				statuses <- 0
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			statuses <- resp.StatusCode
		}()
	}
	// Every request either reached the vault (held there) or was answered.
	got := map[int]int{}
	asked := 0
	for asked+sum(got) < wave {
		select {
		case <-held.arrived:
			asked++
		case s := <-statuses:
			got[s]++
		}
	}
	close(held.release)
	for sum(got) < wave {
		got[<-statuses]++
	}
	if asked > 2 || got[429] != wave-2 || got[422] != 2 {
		t.Errorf("a wave of %d wrong numbers on a budget of 2: %d reached the vault, answers %v", wave, asked, got)
	}
}

func sum(m map[int]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// downChecker is the vault's AliasChecker failing while down is set.
type downChecker struct {
	AliasChecker
	down atomic.Bool
}

func (d *downChecker) Known(ctx context.Context, candidates []string) ([]vault.Presence, error) {
	if d.down.Load() {
		return nil, vault.ErrUnavailable
	}
	return d.AliasChecker.Known(ctx, candidates)
}

// TestMaskingGuardDoesNotChargeWhatTheVaultCouldNotAnswer: while the vault
// cannot tell aliases, a masking guard masks every number whatever it is,
// an answer that tells nothing about the numbers: a checkout re-posting
// its alias then is no guess, and spends no budget that would refuse it
// once the vault is back.
func TestMaskingGuardDoesNotChargeWhatTheVaultCouldNotAnswer(t *testing.T) {
	known := &downChecker{}
	up, g, alias := maskingGateway(t, 2, known)
	known.AliasChecker = g.vault.tok
	post := func() (int, string) {
		resp, body := g.do(t, "POST", "/form", "application/json", strings.NewReader(`{"card":"`+alias+`"}`), nil)
		return resp.StatusCode, string(body)
	}
	known.down.Store(true)
	for range 3 {
		if status, body := post(); status != 200 || bytes.Contains(up.last(t).Body, []byte(alias)) {
			t.Fatalf("the alias while the vault is away: %d %s, upstream got %s", status, body, up.last(t).Body)
		}
	}
	known.down.Store(false)
	if status, body := post(); status != 200 || !bytes.Contains(up.last(t).Body, []byte(alias)) {
		t.Errorf("the alias once the vault is back: %d %s", status, body)
	}
}
