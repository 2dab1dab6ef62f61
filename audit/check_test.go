package audit

import (
	"bufio"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestCheckOnAHungDiskQueuesOneLine: while appends fail, each readiness
// check (Writer.Check) tries an audit_resumed line; when the disk then
// hangs, a check whose context ends (the 2 s of /readyz, or a client that
// hangs up: /readyz needs no token) returned while its line stayed queued,
// and the next check queued another: every probe during the hang became
// one more audit_resumed line once the disk answered (five probes, five
// lines). One check's line at a time is in flight: the others fail at once
// and the log gets one line.
func TestCheckOnAHungDiskQueuesOneLine(t *testing.T) {
	k := testKeys(t, 1)
	path := filepath.Join(t.TempDir(), "audit.log")
	w := openLog(t, path, k) // fsync before each append answers
	logN(t, w, 1)
	diskErr := errors.New("EIO")
	var mu sync.Mutex
	state := "fail"
	entered, release := make(chan struct{}, 1), make(chan struct{})
	w.syncMu.Lock()
	w.sync = func() error {
		mu.Lock()
		s := state
		mu.Unlock()
		switch s {
		case "fail":
			return diskErr
		case "hang":
			select {
			case entered <- struct{}{}:
			default:
			}
			<-release
		}
		return w.f.Sync()
	}
	w.syncMu.Unlock()
	setState := func(s string) { mu.Lock(); state = s; mu.Unlock() }
	ev := Event{Event: EventReveal, Actor: "route:r", Aliases: []string{uuidAlias}, Found: 1}
	if err := w.Log(context.Background(), ev); !errors.Is(err, diskErr) {
		t.Fatalf("Log on a failing disk: %v", err)
	}
	setState("hang")
	revealed := make(chan error, 1)
	go func() { revealed <- w.Log(context.Background(), ev) }()
	<-entered // that reveal's append hangs, holding the commit
	for i := range 5 {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		err := w.Check(ctx)
		cancel()
		if err == nil {
			t.Fatalf("check %d on a hung disk after a failure answered nil", i)
		}
	}
	setState("ok")
	close(release)
	if err := <-revealed; err != nil {
		t.Fatalf("the reveal's Log once the disk answered: %v", err)
	}
	if err := w.Check(context.Background()); err != nil {
		t.Fatalf("Check once the disk answers: %v", err)
	}
	if err := w.Close(); err != nil { // writes what was queued
		t.Fatal(err)
	}
	mustVerify(t, path, k)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	resumed := 0
	for sc := bufio.NewScanner(f); sc.Scan(); {
		if strings.Contains(sc.Text(), `"event":"`+EventResumed+`"`) {
			resumed++
		}
	}
	if resumed > 1 {
		t.Fatalf("%d audit_resumed lines after one hang of the disk, want at most 1", resumed)
	}
}
