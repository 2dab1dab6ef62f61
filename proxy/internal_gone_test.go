package proxy

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/bodybudget"
	"github.com/aliasgate/aliasgate/internal/obs/obstest"
)

// TestInternalAnswerOfAClientThatLeftIsNotRead: the answer of an
// in-process upstream is read as an external upstream's body is, but an
// external upstream's body fails to read once its client has gone (the
// transport's read ends with the request's context), while the pipe of an
// in-process upstream went on taking its writes: an API that wrote the
// rest of its answer after its client left (the vault API's writes watch
// nothing else) had it read whole, and the route's response filters
// redacted the card number in it, vault calls for nobody. Once the client
// is gone, the upstream's writes fail, and what it wrote is no answer: the
// phase reads no more of it and applies no filter, and the request is
// logged and counted as one whose client left (499), not as a failure of
// the upstream.
func TestInternalAnswerOfAClientThatLeftIsNotRead(t *testing.T) {
	b := bodybudget.New(1<<20, 0)
	in := &internalUpstream{}
	c := obstest.NewCapture(t)
	g := newGateway(t, parseRoutes(t, internalBudgetRoutes, "http://127.0.0.1:1"), nil,
		gwOptions{maxBody: 64 << 10, budget: b, logger: c.Logger, internal: map[string]http.Handler{"internal:cards": in}})
	started := make(chan struct{})
	var late error
	in.reset(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"card":{"number":"`)
		close(started)
		<-r.Context().Done()
		_, late = io.WriteString(w, testPAN+`"}}`)
	})
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "GET", g.URL+"/int/x", nil)
		resp, err := g.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("the in-process upstream was not called")
	}
	cancel()
	if err := <-errc; err == nil {
		t.Error("the client went away, and got an answer")
	}
	in.wait(t, "client gone")
	waitGivenBack(t, b, "client gone") // the exchange is over
	if late == nil {
		t.Error("the upstream's write after its client left succeeded: its answer was still read")
	}
	if n := g.filterCount("int", "int-hide", "applied"); n != 0 {
		t.Errorf("the route's response filter was applied %v times to the answer of a client that left", n)
	}
	if lines := waitLines(t, c, 1); len(lines) != 1 || lines[0]["status"] != float64(499) {
		t.Errorf("access lines %v, want one with status 499 (client closed request), not an upstream failure", lines)
	}
}
