package main

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestRoutesValidate(t *testing.T) {
	out, _, err := runCmd(t, testEnv(nil), "routes", "validate", "testdata/routes.yaml")
	if err != nil || !strings.Contains(out, "2 routes, 2 filters, valid") {
		t.Fatalf("valid file: %q, %v", out, err)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("routes:\n  - id: x\n    direction: inbound\n    host: h\n    filters:\n      - operation: redact\n        targets: [{json: a, format: NOPE}]\n"), 0o600)
	_, _, err = runCmd(t, testEnv(nil), "routes", "validate", bad)
	if err == nil || !strings.Contains(err.Error(), "bad.yaml:2: ") || !strings.Contains(err.Error(), "bad.yaml:7: ") || !strings.Contains(err.Error(), `"NOPE"`) {
		t.Fatalf("bad file: %v", err)
	}
	if _, _, err := runCmd(t, testEnv(nil), "routes", "validate"); err == nil {
		t.Fatal("no file accepted")
	}
}

func TestRoutesTestShowsTheRewrittenRequest(t *testing.T) {
	out, stderr, err := runCmd(t, testEnv(nil), "routes", "test", "--routes", "testdata/routes.yaml", "--request", "testdata/checkout.http")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if strings.Contains(out, "4111111111111111") || strings.Contains(out, `"737"`) {
		t.Fatalf("output still holds card data:\n%s", out)
	}
	if !regexp.MustCompile(`"number":"411111\d{6}1111","cvc":"tok_dryrun_\w{22}"},"amount":1299,"ok":true}`).MatchString(out) {
		t.Fatalf("rewritten request:\n%s", out)
	}
	body := out[strings.Index(out, "\r\n\r\n")+4:]
	if !strings.Contains(out, "POST /checkout HTTP/1.1") || !strings.Contains(out, fmt.Sprintf("Content-Length: %d\r\n", len(body))) {
		t.Fatalf("request line or length wrong:\n%s", out)
	}
	for _, want := range []string{"route checkout filter card-in (redact): json card.number: 1 value(s)", "json card.cvc: 1 value(s)"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}

// TestRoutesTestDropsTheClientsGatewayFields: `routes test` shows the
// request as the upstream receives it: a client's own
// Aliasgate-Route-Account (any spelling) is gone and the gateway's is
// there (proxy.DropClientFields, as both listeners do).
func TestRoutesTestDropsTheClientsGatewayFields(t *testing.T) {
	req := filepath.Join(t.TempDir(), "spoof.http")
	body := `{"card":{"number":"4111111111111111","cvc":"737"},"amount":1299,"ok":true}`
	os.WriteFile(req, []byte("POST /checkout HTTP/1.1\r\nHost: shop.example.com\r\nContent-Type: application/json\r\n"+
		"Aliasgate-Route-Account: spoof\r\nAliasgate_Route_Account: spoof\r\nAliasgate-Redacted: spoof\r\n"+
		fmt.Sprintf("Content-Length: %d\r\n\r\n", len(body))+body), 0o600)
	out, stderr, err := runCmd(t, testEnv(nil), "routes", "test", "--routes", "testdata/routes.yaml", "--request", req)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if strings.Contains(out, "spoof") || !strings.Contains(out, "Aliasgate-Route-Account: default\r\n") {
		t.Fatalf("rewritten request:\n%s", out)
	}
}

func TestRoutesTestRevealOutbound(t *testing.T) {
	dir := t.TempDir()
	req := filepath.Join(dir, "out.http")
	os.WriteFile(req, []byte("POST /v1/charges HTTP/1.1\r\nHost: api.psp.example\r\nContent-Type: application/json\r\n\r\n{\"card\":{\"number\":\"tok_sandbox_abc\"}}"), 0o600)
	out, _, err := runCmd(t, testEnv(nil), "routes", "test", "--routes", "testdata/routes.yaml", "--request", req, "--direction", "outbound")
	if err != nil || !strings.Contains(out, `"number":"revealed(tok_sandbox_abc)"`) {
		t.Fatalf("%v\n%s", err, out)
	}
}

// TestRoutesTestNamesTheDirectionOfARouteThatWouldMatch: a reader who
// dry-runs a request for the processor without --direction outbound (its
// default is inbound) is told that an outbound route matches and which
// flag tries it. Before, stderr said only 'no inbound route matches host
// "api.psp.example" path "/v1/charges": the message passes unchanged', as
// if the outbound route did not match, and the rewritten request on stdout
// was the request as sent. A request that no route of either direction
// matches is still told only that. (An inbound request no route matches
// is refused, 404 no_route, exit 1: TestRoutesTestInboundRequestNoRouteMatches.)
func TestRoutesTestNamesTheDirectionOfARouteThatWouldMatch(t *testing.T) {
	dir := t.TempDir()
	req := filepath.Join(dir, "out.http")
	os.WriteFile(req, []byte("POST /v1/charges HTTP/1.1\r\nHost: api.psp.example\r\nContent-Type: application/json\r\n\r\n{\"card\":{\"number\":\"tok_sandbox_abc\"}}"), 0o600)
	_, stderr, err := runCmd(t, testEnv(nil), "routes", "test", "--routes", "testdata/routes.yaml", "--request", req)
	if err == nil {
		t.Fatal("an inbound request no route matches was not refused")
	}
	for _, want := range []string{"no inbound route matches", "outbound route psp matches", "--direction outbound"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	// An inbound request dry-run as outbound: named the other way.
	_, stderr, err = runCmd(t, testEnv(nil), "routes", "test", "--routes", "testdata/routes.yaml", "--request", "testdata/checkout.http", "--direction", "outbound")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, "inbound route checkout matches") || !strings.Contains(stderr, "--direction inbound") {
		t.Errorf("stderr:\n%s", stderr)
	}
	// No route of either direction: no hint.
	nowhere := filepath.Join(dir, "nowhere.http")
	os.WriteFile(nowhere, []byte("GET /x HTTP/1.1\r\nHost: elsewhere.example\r\n\r\n"), 0o600)
	_, stderr, err = runCmd(t, testEnv(nil), "routes", "test", "--routes", "testdata/routes.yaml", "--request", nowhere)
	if err == nil || !strings.Contains(stderr, "404 no_route") || strings.Contains(stderr, "--direction") {
		t.Errorf("%v stderr:\n%s", err, stderr)
	}
}

func TestRoutesTestReportsARejectedFilter(t *testing.T) {
	dir := t.TempDir()
	req := filepath.Join(dir, "bad.http")
	os.WriteFile(req, []byte("POST /checkout HTTP/1.1\r\nHost: shop.example.com\r\nContent-Type: application/json\r\n\r\n{\"card\":{\"number\":\"4111111111111111\""), 0o600)
	_, stderr, err := runCmd(t, testEnv(nil), "routes", "test", "--routes", "testdata/routes.yaml", "--request", req)
	if err == nil || !strings.Contains(stderr, "malformed body") || !strings.Contains(stderr, "refused") {
		t.Fatalf("err %v stderr %s", err, stderr)
	}
	if strings.Contains(stderr, "4111111111111111") {
		t.Fatal("stderr shows the card number")
	}
}

func TestConfigCheckValidatesInlineRoutes(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "aliasgate.yaml")
	os.WriteFile(cfg, []byte("env: live\nroutes:\n  - id: a\n    direction: outbound\n    host: api.psp.example\n    filters:\n      - operation: reveal\n        targets: [{json: \"a|b\"}]\n"), 0o600)
	_, _, err := runCmd(t, testEnv(nil), "config", "check", "--config", cfg)
	if err == nil || !strings.Contains(err.Error(), "aliasgate.yaml:8: ") {
		t.Fatalf("err = %v", err)
	}
	withFile := filepath.Join(dir, "with-file.yaml")
	os.WriteFile(withFile, []byte("routes_file: testdata/routes.yaml\n"), 0o600)
	out, _, err := runCmd(t, testEnv(nil), "config", "check", "--config", withFile)
	if err != nil || !strings.Contains(out, "(2 routes)") {
		t.Fatalf("routes_file: %q %v", out, err)
	}
}

