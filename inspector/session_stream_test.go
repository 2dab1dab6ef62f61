package inspector

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/routes"
)

// TestEventStreamEndsWithItsSession: an event stream opened with a session
// cookie ends once its session does (logged out, or expired), before it
// sends another capture: it went on streaming every new capture for as
// long as the connection lasted (the pings keep it open), after the
// session that opened it was gone.
func TestEventStreamEndsWithItsSession(t *testing.T) {
	for _, end := range []string{"logout", "expiry"} {
		t.Run(end, func(t *testing.T) {
			var mu sync.Mutex
			now := time.Now()
			clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
			f := newFixture(t, false, func(o *Options) { o.Now = clock })
			c := f.login(t)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", f.URL+"/ui/api/events", nil)
			res, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			if res.StatusCode != 200 {
				t.Fatalf("events with the session: %d", res.StatusCode)
			}
			rd := bufio.NewReader(res.Body)
			for { // up to the end of the greeting
				line, err := rd.ReadString('\n')
				if err != nil {
					t.Fatalf("stream: %v", err)
				}
				if line == "\n" {
					break
				}
			}
			switch end {
			case "logout":
				if res, _ := f.do(t, c, "POST", "/ui/logout", nil, nil); res.StatusCode != http.StatusSeeOther {
					t.Fatalf("logout: %d", res.StatusCode)
				}
			case "expiry":
				mu.Lock()
				now = now.Add(sessionTTL + time.Second)
				mu.Unlock()
			}
			f.capture(routes.Inbound, "shop.example", "/shop/after-the-session", "shop", nil, `{"a":1}`)
			for {
				line, err := rd.ReadString('\n')
				if strings.HasPrefix(line, "event: capture") || strings.Contains(line, "after-the-session") {
					t.Fatalf("the stream sent a capture after its session ended: %q", line)
				}
				if err != nil {
					if ctx.Err() != nil {
						t.Fatalf("the stream did not end: %v", err)
					}
					return // ended
				}
			}
		})
	}
}
