package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/pan"
)

// TestNumbersSpellingCardNumbersAreMaskedInCapturesAndLogs: a card number
// written as a number in exponent notation ("4111111111111111000e-3",
// which JSON.parse and Jackson read as 4111111111111111) or as a fraction a
// parser rounds to one ("4111111111111110.9"), which the leak guard counts
// as card data, goes through a gateway in a path, a query string, headers
// (Referer among them) and bodies, on a route whose guard only logs. Neither
// the inspector (captures, the list, the event stream's summaries) nor the
// gateway's log (access lines included) may hold one: they were kept and
// shown in clear, since the masks knew only the written digits.
func TestNumbersSpellingCardNumbersAreMaskedInCapturesAndLogs(t *testing.T) {
	up := newEchoUpstream(t)
	g, _ := inspectorGateway(t, strings.ReplaceAll(inspectedRoutes, "{{UP}}", up.URL), nil)

	call(t, "POST", g.inbound+"/shop/4111111111111111000e-3?amount=5555555555554443.5&n=41111111111111110000000E-7",
		"application/json", `{"amount":4111111111111111000e-3,"ref":"37828224631000500E-2","f":4111111111111110.9}`,
		func(r *http.Request) {
			r.Header.Set("Referer", "https://shop.example/pay/4111111111111111000e-3")
			r.Header.Set("X-Ref", "4111111111111110.9")
		})
	call(t, "POST", g.inbound+"/shop/notes", "text/plain", "pay with 4111111111111111000%65-3 please", nil)
	call(t, "POST", g.inbound+"/shop/form", "application/x-www-form-urlencoded", "amount=4111111111111111000%65-3&x=1", nil)

	served := map[string]string{}
	get := func(path string) []byte {
		status, b := inspectorCall(t, g, "GET", path, nil)
		if status != 200 {
			t.Fatalf("GET %s: %d %s", path, status, b)
		}
		served["GET "+path] = string(b)
		return b
	}
	ids := waitCaptures(t, g, 3)
	get("/ui/api/captures") // the list's summaries
	all := ""
	for _, id := range ids {
		all += string(get(fmt.Sprintf("/ui/api/captures/%d", id)))
	}
	g.stop(t) // flushes the log
	served["the gateway's log"] = g.stderr.String()

	for what, s := range served {
		for _, d := range decodings(s) {
			if n := pan.FindExponentString(d); n != nil {
				t.Errorf("%s spells card numbers %q as numbers", what, n)
			}
			assertNoCardDataIn(t, what, d)
		}
	}
	// Masked, not dropped.
	for _, want := range []string{`411111*************e-3`, `411111**********.*`, `/shop/411111*************e-3`} {
		if !strings.Contains(all, want) {
			t.Errorf("the captures never show %s", want)
		}
	}
	if !strings.Contains(g.stderr.String(), `"path":"/shop/411111*************e-3"`) {
		t.Errorf("no access line with the masked path")
	}
}

// waitCaptures waits (up to 5 s: captures are handed over once a response
// is written, which the client may see first) until the inspector of g
// holds n captures, and returns their ids, newest first; another count
// fails the test.
func waitCaptures(t *testing.T, g *gatewayProc, n int) []uint64 {
	t.Helper()
	var list struct{ Captures []struct{ ID uint64 } }
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		status, b := inspectorCall(t, g, "GET", "/ui/api/captures", nil)
		if status != 200 {
			t.Fatalf("GET /ui/api/captures: %d %s", status, b)
		}
		if err := json.Unmarshal(b, &list); err != nil {
			t.Fatal(err)
		}
		if len(list.Captures) >= n || time.Now().After(deadline) {
			break
		}
	}
	if len(list.Captures) != n {
		t.Fatalf("%d captures, want %d", len(list.Captures), n)
	}
	ids := make([]uint64, n)
	for i, c := range list.Captures {
		ids[i] = c.ID
	}
	return ids
}