func TestRoutesImportVGS(t *testing.T) {
	out, stderr, err := runCmd(t, testEnv(nil), "routes", "import-vgs", "../../routes/vgs/testdata/inbound-json-redact.yaml")
	if err != nil || !strings.Contains(out, "routes:") || stderr != "" {
		t.Fatalf("complete import: %v\n%s\n%s", err, out, stderr)
	}
	dir := t.TempDir()
	conv := filepath.Join(dir, "routes.yaml")
	os.WriteFile(conv, []byte(out), 0o600)
	if _, _, err := runCmd(t, testEnv(nil), "routes", "validate", conv); err != nil {
		t.Fatalf("converted routes do not validate: %v", err)
	}
	// Every fixture converts into routes that validate, exactly (0) or with
	// a report (1).
	fixtures, _ := filepath.Glob("../../routes/vgs/testdata/*.yaml")
	if len(fixtures) < 6 {
		t.Fatalf("%d fixtures", len(fixtures))
	}
	for _, fx := range fixtures {
		out, stderr, err := runCmd(t, testEnv(nil), "routes", "import-vgs", fx)
		var buf strings.Builder
		if code := exitCode(err, &buf); code > 1 || (code == 1) != (stderr != "") {
			t.Fatalf("%s: exit %d %v\n%s", fx, code, err, stderr)
		}
		conv := filepath.Join(dir, filepath.Base(fx))
		if err := os.WriteFile(conv, []byte(out), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, stderr, err := runCmd(t, testEnv(nil), "routes", "validate", conv); err != nil {
			t.Fatalf("%s: converted routes do not validate: %v\n%s", fx, err, stderr)
		}
	}
	out, stderr, err = runCmd(t, testEnv(nil), "routes", "import-vgs", "../../routes/vgs/testdata/form-and-regex.yaml")
	var buf strings.Builder
	if code := exitCode(err, &buf); code != 1 || !strings.Contains(stderr, "lookbehind") || !strings.Contains(out, "routes:") {
		t.Fatalf("partial import: exit %d %v\n%s", code, err, stderr)
	}
	for _, bad := range [][]string{
		{"routes", "import-vgs", "testdata/checkout.http"},           // not an export
		{"routes", "import-vgs", filepath.Join(dir, "missing.yaml")}, // unreadable
		{"routes", "import-vgs"},                                     // usage
		{"routes", "import-vgs", "a.yaml", "b.yaml"},                 // usage
		{"routes", "import-vgs", "--no-such-flag", "a.yaml"},         // usage
	} {
		_, _, err := runCmd(t, testEnv(nil), bad...)
		if code := exitCode(err, &buf); code != 2 {
			t.Errorf("%v: exit %d (%v), want 2", bad, code, err)
		}
	}
}

// TestRoutesTestAppliesTheLeakGuard: routes test says what the gateway's
// leak guard does with a card number no filter redacted on an inbound
// request, as the README's walk-through shows it (a number in "note" on a
// leak_guard: block route: 422, nothing forwarded). It printed the message
// with the number in it and exited 0, as if the gateway would forward it.
// The aliases the dry run made (FPE aliases are Luhn-valid) are not taken
// for card numbers; the number itself is never printed on stderr.
func TestRoutesTestAppliesTheLeakGuard(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string { return writeIn(t, dir, name, []byte(s)) }
	routesFile := func(guard string) string {
		return write("routes-"+guard+".yaml", `routes:
  - id: checkout
    direction: inbound
    host: "*"
    path_prefix: /checkout
    upstream: http://127.0.0.1:3000
    leak_guard: `+guard+`
    filters:
      - id: card
        match: {methods: [POST], content_type: json}
        operation: redact
        targets:
          - {json: card.number, format: FPE_SIX_T_FOUR}
`)
	}
	leaky := write("leaky.http", "POST /checkout HTTP/1.1\r\nHost: shop.example\r\nContent-Type: application/json\r\n\r\n"+
		`{"card":{"number":"4111111111111111"},"note":"5555555555554444"}`)
	clean := write("clean.http", "POST /checkout HTTP/1.1\r\nHost: shop.example\r\nContent-Type: application/json\r\n\r\n"+
		`{"card":{"number":"4111111111111111"},"note":"thanks"}`)

	// block: refused, nothing on stdout, exit 1.
	out, stderr, err := runCmd(t, testEnv(nil), "routes", "test", "--routes", routesFile("block"), "--request", leaky)
	if err == nil || out != "" || !strings.Contains(stderr+err.Error(), "card_data_leak") || !strings.Contains(stderr+err.Error(), "422") {
		t.Errorf("block: err %v, stdout %q, stderr %q", err, out, stderr)
	}
	// log: forwarded as it is, with a note.
	out, stderr, err = runCmd(t, testEnv(nil), "routes", "test", "--routes", routesFile("log"), "--request", leaky)
	if err != nil || !strings.Contains(out, "5555555555554444") || !strings.Contains(stderr, "leak guard (log)") {
		t.Errorf("log: err %v, stderr %q", err, stderr)
	}
	// redact: the gateway masks it.
	_, stderr, err = runCmd(t, testEnv(nil), "routes", "test", "--routes", routesFile("redact"), "--request", leaky)
	if err != nil || !strings.Contains(stderr, "leak guard (redact)") || !strings.Contains(stderr, "Aliasgate-Redacted") {
		t.Errorf("redact: err %v, stderr %q", err, stderr)
	}
	// The FPE alias the filter made is no leak.
	out, stderr, err = runCmd(t, testEnv(nil), "routes", "test", "--routes", routesFile("block"), "--request", clean)
	if err != nil || strings.Contains(stderr, "leak guard") || !regexp.MustCompile(`"number":"411111\d{6}1111"`).MatchString(out) {
		t.Errorf("clean: err %v, stdout %q, stderr %q", err, out, stderr)
	}
	// off: nothing said.
	_, stderr, err = runCmd(t, testEnv(nil), "routes", "test", "--routes", routesFile("off"), "--request", leaky)
	if err != nil || strings.Contains(stderr, "leak guard") {
		t.Errorf("off: err %v, stderr %q", err, stderr)
	}
}

// TestRoutesTestMatchesBodiesAsTheGatewayDoes: on a route whose request
// filters redact bodies, routes test reads a request body by its syntax and
// refuses one no filter matched, as the gateway does (README: "a body that
// no such filter matched … is refused with 422 no_matching_filter unless
// the route says unmatched_body: pass"). It said "no request filter
// matches" and printed a form body's card number as passing, and a JSON
// body sent as text/plain as passing unredacted, where the gateway refuses
// the first and redacts the second.
func TestRoutesTestMatchesBodiesAsTheGatewayDoes(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string { return writeIn(t, dir, name, []byte(s)) }
	routesFile := func(unmatched string) string {
		return write("routes-"+unmatched+".yaml", `routes:
  - id: checkout
    direction: inbound
    host: "*"
    path_prefix: /checkout
    upstream: http://127.0.0.1:3000
    leak_guard: off
    unmatched_body: `+unmatched+`
    filters:
      - id: card
        match: {methods: [POST], content_type: json}
        operation: redact
        targets:
          - {json: card.number, format: FPE_SIX_T_FOUR}
`)
	}
	form := write("form.http", "POST /checkout HTTP/1.1\r\nHost: shop.example\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\ncard_number=4111111111111111")
	plain := write("plain.http", "POST /checkout HTTP/1.1\r\nHost: shop.example\r\nContent-Type: text/plain\r\n\r\n"+`{"card":{"number":"4111111111111111"}}`)

	out, stderr, err := runCmd(t, testEnv(nil), "routes", "test", "--routes", routesFile("reject"), "--request", form)
	if err == nil || out != "" || !strings.Contains(stderr+err.Error(), "no_matching_filter") || !strings.Contains(stderr+err.Error(), "422") {
		t.Errorf("form body, unmatched_body reject: err %v, stdout %q, stderr %q", err, out, stderr)
	}
	out, stderr, err = runCmd(t, testEnv(nil), "routes", "test", "--routes", routesFile("pass"), "--request", form)
	if err != nil || !strings.Contains(out, "card_number=4111111111111111") || !strings.Contains(stderr, "unmatched_body: pass") {
		t.Errorf("form body, unmatched_body pass: err %v, stderr %q", err, stderr)
	}
	out, stderr, err = runCmd(t, testEnv(nil), "routes", "test", "--routes", routesFile("reject"), "--request", plain)
	if err != nil || strings.Contains(out, "4111111111111111") || !regexp.MustCompile(`"number":"411111\d{6}1111"`).MatchString(out) ||
		!strings.Contains(stderr, "json card.number: 1 value(s)") {
		t.Errorf("JSON body sent as text/plain: err %v, stdout %q, stderr %q", err, out, stderr)
	}
}

// TestRoutesTestReadsAsTheGuardReads: the dry run's leak guard reads a
// message as the gateway's does (proxy.FindLeaks, one reading): a card
// number in exponent notation, in XML text split by a comment, in a
// base64 multipart part, in the method, or in a gzip body. Its own reading
// (plain digits only) let all of them through where the gateway refuses
// them. With leak_guard: redact, a number that cannot be masked in place
// refuses the message, as the gateway does.
func TestRoutesTestReadsAsTheGuardReads(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string { return writeIn(t, dir, name, b) }
	routesFile := func(guard string) string {
		return write("routes-"+guard+".yaml", []byte(`routes:
  - id: notes
    direction: inbound
    host: "*"
    path_prefix: /
    upstream: http://127.0.0.1:3000
    leak_guard: `+guard+`
    unmatched_body: pass
    filters:
      - id: name
        match: {methods: [POST, PUT]}
        operation: redact
        targets:
          - {header: X-Name}
`))
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte(`{"note":"4111111111111111"}`))
	_ = zw.Close()
	b64 := base64.StdEncoding.EncodeToString([]byte("4111111111111111"))
	req := func(method, ctype, extra string, body []byte) []byte {
		return append([]byte(method+" /notes HTTP/1.1\r\nHost: shop.example\r\nContent-Type: "+ctype+"\r\n"+extra+
			"Content-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"), body...)
	}
	for _, tc := range []struct {
		name string
		msg  []byte
	}{
		{"exponent", req("POST", "application/json", "", []byte(`{"note":4111111111111111e0}`))},
		{"xml-comment", req("POST", "application/xml", "", []byte(`<n>41111111<!-- -->11111111</n>`))},
		{"base64-part", req("POST", "multipart/form-data; boundary=XyZ", "", []byte("--XyZ\r\nContent-Disposition: form-data; name=\"n\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"+b64+"\r\n--XyZ--\r\n"))},
		{"method", req("4111111111111111", "text/plain", "", []byte("hello"))},
		{"gzip", req("POST", "application/json", "Content-Encoding: gzip\r\n", gz.Bytes())},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := write(tc.name+".http", tc.msg)
			out, stderr, err := runCmd(t, testEnv(nil), "routes", "test", "--routes", routesFile("block"), "--request", msg)
			if err == nil || out != "" || !strings.Contains(stderr+err.Error(), "card_data_leak") {
				t.Errorf("block: err %v, stdout %q, stderr %q", err, out, stderr)
			}
			if strings.Contains(stderr, "4111111111111111") {
				t.Errorf("stderr names the card number: %q", stderr)
			}
			out, stderr, err = runCmd(t, testEnv(nil), "routes", "test", "--routes", routesFile("log"), "--request", msg)
			if err != nil || out == "" || !strings.Contains(stderr, "leak guard (log)") {
				t.Errorf("log: err %v, stderr %q", err, stderr)
			}
			if tc.name == "gzip" {
				return // a gzip body is masked decoded and sent again compressed
			}
			_, stderr, err = runCmd(t, testEnv(nil), "routes", "test", "--routes", routesFile("redact"), "--request", msg)
			if err == nil || !strings.Contains(stderr, "cannot be masked") {
				t.Errorf("redact: err %v, stderr %q", err, stderr)
			}
		})
	}
	// What the guard cannot read is refused in block mode, as the gateway
	// refuses it.
	msg := write("ebcdic.http", req("POST", "text/plain; charset=IBM037", "", []byte("\xf4\xf1\xf1\xf1")))
	_, stderr, err := runCmd(t, testEnv(nil), "routes", "test", "--routes", routesFile("block"), "--request", msg)
	if err == nil || !strings.Contains(stderr, "unsupported_charset") {
		t.Errorf("charset: err %v, stderr %q", err, stderr)
	}
}

