package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/proxy"
	"github.com/aliasgate/aliasgate/routes"
	"github.com/aliasgate/aliasgate/routes/dryrun"
)

// TestRoutesTestAgreesWithTheServingGatewayOnAnswers is
// TestRoutesTestAgreesWithTheServingGateway for the response phase: each
// answer is sent by a real upstream to a real inbound gateway (max_body 4
// KiB) and given to `aliasgate routes test --phase response` and to
// dryrun.Run, which must agree on what the client gets: the answer (its
// body compared by kept digits, decoded when gzip, its Content-Encoding
// and Aliasgate-Filter-Failed), or the refusal's status and code. The dry
// run refused every answer a response filter failed on (the gateway sends
// it on, masked, and refuses, 502, only a body it does not read: routes
// test named no status, dryrun.Run none), and showed a gzip answer gzipped
// (the gateway, which asks the upstream for gzip itself on a route that
// reads answers, gives it to the client decoded).
func TestRoutesTestAgreesWithTheServingGatewayOnAnswers(t *testing.T) {
	var mu sync.Mutex
	var answer string // the upstream's raw answer (status line, header, body)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		a := answer
		mu.Unlock()
		resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(a)), r)
		if err != nil {
			t.Errorf("the test's answer: %v", err)
			return
		}
		b, _ := io.ReadAll(resp.Body)
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(b)
	}))
	defer up.Close()
	const maxBody = 4096
	doc := `routes:
  - id: ans
    direction: inbound
    host: "*"
    path_prefix: /ans
    upstream: ` + up.URL + `
    leak_guard: "off"
    filters:
      - {id: json, phase: response, operation: redact, match: {content_type: json}, targets: [{json: card.number, format: UUID}]}
  - id: guarded
    direction: inbound
    host: "*"
    path_prefix: /guarded
    upstream: ` + up.URL + `
    leak_guard: block
    filters:
      - {id: json, phase: response, operation: redact, match: {content_type: json}, targets: [{json: card.number, format: FPE_SIX_T_FOUR}]}
      - {id: xml, phase: response, operation: redact, match: {content_type: xml}, targets: [{xml: /payment/card/pan, format: FPE_SIX_T_FOUR}]}
`
	dir, routesFile, set, tok := dryRunRoutes(t, doc)
	in, err := proxy.NewInbound(proxy.InboundOptions{Table: routes.NewTable(set), Tokenizer: tok, MaxBody: maxBody, DefaultAccount: "default"})
	if err != nil {
		t.Fatal(err)
	}
	gw := httptest.NewServer(in)
	defer gw.Close()

	const pan = "4111111111111111"
	card := func(pad int) string {
		return `{"card":{"number":"` + pan + `"},"pad":"` + strings.Repeat("x", pad) + `"}`
	}
	small := card(10)
	gz := func(s string) string {
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		_, _ = io.WriteString(w, s)
		_ = w.Close()
		return b.String()
	}
	for _, c := range []struct {
		name, path string
		header     []string // a Content-Type among them replaces application/json
		body       string
	}{
		{"an answer redacted", "/ans", nil, small},
		{"an answer its alias makes longer than max_body", "/ans", nil, card(maxBody - len(card(0)) - 4)},
		{"an answer over max_body", "/ans", nil, card(maxBody + 10)},
		{"a gzip answer redacted", "/ans", []string{"Content-Encoding: gzip"}, gz(small)},
		{"a gzip answer its alias makes longer than max_body", "/ans", []string{"Content-Encoding: gzip"}, gz(card(maxBody - len(card(0)) - 4))},
		{"a gzip answer decoded over max_body", "/ans", []string{"Content-Encoding: gzip"}, gz(card(2 * maxBody))},
		{"a gzip answer that is not gzip", "/ans", []string{"Content-Encoding: gzip"}, small},
		{"an answer in an encoding the gateway cannot decode", "/ans", []string{"Content-Encoding: br"}, small},
		{"an answer no filter matches, masked", "/ans", []string{"Content-Type: text/plain"}, "card " + pan},
		{"a card number in a field no target names, guard block", "/guarded", nil, `{"card":{"number":"` + pan + `"},"note":"4000056655665556"}`},
		{"an XML answer redacted", "/guarded", []string{"Content-Type: application/xml"}, "<payment><card><pan>" + pan + "</pan></card></payment>"},
		{"an answer declared UTF-16", "/ans", []string{"Content-Type: application/json; charset=utf-16"}, small},
		{"an error answer with the number", "/ans", []string{"Status: 400"}, small},
		{"a malformed JSON answer", "/ans", nil, `{"card":{"number":"` + pan + `"`},
		{"a malformed JSON answer, guard block", "/guarded", nil, `{"card":{"number":"` + pan + `"`},
		{"a deflate answer", "/ans", []string{"Content-Encoding: deflate"}, small},
	} {
		status := "200 OK"
		ctype := "Content-Type: application/json\r\n"
		var hdr []string
		for _, h := range c.header {
			switch {
			case strings.HasPrefix(h, "Status: "):
				status = strings.TrimPrefix(h, "Status: ") + " Whatever"
				continue
			case strings.HasPrefix(h, "Content-Type:"):
				ctype = ""
			}
			hdr = append(hdr, h)
		}
		rawAnswer := "HTTP/1.1 " + status + "\r\n" + ctype + strings.Join(append(hdr, ""), "\r\n") +
			"Content-Length: " + strconv.Itoa(len(c.body)) + "\r\n\r\n" + c.body
		rawRequest := "GET " + c.path + " HTTP/1.1\r\nHost: shop.example\r\n\r\n"
		mu.Lock()
		answer = rawAnswer
		mu.Unlock()

		// The gateway.
		got, code := fetchRaw(t, gw.Listener.Addr().String(), rawRequest)
		refused := got.StatusCode >= 500

		// routes test.
		reqFile := writeIn(t, dir, "request.http", []byte(rawRequest))
		respFile := writeIn(t, dir, "response.http", []byte(rawAnswer))
		out, stderr, err := runCmd(t, testEnv(nil), "routes", "test", "--routes", routesFile, "--request", reqFile,
			"--phase", "response", "--response", respFile, "--max-body", strconv.Itoa(maxBody))
		switch {
		case !refused && err != nil:
			t.Errorf("%s: the gateway answers %d, routes test refuses it: %v\n%s", c.name, got.StatusCode, err, stderr)
		case refused && err == nil:
			t.Errorf("%s: the gateway answers %d %s, routes test sends it on:\n%s", c.name, got.StatusCode, code, stderr)
		case refused:
			if want := strconv.Itoa(got.StatusCode) + " " + code; !strings.Contains(err.Error(), want) || out != "" {
				t.Errorf("%s: the gateway answers %s; routes test says %v\nstderr: %s", c.name, want, err, stderr)
			}
		default:
			resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(out)), nil)
			if err != nil {
				t.Fatalf("%s: routes test's answer: %v\n%s", c.name, err, out)
			}
			body, _ := io.ReadAll(resp.Body)
			for _, h := range []string{"Content-Encoding", proxy.FilterFailedHeader} {
				if g, w := resp.Header.Get(h), got.Header.Get(h); g != w {
					t.Errorf("%s: the client gets %s %q, routes test shows %q", c.name, h, w, g)
				}
			}
			body, gb := gunzipped(t, resp.Header, body), gunzipped(t, got.Header, got.body)
			if keptDigits(body) != keptDigits(gb) {
				t.Errorf("%s: the client gets\n%.300s\nroutes test shows\n%.300s", c.name, gb, body)
			}
		}
		if strings.Contains(out, pan) && (refused || !strings.Contains(string(gunzipped(t, got.Header, got.body)), pan)) {
			t.Errorf("%s: routes test shows the card number the client does not get", c.name)
		}

		// The engine of the inspector's preview, on the answer decoded.
		resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(rawAnswer)), nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		m := &dryrun.Message{Direction: routes.Inbound, Phase: routes.Response, Method: "GET", Host: "shop.example",
			Path: c.path, Status: resp.StatusCode, Header: resp.Header, Body: body, Rules: proxy.GatewayRules{MaxBody: maxBody}}
		if ce := resp.Header.Values("Content-Encoding"); len(ce) > 0 {
			_, plain, err := proxy.DecodeContent(ce, body, maxBody)
			if err != nil {
				continue
			}
			m.Body = plain
			resp.Header.Del("Content-Encoding")
		}
		res := dryrun.Run(context.Background(), set, m, tok)
		wantStatus, wantCode := got.StatusCode, code
		if !refused {
			wantStatus, wantCode = 0, ""
		}
		if res.Status != wantStatus || res.Code != wantCode {
			t.Errorf("%s: the gateway answers %d %s; dryrun.Run says %d %q", c.name, got.StatusCode, code, res.Status, res.Code)
		}
	}
}

// rawAnswer is an answer read whole.
type rawAnswer struct {
	*http.Response
	body []byte
}

// fetchRaw writes raw to addr and returns the answer and its error code
// ("" when it has none: an answer the gateway sends on).
func fetchRaw(t *testing.T, addr, raw string) (rawAnswer, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var answer struct {
		Errors []struct{ Code string } `json:"errors"`
	}
	code := ""
	if resp.StatusCode >= 500 && json.Unmarshal(b, &answer) == nil && len(answer.Errors) > 0 {
		code = answer.Errors[0].Code
	}
	return rawAnswer{resp, b}, code
}
