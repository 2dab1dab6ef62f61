package abuse

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/vault"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type recorder struct {
	mu      sync.Mutex
	alerts  []Alert
	refused map[string]int
}

func (r *recorder) opts(clk *clock) Options {
	r.refused = map[string]int{}
	return Options{Now: clk.now,
		Alert:   func(_ context.Context, a Alert) { r.mu.Lock(); r.alerts = append(r.alerts, a); r.mu.Unlock() },
		Refused: func(l string) { r.mu.Lock(); r.refused[l]++; r.mu.Unlock() }}
}

// guesses returns n Luhn-agnostic 16-digit candidates of one group (first
// 6 and last 4 fixed), starting at middle.
func guesses(middle, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, "411111%06d1111", middle+i)
	}
	return out
}

func all(n int, v bool) []bool {
	out := make([]bool, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func throttled(t *testing.T, err error, limit string) {
	t.Helper()
	var te *vault.ThrottleError
	if !errors.As(err, &te) || !errors.Is(err, vault.ErrThrottled) || te.Limit != limit || te.RetryAfter < time.Second {
		t.Fatalf("err = %v, want a ThrottleError of %s with a Retry-After", err, limit)
	}
}

func TestEnumerationIsFlaggedAndPenalised(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	rec := &recorder{}
	lim := Limits{Threshold: 10, Window: time.Hour, Penalty: time.Hour}
	g := New(lim, rec.opts(clk))
	attacker := vault.WithClient(context.Background(), "cli_attacker")
	other := vault.WithClient(context.Background(), "cli_shop")

	// Up to the threshold of new values in one group passes, in any split.
	if err := g.Admit(attacker, guesses(0, 6), all(6, true), 0); err != nil {
		t.Fatal(err)
	}
	if err := g.Admit(attacker, guesses(6, 4), all(4, true), 0); err != nil {
		t.Fatal(err)
	}
	// Known values are not counted.
	if err := g.Admit(attacker, guesses(0, 10), all(10, false), 0); err != nil {
		t.Fatal(err)
	}
	// The 11th new value of the group flags the caller: one alert.
	throttled(t, g.Admit(attacker, guesses(10, 1), all(1, true), 0), LimitEnumeration)
	if len(rec.alerts) != 1 || rec.alerts[0] != (Alert{Caller: "client:cli_attacker", Kind: LimitEnumeration}) {
		t.Fatalf("alerts = %+v", rec.alerts)
	}
	// During the penalty every digit value is refused, known or new, in any
	// group, so a refusal says nothing about which guess was right.
	throttled(t, g.Admit(attacker, guesses(0, 1), all(1, false), 0), LimitEnumeration)
	throttled(t, g.Admit(attacker, [][]byte{[]byte("5555555555554444")}, all(1, true), 0), LimitEnumeration)
	// Values without digits still pass; other callers are not touched.
	if err := g.Admit(attacker, [][]byte{[]byte("jane@example.com")}, all(1, true), 0); err != nil {
		t.Fatal(err)
	}
	if err := g.Admit(other, guesses(100, 10), all(10, true), 0); err != nil {
		t.Fatalf("another caller was refused: %v", err)
	}
	if !g.Flagged("client:cli_attacker") || g.Flagged("client:cli_shop") {
		t.Fatal("Flagged disagrees")
	}
	// Each refused try starts the penalty again; quiet for a penalty ends it.
	clk.add(59 * time.Minute)
	throttled(t, g.Admit(attacker, guesses(0, 1), all(1, false), 0), LimitEnumeration)
	clk.add(59 * time.Minute)
	if !g.Flagged("client:cli_attacker") {
		t.Fatal("a refused try did not renew the penalty")
	}
	clk.add(2 * time.Minute)
	if err := g.Admit(attacker, guesses(200, 10), all(10, true), 0); err != nil {
		t.Fatalf("after the penalty: %v", err)
	}
	if len(rec.alerts) != 1 {
		t.Fatalf("a renewed penalty raised another alert: %+v", rec.alerts)
	}
	if rec.refused[LimitEnumeration] != 4 {
		t.Fatalf("refusals counted: %v", rec.refused)
	}
}

func TestEnumerationWindowAndGroups(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	g := New(Limits{Threshold: 3, Window: time.Hour, Penalty: time.Hour}, Options{Now: clk.now})
	ctx := vault.WithClient(context.Background(), "c")
	// Different groups are counted apart: first 6, last 4 and length all
	// part the groups; separators do not.
	distinct := [][]byte{
		[]byte("4111110000001111"), []byte("4111120000001111"), []byte("4111110000002222"),
		[]byte("411111000001111"), []byte("4111 1100 0000 3333"),
	}
	for range 3 {
		if err := g.Admit(ctx, distinct, all(len(distinct), true), 0); err != nil {
			t.Fatal(err)
		}
	}
	// The same group spelt with dashes counts with the plain spelling.
	throttled(t, g.Admit(ctx, [][]byte{[]byte("4111-1100-0000-3333")}, all(1, true), 0), LimitEnumeration)

	// A window that ends forgets its count.
	g = New(Limits{Threshold: 3, Window: time.Hour, Penalty: time.Hour}, Options{Now: clk.now})
	if err := g.Admit(ctx, guesses(0, 3), all(3, true), 0); err != nil {
		t.Fatal(err)
	}
	clk.add(time.Hour)
	if err := g.Admit(ctx, guesses(3, 3), all(3, true), 0); err != nil {
		t.Fatalf("a new window: %v", err)
	}
	// One call over the threshold by itself is refused whole.
	throttled(t, g.Admit(vault.WithClient(context.Background(), "d"), guesses(0, 4), all(4, true), 0), LimitEnumeration)
}

func TestGroupOf(t *testing.T) {
	for _, tc := range []struct {
		v  string
		ok bool
	}{
		{"4111111111111111", true},
		{"4111 1111 1111 1111", true},
		{"123-45-6789", true},           // an SSN: length and last 4
		{"12345678", false},             // too short to guess at
		{"41111111111111111111", false}, // 20 digits
		{"4111x11111111111", false},
		{"", false},
	} {
		if _, ok := groupOf([]byte(tc.v)); ok != tc.ok {
			t.Errorf("groupOf(%q) ok = %v, want %v", tc.v, ok, tc.ok)
		}
	}
	a, _ := groupOf([]byte("123-45-6789"))
	b, _ := groupOf([]byte("987-65-6789"))
	if a != b {
		t.Error("two 9-digit values with the same last 4 are in different groups")
	}
}

// TestConcurrentGuessesCannotPassTheThreshold: calls racing each other
// reserve their counts under the lock, so no more than Threshold new
// values of a group are ever admitted.
func TestConcurrentGuessesCannotPassTheThreshold(t *testing.T) {
	g := New(Limits{Threshold: 10, Window: time.Hour, Penalty: time.Hour}, Options{})
	ctx := vault.WithClient(context.Background(), "c")
	var wg sync.WaitGroup
	var mu sync.Mutex
	admitted := 0
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if g.Admit(ctx, guesses(i*3, 3), all(3, true), 0) == nil {
				mu.Lock()
				admitted += 3
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if admitted > 10 {
		t.Fatalf("%d new values of one group admitted, threshold 10", admitted)
	}
}

func TestSourceNewValues(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	rec := &recorder{}
	g := New(Limits{SourceNew: 6, SourceBurst: 3}, rec.opts(clk))
	src := vault.WithSource(vault.WithRoute(context.Background(), "checkout"), "203.0.113.7")
	words := func(n int) [][]byte {
		out := make([][]byte, n)
		for i := range out {
			out[i] = fmt.Appendf(nil, "value-%d", i)
		}
		return out
	}
	if err := g.Admit(src, words(3), all(3, true), 0); err != nil {
		t.Fatal(err)
	}
	throttled(t, g.Admit(src, words(1), all(1, true), 0), LimitSourceNew)
	// Known values cost nothing; clients are not counted by source.
	if err := g.Admit(src, words(5), all(5, false), 0); err != nil {
		t.Fatal(err)
	}
	if err := g.Admit(vault.WithClient(src, "cli"), words(5), all(5, true), 0); err != nil {
		t.Fatal(err)
	}
	// Another source has its own bucket; an IPv6 /64 is one source.
	v6a := vault.WithSource(context.Background(), "2001:db8:1:2::10")
	v6b := vault.WithSource(context.Background(), "2001:db8:1:2:ffff::99")
	if err := g.Admit(v6a, words(3), all(3, true), 0); err != nil {
		t.Fatal(err)
	}
	throttled(t, g.Admit(v6b, words(1), all(1, true), 0), LimitSourceNew)
	// 6 a minute: one token every 10 s.
	clk.add(10 * time.Second)
	if err := g.Admit(src, words(1), all(1, true), 0); err != nil {
		t.Fatalf("after a refill: %v", err)
	}
	// A message larger than the bucket takes the whole bucket once full.
	clk.add(time.Minute)
	if err := g.Admit(src, words(50), all(50, true), 0); err != nil {
		t.Fatalf("a message over the burst, bucket full: %v", err)
	}
}

// TestRefusedCallIsNotCounted: a call refused by the source bucket leaves
// its group counts as they were (nothing was stored).
func TestRefusedCallIsNotCounted(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	g := New(Limits{SourceNew: 1, SourceBurst: 1, Threshold: 2, Window: time.Hour, Penalty: time.Hour}, Options{Now: clk.now})
	src := vault.WithSource(context.Background(), "198.51.100.1")
	if err := g.Admit(src, guesses(0, 1), all(1, true), 0); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		throttled(t, g.Admit(src, guesses(1, 1), all(1, true), 0), LimitSourceNew)
	}
	clk.add(time.Minute)
	if err := g.Admit(src, guesses(1, 1), all(1, true), 0); err != nil {
		t.Fatalf("refused calls were counted against the group: %v", err)
	}
}

func TestDuplicatesFlag(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	rec := &recorder{}
	g := New(Limits{Duplicates: 3, Threshold: 10, Window: time.Hour, Penalty: time.Hour}, rec.opts(clk))
	ctx := vault.WithClient(context.Background(), "cli")
	for range 3 {
		if err := g.NoteDuplicate(ctx); err != nil {
			t.Fatal(err)
		}
	}
	throttled(t, g.NoteDuplicate(ctx), LimitDuplicates)
	if len(rec.alerts) != 1 || rec.alerts[0].Kind != LimitDuplicates {
		t.Fatalf("alerts = %+v", rec.alerts)
	}
	// A caller flagged by duplicates may not tokenize digits either.
	throttled(t, g.Admit(ctx, guesses(0, 1), all(1, false), 0), LimitEnumeration)
	clk.add(time.Hour + time.Second)
	if err := g.NoteDuplicate(ctx); err != nil {
		t.Fatalf("after the penalty: %v", err)
	}
}

// TestCallersAreBounded: past MaxCallers a flood of addresses does not grow
// the table: each new one takes the place of a caller with nothing worth
// remembering (TestFullTableMakesRoomForNewSenders; when none can make
// room, new callers share one overflow state), and each is limited on its
// own.
func TestCallersAreBounded(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	g := New(Limits{Threshold: 5, Window: time.Hour, Penalty: time.Hour, MaxCallers: 100}, Options{Now: clk.now})
	var last context.Context
	for i := range 1000 {
		last = vault.WithSource(context.Background(), fmt.Sprintf("10.0.%d.%d", i/256, i%256))
		if err := g.Admit(last, guesses(i, 1), all(1, true), 0); err != nil {
			t.Fatalf("caller %d: %v", i, err)
		}
	}
	if n := g.Tracked(); n > 101 {
		t.Fatalf("%d callers tracked, bound 100 (+1 overflow)", n)
	}
	if err := g.Admit(last, guesses(2000, 4), all(4, true), 0); err != nil {
		t.Fatal(err)
	}
	throttled(t, g.Admit(last, guesses(2004, 1), all(1, true), 0), LimitEnumeration)
	// Once their window is over, quiet callers are swept and room is made.
	clk.add(2 * time.Hour)
	if err := g.Admit(vault.WithSource(context.Background(), "192.0.2.1"), guesses(0, 1), all(1, true), 0); err != nil {
		t.Fatal(err)
	}
	if !g.hasCaller("source:192.0.2.1") {
		t.Fatal("a new caller was not tracked after the sweep")
	}
}

// TestAnonymousSourcesCannotCrowdOutClients: the callers are bounded per
// kind. Anonymous senders of the inbound proxy (one per address, or IPv6
// /64) that fill the table do not touch the API clients: a client the
// Guard had not seen yet (of any account) still gets its own state and is
// admitted, and is limited on its own. Before, it joined the anonymous
// overflow state and was refused for the whole penalty (found in review:
// one party with enough addresses could stop every account's new card
// numbers for an hour). A source past the bound that gets flagged is
// flagged alone: the next one takes the place of another caller with
// nothing to remember (TestFullTableMakesRoomForNewSenders).
func TestAnonymousSourcesCannotCrowdOutClients(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	g := New(Limits{Threshold: 5, Window: time.Hour, Penalty: time.Hour, MaxCallers: 100}, Options{Now: clk.now})
	for i := range 100 {
		ctx := vault.WithSource(context.Background(), fmt.Sprintf("2001:db8:%x::1", i))
		if err := g.Admit(ctx, guesses(i*10, 1), all(1, true), 0); err != nil {
			t.Fatalf("source %d: %v", i, err)
		}
	}
	// One more address, past the bound: six guesses of one group flag it,
	// not the sources after it.
	late := vault.WithSource(context.Background(), "2001:db8:ffff::1")
	throttled(t, g.Admit(late, guesses(5000, 6), all(6, true), 0), LimitEnumeration)
	if err := g.Admit(vault.WithSource(context.Background(), "2001:db8:fffe::1"), guesses(7000, 1), all(1, true), 0); err != nil {
		t.Fatalf("a later source shares the flagged one's state: %v", err)
	}
	throttled(t, g.Admit(late, guesses(8000, 1), all(1, true), 0), LimitEnumeration)

	// A client seen for the first time: its own state, admitted.
	client := vault.WithAccount(vault.WithClient(context.Background(), "ACclientOfAccountB"), "acct_b")
	if err := g.Admit(client, guesses(9000, 1), all(1, true), 0); err != nil {
		t.Fatalf("a new API client shares the anonymous overflow state: %v", err)
	}
	if !g.hasCaller("client:ACclientOfAccountB") {
		t.Fatal("the client is not tracked on its own")
	}
	// ... and limited on its own: its sixth guess of a group flags it alone.
	if err := g.Admit(client, guesses(9001, 4), all(4, true), 0); err != nil {
		t.Fatal(err)
	}
	throttled(t, g.Admit(client, guesses(9005, 1), all(1, true), 0), LimitEnumeration)
	other := vault.WithClient(context.Background(), "ACanotherClient")
	if err := g.Admit(other, guesses(9000, 1), all(1, true), 0); err != nil {
		t.Fatalf("another client is refused for the first one's guesses: %v", err)
	}

	// Clients are bounded too, apart from the sources.
	for i := range 200 {
		_ = g.Admit(vault.WithClient(context.Background(), fmt.Sprintf("ACc%d", i)), guesses(20000+i*10, 1), all(1, true), 0)
	}
	if n := g.Tracked(); n > 202 {
		t.Fatalf("%d callers tracked, bound 100 sources + 100 clients (+2 overflow)", n)
	}
}

func (g *Guard) hasCaller(name string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.callers[name] != nil
}

func TestCallerOf(t *testing.T) {
	for _, tc := range []struct {
		a    vault.Actor
		want string
	}{
		{vault.Actor{Client: "c1", Source: "10.0.0.1", Route: "r"}, "client:c1"},
		{vault.Actor{Source: "10.0.0.1", Route: "r"}, "source:10.0.0.1"},
		{vault.Actor{Source: "::ffff:10.0.0.1"}, "source:10.0.0.1"},
		{vault.Actor{Source: "2001:db8::1"}, "source:2001:db8::/64"},
		{vault.Actor{Route: "r"}, "route:r"},
		{vault.Actor{}, "unknown"},
	} {
		if got := CallerOf(tc.a); got != tc.want {
			t.Errorf("CallerOf(%+v) = %q, want %q", tc.a, got, tc.want)
		}
	}
}

// TestDefaultLimitsHoldAnEnumerationForADay is the target of issue 19 at
// the default limits: an attacker who redacts Luhn-valid guesses at an
// FPE_SIX_T_FOUR alias (6 middle digits: 100,000 candidates, 50,000 tries
// expected) is flagged within its first minute, and however it paces
// itself, it gets too few guesses admitted in 24 hours to expect success
// (fewer than 300 of the 50,000).
func TestDefaultLimitsHoldAnEnumerationForADay(t *testing.T) {
	const candidates, expectedTries = 100_000, 50_000
	for _, tc := range []struct {
		name string
		// next returns how long the attacker waits after a try.
		next func(admitted bool, retry time.Duration) time.Duration
	}{
		// As fast as the attacker (139 requests a second), obeying
		// Retry-After.
		{"fast, obeying Retry-After", func(ok bool, retry time.Duration) time.Duration {
			if ok {
				return 7 * time.Millisecond
			}
			return retry
		}},
		// Hammering through the penalty (each try renews it), once a second.
		{"ignoring Retry-After", func(bool, time.Duration) time.Duration { return time.Second }},
		// Just under the threshold: one guess every 6 minutes, never flagged.
		{"paced under the threshold", func(bool, time.Duration) time.Duration { return 6*time.Minute + time.Second }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := &clock{t: time.Unix(1_800_000_000, 0)}
			rec := &recorder{}
			g := New(DefaultLimits(), rec.opts(clk))
			ctx := vault.WithClient(context.Background(), "attacker")
			start := clk.now()
			admitted, tries := 0, 0
			var firstAlert time.Duration = -1
			for clk.now().Sub(start) < 24*time.Hour && tries < 20_000_000 {
				err := g.Admit(ctx, guesses(tries, 1), all(1, true), 0)
				tries++
				var te *vault.ThrottleError
				ok := err == nil
				if ok {
					admitted++
				} else if !errors.As(err, &te) {
					t.Fatal(err)
				}
				if firstAlert < 0 && len(rec.alerts) > 0 {
					firstAlert = clk.now().Sub(start)
				}
				retry := time.Duration(0)
				if te != nil {
					retry = te.RetryAfter
				}
				clk.add(tc.next(ok, retry))
			}
			t.Logf("24 h: %d tries, %d admitted (%.3f%% of the %d candidates); first alert after %v",
				tries, admitted, 100*float64(admitted)/candidates, candidates, firstAlert)
			if admitted >= 300 || admitted*100 >= expectedTries {
				t.Fatalf("%d guesses admitted in 24 h", admitted)
			}
			if tc.name != "paced under the threshold" && (firstAlert < 0 || firstAlert > time.Minute) {
				t.Fatalf("first alert after %v, want within a minute", firstAlert)
			}
		})
	}
}

// BenchmarkAdmit is the Guard's cost per vault call at the default limits:
// a checkout's known card (the steady state) and a new one per call.
func BenchmarkAdmit(b *testing.B) {
	for _, tc := range []struct {
		name string
		new  bool
	}{{"known card", false}, {"new card", true}} {
		b.Run(tc.name, func(b *testing.B) {
			lim := DefaultLimits()
			lim.SourceNew = 0 // one source: the bucket would refuse a new card per call
			lim.Threshold = 1 << 30
			g := New(lim, Options{})
			ctx := vault.WithSource(vault.WithRoute(context.Background(), "checkout"), "203.0.113.7")
			values := [][]byte{[]byte("4111111111111111")}
			isNew := []bool{tc.new}
			b.ReportAllocs()
			for b.Loop() {
				if err := g.Admit(ctx, values, isNew, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestGroupsPerCallerAreBounded: a caller tokenizing many distinct groups
// (a bulk import) keeps at most maxGroupsPerCaller of them, and a group
// being guessed at (count 2 or more) outlives the single-value groups
// pushed in to flush it.
func TestGroupsPerCallerAreBounded(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	g := New(Limits{Threshold: 5, Window: time.Hour, Penalty: time.Hour}, Options{Now: clk.now})
	ctx := vault.WithClient(context.Background(), "bulk")
	if err := g.Admit(ctx, guesses(0, 4), all(4, true), 0); err != nil { // the group under attack: 4 guesses
		t.Fatal(err)
	}
	for i := range 3 * maxGroupsPerCaller {
		v := fmt.Appendf(nil, "5%05d%06d%04d", i%100000, i, i%10000) // a new group each
		if err := g.Admit(ctx, [][]byte{v}, all(1, true), 0); err != nil {
			t.Fatalf("distinct group %d refused: %v", i, err)
		}
	}
	g.mu.Lock()
	n := len(g.callers["client:bulk"].groups)
	g.mu.Unlock()
	if n > maxGroupsPerCaller {
		t.Fatalf("%d groups kept for one caller, bound %d", n, maxGroupsPerCaller)
	}
	// The attacked group was not flushed: two more guesses pass the threshold.
	throttled(t, g.Admit(ctx, guesses(4, 2), all(2, true), 0), LimitEnumeration)
}

// TestSourceVolatileValues: an anonymous source has a bucket of new
// volatile values of its own (each volatile value is a new record, and
// the volatile store evicts the oldest to make room). A message over the
// burst passes once the bucket is full and leaves it in debt, so the rate
// holds whatever the size of the messages; clients are not counted; a call
// refused by the bucket of new persistent values gives back what it took
// of the volatile one.
func TestSourceVolatileValues(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	rec := &recorder{}
	g := New(Limits{SourceVolatile: 6, SourceVolatileBurst: 3, SourceNew: 60, SourceBurst: 1}, rec.opts(clk))
	src := vault.WithSource(context.Background(), "203.0.113.8")
	if err := g.Admit(src, nil, nil, 3); err != nil {
		t.Fatal(err)
	}
	throttled(t, g.Admit(src, nil, nil, 1), LimitSourceVolatile)
	// Another source, and a client at that source, are not limited.
	if err := g.Admit(vault.WithSource(context.Background(), "203.0.113.9"), nil, nil, 3); err != nil {
		t.Fatal(err)
	}
	if err := g.Admit(vault.WithClient(src, "cli"), nil, nil, 1000); err != nil {
		t.Fatal(err)
	}
	// 6 a minute: a token every 10 s. A message of 9 finds a full bucket
	// (3) after 30 s and passes, leaving it at -6: the next value waits
	// 70 s, where taking the bucket alone would have let it through in 10.
	clk.add(30 * time.Second)
	if err := g.Admit(src, nil, nil, 9); err != nil {
		t.Fatalf("a message over the burst, bucket full: %v", err)
	}
	for range 6 {
		clk.add(10 * time.Second)
		throttled(t, g.Admit(src, nil, nil, 1), LimitSourceVolatile)
	}
	clk.add(10 * time.Second)
	if err := g.Admit(src, nil, nil, 1); err != nil {
		t.Fatalf("after the debt was refilled: %v", err)
	}
	// A call refused by the bucket of new persistent values leaves the
	// volatile bucket as it was.
	other := vault.WithSource(context.Background(), "198.51.100.3")
	if err := g.Admit(other, [][]byte{[]byte("a")}, all(1, true), 0); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		throttled(t, g.Admit(other, [][]byte{[]byte("b")}, all(1, true), 3), LimitSourceNew)
	}
	if err := g.Admit(other, nil, nil, 3); err != nil {
		t.Fatalf("refused calls took from the volatile bucket: %v", err)
	}
	if rec.refused[LimitSourceVolatile] != 7 || rec.refused[LimitSourceNew] != 5 {
		t.Fatalf("refusals counted %v", rec.refused)
	}
}

// card returns a 16-digit value of its own group (first 6 and last 4 from
// i).
func card(i int) []byte { return fmt.Appendf(nil, "5%05d000000%04d", i%100000, i%10000) }

// TestFullTableMakesRoomForNewSenders: once MaxCallers sources are tracked
// (a source is kept a Window after it was last seen), a new sender takes
// the place of one with nothing worth remembering — no penalty, its
// buckets full again, the lowest count in any group (a customer who
// tokenized one card) — instead of sharing one overflow state with every
// later sender. Before, every new sender past the bound shared one bucket
// of SourceNew a minute and one enumeration state: at the defaults 100,000
// customers in an hour (28 a second) made the next ones' checkouts share 30
// new card numbers a minute, and one party with 100,000 IPv6 /64s (two
// /48s) could do the same on purpose, or flag the shared state and have
// every new customer's card number refused. Callers with something to
// remember are kept: a penalty, a bucket not full again (a CVC flood), a
// group count above the others'; and when no caller can make room, new
// senders still share the overflow state (fail closed).
func TestFullTableMakesRoomForNewSenders(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	rec := &recorder{}
	g := New(Limits{SourceNew: 30, SourceBurst: 30, SourceVolatile: 120, SourceVolatileBurst: 120,
		Threshold: 5, Window: time.Hour, Penalty: time.Hour, MaxCallers: 100}, rec.opts(clk))
	src := func(i int) context.Context {
		return vault.WithSource(context.Background(), fmt.Sprintf("2001:db8:%x:%x::1", i/65536, i%65536))
	}
	// Three callers with something to remember: a guesser four guesses
	// into one group, a flagged guesser, a CVC flooder whose bucket is
	// drained.
	guesser, flagged, flooder := src(900001), src(900002), src(900003)
	if err := g.Admit(guesser, guesses(0, 4), all(4, true), 0); err != nil {
		t.Fatal(err)
	}
	throttled(t, g.Admit(flagged, guesses(100, 6), all(6, true), 0), LimitEnumeration)
	if err := g.Admit(flooder, nil, nil, 120); err != nil {
		t.Fatal(err)
	}
	// The table fills with customers of one card each.
	for i := range 97 {
		if err := g.Admit(src(i), [][]byte{card(i)}, all(1, true), 0); err != nil {
			t.Fatalf("customer %d: %v", i, err)
		}
	}
	// Later customers, once the first ones' buckets are full again (one
	// new value is back in 2 s): every one is admitted and tracked on its
	// own.
	clk.add(2 * time.Second)
	for i := 97; i < 400; i++ {
		clk.add(100 * time.Millisecond)
		if err := g.Admit(src(i), [][]byte{card(i)}, all(1, true), 0); err != nil {
			t.Fatalf("customer %d, past the bound: %v", i, err)
		}
		if !g.hasCaller(CallerOf(vault.ActorFrom(src(i)))) {
			t.Fatalf("customer %d is not tracked on its own", i)
		}
	}
	if n := g.Tracked(); n > 101 {
		t.Fatalf("%d callers tracked, bound 100 (+1 overflow)", n)
	}
	// The callers with something to remember are still limited as before.
	if err := g.Admit(guesser, guesses(4, 1), all(1, true), 0); err != nil {
		t.Fatal(err)
	}
	throttled(t, g.Admit(guesser, guesses(5, 1), all(1, true), 0), LimitEnumeration)
	throttled(t, g.Admit(flagged, [][]byte{card(7777)}, all(1, false), 0), LimitEnumeration)
	throttled(t, g.Admit(flooder, nil, nil, 120), LimitSourceVolatile) // half refilled: its bucket was kept

	// When no caller can make room (every one serving a penalty), new
	// senders share the overflow state: fail closed.
	clk.add(2 * time.Hour) // every window over: the sweep empties the table
	for i := range 100 {
		throttled(t, g.Admit(src(1000+i), guesses(1000*i, 6), all(6, true), 0), LimitEnumeration)
	}
	late := src(5000)
	throttled(t, g.Admit(late, guesses(500000, 6), all(6, true), 0), LimitEnumeration)
	throttled(t, g.Admit(src(5001), [][]byte{card(5001)}, all(1, true), 0), LimitEnumeration)
	if g.hasCaller(CallerOf(vault.ActorFrom(late))) {
		t.Fatal("a sender was tracked past the bound while every caller serves a penalty")
	}
}

// TestFullTableLooksPastCallersThatCannotMakeRoom: a full table in which
// most callers cannot make room (serving a penalty, or spending from their
// buckets) still makes room for a new sender while one caller can: the
// search goes on past those that cannot. Before, the first 16 callers of
// the kind were weighed whatever they were, and when none of them could
// make room the new sender shared the overflow state: with 90% of the
// table flagged (11 guesses per address, renewed once an hour) 18% of new
// customers (0.9^16) shared one state, which the same party flagged to
// have their card numbers refused; here the 99 flagged of 100 sent 84% of
// new senders there.
func TestFullTableLooksPastCallersThatCannotMakeRoom(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	g := New(Limits{SourceNew: 30, SourceBurst: 30, SourceVolatile: 120, SourceVolatileBurst: 120,
		Threshold: 5, Window: time.Hour, Penalty: time.Hour, MaxCallers: 100}, Options{Now: clk.now})
	src := func(i int) context.Context {
		return vault.WithSource(context.Background(), fmt.Sprintf("2001:db8:%x:%x::1", i/65536, i%65536))
	}
	for i := range 99 {
		throttled(t, g.Admit(src(i), guesses(100*i, 6), all(6, true), 0), LimitEnumeration)
	}
	// One customer of one card: the only caller that can make room.
	if err := g.Admit(src(1000), [][]byte{card(1000)}, all(1, true), 0); err != nil {
		t.Fatal(err)
	}
	for i := 1001; i < 1021; i++ {
		clk.add(2 * time.Second) // the last customer's bucket is full again
		if err := g.Admit(src(i), [][]byte{card(i)}, all(1, true), 0); err != nil {
			t.Fatalf("customer %d: %v", i, err)
		}
		if !g.hasCaller(CallerOf(vault.ActorFrom(src(i)))) {
			t.Fatalf("customer %d shares the overflow state while a caller could make room", i)
		}
	}
	if n := g.Tracked(); n > 101 {
		t.Fatalf("%d callers tracked, bound 100 (+1 overflow)", n)
	}
	for i := range 99 { // the flagged keep their penalty
		if !g.Flagged(CallerOf(vault.ActorFrom(src(i)))) {
			t.Fatalf("flagged source %d was forgotten", i)
		}
	}
}

// TestFullTableSearchIsBounded: the search a new sender's call makes in a
// full table, under the Guard's lock, is bounded whatever the table holds:
// callers serving a penalty are skipped without a bucket look-up, and the
// buckets of at most roomChecks callers are looked up (each look-up reads
// the clock once, which this test counts). A table whose callers all have
// buckets not full again (a flood of CVCs from every address leaves each
// in debt for minutes) would otherwise have every new sender look up the
// buckets of every caller the search passes.
func TestFullTableSearchIsBounded(t *testing.T) {
	for _, flagged := range []bool{false, true} {
		clk := &clock{t: time.Unix(1_800_000_000, 0)}
		var reads atomic.Int64
		now := func() time.Time { reads.Add(1); return clk.now() }
		g := New(Limits{SourceNew: 30, SourceBurst: 30, SourceVolatile: 120, SourceVolatileBurst: 120,
			Threshold: 5, Window: time.Hour, Penalty: time.Hour, MaxCallers: 1000}, Options{Now: now})
		src := func(i int) context.Context {
			return vault.WithSource(context.Background(), fmt.Sprintf("2001:db8:%x:%x::1", i/65536, i%65536))
		}
		for i := range 1000 {
			if flagged {
				throttled(t, g.Admit(src(i), guesses(100*i, 6), all(6, true), 0), LimitEnumeration)
			} else if err := g.Admit(src(i), nil, nil, 1000); err != nil { // the volatile bucket in debt
				t.Fatal(err)
			}
		}
		for i := 5000; i < 5010; i++ {
			reads.Store(0)
			if err := g.Admit(src(i), [][]byte{card(i)}, all(1, true), 0); err != nil && !flagged {
				t.Fatal(err)
			}
			// One read by Admit, two by the new sender's buckets, two per
			// caller looked up.
			if n := reads.Load(); n > 3+2*roomChecks {
				t.Fatalf("flagged %v: a new sender's call read the clock %d times: the search is not bounded", flagged, n)
			} else if flagged && n > 3 {
				t.Fatalf("a new sender's call looked up the buckets of flagged callers (%d clock reads)", n)
			}
			if g.hasCaller(CallerOf(vault.ActorFrom(src(i)))) {
				t.Fatalf("flagged %v: sender %d tracked on its own while no caller can make room", flagged, i)
			}
		}
	}
}

// TestFullTableKeepsAGuesserWhoseLastCountIsLower: what a full table
// weighs before it forgets a caller is never less than a count of the
// caller still open. Before, it was the highest count noted in the hour
// after it was noted: a guesser whose highest group (Y, at the threshold)
// was an hour old weighed 0, less than any customer of one card, though
// it had just made 4 guesses in another group (X) whose window had an
// hour to run; the next new sender made it forget them, and the guesser
// went on guessing in X (6 in a window, past the threshold, unflagged):
// done each hour, twice the detector's rate from one address.
func TestFullTableKeepsAGuesserWhoseLastCountIsLower(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	g := New(Limits{SourceNew: 30, SourceBurst: 30, SourceVolatile: 120, SourceVolatileBurst: 120,
		Threshold: 5, Window: time.Hour, Penalty: time.Hour, MaxCallers: 10}, Options{Now: clk.now})
	src := func(i int) context.Context {
		return vault.WithSource(context.Background(), fmt.Sprintf("2001:db8:%x:%x::1", i/65536, i%65536))
	}
	groupY := func(middle, n int) [][]byte {
		out := make([][]byte, n)
		for i := range out {
			out[i] = fmt.Appendf(nil, "422222%06d2222", middle+i)
		}
		return out
	}
	guesser := src(777)
	if err := g.Admit(guesser, guesses(0, 5), all(5, true), 0); err != nil { // X at the threshold
		t.Fatal(err)
	}
	clk.add(time.Second)
	if err := g.Admit(guesser, groupY(0, 5), all(5, true), 0); err != nil { // Y at the threshold
		t.Fatal(err)
	}
	for i := range 9 { // the table fills with customers of one card
		if err := g.Admit(src(i), [][]byte{card(i)}, all(1, true), 0); err != nil {
			t.Fatal(err)
		}
	}
	// An hour on, the customers come back with another card, and X's
	// window is over: the guesser makes 4 guesses in X, fewer than Y's 5.
	clk.add(time.Hour - 11*time.Second)
	for i := range 9 {
		if err := g.Admit(src(i), [][]byte{card(100 + i)}, all(1, true), 0); err != nil {
			t.Fatal(err)
		}
	}
	clk.add(10 * time.Second)
	if err := g.Admit(guesser, guesses(100, 4), all(4, true), 0); err != nil {
		t.Fatal(err)
	}
	// Every bucket full again, Y's window over: a new customer makes room.
	clk.add(10 * time.Second)
	if err := g.Admit(src(1000), [][]byte{card(1000)}, all(1, true), 0); err != nil {
		t.Fatal(err)
	}
	if !g.hasCaller(CallerOf(vault.ActorFrom(guesser))) {
		t.Fatal("the guesser, 4 guesses into a window, was forgotten for a customer of one card")
	}
	throttled(t, g.Admit(guesser, guesses(200, 2), all(2, true), 0), LimitEnumeration)
}

// TestRefusedCallTakesBackOnlyItsOwnCounts: a call refused by a bucket
// takes back the group counts it reserved from the state it reserved them
// in. A full table may forget a caller while one of its calls is between
// the reservation and its buckets (they are full until that call takes
// from them), and a later call of the same caller then gets a new state;
// before, the refused call took its counts back from that new state by
// name, erasing what the later call had stored: a guess admitted but not
// counted. The clock, read by the buckets, runs the other calls at that
// point.
func TestRefusedCallTakesBackOnlyItsOwnCounts(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	var hook func()
	skip := 0
	now := func() time.Time {
		if hook != nil {
			if skip == 0 {
				h := hook
				hook = nil
				h()
			} else {
				skip--
			}
		}
		return clk.now()
	}
	g := New(Limits{SourceNew: 30, SourceBurst: 30, SourceVolatile: 120, SourceVolatileBurst: 120,
		Threshold: 5, Window: time.Hour, Penalty: time.Hour, MaxCallers: 2}, Options{Now: now})
	src := func(i int) context.Context {
		return vault.WithSource(context.Background(), fmt.Sprintf("2001:db8:%x:%x::1", i/65536, i%65536))
	}
	guesser, flagged, other := src(1), src(2), src(3)
	if err := g.Admit(guesser, [][]byte{card(1)}, all(1, false), 0); err != nil { // tracked, buckets untouched
		t.Fatal(err)
	}
	throttled(t, g.Admit(flagged, guesses(500, 6), all(6, true), 0), LimitEnumeration)

	// A call of 30 new values, one a guess in X: its bucket is taken from
	// after the reservation. There, another sender's call makes the table
	// forget the guesser (the only caller that can make room), and a
	// second call of the guesser, one guess in X, gets a new state, takes
	// one value from a new bucket and is admitted; the first call, short
	// of one value, is refused.
	big := append(guesses(0, 1), make([][]byte, 29)...)
	for i := 1; i < 30; i++ {
		big[i] = fmt.Appendf(nil, "v%d", i)
	}
	var second error
	skip, hook = 1, func() {
		if err := g.Admit(other, [][]byte{card(3)}, all(1, false), 0); err != nil {
			t.Errorf("other sender: %v", err)
		}
		second = g.Admit(guesser, guesses(100, 1), all(1, true), 0)
	}
	throttled(t, g.Admit(guesser, big, all(30, true), 0), LimitSourceNew)
	if second != nil {
		t.Fatalf("the guesser's second call: %v", second)
	}
	// One guess in X is stored: five more take X past the threshold.
	throttled(t, g.Admit(guesser, guesses(200, 5), all(5, true), 0), LimitEnumeration)
}

// TestForgottenCallersBucketIsKeptWhenTakenFromMeanwhile: a full table
// forgets a caller's buckets with it only while they are still full.
// Its buckets are looked up before, and a call of that caller takes from
// them outside the Guard's lock: a call that took from them in between
// had its take forgotten with them, and the caller's next value found a
// full bucket (a burst of new values for free). The clock, read by every
// bucket operation, runs the two calls in that order.
func TestForgottenCallersBucketIsKeptWhenTakenFromMeanwhile(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	var mu sync.Mutex
	countdown := 0
	var action func()
	now := func() time.Time {
		mu.Lock()
		var f func()
		if action != nil {
			if countdown--; countdown == 0 {
				f, action = action, nil
			}
		}
		mu.Unlock()
		if f != nil {
			f()
		}
		return clk.now()
	}
	arm := func(n int, f func()) { mu.Lock(); countdown, action = n, f; mu.Unlock() }
	g := New(Limits{SourceNew: 30, SourceBurst: 30, SourceVolatile: 120, SourceVolatileBurst: 120,
		Threshold: 5, Window: time.Hour, Penalty: time.Hour, MaxCallers: 2}, Options{Now: now})
	src := func(i int) context.Context {
		return vault.WithSource(context.Background(), fmt.Sprintf("2001:db8:%x:%x::1", i/65536, i%65536))
	}
	sender, flagged, newcomer := src(1), src(2), src(3)
	if err := g.Admit(sender, [][]byte{card(1)}, all(1, false), 0); err != nil { // tracked, buckets full
		t.Fatal(err)
	}
	throttled(t, g.Admit(flagged, guesses(500, 6), all(6, true), 0), LimitEnumeration)

	// The sender's call of 30 new values stops as its bucket is about to
	// be taken from (its second clock read) ...
	values := make([][]byte, 30)
	for i := range values {
		values[i] = fmt.Appendf(nil, "v%d", i)
	}
	blocked, resume, done := make(chan struct{}), make(chan struct{}), make(chan struct{})
	var senderErr error
	arm(2, func() { close(blocked); <-resume })
	go func() { senderErr = g.Admit(sender, values, all(30, true), 0); close(done) }()
	<-blocked
	// ... and goes on once the newcomer's call has looked up its buckets,
	// full (the newcomer's third read: its own, then the sender's two).
	arm(3, func() { close(resume); <-done })
	if err := g.Admit(newcomer, [][]byte{card(3)}, all(1, true), 0); err != nil {
		t.Fatal(err)
	}
	if senderErr != nil {
		t.Fatalf("the sender's 30 values: %v", senderErr)
	}
	if !g.hasCaller(CallerOf(vault.ActorFrom(sender))) {
		t.Fatal("the sender was forgotten with a bucket it had just emptied")
	}
	throttled(t, g.Admit(sender, [][]byte{[]byte("one more")}, all(1, true), 0), LimitSourceNew)
}

// TestCallerOfAppendsAsItNames: the name Admit and NoteDuplicate look up
// (appendCaller, built on the stack) is CallerOf's, for addresses of every
// kind, an address that does not parse, and the other actors.
func TestCallerOfAppendsAsItNames(t *testing.T) {
	for _, a := range []vault.Actor{
		{Source: "203.0.113.7"}, {Source: "::ffff:203.0.113.7"}, {Source: "2001:db8:1:2:3:4:5:6"},
		{Source: "fe80::1%eth0"}, {Source: "[::1]"}, {Source: "not an address"}, {Source: "::"},
		{Client: "c"}, {Route: "r"}, {},
	} {
		want := CallerOf(a)
		if got := string(appendCaller([]byte("x"), a)); got != "x"+want {
			t.Errorf("appendCaller(%+v) = %q, want %q", a, got, "x"+want)
		}
	}
}

// TestAdmitOfAKnownSenderAllocatesNothing: a sender already tracked that
// sends a known card number and a CVC (the inbound proxy's usual request)
// is admitted without a string made for its name: CallerOf parsed the
// address and made two strings on every call.
func TestAdmitOfAKnownSenderAllocatesNothing(t *testing.T) {
	g := New(DefaultLimits(), Options{})
	ctx := vault.WithSource(context.Background(), "203.0.113.7")
	values, isNew := [][]byte{[]byte("4111111111111111")}, []bool{false}
	if err := g.Admit(ctx, values, isNew, 1); err != nil {
		t.Fatal(err)
	}
	n := testing.AllocsPerRun(50, func() {
		if err := g.Admit(ctx, values, isNew, 1); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Errorf("Admit: %v allocations, want 0", n)
	}
}
