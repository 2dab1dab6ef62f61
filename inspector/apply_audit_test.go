package inspector

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
)

// TestApplyIsRecordedOrRefused: apply calls Options.Applied with the
// number of routes put in force. With inline routes a failure to record
// refuses the change (503, the old set stays in force); with a routes
// file, written and reloaded before it is recorded, the answer is 500 and
// says the set is in force.
func TestApplyIsRecordedOrRefused(t *testing.T) {
	const doc = "routes:\n  - id: only\n    direction: outbound\n    host: api.only.example\n"
	for _, inline := range []bool{true, false} {
		var recorded []int
		fail := false
		f := newFixture(t, inline, func(o *Options) {
			o.Applied = func(_ context.Context, n int) error {
				if fail {
					return errors.New("disk full")
				}
				recorded = append(recorded, n)
				return nil
			}
		})
		res, b := f.do(t, nil, "POST", "/ui/api/apply", map[string]any{"yaml": doc}, bearer)
		if res.StatusCode != 200 || len(recorded) != 1 || recorded[0] != 1 {
			t.Fatalf("inline %v: apply %d %s, recorded %v", inline, res.StatusCode, b, recorded)
		}
		fail = true
		doc2 := strings.Replace(doc, "only", "second", -1)
		res, b = f.do(t, nil, "POST", "/ui/api/apply", map[string]any{"yaml": doc2}, bearer)
		var answer map[string]any
		_ = json.Unmarshal(b, &answer)
		set := f.table.Load()
		if inline {
			if res.StatusCode != http.StatusServiceUnavailable || set.Routes[0].ID != "only" {
				t.Errorf("inline, not recorded: %d %s, route %s in force", res.StatusCode, b, set.Routes[0].ID)
			}
			continue
		}
		written, _ := os.ReadFile(f.file)
		if res.StatusCode != http.StatusInternalServerError || answer["applied"] != true || set.Routes[0].ID != "second" || string(written) != doc2 {
			t.Errorf("routes file, not recorded: %d %s, route %s in force", res.StatusCode, b, set.Routes[0].ID)
		}
	}
}
