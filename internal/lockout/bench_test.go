package lockout

import (
	"crypto/sha256"
	"runtime"
	"testing"
	"time"
)

// BenchmarkAttemptParallelRight: 64 concurrent attempts with right
// secrets from one address (a merchant's backend: every request of it
// checks its credentials), against the same checks without a table. The
// check is either CPU-bound (a token's verification) or waits (a client
// record read from the store). ns/op is the time per attempt of the whole
// burst: a table that lets fewer checks of one address run at once than
// the backend sends shows as a multiple of "none" in the wait case;
// waits/op counts the attempts that waited for the checks of their
// address (each wake-up of a waiting attempt counts again).
func BenchmarkAttemptParallelRight(b *testing.B) {
	checks := []struct {
		name  string
		check func() Outcome
	}{
		{"cpu", func() Outcome {
			var s [32]byte
			for range 64 {
				s = sha256.Sum256(s[:])
			}
			if s[0] == 0 && s[1] == 0 && s[2] == 0 && s[3] == 0 {
				runtime.Gosched()
			}
			return Pass
		}},
		{"wait", func() Outcome {
			time.Sleep(200 * time.Microsecond)
			return Pass
		}},
	}
	for _, c := range checks {
		for _, table := range []bool{false, true} {
			name := c.name + "/none"
			if table {
				name = c.name + "/table"
			}
			b.Run(name, func(b *testing.B) {
				tb := New(Options{})
				waits := 0
				tb.onWait = func() { waits++ } // under tb.mu
				b.ReportAllocs()
				b.SetParallelism(max(64/runtime.GOMAXPROCS(0), 1))
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if !table {
							c.check()
							continue
						}
						if v, _ := tb.Attempt("198.51.100.9", c.check); v != Allowed {
							b.Errorf("a right secret: %v", v)
							return
						}
					}
				})
				b.ReportMetric(float64(waits)/float64(b.N), "waits/op")
			})
		}
	}
}
