package vaultapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
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

// TestUncleanPathsAreNotRedirectedWithTheirValues: http.ServeMux answers
// a path with an empty, "." or ".." element with a redirect to the
// cleaned path, Location and an HTML body echoing it and the query in
// clear: GET /aliases//4111111111111111?q=4111111111111111 answered 307
// with the card number twice in Location and twice in the body. The
// gateway's listener cleans paths before they reach the API; the handler,
// mounted anywhere, answers such paths with a VGS error (href masked),
// follows no redirect and echoes no value.
func TestUncleanPathsAreNotRedirectedWithTheirValues(t *testing.T) {
	e := setup(t, nil)
	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, c := range []struct{ method, path, token string }{
		{"GET", "/aliases//4111111111111111", e.reveal},
		{"GET", "/aliases/./4111111111111111?q=4111111111111111", e.reveal},
		{"GET", "/x/../aliases/4111111111111111", e.reveal},
		{"PUT", "/aliases//4111111111111111", e.writer},
		{"DELETE", "/aliases/a/../4111111111111111?storage=DISK", e.writer},
		{"POST", "/aliases/?value=4111111111111111", e.writer},
	} {
		req, err := http.NewRequest(c.method, e.srv.URL+c.path, strings.NewReader(`{"data":{"classifiers":["a"]}}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+c.token)
		req.Header.Set("Content-Type", "application/json")
		res, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode/100 == 3 || res.Header.Get("Location") != "" {
			t.Errorf("%s %s = %d, Location %d bytes: redirected", c.method, c.path, res.StatusCode, len(res.Header.Get("Location")))
		}
		obstest.AssertNoPAN(t, c.method+" answer", b)
		var doc errorDoc
		if err := json.Unmarshal(b, &doc); err != nil || len(doc.Errors) == 0 {
			t.Errorf("%s %s = %d, want a VGS error document (%d bytes)", c.method, c.path, res.StatusCode, len(b))
		}
	}
}

// TestErrorHrefHostHoldsNoCardNumber: the href's host is the request's
// Host header, the client's as much as its path. Masked only as part of
// the encoded URL, a card number whose digit groups '_' kept apart
// (Host: 4111_1111_1111_1111, a name Go's server takes) came back in
// clear in every error the request got (401 before any token is read
// included). It is masked as the path is: as a reader sees it.
func TestErrorHrefHostHoldsNoCardNumber(t *testing.T) {
	e := setup(t, nil)
	for _, host := range []string{"4111_1111_1111_1111", "x.4111_1111_1111_1111.example", "4111-1111-1111-1111", "4111111111111111:8080"} {
		for _, token := range []string{"", e.reveal} {
			req, err := http.NewRequest("GET", e.srv.URL+"/aliases/abc", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Host = host
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			var doc errorDoc
			if err := json.Unmarshal(b, &doc); err != nil || len(doc.Errors) == 0 {
				t.Fatalf("Host %d bytes = %d, want an error document", len(host), res.StatusCode)
			}
			obstest.AssertNoPAN(t, "answer", b)
			u, err := url.Parse(doc.Errors[0].Href)
			if err != nil {
				t.Fatalf("href: %v", err)
			}
			if shown := u.Host; pan.MaskReadable(pan.MaskAll(shown)) != shown {
				t.Errorf("status %d: the href's host holds a card number a reader sees (%d bytes)", res.StatusCode, len(shown))
			}
		}
	}
}

// TestErrorPointerHoldsNoCardNumberAReaderSees: an error's
// source.pointer names the member at fault, and a member name is the
// client's own: a repeated name "4111_1111_1111_1111" (or its digit groups
// apart by tabs, JSON "\t") came back in clear in duplicate_member's
// pointer, masked as internal/pan reads text only. It is masked as the
// href is, as a reader of the decoded answer sees it.
func TestErrorPointerHoldsNoCardNumberAReaderSees(t *testing.T) {
	e := setup(t, nil)
	for _, name := range []string{"4111_1111_1111_1111", `4111\t1111\t1111\t1111`, "4111  1111  1111  1111", "x_4111_1111_1111_1111"} {
		dup := `"` + name + `":1,"` + name + `":2`
		for _, c := range []struct{ method, path, token, body string }{
			{"POST", "/aliases", e.writer, `{"data":[{"value":"v","format":"UUID"}],` + dup + `}`},
			{"POST", "/aliases", e.writer, `{"data":[{"value":"v","format":"UUID",` + dup + `}]}`},
			{"PUT", "/aliases/x", e.writer, `{"data":{"classifiers":["a"]},"meta":{` + dup + `}}`},
			{"POST", "/aliases/delete", e.writer, `{"data":["x"],` + dup + `}`},
		} {
			r := e.do(t, c.method, c.path, c.token, "application/json", c.body)
			var doc struct {
				Errors []struct {
					Code   string
					Source struct{ Pointer string }
				}
			}
			if err := json.Unmarshal(r.body, &doc); err != nil || len(doc.Errors) == 0 || doc.Errors[0].Code != "duplicate_member" {
				t.Fatalf("%s %s = %d, want duplicate_member (%d bytes)", c.method, c.path, r.status, len(r.body))
			}
			if p := doc.Errors[0].Source.Pointer; p == "" || pan.MaskShown(p) != p {
				t.Errorf("%s %s: the pointer (%d bytes), decoded, holds a card number a reader sees", c.method, c.path, len(p))
			}
		}
	}
}