// TestRoutesTestNeverNamesTheDigits: the dry run's leak guard names where
// a card number is, never its digits; a header whose name holds the card
// number (the guard reads names too, proxy.FindLeaks) was named in clear
// on stderr, while block mode writes nothing to stdout. So was the path of
// a request no route matches.
func TestRoutesTestNeverNamesTheDigits(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string { return writeIn(t, dir, name, []byte(s)) }
	routesFile := write("routes.yaml", `routes:
  - id: notes
    direction: inbound
    host: "*"
    path_prefix: /notes
    upstream: http://127.0.0.1:3000
    leak_guard: block
    unmatched_body: pass
`)
	for _, tc := range []struct{ name, msg string }{
		{"header name", "POST /notes HTTP/1.1\r\nHost: shop.example\r\nX-4111111111111111: a\r\nContent-Length: 2\r\n\r\nhi"},
		{"header name and value", "POST /notes HTTP/1.1\r\nHost: shop.example\r\nX-Card-5555555555554444: 4111111111111111\r\nContent-Length: 2\r\n\r\nhi"},
		{"no route", "POST /cards/4111111111111111 HTTP/1.1\r\nHost: shop.example\r\nContent-Length: 2\r\n\r\nhi"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, err := runCmd(t, testEnv(nil), "routes", "test", "--routes", routesFile, "--request", write("req.http", tc.msg))
			if tc.name != "no route" && (err == nil || !strings.Contains(stderr, "leak guard (block)")) {
				t.Errorf("want the leak guard's refusal: err %v, stderr %q", err, stderr)
			}
			for _, d := range []string{"4111111111111111", "5555555555554444"} {
				if strings.Contains(stderr, d) || (err != nil && strings.Contains(err.Error(), d)) {
					t.Errorf("stderr or the error names card number %s…", d[:6])
				}
			}
		})
	}
}

