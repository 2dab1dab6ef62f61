package audit

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestWrittenLenIsTheLastLine: the length of the line a commit wrote last,
// which append takes from where the last event's line starts, is what
// lastLineLen (the scan back for the newline before it, which it
// replaced) finds in the file, after single lines, after batches of lines
// committed together and after lines of every length.
func TestWrittenLenIsTheLastLine(t *testing.T) {
	k, err := DeriveKeys(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "audit.log")
	w, err := Open(path, k, Options{SyncInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx := context.Background()
	check := func(what string) {
		t.Helper()
		w.commitMu.Lock()
		gotLen, gotEnd := w.writtenLen, w.writtenEnd
		w.commitMu.Unlock()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if want := lastLineLen(b); gotLen != want || gotEnd != int64(len(b)) {
			t.Fatalf("%s: written line of %d bytes ending at %d, want %d ending at %d", what, gotLen, gotEnd, want, len(b))
		}
	}
	aliases := []string{fpeAlias, uuidAlias}
	for i := range 5 {
		if err := w.Log(ctx, Event{Event: EventReveal, Actor: "route:checkout", Route: "checkout", Aliases: aliases[:i%3], Found: i % 3}); err != nil {
			t.Fatal(err)
		}
		check("one line")
	}
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.Log(ctx, Event{Event: EventDelete, Actor: "client:c" + string(rune('a'+g)), Aliases: aliases[:g%3], Found: g % 2}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	check("lines logged at once")
}
