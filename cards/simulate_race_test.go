package cards

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/aliasgate/aliasgate/cards/tsp"
)

// gateSink holds every event until release is closed, after telling
// arrived: the test lets two simulated events past their state check
// before either is applied.
type gateSink struct {
	inner   tsp.Sink
	arrived chan struct{}
	release chan struct{}
}

func (g gateSink) TokenEvent(ctx context.Context, ev tsp.Event) error {
	g.arrived <- struct{}{}
	<-g.release
	return g.inner.TokenEvent(ctx, ev)
}

// TestConcurrentSimulatedTransitionsApplyOnce: two `tsp simulate`
// resumes of one suspended token (and two suspensions of an active one)
// at once: one applies and reports its card update, the other is refused
// with ErrTokenState (409). Both passed the state check, read before the
// event was raised, and both answered success, the second with the
// first's card_update_id.
func TestConcurrentSimulatedTransitionsApplyOnce(t *testing.T) {
	e, sim := tspEnv(t)
	ctx := context.Background()
	id, _ := e.create(`"pan":"4111111111111111","cvc":"737","exp_month":4,"exp_year":2030`, pci)
	e.provisioned(id)
	for _, ev := range []string{"token-suspended", "token-resumed"} {
		t.Run(ev, func(t *testing.T) {
			gate := gateSink{inner: tokenEvents{e.h}, arrived: make(chan struct{}), release: make(chan struct{})}
			sim.Subscribe(gate)
			_, before := e.lastUpdate(id)
			var wg sync.WaitGroup
			results := make([]SimulateResult, 2)
			errs := make([]error, 2)
			for i := range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					results[i], errs[i] = e.h.Simulate(ctx, SimulateRequest{Account: "ACTaccountA", CardID: id, Event: ev})
				}()
			}
			<-gate.arrived
			<-gate.arrived
			close(gate.release)
			wg.Wait()
			ok, refused := 0, 0
			var updateID string
			for i := range 2 {
				switch {
				case errs[i] == nil:
					ok++
					updateID = results[i].CardUpdateID
				case errors.Is(errs[i], ErrTokenState):
					refused++
				default:
					t.Errorf("simulate %s: %v", ev, errs[i])
				}
			}
			if ok != 1 || refused != 1 {
				t.Fatalf("two %s at once: %d applied, %d refused (ErrTokenState); want 1 and 1", ev, ok, refused)
			}
			_, after := e.lastUpdate(id)
			if after != before+1 {
				t.Fatalf("card updates: %d → %d, want one more", before, after)
			}
			r := e.do("GET", "/cards/"+id+"?include=card_updates", "")
			inc, _ := r.doc["included"].([]any)
			if len(inc) == 0 || updateID == "" || inc[len(inc)-1].(map[string]any)["id"] != updateID {
				t.Fatalf("the card_update_id reported %q is not the update made", updateID)
			}
		})
	}
}