// writeIn writes b to the file name in dir (mode 0600) and returns its path.
func writeIn(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRoutesTestMasksAnUnmatchedResponse: on a route whose response filters
// redact bodies, a response body no such filter matched (another format
// the client asked for), or one a filter matched and left a card number in
// (a list's array), has its card numbers masked by the gateway's guard,
// whatever the route's leak_guard says but block; routes test says so, as
// it says what the gateway does with an unmatched request.
func TestRoutesTestMasksAnUnmatchedResponse(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string { return writeIn(t, dir, name, []byte(s)) }
	routesFile := func(guard string) string {
		return write("routes-"+guard+".yaml", `routes:
  - id: orders
    direction: inbound
    host: "*"
    path_prefix: /orders
    upstream: http://127.0.0.1:3000
    leak_guard: `+guard+`
    filters:
      - id: card-out
        phase: response
        match: {content_type: json}
        operation: redact
        targets: [{json: card.number}]
`)
	}
	req := write("req.http", "GET /orders/1 HTTP/1.1\r\nHost: shop.example\r\nAccept: application/xml\r\n\r\n")
	xml := write("xml.http", "HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\n\r\n<card><number>4111111111111111</number></card>")
	plain := write("plain.http", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n"+`{"card":{"number":"4111111111111111"}}`)
	for _, guard := range []string{"off", "log", "redact"} {
		_, stderr, err := runCmd(t, testEnv(nil), "routes", "test", "--routes", routesFile(guard), "--request", req, "--phase", "response", "--response", xml)
		if err != nil || !strings.Contains(stderr, "no filter with body targets matches this response") || !strings.Contains(stderr, "leak guard (redact)") {
			t.Errorf("XML answer, leak_guard %s: err %v, stderr %q", guard, err, stderr)
		}
	}
	_, stderr, err := runCmd(t, testEnv(nil), "routes", "test", "--routes", routesFile("block"), "--request", req, "--phase", "response", "--response", xml)
	if err == nil || !strings.Contains(stderr+err.Error(), "card_data_leak") {
		t.Errorf("XML answer, leak_guard block: err %v, stderr %q", err, stderr)
	}
	// A JSON answer the filter matched and left a number in (a list's
	// array: not at card.number) is masked too, as the gateway masks it.
	list := write("list.http", "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n"+`[{"card":{"number":"4111111111111111"}}]`)
	for _, guard := range []string{"off", "log"} {
		_, stderr, err := runCmd(t, testEnv(nil), "routes", "test", "--routes", routesFile(guard), "--request", req, "--phase", "response", "--response", list)
		if err != nil || !strings.Contains(stderr, "leak guard (redact)") || !strings.Contains(stderr, "masks them") {
			t.Errorf("JSON list answer, leak_guard %s: err %v, stderr %q", guard, err, stderr)
		}
	}
	// JSON labelled text/plain is read by its syntax and redacted.
	out, stderr, err := runCmd(t, testEnv(nil), "routes", "test", "--routes", routesFile("off"), "--request", req, "--phase", "response", "--response", plain)
	if err != nil || strings.Contains(out, "4111111111111111") || !strings.Contains(stderr, "json card.number: 1 value(s)") {
		t.Errorf("JSON answer sent as text/plain: err %v, stdout %q, stderr %q", err, out, stderr)
	}
}

// TestRoutesTestRefusesTheQueryAndHeadersTheGatewayRefuses: the dry run
// refuses, as the gateway does, a request whose query string holds a field
// a form redact filter of the route targets (the app reads query and form
// fields as one), and one carrying a header a redact filter targets where
// no filter redacting it applies (a path in another letter case); it names
// the filter and why, never the digits.
func TestRoutesTestRefusesTheQueryAndHeadersTheGatewayRefuses(t *testing.T) {
	for _, c := range []struct {
		name, filter, request string
		want                  []string
	}{
		{"form field in the query", `
      - id: card
        match: {methods: [POST], content_type: form}
        operation: redact
        targets:
          - {form: card_number, format: FPE_SIX_T_FOUR}`,
			"POST /checkout?card_number=4111111111111111 HTTP/1.1\r\nHost: shop.example\r\n" +
				"Content-Type: application/x-www-form-urlencoded\r\n\r\ncard_number=4111111111111111",
			[]string{"filter card", "query string", "refused"}},
		{"header where no filter redacting it applies", `
      - id: card-header
        match: {methods: [POST], path: "^/checkout$"}
        operation: redact
        targets:
          - {header: X-Card-Number}`,
			"POST /Checkout HTTP/1.1\r\nHost: shop.example\r\nX-Card-Number: 4111111111111111\r\n\r\n",
			[]string{"filter card-header", "no_matching_filter", "refused"}},
		{"JSON target's field in the query", `
      - id: card-json
        match: {methods: [POST], path: "^/checkout$", content_type: json}
        operation: redact
        targets:
          - {json: card.cvc}`,
			"POST /checkout?card[cvc]=737 HTTP/1.1\r\nHost: shop.example\r\n\r\n",
			[]string{"filter card-json", "query string", "refused"}},
		{"form field as a cookie", `
      - id: card-cookie
        match: {methods: [POST], content_type: form}
        operation: redact
        targets:
          - {form: cvc}`,
			"POST /checkout HTTP/1.1\r\nHost: shop.example\r\nCookie: a=1; cvc=737\r\n\r\n",
			[]string{"filter card-cookie", "cookie", "refused"}},
	} {
		dir := t.TempDir()
		routesFile := writeIn(t, dir, "routes.yaml", []byte(`routes:
  - id: checkout
    direction: inbound
    host: "*"
    path_prefix: /
    upstream: http://127.0.0.1:3000
    leak_guard: off
    filters:`+c.filter+"\n"))
		req := writeIn(t, dir, "request.http", []byte(c.request))
		out, stderr, err := runCmd(t, testEnv(nil), "routes", "test", "--routes", routesFile, "--request", req)
		if err == nil || out != "" {
			t.Errorf("%s: err %v, stdout %q: want refused", c.name, err, out)
		}
		for _, w := range c.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%s: stderr %q does not say %q", c.name, stderr, w)
			}
		}
		if strings.Contains(out+stderr, "4111111111111111") {
			t.Errorf("%s: the dry run shows the card number", c.name)
		}
	}
}

