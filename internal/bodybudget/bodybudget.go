// Package bodybudget bounds the bytes of message bodies the gateway holds
// in memory at once, whoever reads them: the proxies' phases (a body a
// filter or the leak guard reads is read whole), and the APIs that decode
// a request document.
//
// Each body is bounded by limits.max_body, but nothing bounded how many
// bodies are read at once: HTTP/2 lets one client open 250 streams on a
// connection and limits.max_conns_per_source connections, so a handful of
// clients sending max_body bodies slowly made the gateway hold streams ×
// max_body bytes, far past its memory. A Budget is that missing bound:
// a reader reserves a body's bytes before it reads the body into memory
// (Reserve) and gives them back once nothing refers to the buffer any
// more (Release). Over the gateway-wide bound the reservation fails with
// ErrFull; over one source's share of it with ErrSourceFull, so that one
// sender cannot take the whole budget from everyone else.
//
// The gateway-wide count is one atomic add a body; the per-source share
// is a map under a mutex, touched only when the share is smaller than the
// budget or a source is held to less (Limit).
package bodybudget

import (
	"errors"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// The reasons a reservation fails.
var (
	// ErrFull: the bodies in memory would be more than the budget.
	ErrFull = errors.New("bodybudget: the gateway holds as many body bytes as limits.max_buffered_bytes allows")
	// ErrSourceFull: the source's bodies in memory would be more than its
	// share of the budget.
	ErrSourceFull = errors.New("bodybudget: the source holds its share of limits.max_buffered_bytes")
)

// Budget counts the body bytes held in memory against a bound. A nil
// *Budget bounds nothing and counts nothing. Its methods are safe for
// concurrent use.
type Budget struct {
	max, share int64 // share: bytes one source may hold; >= max: no share

	used atomic.Int64
	peak atomic.Int64 // the most used has been

	refusedAll, refusedSource atomic.Int64

	mu       sync.Mutex
	bySource map[string]int64 // only when share < max or a Limit is set; no key holds 0
	limits   map[string]int64 // Limit's: sources held to less than the share
}

// New returns a Budget of max bytes (max <= 0: no bound, bytes are still
// counted) of which one source may hold share bytes (share <= 0 or >= max:
// no share but the whole budget).
func New(max, share int64) *Budget {
	if max <= 0 {
		max = 1<<63 - 1
	}
	if share <= 0 || share > max {
		share = max
	}
	b := &Budget{max: max, share: share}
	if share < max {
		b.bySource = map[string]int64{}
	}
	return b
}

// Max returns the budget's bound in bytes.
func (b *Budget) Max() int64 { return b.max }

// Share returns the bytes one source may hold.
func (b *Budget) Share() int64 { return b.share }

// Limit holds source to n bytes at once, less than the share (n <= 0 or
// at least the share: the share). For a holder that needs none of the
// share's floor, as it is never refused for ever past it (the inspector's
// copies of bodies in flight, kept partial): the share may be raised to
// hold one whole exchange, up to the whole budget. Call it before the
// budget is used.
func (b *Budget) Limit(source string, n int64) {
	if b == nil || n <= 0 || n >= b.share {
		return
	}
	if b.limits == nil {
		b.limits = map[string]int64{}
	}
	b.limits[source] = n
	if b.bySource == nil {
		b.bySource = map[string]int64{}
	}
}

// Reserve reserves n bytes for a body source is sending (or caused: a
// response is its request's sender's). It returns ErrFull or
// ErrSourceFull, reserving nothing, when the bytes do not fit. n <= 0
// reserves nothing. Every successful Reserve must be matched by a Release
// of the same source and bytes.
func (b *Budget) Reserve(source string, n int64) error {
	if b == nil || n <= 0 {
		return nil
	}
	if b.bySource != nil {
		// The share first, under the lock: a reservation the share
		// refuses never adds to the gateway-wide count, which another
		// sender's reservation reads meanwhile (added and taken back, it
		// refused their bodies that fitted: one sender past its share
		// starved the others).
		b.mu.Lock()
		s, most := b.bySource[source]+n, b.share
		if l, ok := b.limits[source]; ok {
			most = l
		}
		if s > most {
			b.mu.Unlock()
			b.refusedSource.Add(1)
			return ErrSourceFull
		}
		if err := b.add(n); err != nil {
			b.mu.Unlock()
			return err
		}
		b.bySource[source] = s
		b.mu.Unlock()
		return nil
	}
	return b.add(n)
}

// add adds n to the gateway-wide count when it fits (ErrFull when not).
func (b *Budget) add(n int64) error {
	u := b.used.Add(n)
	if u > b.max {
		b.used.Add(-n)
		b.refusedAll.Add(1)
		return ErrFull
	}
	for p := b.peak.Load(); u > p && !b.peak.CompareAndSwap(p, u); p = b.peak.Load() {
	}
	return nil
}

// Release gives back n bytes source reserved.
func (b *Budget) Release(source string, n int64) {
	if b == nil || n <= 0 {
		return
	}
	if b.bySource != nil {
		b.mu.Lock()
		if s := b.bySource[source] - n; s > 0 {
			b.bySource[source] = s
		} else {
			delete(b.bySource, source)
		}
		b.mu.Unlock()
	}
	b.used.Add(-n)
}

// Used returns the bytes reserved now.
func (b *Budget) Used() int64 {
	if b == nil {
		return 0
	}
	return b.used.Load()
}

// Peak returns the most bytes that were reserved at once.
func (b *Budget) Peak() int64 {
	if b == nil {
		return 0
	}
	return b.peak.Load()
}

// Sources returns how many sources hold bytes now (0 without a share nor
// a Limit).
func (b *Budget) Sources() int {
	if b == nil || b.bySource == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.bySource)
}

// Register registers the budget's metrics on reg:
// aliasgate_buffered_body_bytes (held now), aliasgate_buffered_body_bytes_peak
// (the most held at once since the start), aliasgate_buffered_body_bytes_max
// (the bound) and aliasgate_buffered_body_refused_total{scope} with scope
// "gateway" (ErrFull) or "source" (ErrSourceFull).
func (b *Budget) Register(reg prometheus.Registerer) error {
	refused := func(scope string, c *atomic.Int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "aliasgate_buffered_body_refused_total",
			Help:        "Bodies refused because reading them into memory would pass limits.max_buffered_bytes (scope gateway) or a source's share of it (scope source).",
			ConstLabels: prometheus.Labels{"scope": scope},
		}, func() float64 { return float64(c.Load()) })
	}
	for _, c := range []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "aliasgate_buffered_body_bytes",
			Help: "Body bytes the gateway holds in memory now (reserved against limits.max_buffered_bytes).",
		}, func() float64 { return float64(b.Used()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "aliasgate_buffered_body_bytes_peak",
			Help: "The most body bytes the gateway held in memory at once since it started.",
		}, func() float64 { return float64(b.Peak()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "aliasgate_buffered_body_bytes_max",
			Help: "limits.max_buffered_bytes: the most body bytes the gateway holds in memory at once.",
		}, func() float64 { return float64(b.max) }),
		refused("gateway", &b.refusedAll),
		refused("source", &b.refusedSource),
	} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
