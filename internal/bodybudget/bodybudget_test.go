package bodybudget

import (
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestConcurrentReservationsNeverPassTheBound: senders racing for the
// budget never hold more than it at once, none more than its share, and
// everything goes back.
func TestConcurrentReservationsNeverPassTheBound(t *testing.T) {
	b := New(1000, 300)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			src := string(rune('a' + i%4))
			for range 2000 {
				if b.Reserve(src, 100) == nil {
					if u := b.Used(); u > 1000 {
						t.Errorf("%d bytes held, over 1000", u)
					}
					b.Release(src, 100)
				}
			}
		}()
	}
	wg.Wait()
	if b.Used() != 0 || b.Sources() != 0 || b.Peak() > 1000 {
		t.Fatalf("used %d, sources %d, peak %d", b.Used(), b.Sources(), b.Peak())
	}
}

// TestNoShareAndNilBudget: a share of 0 (or the whole budget) is no share;
// a nil Budget bounds nothing; 0 bytes reserve nothing.
func TestNoShareAndNilBudget(t *testing.T) {
	b := New(100, 0)
	if err := b.Reserve("a", 100); err != nil {
		t.Fatal(err)
	}
	if err := b.Reserve("b", 1); err != ErrFull {
		t.Fatalf("got %v, want ErrFull", err)
	}
	if err := b.Reserve("b", 0); err != nil {
		t.Fatal(err)
	}
	var nb *Budget
	if err := nb.Reserve("a", 1<<40); err != nil || nb.Used() != 0 {
		t.Fatalf("nil budget: %v, %d", err, nb.Used())
	}
	nb.Release("a", 1)
}

// TestMetrics: the budget's gauges and refusal counters as /metrics shows
// them.
func TestMetrics(t *testing.T) {
	b := New(100, 50)
	reg := prometheus.NewRegistry()
	if err := b.Register(reg); err != nil {
		t.Fatal(err)
	}
	_ = b.Reserve("a", 50)
	_ = b.Reserve("a", 1) // source
	_ = b.Reserve("b", 50)
	_ = b.Reserve("c", 1) // gateway
	got := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			for _, l := range m.GetLabel() {
				name += "/" + l.GetValue()
			}
			if c := m.GetCounter(); c != nil {
				got[name] = c.GetValue()
			} else {
				got[name] = m.GetGauge().GetValue()
			}
		}
	}
	want := map[string]float64{"aliasgate_buffered_body_bytes": 100, "aliasgate_buffered_body_bytes_peak": 100,
		"aliasgate_buffered_body_bytes_max": 100, "aliasgate_buffered_body_refused_total/gateway": 1,
		"aliasgate_buffered_body_refused_total/source": 1}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
}