// TestRoutesTestShowsWhatTheRedactGuardForwards: under leak_guard: redact
// the gateway forwards a message with the card numbers no filter redacted
// masked (first 6 and last 4 kept, in the body and in header values) and
// Aliasgate-Redacted set; so does a route that masks its response bodies.
// routes test said "the gateway masks them" on stderr but printed the
// message on stdout with the numbers in clear, which is neither what the
// gateway forwards nor safe to paste into a ticket.
func TestRoutesTestShowsWhatTheRedactGuardForwards(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string { return writeIn(t, dir, name, []byte(s)) }
	routesFile := write("routes.yaml", `routes:
  - id: checkout
    direction: inbound
    host: "*"
    path_prefix: /checkout
    upstream: http://127.0.0.1:3000
    leak_guard: redact
    filters:
      - id: card
        match: {methods: [POST], content_type: json}
        operation: redact
        targets:
          - {json: card.number, format: FPE_SIX_T_FOUR}
      - id: card-out
        phase: response
        match: {content_type: json}
        operation: redact
        targets: [{json: card.number}]
`)
	req := write("req.http", "POST /checkout HTTP/1.1\r\nHost: shop.example\r\nX-Note: 5105 1051 0510 5100\r\nContent-Type: application/json\r\n\r\n"+
		`{"card":{"number":"4111111111111111"},"note":"5555-5555-5555-4444"}`)
	out, stderr, err := runCmd(t, testEnv(nil), "routes", "test", "--routes", routesFile, "--request", req)
	if err != nil || !strings.Contains(stderr, "leak guard (redact)") {
		t.Fatalf("request: err %v, stderr %q", err, stderr)
	}
	for _, clear := range []string{"5555-5555-5555-4444", "5105 1051 0510 5100"} {
		if strings.Contains(out, clear) {
			t.Errorf("request: stdout holds %s in clear, the gateway masks it:\n%s", clear, out)
		}
	}
	if !strings.Contains(out, `"note":"5555-55**-****-4444"`) || !strings.Contains(out, "X-Note: 5105 10** **** 5100") || !strings.Contains(out, "Aliasgate-Redacted: 2") {
		t.Errorf("request: stdout is not the masked message the gateway forwards:\n%s", out)
	}
	if !regexp.MustCompile(`"number":"411111\d{6}1111"`).MatchString(out) {
		t.Errorf("request: the alias the filter made was masked too:\n%s", out)
	}

	resp := write("resp.http", "HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\n\r\n<card><number>4111111111111111</number></card>")
	out, stderr, err = runCmd(t, testEnv(nil), "routes", "test", "--routes", routesFile, "--request", req, "--phase", "response", "--response", resp)
	if err != nil || !strings.Contains(stderr, "leak guard (redact)") {
		t.Fatalf("response: err %v, stderr %q", err, stderr)
	}
	if strings.Contains(out, "4111111111111111") || !strings.Contains(out, "Aliasgate-Redacted: 1") {
		t.Errorf("response: stdout is not the masked answer the gateway sends:\n%s", out)
	}
}

