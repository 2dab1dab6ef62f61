// Package gctune sets the garbage collector's target (GOGC) from the size of
// the live heap, so that a gateway with a small heap does not collect dozens
// of times a second and one with a large heap does not multiply it.
//
// A gateway's live heap is usually small (route tables, keys, pools,
// in-flight requests) while every request allocates its headers, bodies and
// log line; with Go's default GOGC of 100 the collector then runs whenever a
// few MiB were allocated. A fixed higher GOGC fixes that but multiplies a
// large live heap too (the in-memory volatile store grows with traffic).
// Tuner gives the heap Headroom bytes of room above what is live, as a GOGC
// between Min and Max: with the defaults a 10 MiB live heap runs at 400 and
// anything from 64 MiB up at 100, Go's default. The idea is the one of
// Uber's GOGC tuner; the code is this package's.
package gctune

import (
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Options tunes Start. Zero values take the defaults.
type Options struct {
	// Headroom is the heap growth aimed at between collections; default
	// 64 MiB.
	Headroom uint64
	// Min and Max bound the GOGC set; defaults 100 and 400.
	Min, Max int
	// Interval is how often the live heap is read; default 1 s.
	Interval time.Duration
	// Live returns the live heap in bytes; default the runtime's
	// /gc/heap/live:bytes metric.
	Live func() uint64
	// Set sets GOGC; default debug.SetGCPercent.
	Set func(percent int) int
}

// Percent returns the GOGC that gives live bytes headroom bytes of growth,
// within [min, max]; max when nothing is live yet.
func Percent(live, headroom uint64, min, max int) int {
	if live == 0 {
		return max
	}
	p := headroom * 100 / live // headroom is far below 2^57: no overflow
	switch {
	case p > uint64(max):
		return max
	case p < uint64(min):
		return min
	}
	return int(p)
}

// Start sets GOGC now and then every Options.Interval from the live heap,
// until the returned stop function is called; stop restores the GOGC that
// was in effect before Start.
func Start(opts Options) (stop func()) {
	if opts.Headroom == 0 {
		opts.Headroom = 64 << 20
	}
	if opts.Min <= 0 {
		opts.Min = 100
	}
	if opts.Max < opts.Min {
		opts.Max = max(400, opts.Min)
	}
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	if opts.Live == nil {
		opts.Live = liveHeap
	}
	if opts.Set == nil {
		opts.Set = debug.SetGCPercent
	}
	last := Percent(opts.Live(), opts.Headroom, opts.Min, opts.Max)
	before := opts.Set(last)
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(opts.Interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if p := Percent(opts.Live(), opts.Headroom, opts.Min, opts.Max); p != last {
					opts.Set(p)
					last = p
				}
			}
		}
	}()
	return func() {
		close(done)
		<-exited
		opts.Set(before)
	}
}

// liveHeap reads the runtime's live heap after the last collection.
func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}
