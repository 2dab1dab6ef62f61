package audit

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestDateTextAgainstAppendFormat: one dateText written through by a
// sequence of UTC times (the same day again, the next, the day before,
// across 1970, year ends and the years it leaves to AppendFormat) writes
// what AppendFormat writes for each, whatever date it kept before.
func TestDateTextAgainstAppendFormat(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 7))
	bases := []int64{0, -1, 1, 86399, 86400, -86400, -86401, 1765000000, 253402300799, 253402300800,
		-62135596800, -62135596801, -62167219200, -62167219201, time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC).Unix()}
	var d dateText
	for n := 0; n < 200000; n++ {
		sec := bases[rng.IntN(len(bases))] + rng.Int64N(3*86400) - 86400*3/2
		if rng.IntN(8) == 0 {
			sec = rng.Int64N(1<<38) - 1<<37
		}
		tm := time.Unix(sec, rng.Int64N(1e9)*int64(rng.IntN(2))).UTC()
		got := string(d.appendTime([]byte("x"), tm))
		if want := string(tm.AppendFormat([]byte("x"), time.RFC3339Nano)); got != want {
			t.Fatalf("dateText.appendTime(%v) = %q, AppendFormat gives %q", tm, got, want)
		}
	}
}
