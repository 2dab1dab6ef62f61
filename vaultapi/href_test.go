package vaultapi_test

import (
	"encoding/json"
	"net/url"
	"testing"

	"github.com/aliasgate/aliasgate/internal/obs/obstest"
	"github.com/aliasgate/aliasgate/internal/pan"
)

// TestErrorHrefHoldsNoCardNumberAReaderSees: an error's href is the
// request URL, and an alias path can be anything, a card number included.
// It was masked as internal/pan reads the encoded URL only, so a card
// number whose digit groups a tab, a line break, an underscore or two
// spaces kept apart (%09, %0A, %0D%0A, _, %20%20) came back in clear to
// whoever reads the answer (or logs it), though a reader sees the number.
// The href, decoded as any client does, holds no card number in the
// spellings the gateway masks for people (pan.MaskAll, then
// pan.MaskReadable), and none raw either.
func TestErrorHrefHoldsNoCardNumberAReaderSees(t *testing.T) {
	e := setup(t, nil)
	for _, p := range []string{
		"4111%091111%091111%091111", "4111%0A1111%0A1111%0A1111", "4111%0D%0A1111%0D%0A1111%0D%0A1111",
		"4111_1111_1111_1111", "4111%20%201111%20%201111%20%201111", "4111%201111%201111%201111",
		"x%094111%091111%091111%091111%09y", "4111%E2%80%8B1111%E2%80%8B1111%E2%80%8B1111",
	} {
		for _, c := range []struct{ method, path, token string }{
			{"GET", "/aliases/" + p, e.reveal},
			{"DELETE", "/aliases/" + p + "?storage=DISK", e.writer},
			{"PUT", "/aliases/" + p, e.writer},
		} {
			r := e.do(t, c.method, c.path, c.token, "application/json", `{"data":{"classifiers":["a"]}}`)
			var doc errorDoc
			if err := json.Unmarshal(r.body, &doc); err != nil || len(doc.Errors) == 0 {
				t.Fatalf("%s %s = %d %s, want an error document", c.method, c.path, r.status, r.body)
			}
			obstest.AssertNoPAN(t, c.method+" answer", r.body)
			u, err := url.Parse(doc.Errors[0].Href)
			if err != nil {
				t.Fatalf("href %q: %v", doc.Errors[0].Href, err)
			}
			if shown := u.Path; pan.MaskReadable(pan.MaskAll(shown)) != shown {
				t.Errorf("%s %s: the href, decoded, holds a card number a reader sees (%d bytes)", c.method, p, len(shown))
			}
		}
	}
}