// TestRoutesTestReadsTrailersAsTheGuardReads: the gateway's leak guard
// reads the trailer fields of a chunked message as it reads its headers
// (proxy/leak.go: redact masks a card number there, block refuses the
// message), the dry run's did not: a request or response trailer holding
// one was printed on stdout in clear, exit 0, under leak_guard: redact and
// under block, where the gateway masks it or refuses the message.
func TestRoutesTestReadsTrailersAsTheGuardReads(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string { return writeIn(t, dir, name, []byte(s)) }
	routesFile := func(guard string) string {
		return write("routes-"+guard+".yaml", `routes:
  - id: notes
    direction: inbound
    host: "*"
    path_prefix: /notes
    upstream: http://127.0.0.1:3000
    leak_guard: `+guard+`
    unmatched_body: pass
`)
	}
	req := write("req.http", "POST /notes HTTP/1.1\r\nHost: shop.example\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nTrailer: X-Check\r\n\r\n"+
		"2\r\nhi\r\n0\r\nX-Check: 5555 5555 5555 4444\r\n\r\n")
	resp := write("resp.http", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nTrailer: X-Check\r\n\r\n"+
		"2\r\nok\r\n0\r\nX-Check: 5555 5555 5555 4444\r\n\r\n")
	for _, phase := range []string{"request", "response"} {
		args := []string{"routes", "test", "--request", req, "--phase", phase}
		if phase == "response" {
			args = append(args, "--response", resp)
		}
		out, stderr, err := runCmd(t, testEnv(nil), append(args, "--routes", routesFile("redact"))...)
		if err != nil || !strings.Contains(stderr, "leak guard (redact)") || !strings.Contains(stderr, "trailer X-Check") {
			t.Errorf("%s, redact: err %v, stderr %q", phase, err, stderr)
		}
		if strings.Contains(out, "5555 5555 5555 4444") || !strings.Contains(out, "Aliasgate-Redacted: 1") {
			t.Errorf("%s, redact: stdout is not the message the gateway forwards (trailer masked):\n%s", phase, out)
		}
		out, stderr, err = runCmd(t, testEnv(nil), append(args, "--routes", routesFile("block"))...)
		if err == nil || out != "" || !strings.Contains(stderr, "card_data_leak") {
			t.Errorf("%s, block: err %v, stdout %q, stderr %q", phase, err, out, stderr)
		}
	}
}

