package audit

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// benchLog measures a reveal line as the gateway writes it (two aliases,
// the default fsync interval), from par goroutines per CPU.
func benchLog(b *testing.B, par int) {
	k, err := DeriveKeys(make([]byte, 32))
	if err != nil {
		b.Fatal(err)
	}
	w, err := Open(filepath.Join(b.TempDir(), "audit.log"), k, Options{SyncInterval: 200 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	ev := Event{Event: EventReveal, Actor: "route:checkout", Route: "checkout", Aliases: []string{fpeAlias, uuidAlias}, Found: 2}
	ctx := context.Background()
	b.ReportAllocs()
	if par == 0 {
		for b.Loop() {
			if err := w.Log(ctx, ev); err != nil {
				b.Fatal(err)
			}
		}
		return
	}
	b.SetParallelism(par)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := w.Log(ctx, ev); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkLog(b *testing.B)         { benchLog(b, 0) }
func BenchmarkLogParallel(b *testing.B) { benchLog(b, 32) }
