package inspector

import (
	"runtime"
	"sync"
	"testing"
	"time"
)

func TestBufferKeepsTheNewestEntries(t *testing.T) {
	b := NewBuffer(3)
	for range 10 {
		b.Add(&Entry{})
	}
	list := b.List(0)
	if len(list) != 3 || list[0].ID != 10 || list[1].ID != 9 || list[2].ID != 8 {
		t.Fatalf("List = %v, want ids 10, 9, 8", ids(list))
	}
	if got := b.List(2); len(got) != 2 || got[0].ID != 10 {
		t.Fatalf("List(2) = %v", ids(got))
	}
	if _, ok := b.Get(7); ok {
		t.Error("entry 7 is still there after 10 adds to a ring of 3")
	}
	if e, ok := b.Get(8); !ok || e.ID != 8 {
		t.Error("entry 8 is gone")
	}
	for _, id := range []uint64{0, 11, 1 << 40} {
		if _, ok := b.Get(id); ok {
			t.Errorf("Get(%d) found an entry", id)
		}
	}
	if b.Len() != 3 || b.Size() != 3 {
		t.Errorf("Len %d Size %d", b.Len(), b.Size())
	}
	if got := NewBuffer(5).List(0); len(got) != 0 {
		t.Errorf("empty buffer lists %d entries", len(got))
	}
}

func ids(es []*Entry) []uint64 {
	out := make([]uint64, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}

// TestBufferIsSafeForConcurrentUse runs writers, readers and subscribers
// at once (run it with -race): every id is given once, lists are always
// newest first and never longer than the ring.
func TestBufferIsSafeForConcurrentUse(t *testing.T) {
	const writers, perWriter, size = 8, 200, 16
	b := NewBuffer(size)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	sub := b.Subscribe()
	got := 0
	subDone := make(chan struct{})
	go func() {
		defer close(subDone)
		for range sub.C {
			got++
		}
	}()
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					if n > 0 {
						return
					}
				default:
				}
				runtime.Gosched()
				list := b.List(0)
				if len(list) > size {
					t.Errorf("List has %d entries", len(list))
					return
				}
				for i := 1; i < len(list); i++ {
					if list[i].ID >= list[i-1].ID {
						t.Errorf("List not newest first: %v", ids(list))
						return
					}
				}
				if len(list) > 0 {
					b.Get(list[len(list)-1].ID)
				}
			}
		}()
	}
	var mu sync.Mutex
	seen := map[uint64]bool{}
	var ww sync.WaitGroup
	for range writers {
		ww.Add(1)
		go func() {
			defer ww.Done()
			for range perWriter {
				e := &Entry{}
				b.Add(e)
				mu.Lock()
				if seen[e.ID] {
					t.Errorf("id %d given twice", e.ID)
				}
				seen[e.ID] = true
				mu.Unlock()
			}
		}()
	}
	ww.Wait()
	close(stop)
	wg.Wait()
	sub.Cancel()
	<-subDone
	if len(seen) != writers*perWriter || b.List(0)[0].ID != writers*perWriter {
		t.Fatalf("%d ids, newest %d", len(seen), b.List(0)[0].ID)
	}
	if got == 0 {
		t.Error("the subscriber got nothing")
	}
}

func TestSlowSubscriberIsToldItLagged(t *testing.T) {
	b := NewBuffer(1000)
	sub := b.Subscribe()
	defer sub.Cancel()
	for range cap(sub.C) + 10 {
		b.Add(&Entry{})
	}
	if !sub.Lagged() {
		t.Fatal("a full subscription is not marked lagged")
	}
	if sub.Lagged() {
		t.Fatal("Lagged does not clear")
	}
	if n := len(sub.C); n != cap(sub.C) {
		t.Fatalf("%d entries queued", n)
	}
}

func TestCloseEndsSubscriptions(t *testing.T) {
	b := NewBuffer(4)
	sub := b.Subscribe()
	b.Close()
	select {
	case _, ok := <-sub.C:
		if ok {
			t.Fatal("an entry after Close")
		}
	case <-time.After(time.Second):
		t.Fatal("Close did not end the subscription")
	}
	sub.Cancel() // harmless after Close
	if _, ok := <-b.Subscribe().C; ok {
		t.Fatal("a subscription after Close is open")
	}
}