// TestRoutesTestReadsAGzipBodyAsTheGatewayDoes: the gateway decodes a
// body's Content-Encoding (gzip, deflate) before its filters and its leak
// guard read it and encodes it again after (proxy/pipeline.go). The dry
// run did not: its filters read the compressed bytes (a JSON filter
// refused the request the gateway forwards with the card number
// tokenized), and under leak_guard: redact stdout was the body as sent,
// the card numbers in clear once decompressed, while stderr said the
// gateway masks them.
func TestRoutesTestReadsAGzipBodyAsTheGatewayDoes(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string { return writeIn(t, dir, name, b) }
	routesFile := write("routes.yaml", []byte(`routes:
  - id: checkout
    direction: inbound
    host: "*"
    path_prefix: /checkout
    upstream: http://127.0.0.1:3000
    leak_guard: redact
    filters:
      - id: card
        match: {methods: [POST], content_type: json}
        operation: redact
        targets:
          - {json: card.number, format: FPE_SIX_T_FOUR}
`))
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte(`{"card":{"number":"4111111111111111"},"note":"5555-5555-5555-4444"}`))
	_ = zw.Close()
	req := write("req.http", append([]byte("POST /checkout HTTP/1.1\r\nHost: shop.example\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"+
		"Content-Length: "+strconv.Itoa(gz.Len())+"\r\n\r\n"), gz.Bytes()...))
	out, stderr, err := runCmd(t, testEnv(nil), "routes", "test", "--routes", routesFile, "--request", req)
	if err != nil || !strings.Contains(stderr, "filter card (redact): json card.number: 1 value(s)") || !strings.Contains(stderr, "leak guard (redact)") {
		t.Fatalf("err %v, stderr %q", err, stderr)
	}
	head, body, ok := strings.Cut(out, "\r\n\r\n")
	if !ok || !strings.Contains(head, "Content-Encoding: gzip") || !strings.Contains(head, "Aliasgate-Redacted: 1") {
		t.Fatalf("stdout is not the gzip message the gateway forwards:\n%q", out)
	}
	zr, err := gzip.NewReader(strings.NewReader(body))
	if err != nil {
		t.Fatalf("stdout's body is not gzip: %v\n%q", err, out)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(plain), `"note":"5555-55**-****-4444"`) || strings.Contains(string(plain), "4111111111111111") ||
		!regexp.MustCompile(`"number":"411111\d{6}1111"`).Match(plain) {
		t.Fatalf("stdout's body, decoded, is not what the gateway forwards: %s", plain)
	}
}
