package main

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/aliasgate/aliasgate/internal/pan"
)

// The adversarial corpus (issue 17): requests that carry card data framed
// every way a client can frame it, sent to a real gateway in front of a
// recording upstream. The promise under test: every variant ends redacted
// or refused — never forwarded in clear. After each request the test decodes
// what the upstream received the way apps do (encoding/json into the app's
// struct and into a map, PHP-style form parsing, multipart, the
// Content-Encoding chain, UTF-16, every escape a scanner could miss) and
// looks for the test card numbers in any spelling, in the request target,
// headers, cookies, trailers and body, and for the test CVCs in the fields
// where an app reads a CVC.
//
// Card numbers are looked for by value, not as "any Luhn-valid run": the
// shipped route's FPE_SIX_T_FOUR aliases are Luhn-valid 16-digit numbers.

// Card data of the corpus.
var (
	advPANs = []string{"4111111111111111", "5555555555554444", "378282246310005", "4012888888881881", "6011111111111117"}
	advCVCs = []string{"737", "4821"}
)

// advRequest is one request as the recording upstream received it.
type advRequest struct {
	method, target, proto, host string
	tag                         string // the X-Adv-Case header: which variant sent it
	header, trailer             http.Header
	body                        []byte
	tunnel                      []byte // bytes received after the upstream answered 101
	upgraded                    bool
}

// advUpstream is the merchant's app: it records every request and answers
// {"ok":true}. A request asking for an upgrade gets 101, and whatever the
// client then sends through the gateway is recorded as tunnel bytes.
type advUpstream struct {
	*httptest.Server
	active atomic.Int32
	mu     sync.Mutex
	got    []*advRequest
}

func newAdvUpstream(t *testing.T) *advUpstream {
	t.Helper()
	u := &advUpstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.active.Add(1)
		defer u.active.Add(-1)
		rec := &advRequest{method: r.Method, target: r.RequestURI, proto: r.Proto, host: r.Host, header: r.Header.Clone(), tag: r.Header.Get(advTag)}
		rec.header.Del(advTag)
		rec.body, _ = io.ReadAll(r.Body)
		rec.trailer = r.Trailer.Clone()
		if r.Header.Get("Upgrade") != "" {
			if conn, brw, err := http.NewResponseController(w).Hijack(); err == nil {
				rec.upgraded = true
				brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + r.Header.Get("Upgrade") + "\r\n\r\n")
				brw.Flush()
				conn.SetReadDeadline(time.Now().Add(time.Second))
				rec.tunnel, _ = io.ReadAll(brw)
				conn.Close()
				u.add(rec)
				return
			}
		}
		u.add(rec)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true}`)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *advUpstream) add(r *advRequest) {
	u.mu.Lock()
	u.got = append(u.got, r)
	u.mu.Unlock()
}

// of waits until no request is in the upstream's handler (at most 3 s)
// and returns the requests recorded with tag.
func (u *advUpstream) of(tag string) []*advRequest {
	deadline := time.Now().Add(3 * time.Second)
	for u.active.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []*advRequest
	for _, r := range u.got {
		if r.tag == tag {
			out = append(out, r)
		}
	}
	return out
}

// advGateway starts a gateway on the shipped examples/sidecar/routes.yaml
// plus testdata/adversarial/routes.yaml, both pointed at upstream.
func advGateway(t *testing.T, upstream string) *gatewayProc {
	t.Helper()
	shipped, err := os.ReadFile(filepath.Join("..", "..", "examples", "sidecar", "routes.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	extra, err := os.ReadFile(filepath.Join("testdata", "adversarial", "routes.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	const shippedUpstream = "http://127.0.0.1:18000"
	if !bytes.Contains(shipped, []byte(shippedUpstream)) {
		t.Fatalf("examples/sidecar/routes.yaml no longer names the upstream %s: update the test", shippedUpstream)
	}
	yaml := strings.ReplaceAll(string(shipped), shippedUpstream, upstream) + "\n" + strings.ReplaceAll(string(extra), "UPSTREAM", upstream)
	dir := t.TempDir()
	routesFile := filepath.Join(dir, "routes.yaml")
	if err := os.WriteFile(routesFile, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return startGateway(t, testEnv(map[string]string{"ALIASGATE_ROUTES_FILE": routesFile}), "--data-dir", filepath.Join(dir, "data"))
}

// advCase is one request of the corpus, written on a raw TCP connection so
// that every byte of it is the test's choice.
type advCase struct {
	name     string
	host     string // Host header; "" is the gateway's address (the routes of host *)
	method   string // "" is POST
	target   string // request target; "" is /checkout/pay
	proto    string // "" is HTTP/1.1
	ctype    string // Content-Type; "" sends none
	header   []string
	body     []byte
	chunked  bool     // Transfer-Encoding: chunked, the body in two chunks
	trailer  []string // trailer fields of a chunked body, name/value pairs
	tunnel   []byte   // sent through the connection once the gateway answers 101
	baseline bool     // a control: must be forwarded (2xx) with card data redacted
	id       int      // sent as X-Adv-Case: the upstream's records name their variant
}

// advTag is the header that names a request's variant to the upstream.
const advTag = "X-Adv-Case"

func (c advCase) raw(addr string) []byte {
	method, target, proto, host := c.method, c.target, c.proto, c.host
	if method == "" {
		method = "POST"
	}
	if target == "" {
		target = "/checkout/pay"
	}
	if proto == "" {
		proto = "HTTP/1.1"
	}
	if host == "" {
		host = addr
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s %s\r\nHost: %s\r\n%s: %d\r\n", method, target, proto, host, advTag, c.id)
	if c.ctype != "" {
		fmt.Fprintf(&b, "Content-Type: %s\r\n", c.ctype)
	}
	for i := 0; i+1 < len(c.header); i += 2 {
		fmt.Fprintf(&b, "%s: %s\r\n", c.header[i], c.header[i+1])
	}
	switch {
	case c.chunked:
		b.WriteString("Transfer-Encoding: chunked\r\n")
		var names []string
		for i := 0; i+1 < len(c.trailer); i += 2 {
			names = append(names, c.trailer[i])
		}
		if len(names) > 0 {
			fmt.Fprintf(&b, "Trailer: %s\r\n", strings.Join(names, ", "))
		}
	case len(c.body) > 0 || method != "GET":
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(c.body))
	}
	if c.tunnel == nil {
		b.WriteString("Connection: close\r\n")
	}
	b.WriteString("\r\n")
	if !c.chunked {
		b.Write(c.body)
		return b.Bytes()
	}
	half := len(c.body) / 2
	for _, chunk := range [][]byte{c.body[:half], c.body[half:]} {
		if len(chunk) > 0 {
			fmt.Fprintf(&b, "%x\r\n%s\r\n", len(chunk), chunk)
		}
	}
	b.WriteString("0\r\n")
	for i := 0; i+1 < len(c.trailer); i += 2 {
		fmt.Fprintf(&b, "%s: %s\r\n", c.trailer[i], c.trailer[i+1])
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// send writes the request and returns the status the client got (0: the
// connection ended without an answer).
func (c advCase) send(addr string) (int, string, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write(c.raw(addr)); err != nil {
		return 0, "", err
	}
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	for err == nil && res.StatusCode/100 == 1 && res.StatusCode != http.StatusSwitchingProtocols {
		res, err = http.ReadResponse(br, nil) // past 100 Continue and other interim answers
	}
	if err != nil {
		return 0, "", err
	}
	if res.StatusCode == http.StatusSwitchingProtocols && c.tunnel != nil {
		conn.Write(c.tunnel)
		time.Sleep(200 * time.Millisecond)
		return res.StatusCode, "", nil
	}
	b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	res.Body.Close()
	return res.StatusCode, advReason(b), nil
}

// advReason returns the code of a gateway's JSON:API error answer
// ("card_data_leak"), or "".
func advReason(b []byte) string {
	var e struct {
		Errors []struct {
			Code string `json:"code"`
		} `json:"errors"`
	}
	if json.Unmarshal(b, &e) != nil || len(e.Errors) == 0 || advHasPAN(e.Errors[0].Code) {
		return ""
	}
	return e.Errors[0].Code
}

// advRow is one line of the corpus report.
type advRow struct {
	name, reason string
	status       int
	reached      int      // requests of this variant the upstream received
	got          []string // what each of them looked like
	findings     []string
}

// TestAdversarialCorpus sends the corpus through one gateway, one variant
// at a time (the upstream's record of each is what the variant made it
// receive), and fails every variant that made the upstream receive a test
// card number, in any spelling, anywhere, or a test CVC where an app reads
// one. The table of every variant (status and error code to the client,
// what the upstream got, findings) is logged at the end; it names the
// places card data was found, never the digits.
func TestAdversarialCorpus(t *testing.T) {
	up := newAdvUpstream(t)
	g := advGateway(t, up.URL)
	addr := strings.TrimPrefix(g.inbound, "http://")

	var rows []advRow
	corpus := advCorpus()
	for i, c := range corpus {
		c.id = i
		t.Run(c.name, func(t *testing.T) {
			status, reason, err := c.send(addr)
			got := up.of(strconv.Itoa(i))
			row := advRow{name: c.name, status: status, reason: reason, reached: len(got)}
			for _, r := range got {
				row.got = append(row.got, advDescribe(r))
				row.findings = append(row.findings, advScan(r)...)
			}
			slices.Sort(row.findings)
			row.findings = slices.Compact(row.findings)
			rows = append(rows, row)
			if err != nil {
				reason = err.Error()
			}
			t.Logf("status %d %s; upstream got: %s", status, reason, strings.Join(row.got, " | "))
			for _, f := range row.findings {
				t.Errorf("forwarded in clear: %s", f)
			}
			if c.baseline && (status/100 != 2 || len(got) != 1) {
				t.Errorf("control: status %d, upstream reached %d times; want 2xx and the request forwarded redacted", status, len(got))
			}
		})
	}

	// A request that reached the upstream after its variant was checked
	// (or with its tag stripped) is scanned too.
	time.Sleep(100 * time.Millisecond)
	for i, r := range rows {
		if got := up.of(strconv.Itoa(i)); len(got) != r.reached {
			t.Errorf("%s: the upstream received %d requests of this variant after it was checked", r.name, len(got)-r.reached)
			for _, late := range got[r.reached:] {
				rows[i].findings = append(rows[i].findings, advScan(late)...)
			}
		}
	}
	for _, r := range up.of("") {
		t.Errorf("the upstream received a request with no variant tag: %s; findings: %s", advDescribe(r), strings.Join(advScan(r), "; "))
	}

	var b strings.Builder
	pass := 0
	for _, r := range rows {
		verdict := "PASS"
		if len(r.findings) > 0 {
			verdict = "FAIL"
		} else {
			pass++
		}
		got := "upstream not reached"
		if len(r.got) > 0 {
			got = strings.Join(r.got, " | ")
		}
		fmt.Fprintf(&b, "%s | %s | %d %s | %s | %s\n", verdict, r.name, r.status, r.reason, got, strings.Join(r.findings, "; "))
	}
	t.Logf("adversarial corpus: %d of %d variants pass\n%s", pass, len(rows), b.String())
}

// advDescribe says what a request the upstream received looked like,
// without card data: method, target (or where a PAN is in it), media type,
// and what an app reads from the card fields (a PAN, a CVC, an alias).
func advDescribe(r *advRequest) string {
	target := r.target
	if advHasPAN(target) {
		target = "(a target holding a PAN)"
	}
	s := r.method + " " + target
	body, _ := advDecodeEncodings(r.header.Values("Content-Encoding"), r.body)
	if len(body) == 0 {
		return s
	}
	mt, params, err := mime.ParseMediaType(r.header.Get("Content-Type"))
	if err != nil {
		mt = advSafe(r.header.Get("Content-Type"))
	}
	if mt == "" {
		mt = "no type"
	}
	var fields []string
	field := func(name, v string) { fields = append(fields, name+"="+advKind(v)) }
	var app advApp
	switch {
	case mt == "application/x-www-form-urlencoded":
		f := advPHPForm(string(body))
		for _, k := range []string{"card_number", "card.number", "cvc", "card.cvc"} {
			if v, ok := f[k]; ok {
				field(k, v)
			}
		}
	case mt == "multipart/form-data":
		mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err != nil {
				break
			}
			b, _ := io.ReadAll(p)
			field("part "+advSafe(p.FormName()), string(b))
		}
	case json.Unmarshal(bytes.TrimPrefix(body, []byte("\xef\xbb\xbf")), &app) == nil:
		field("card.number", app.Card.Number)
		field("card.cvc", app.Card.CVC)
	}
	s += fmt.Sprintf(" (%s, %d bytes", advSafe(mt), len(body))
	if len(fields) > 0 {
		s += ": " + strings.Join(fields, ", ")
	}
	return s + ")"
}

// advKind names what an app reading v as a card field gets.
func advKind(v string) string {
	switch d := advDigits(v); {
	case v == "":
		return "empty"
	case advHasPAN(v):
		return "PAN"
	case advIsCVC(v):
		return "CVC"
	case strings.HasPrefix(v, "tok_"):
		return "alias"
	case d == v && pan.Valid(d):
		return "FPE alias"
	default:
		return fmt.Sprintf("other (%d bytes)", len(v))
	}
}

// advCorpus returns the variants. Groups: the shipped route (host *,
// /checkout, leak_guard block) and the same filters with leak_guard log
// (host log.test) get every framing of a targeted card number; the shipped
// route also gets card numbers outside any target; the method- and
// path-conditioned filter (hosts app.test, block, and applog.test, log) gets
// the method and path spellings; the /form route the PHP-style names.
func advCorpus() []advCase {
	P, C := advPANs, advCVCs
	js := func(number, cvc string) []byte {
		return []byte(`{"card":{"number":"` + number + `","cvc":"` + cvc + `"},"amount":1999}`)
	}
	const ctJSON, ctForm = "application/json", "application/x-www-form-urlencoded"

	// Framings of a targeted card number and CVC: on a redacting route
	// nothing may pass, whatever the leak guard says.
	framings := []advCase{
		{name: "baseline json", ctype: ctJSON, body: js(P[0], C[1]), baseline: true},
		{name: "baseline form", ctype: ctForm, body: []byte("card_number=" + P[1] + "&cvc=" + C[1] + "&amount=10"), baseline: true},
		{name: "ctype application/x-json", ctype: "application/x-json", body: js(P[0], C[1])},
		{name: "ctype application/json, text/plain", ctype: "application/json, text/plain", body: js(P[0], C[1])},
		{name: "ctype application/octet-stream json", ctype: "application/octet-stream", body: js(P[0], C[1])},
		{name: "ctype text/plain json", ctype: "text/plain", body: js(P[0], C[1])},
		{name: "ctype none json", body: js(P[0], C[1])},
		{name: "two Content-Type fields, json first", ctype: ctJSON, header: []string{"Content-Type", "text/plain"}, body: js(P[0], C[1])},
		{name: "two Content-Type fields, json last", ctype: "text/plain", header: []string{"Content-Type", ctJSON}, body: js(P[0], C[1])},
		{name: "ctype APPLICATION/JSON", ctype: "APPLICATION/JSON", body: js(P[0], C[1])},
		{name: "ctype json charset=utf-16 body utf-16", ctype: "application/json; charset=utf-16", body: advUTF16(string(js(P[0], C[1])))},
		{name: "json with utf-8 BOM", ctype: ctJSON, body: append([]byte("\xef\xbb\xbf"), js(P[0], C[1])...)},
		{name: "method PUT", method: "PUT", ctype: ctJSON, body: js(P[0], C[1])},
		{name: "method PATCH", method: "PATCH", ctype: ctJSON, body: js(P[0], C[1])},
		{name: "method lowercase post", method: "post", ctype: ctJSON, body: js(P[0], C[1])},
		{name: "key Number", ctype: ctJSON, body: []byte(`{"card":{"Number":"` + P[0] + `","cvc":"` + C[1] + `"}}`)},
		{name: "key NUMBER", ctype: ctJSON, body: []byte(`{"card":{"NUMBER":"` + P[0] + `","cvc":"` + C[1] + `"}}`)},
		{name: "key number and NUMBER", ctype: ctJSON, body: []byte(`{"card":{"number":"` + P[0] + `","NUMBER":"` + P[1] + `","cvc":"` + C[1] + `"}}`)},
		{name: "key n\\u0075mber", ctype: ctJSON, body: []byte(`{"card":{"n\u0075mber":"` + P[0] + `","cvc":"` + C[1] + `"}}`)},
		{name: "key CARD", ctype: ctJSON, body: []byte(`{"CARD":{"number":"` + P[0] + `","cvc":"` + C[1] + `"}}`)},
		{name: "key CVC", ctype: ctJSON, body: []byte(`{"card":{"number":"` + P[0] + `","CVC":"` + C[1] + `"}}`)},
		{name: "key c\\u0076c", ctype: ctJSON, body: []byte(`{"card":{"number":"` + P[0] + `","c\u0076c":"` + C[1] + `"}}`)},
		{name: "card number as array", ctype: ctJSON, body: []byte(`{"card":{"number":["` + P[0] + `"],"cvc":["` + C[1] + `"]}}`)},
		{name: "card number value \\u-escaped", ctype: ctJSON, body: []byte(`{"card":{"number":"` + advJSONEscapes(P[0][:4]) + P[0][4:] + `","cvc":"` + advJSONEscapes(C[1]) + `"}}`)},
		{name: "card number value grouped", ctype: ctJSON, body: js(grouped(P[0], " "), C[1])},
		{name: "ctype json charset=utf-8", ctype: "application/json; charset=utf-8", body: js(P[0], C[1])},
		{name: "ctype application/vnd.api+json", ctype: "application/vnd.api+json", body: js(P[0], C[1])},
		{name: "card number as JSON number", ctype: ctJSON, body: []byte(`{"card":{"number":` + P[0] + `,"cvc":` + C[1] + `}}`)},
		{name: "encoding gzip", ctype: ctJSON, header: []string{"Content-Encoding", "gzip"}, body: advGzip(js(P[0], C[1]))},
		{name: "encoding x-gzip", ctype: ctJSON, header: []string{"Content-Encoding", "x-gzip"}, body: advGzip(js(P[0], C[1]))},
		{name: "encoding deflate", ctype: ctJSON, header: []string{"Content-Encoding", "deflate"}, body: advZlib(js(P[0], C[1]))},
		{name: "encoding gzip, identity", ctype: ctJSON, header: []string{"Content-Encoding", "gzip, identity"}, body: advGzip(js(P[0], C[1]))},
		{name: "encoding gzip, gzip", ctype: ctJSON, header: []string{"Content-Encoding", "gzip, gzip"}, body: advGzip(advGzip(js(P[0], C[1])))},
		{name: "encoding gzip twice as two fields", ctype: ctJSON, header: []string{"Content-Encoding", "gzip", "Content-Encoding", "gzip"}, body: advGzip(advGzip(js(P[0], C[1])))},
		{name: "encoding br", ctype: ctJSON, header: []string{"Content-Encoding", "br"}, body: advBrotliStored(js(P[0], C[1]))},
		{name: "encoding GZIP", ctype: ctJSON, header: []string{"Content-Encoding", "GZIP"}, body: advGzip(js(P[0], C[1]))},
		{name: "encoding identity", ctype: ctJSON, header: []string{"Content-Encoding", "identity"}, body: js(P[0], C[1])},
		{name: "encoding x-foo", ctype: ctJSON, header: []string{"Content-Encoding", "x-foo"}, body: js(P[0], C[1])},
		{name: "chunked json with PAN trailer", ctype: ctJSON, body: js(P[0], C[1]), chunked: true, trailer: []string{"X-Card", P[2]}},
		{name: "HTTP/1.0 json", proto: "HTTP/1.0", ctype: ctJSON, body: js(P[0], C[1])},
		{name: "chunked and Content-Length", ctype: ctJSON, body: js(P[0], C[1]), chunked: true, header: []string{"Content-Length", "12"}},
		{name: "Expect 100-continue", ctype: ctJSON, body: js(P[0], C[1]), header: []string{"Expect", "100-continue"}},
		{name: "key card twice", ctype: ctJSON, body: []byte(`{"card":{"number":"tok_x"},"card":{"number":"` + P[0] + `","cvc":"` + C[1] + `"}}`)},
		{name: "two JSON documents", ctype: ctJSON, body: []byte(`{"amount":1}` + "\n" + string(js(P[0], C[1])))},
		{name: "form ; separators", ctype: ctForm, body: []byte("amount=10;card_number=" + P[1] + ";cvc=" + C[1])},
		{name: "form repeated card_number", ctype: ctForm, body: []byte("card_number=" + P[1] + "&cvc=" + C[1] + "&card_number=" + P[3])},
		{name: "form card.number (PHP card_number)", ctype: ctForm, body: []byte("card.number=" + P[1] + "&cvc=" + C[1])},
		{name: "form card+number (PHP card_number)", ctype: ctForm, body: []byte("card+number=" + P[1] + "&cvc=" + C[1])},
		{name: "form card[number (PHP card_number)", ctype: ctForm, body: []byte("card[number=" + P[1] + "&cvc=" + C[1])},
		{name: "form card%5Fnumber", ctype: ctForm, body: []byte("card%5Fnumber=" + P[1] + "&%63vc=" + C[1])},
		{name: "form value percent-encoded", ctype: ctForm, body: []byte("card_number=" + advPct(P[1]) + "&cvc=" + advPct(C[1]))},
		{name: "form value grouped with +", ctype: ctForm, body: []byte("card_number=" + grouped(P[1], "+") + "&cvc=" + C[1])},
		{name: "multipart card_number", ctype: "multipart/form-data; boundary=XyZ", body: []byte("--XyZ\r\nContent-Disposition: form-data; name=\"card_number\"\r\n\r\n" + P[1] + "\r\n--XyZ\r\nContent-Disposition: form-data; name=\"cvc\"\r\n\r\n" + C[1] + "\r\n--XyZ--\r\n")},
		{name: "form ctype with charset", ctype: ctForm + "; charset=UTF-8", body: []byte("card_number=" + P[1] + "&cvc=" + C[1])},
	}

	// Card numbers outside every target, and outside the body: the
	// blocking route refuses them, or the gateway strips them.
	blockOnly := []advCase{
		{name: "free field spaces", ctype: ctJSON, body: []byte(`{"card":{"number":"` + P[0] + `"},"note":"` + grouped(P[0], " ") + `"}`)},
		{name: "free field dashes", ctype: ctJSON, body: []byte(`{"note":"` + grouped(P[1], "-") + `"}`)},
		{name: "free field dots", ctype: ctJSON, body: []byte(`{"note":"` + grouped(P[1], ".") + `"}`)},
		{name: "free field \\u escapes", ctype: ctJSON, body: []byte(`{"note":"` + advJSONEscapes(P[1]) + `"}`)},
		{name: "free field full-width digits", ctype: ctJSON, body: []byte(`{"note":"` + advFullWidth(P[1]) + `"}`)},
		{name: "free field plain", ctype: ctJSON, body: []byte(`{"note":"` + P[3] + `"}`)},
		{name: "free field as key", ctype: ctJSON, body: []byte(`{"` + P[3] + `":"x"}`)},
		// Not a spelling of the target card_number: PHP and Rails read it as
		// another field (card → number), so on a logging route it is an
		// untargeted field, logged by design.
		{name: "form card[number]", ctype: ctForm, body: []byte("card[number]=" + P[1] + "&card[cvc]=" + C[1])},
		{name: "form free field %-encoded digits", ctype: ctForm, body: []byte("note=" + advPct(P[1]))},
		{name: "form free field plain", ctype: ctForm, body: []byte("note=" + P[1])},
		{name: "xml character references", ctype: "application/xml", body: []byte("<payment><note>" + advCharRefs(P[2]) + "</note></payment>")},
		{name: "html character references", ctype: "text/html", body: []byte("<p>" + advCharRefs(P[2]) + "</p>")},
		{name: "octet-stream plain PAN", ctype: "application/octet-stream", body: []byte(P[4])},
		{name: "image/png plain PAN", ctype: "image/png", body: []byte("\x89PNG\r\n\x1a\n" + P[4])},
		{name: "PAN in query", method: "GET", target: "/checkout/pay?pan=" + P[0]},
		{name: "PAN in query, POST json", target: "/checkout/pay?pan=" + P[0], ctype: ctJSON, body: js(P[1], C[1])},
		{name: "PAN in path", method: "GET", target: "/checkout/" + P[0]},
		{name: "PAN grouped in path", method: "GET", target: "/checkout/" + grouped(P[1], "-")},
		{name: "PAN in header X-Card", method: "GET", header: []string{"X-Card", P[0]}},
		{name: "PAN in header X-Card, POST json", ctype: ctJSON, body: js(P[1], C[1]), header: []string{"X-Card", P[0]}},
		{name: "PAN in Host", method: "GET", host: P[0] + ".example"},
		{name: "PAN in cookie", method: "GET", header: []string{"Cookie", "session=abc; card=" + P[0]}},
		{name: "Upgrade h2c", method: "GET", header: []string{"Connection", "Upgrade, HTTP2-Settings", "Upgrade", "h2c", "HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA"},
			tunnel: []byte("POST /checkout/pay HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n" + `{"card":{"number":"` + P[0] + `"}}`)},
		{name: "Upgrade websocket", method: "GET", header: []string{"Connection", "Upgrade", "Upgrade", "websocket", "Sec-WebSocket-Version", "13", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
			tunnel: []byte(`{"card":{"number":"` + P[0] + `"}}`)},
	}

	// The method- and path-conditioned filter: match {methods: [POST],
	// path: ^/checkout$} on a route in front of the whole app.
	appJSON := func(name, method, target string) advCase {
		return advCase{name: name, method: method, target: target, ctype: ctJSON, body: js(P[0], C[1])}
	}
	conditioned := []advCase{
		appJSON("baseline POST /checkout", "POST", "/checkout"),
		appJSON("method PUT", "PUT", "/checkout"),
		appJSON("method PATCH", "PATCH", "/checkout"),
		appJSON("method lowercase post", "post", "/checkout"),
		appJSON("path /checkout/", "POST", "/checkout/"),
		appJSON("path //checkout", "POST", "//checkout"),
		appJSON("path /checkout;x=1", "POST", "/checkout;x=1"),
		appJSON("path /./checkout", "POST", "/./checkout"),
		appJSON("path /x/../checkout", "POST", "/x/../checkout"),
		appJSON("path /%63heckout", "POST", "/%63heckout"),
		appJSON("path /CHECKOUT", "POST", "/CHECKOUT"),
		appJSON("path /checkout?x=1", "POST", "/checkout?x=1"),
		appJSON("path /checkout%2F", "POST", "/checkout%2F"),
		appJSON("absolute-form target", "POST", "http://app.test/checkout"),
	}
	conditioned[0].baseline = true

	// The /form route: PHP-style nested names, urlencoded and multipart.
	mp := func(name string, parts ...string) advCase {
		const boundary = "advBoundary7MA4YWxk"
		var b strings.Builder
		for _, p := range parts {
			b.WriteString("--" + boundary + "\r\n" + p)
		}
		b.WriteString("--" + boundary + "--\r\n")
		return advCase{name: name, target: "/form", ctype: "multipart/form-data; boundary=" + boundary, body: []byte(b.String())}
	}
	field := func(name, value string) string {
		return "Content-Disposition: form-data; name=\"" + name + "\"\r\n\r\n" + value + "\r\n"
	}
	formRoute := []advCase{
		{name: "baseline card[number]", target: "/form", ctype: ctForm, body: []byte("card[number]=" + P[1] + "&card[cvc]=" + C[1] + "&amount=10"), baseline: true},
		{name: "card%5Bnumber%5D", target: "/form", ctype: ctForm, body: []byte("card%5Bnumber%5D=" + P[1] + "&card%5Bcvc%5D=" + C[1])},
		{name: "; separators", target: "/form", ctype: ctForm, body: []byte("amount=10;card[number]=" + P[1] + ";card[cvc]=" + C[1])},
		{name: "repeated card[number]", target: "/form", ctype: ctForm, body: []byte("card[number]=" + P[1] + "&card[number]=" + P[3] + "&card[cvc]=" + C[1])},
		{name: "card[number][]", target: "/form", ctype: ctForm, body: []byte("card[number][]=" + P[1] + "&card[cvc]=" + C[1])},
		{name: "card[ number] (space)", target: "/form", ctype: ctForm, body: []byte("card[number]=x&card[ number]=" + P[1])},
		{name: "card_number (PHP flat name)", target: "/form", ctype: ctForm, body: []byte("card_number=" + P[1] + "&cvc=" + C[1])},
		func() advCase {
			c := mp("multipart baseline", field("card[number]", P[1]), field("card[cvc]", C[1]))
			c.baseline = true
			return c
		}(),
		mp("multipart PAN in a part header", "Content-Disposition: form-data; name=\"note\"\r\nX-Note: "+P[2]+"\r\n\r\nhello\r\n", field("card[number]", P[1])),
		mp("multipart PAN in a filename", "Content-Disposition: form-data; name=\"doc\"; filename=\""+P[2]+".txt\"\r\nContent-Type: text/plain\r\n\r\nhello\r\n"),
		mp("multipart PAN in a file part", "Content-Disposition: form-data; name=\"doc\"; filename=\"a.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n"+P[2]+"\r\n"),
		mp("multipart PAN in an untargeted field", field("note", P[2])),
		mp("multipart name*= RFC 2231", "Content-Disposition: form-data; name*=utf-8''card%5Bnumber%5D\r\n\r\n"+P[1]+"\r\n"),
		mp("multipart part name CARD[NUMBER]", field("CARD[NUMBER]", P[1])),
	}

	var all []advCase
	for _, c := range framings {
		c.name = "checkout/" + c.name
		all = append(all, c)
	}
	for _, c := range framings {
		c.name, c.host = "checkout-log/"+c.name, "log.test"
		all = append(all, c)
	}
	for _, c := range blockOnly {
		c.name = "checkout/" + c.name
		all = append(all, c)
	}
	for _, c := range conditioned {
		c.name, c.host = "app/"+c.name, "app.test"
		all = append(all, c)
	}
	for _, c := range conditioned {
		c.name, c.host = "app-log/"+c.name, "applog.test"
		if strings.HasPrefix(c.target, "http://") {
			c.target = "http://applog.test/checkout"
		}
		all = append(all, c)
	}
	for _, c := range formRoute {
		c.name = "form/" + c.name
		all = append(all, c)
	}
	return all
}

// advScan returns where r holds card data an app would read: a test card
// number in any spelling anywhere, a test CVC where an app reads a CVC,
// or an h2c upgrade request, which must never reach the upstream.
func advScan(r *advRequest) []string {
	var out []string
	add := func(format string, a ...any) { out = append(out, fmt.Sprintf(format, a...)) }
	path, query, _ := strings.Cut(r.target, "?")
	if advHasPAN(path) {
		add("PAN in the path")
	}
	if advHasPAN(query) {
		add("PAN in the query")
	}
	for k, v := range advPHPForm(query) {
		if advHasPAN(k) || advHasPAN(v) {
			add("PAN in query field %s", k)
		}
		if advIsCVCField(k) && advIsCVC(v) {
			add("CVC in query field %s", k)
		}
	}
	if advHasPAN(r.host) {
		add("PAN in the Host")
	}
	for _, part := range []struct {
		what string
		h    http.Header
	}{{"header", r.header}, {"trailer", r.trailer}} {
		for name, vs := range part.h {
			for _, v := range vs {
				if advHasPAN(name) || advHasPAN(v) {
					add("PAN in %s %s", part.what, advSafe(name))
				}
				if name == "Cookie" {
					for _, ck := range strings.Split(v, ";") {
						k, cv, _ := strings.Cut(strings.TrimSpace(ck), "=")
						if advHasPAN(k) || advHasPAN(cv) {
							add("PAN in cookie %s", advSafe(k))
						}
					}
				}
			}
		}
	}
	if up := r.header.Get("Upgrade"); strings.Contains(strings.ToLower(up), "h2c") || r.header.Get("HTTP2-Settings") != "" {
		add("Upgrade: h2c reached the upstream")
	}
	if advHasPAN(r.tunnel) {
		add("PAN in bytes sent through the upgraded connection (the upstream's 101 opened a tunnel)")
	}
	return append(out, advScanBody(r.header, r.body)...)
}

// advApp is what a Go app decodes a checkout into (encoding/json matches
// keys case-insensitively).
type advApp struct {
	Card struct {
		Number string
		CVC    string `json:"cvc"`
	} `json:"card"`
}

func advScanBody(h http.Header, raw []byte) []string {
	var out []string
	add := func(format string, a ...any) { out = append(out, fmt.Sprintf(format, a...)) }
	if advHasPAN(raw) {
		add("PAN in the body bytes")
	}
	body, decoded := advDecodeEncodings(h.Values("Content-Encoding"), raw)
	if decoded && advHasPAN(body) {
		add("PAN in the body after Content-Encoding decoding")
	}
	ct := h.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		mt, _, _ = strings.Cut(strings.ToLower(ct), ";")
		mt = strings.TrimSpace(mt)
	}
	text := body
	if cs := strings.ToLower(params["charset"]); strings.HasPrefix(cs, "utf-16") || bytes.HasPrefix(body, []byte{0xff, 0xfe}) || bytes.HasPrefix(body, []byte{0xfe, 0xff}) {
		text = advFromUTF16(body, cs == "utf-16be")
		if advHasPAN(text) {
			add("PAN in the body decoded from UTF-16")
		}
	}
	text = bytes.TrimPrefix(text, []byte("\xef\xbb\xbf"))

	// JSON, whatever the Content-Type says: apps decode what they expect.
	var app advApp
	if json.Unmarshal(text, &app) == nil {
		if advHasPAN(app.Card.Number) {
			add("PAN in body field card.number (app struct)")
		}
		if advIsCVC(app.Card.CVC) {
			add("CVC in body field card.cvc (app struct)")
		}
	}
	var m any
	d := json.NewDecoder(bytes.NewReader(text))
	d.UseNumber()
	if d.Decode(&m) == nil {
		advWalkJSON("", m, func(path, key, s string) {
			path = strings.TrimPrefix(path, ".")
			if path == "" {
				path = "(the whole document)"
			}
			if advHasPAN(s) {
				add("PAN in body field %s (JSON)", advSafe(path))
			}
			if strings.EqualFold(key, "cvc") && advIsCVC(s) {
				add("CVC in body field %s (JSON)", advSafe(path))
			}
		})
	}
	switch mt {
	case "application/x-www-form-urlencoded":
		for k, v := range advPHPForm(string(text)) {
			if advHasPAN(k) {
				add("PAN in a form field name")
			}
			if advHasPAN(v) {
				add("PAN in form field %s (PHP parsing)", advSafe(k))
			}
			if advIsCVCField(k) && advIsCVC(v) {
				add("CVC in form field %s (PHP parsing)", advSafe(k))
			}
		}
	case "multipart/form-data":
		mr := multipart.NewReader(bytes.NewReader(text), params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err != nil {
				break
			}
			name := p.FormName()
			for k, vs := range p.Header {
				for _, v := range vs {
					if advHasPAN(v) {
						add("PAN in multipart part header %s", advSafe(k))
					}
				}
			}
			b, _ := io.ReadAll(p)
			if advHasPAN(b) {
				add("PAN in multipart part %s", advSafe(name))
			}
			if advIsCVCField(advPHPName(name)) && advIsCVC(string(b)) {
				add("CVC in multipart part %s", advSafe(name))
			}
		}
	}
	return out
}

// advWalkJSON calls fn for every key and every scalar of v (numbers as
// written), with its path.
func advWalkJSON(path string, v any, fn func(path, key, s string)) {
	key := path[strings.LastIndexByte(path, '.')+1:]
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			fn(path+"."+k, k, k)
			advWalkJSON(path+"."+k, e, fn)
		}
	case []any:
		for i, e := range x {
			advWalkJSON(path+"["+strconv.Itoa(i)+"]", e, fn)
		}
	case string:
		fn(path, key, x)
	case json.Number:
		fn(path, key, x.String())
	}
}

// advDecodeEncodings undoes the Content-Encoding chain (the last coding
// first) as far as it can (gzip, x-gzip, deflate; identity skipped), and
// reports whether it decoded anything.
func advDecodeEncodings(values []string, b []byte) ([]byte, bool) {
	var codings []string
	for _, v := range values {
		for _, c := range strings.Split(v, ",") {
			codings = append(codings, strings.ToLower(strings.TrimSpace(c)))
		}
	}
	decoded := false
	for i := len(codings) - 1; i >= 0; i-- {
		var r io.Reader
		switch codings[i] {
		case "", "identity":
			continue
		case "gzip", "x-gzip":
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				return b, decoded
			}
			r = zr
		case "deflate":
			zr, err := zlib.NewReader(bytes.NewReader(b))
			if err != nil {
				r = flate.NewReader(bytes.NewReader(b))
			} else {
				r = zr
			}
		default:
			return b, decoded
		}
		out, err := io.ReadAll(io.LimitReader(r, 64<<20))
		if err != nil && len(out) == 0 {
			return b, decoded
		}
		b, decoded = out, true
	}
	return b, decoded
}

// advPHPForm parses a urlencoded string as PHP does, and more: '&' and ';'
// both separate pairs, '+' is a space, percent-escapes are decoded (a bad
// one kept as it is), the last value of a name wins, and names are PHP's
// (see advPHPName).
func advPHPForm(s string) map[string]string {
	out := map[string]string{}
	for _, pair := range strings.FieldsFunc(s, func(r rune) bool { return r == '&' || r == ';' }) {
		k, v, _ := strings.Cut(pair, "=")
		out[advPHPName(advUnescape(k))] = advUnescape(v)
	}
	return out
}

// advPHPName returns the path PHP files a form field under: leading spaces
// dropped, ' ' and '.' in the base name read as '_', a '[' without its ']'
// as '_', and "card[number]" as card.number ("[]" as .[]).
func advPHPName(k string) string {
	k = strings.TrimLeft(k, " ")
	base, rest := k, ""
	if i := strings.IndexByte(k, '['); i > 0 {
		if strings.IndexByte(k[i:], ']') < 0 {
			base, rest = k[:i]+"_"+k[i+1:], ""
		} else {
			base, rest = k[:i], k[i:]
		}
	}
	base = strings.NewReplacer(" ", "_", ".", "_").Replace(base)
	path := base
	for strings.HasPrefix(rest, "[") {
		j := strings.IndexByte(rest, ']')
		if j < 0 {
			break
		}
		path += "." + rest[1:j]
		if rest[1:j] == "" {
			path += "[]"
		}
		rest = rest[j+1:]
	}
	return path
}

// advIsCVCField reports whether an app reads a CVC from the form field
// (a PHP path).
func advIsCVCField(path string) bool {
	last := path[strings.LastIndexByte(path, '.')+1:]
	return strings.EqualFold(last, "cvc") || strings.EqualFold(last, "card_cvc")
}

// advUnescape percent-decodes s with '+' as a space, keeping a bad escape
// as it is.
func advUnescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '+':
			b.WriteByte(' ')
		case s[i] == '%' && i+2 < len(s) && advHex(s[i+1]) >= 0 && advHex(s[i+2]) >= 0:
			b.WriteByte(byte(advHex(s[i+1])<<4 | advHex(s[i+2])))
			i += 2
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

func advHex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// advHasPAN reports whether s holds one of the test card numbers, as
// pan.Find sees it (its candidates' digits, decoded by the test) or as the
// test's own normaliser sees it (advNormalise).
func advHasPAN[T string | []byte](s T) bool {
	b := []byte(s)
	for _, c := range pan.Find(b) {
		if slices.Contains(advPANs, advDigits(string(b[c.Start:c.End]))) {
			return true
		}
	}
	norm := advNormalise(string(b))
	for _, p := range advPANs {
		if strings.Contains(norm, p) {
			return true
		}
	}
	return false
}

// advIsCVC reports whether an app reading v as a CVC reads a test CVC: v,
// decoded, is a test CVC's digits with nothing but separators around or
// between them.
func advIsCVC(v string) bool {
	return slices.Contains(advCVCs, advNormalise(v))
}

// advNormalise decodes s the way a reader might (JSON \u escapes,
// percent-encoding, '+', XML/HTML character references, &nbsp;, each up
// to three times nested), maps full-width digits to ASCII, and returns its
// digits with every other character dropped except letters, which are kept
// as '|' (a number spelled with any separators between its digits comes out
// whole; a letter still ends it).
func advNormalise(s string) string {
	for range 3 {
		d := advDecodeOnce(s)
		if d == s {
			break
		}
		s = d
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case '0' <= r && r <= '9':
			b.WriteRune(r)
		case 0xFF10 <= r && r <= 0xFF19:
			b.WriteByte(byte('0' + r - 0xFF10))
		case unicode.IsLetter(r):
			b.WriteByte('|')
		}
	}
	return b.String()
}

// advDigits returns the digits of a span advNormalise reads.
func advDigits(s string) string { return strings.ReplaceAll(advNormalise(s), "|", "") }

func advDecodeOnce(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		switch {
		case s[i] == '\\' && i+5 < len(s) && s[i+1] == 'u' && advHex(s[i+2]) >= 0 && advHex(s[i+3]) >= 0 && advHex(s[i+4]) >= 0 && advHex(s[i+5]) >= 0:
			v, _ := strconv.ParseUint(s[i+2:i+6], 16, 32)
			b.WriteRune(rune(v))
			i += 6
		case s[i] == '%' && i+2 < len(s) && advHex(s[i+1]) >= 0 && advHex(s[i+2]) >= 0:
			b.WriteByte(byte(advHex(s[i+1])<<4 | advHex(s[i+2])))
			i += 3
		case s[i] == '+':
			b.WriteByte(' ')
			i++
		case strings.HasPrefix(s[i:], "&nbsp;"):
			b.WriteByte(' ')
			i += 6
		case s[i] == '&' && i+2 < len(s) && s[i+1] == '#':
			j, base := i+2, 10
			if s[j] == 'x' || s[j] == 'X' {
				j, base = j+1, 16
			}
			k := j
			for k < len(s) && k-j < 8 && advHex(s[k]) >= 0 && (base == 16 || s[k] <= '9') {
				k++
			}
			v, err := strconv.ParseUint(s[j:k], base, 32)
			if k == j || err != nil || v > unicode.MaxRune {
				b.WriteByte(s[i])
				i++
				continue
			}
			b.WriteRune(rune(v))
			if k < len(s) && s[k] == ';' {
				k++
			}
			i = k
		default:
			b.WriteByte(s[i])
			i++
		}
	}
	return b.String()
}

// advSafe returns a field name for a report with any test card number in
// it masked (first 6 and last 4 digits kept).
func advSafe(s string) string {
	if advHasPAN(s) {
		return "(a name holding a PAN: " + pan.Mask(advDigits(s)) + ")"
	}
	return s
}

// Spellings.

func advGzip(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func advZlib(b []byte) []byte {
	var buf bytes.Buffer
	zw := zlib.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// advBrotliStored encodes b (at most 64 KiB) as a brotli stream of one
// uncompressed meta-block (RFC 7932 §9.2): the card number stays readable
// in the bytes, but only a brotli decoder knows where the data is.
func advBrotliStored(b []byte) []byte {
	var bits uint32
	n := 0
	put := func(v uint32, w int) { bits |= v << n; n += w }
	put(0, 1)                                                    // WBITS 16
	put(0, 1)                                                    // ISLAST 0
	put(0, 2)                                                    // MNIBBLES 4
	put(uint32(len(b)-1), 16)                                    // MLEN-1
	put(1, 1)                                                    // ISUNCOMPRESSED
	out := []byte{byte(bits), byte(bits >> 8), byte(bits >> 16)} // 21 bits, padded
	out = append(out, b...)
	return append(out, 0x03) // ISLAST 1, ISLASTEMPTY 1
}

// advUTF16 encodes s as UTF-16LE with a byte order mark.
func advUTF16(s string) []byte {
	out := []byte{0xff, 0xfe}
	for _, u := range utf16.Encode([]rune(s)) {
		out = binary.LittleEndian.AppendUint16(out, u)
	}
	return out
}

// advFromUTF16 decodes UTF-16 (a byte order mark wins over be).
func advFromUTF16(b []byte, be bool) []byte {
	switch {
	case bytes.HasPrefix(b, []byte{0xff, 0xfe}):
		b, be = b[2:], false
	case bytes.HasPrefix(b, []byte{0xfe, 0xff}):
		b, be = b[2:], true
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		if be {
			u[i] = binary.BigEndian.Uint16(b[2*i:])
		} else {
			u[i] = binary.LittleEndian.Uint16(b[2*i:])
		}
	}
	var out []byte
	for _, r := range utf16.Decode(u) {
		out = utf8.AppendRune(out, r)
	}
	return out
}

func advJSONEscapes(digits string) string {
	var b strings.Builder
	for _, d := range digits {
		fmt.Fprintf(&b, `\u%04x`, d)
	}
	return b.String()
}

func advPct(digits string) string {
	var b strings.Builder
	for _, d := range digits {
		fmt.Fprintf(&b, "%%%02X", d)
	}
	return b.String()
}

func advCharRefs(digits string) string {
	var b strings.Builder
	for _, d := range digits {
		fmt.Fprintf(&b, "&#%d;", d)
	}
	return b.String()
}

func advFullWidth(digits string) string {
	var b strings.Builder
	for _, d := range digits {
		b.WriteRune(0xFF10 + d - '0')
	}
	return b.String()
}

// TestAdversarialResponses has the upstream answer with a test card number
// in bodies of every kind (JavaScript, octet-stream, HTML, JSON spelled with
// escapes, gzip) and in a header and a trailer, on the shipped route
// (leak_guard: block, no response filter). The client must not get the card
// number: the gateway refuses the answer (502) or strips it.
func TestAdversarialResponses(t *testing.T) {
	P := advPANs
	gz := func(s string) string { return string(advGzip([]byte(s))) }
	answers := []struct {
		name, ctype, body string
		header, trailer   []string
	}{
		{name: "control json without card data", ctype: "application/json", body: `{"ok":true}`},
		{name: "application/javascript", ctype: "application/javascript", body: `var card = "` + P[0] + `";`},
		{name: "application/javascript escapes", ctype: "application/javascript", body: `var card = "` + advJSONEscapes(P[0]) + `";`},
		{name: "application/octet-stream", ctype: "application/octet-stream", body: P[1]},
		{name: "text/html grouped", ctype: "text/html", body: "<p>" + grouped(P[2], " ") + "</p>"},
		{name: "text/html character references", ctype: "text/html", body: "<p>" + advCharRefs(P[2]) + "</p>"},
		{name: "application/json", ctype: "application/json", body: `{"card":{"number":"` + P[3] + `"}}`},
		{name: "application/json gzip", ctype: "application/json", body: gz(`{"card":{"number":"` + P[3] + `"}}`), header: []string{"Content-Encoding", "gzip"}},
		{name: "no content type", body: P[4]},
		{name: "image/png", ctype: "image/png", body: "\x89PNG\r\n\x1a\n" + P[4]},
		{name: "header X-Card", ctype: "application/json", body: `{"ok":true}`, header: []string{"X-Card", P[0]}},
		{name: "header Set-Cookie", ctype: "application/json", body: `{"ok":true}`, header: []string{"Set-Cookie", "card=" + P[0] + "; Path=/"}},
		{name: "header Location", ctype: "text/plain", body: "moved", header: []string{"Location", "/receipt?pan=" + P[0]}},
		{name: "trailer X-Card", ctype: "application/json", body: `{"ok":true}`, trailer: []string{"X-Card", P[0]}},
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/checkout/"))
		if err != nil || i < 0 || i >= len(answers) {
			http.NotFound(w, r)
			return
		}
		a := answers[i]
		for j := 0; j+1 < len(a.trailer); j += 2 {
			w.Header().Add("Trailer", a.trailer[j])
		}
		if a.ctype != "" {
			w.Header().Set("Content-Type", a.ctype)
		} else {
			w.Header()["Content-Type"] = nil // no sniffing
		}
		for j := 0; j+1 < len(a.header); j += 2 {
			w.Header().Add(a.header[j], a.header[j+1])
		}
		io.WriteString(w, a.body)
		for j := 0; j+1 < len(a.trailer); j += 2 {
			w.Header().Set(a.trailer[j], a.trailer[j+1])
		}
	}))
	t.Cleanup(up.Close)
	g := advGateway(t, up.URL)
	addr := strings.TrimPrefix(g.inbound, "http://")

	var report strings.Builder
	for i, a := range answers {
		t.Run(a.name, func(t *testing.T) {
			c := advCase{method: "GET", target: "/checkout/" + strconv.Itoa(i)}
			status, findings, err := advFetch(addr, c)
			if err != nil {
				t.Logf("no answer: %v", err)
			}
			verdict := "PASS"
			for _, f := range findings {
				verdict = "FAIL"
				t.Errorf("the client got card data: %s", f)
			}
			if i == 0 && status != http.StatusOK {
				t.Errorf("control: status %d, want 200", status)
			}
			fmt.Fprintf(&report, "%s | %s | %d | %s\n", verdict, a.name, status, strings.Join(findings, "; "))
		})
	}
	t.Logf("responses:\n%s", report.String())
}

// advFetch sends c and returns the status and where the answer (status
// line, headers, body decoded as far as the test can, trailers) holds a
// test card number.
func advFetch(addr string, c advCase) (int, []string, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, nil, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write(c.raw(addr)); err != nil {
		return 0, nil, err
	}
	raw, _ := io.ReadAll(conn)
	var findings []string
	if advHasPAN(raw) {
		findings = append(findings, "PAN in the bytes of the answer")
	}
	res, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
	if err != nil {
		return 0, findings, err
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, part := range []struct {
		what string
		h    http.Header
	}{{"header", res.Header}, {"trailer", res.Trailer}} {
		for name, vs := range part.h {
			for _, v := range vs {
				if advHasPAN(v) {
					findings = append(findings, "PAN in "+part.what+" "+advSafe(name))
				}
			}
		}
	}
	if b, decoded := advDecodeEncodings(res.Header.Values("Content-Encoding"), body); decoded && advHasPAN(b) {
		findings = append(findings, "PAN in the body after Content-Encoding decoding")
	} else if advHasPAN(body) {
		findings = append(findings, "PAN in the body")
	}
	return res.StatusCode, findings, nil
}

// TestAdversarialScanFinds checks the corpus's own scan: every spelling the
// corpus sends is found in what an upstream could receive, and aliases are
// not taken for card data.
func TestAdversarialScanFinds(t *testing.T) {
	p, cvc := advPANs[0], advCVCs[1]
	for i, s := range []string{p, grouped(p, " "), grouped(p, "-"), grouped(p, "."), grouped(p, "+"), advJSONEscapes(p),
		advFullWidth(p), advPct(p), advPct(advFullWidth(p)), advCharRefs(p), "&#x34;" + p[1:], advPct(grouped(p, " ")),
		"note=" + grouped(p, "%20"), `"` + p[:8] + `","` + p[8:] + `"`} {
		if !advHasPAN(s) {
			t.Errorf("spelling %d is not found", i)
		}
	}
	for i, s := range []string{"tok_sandbox_4111x1111", "411111" + "9" + "87654" + "1111", "41111111111111", ""} {
		if advHasPAN(s) {
			t.Errorf("non-PAN %d is found", i)
		}
	}
	scanJSON := func(h http.Header, b []byte) string {
		h.Set("Content-Type", "application/json")
		return strings.Join(advScanBody(h, b), "; ")
	}
	body := `{"card":{"NUMBER":"` + p + `","Cvc":"` + cvc + `"}}`
	for name, got := range map[string]string{
		"plain":  scanJSON(http.Header{}, []byte(body)),
		"utf-16": scanJSON(http.Header{}, advUTF16(body)),
		"gzip":   scanJSON(http.Header{"Content-Encoding": {"gzip"}}, advGzip([]byte(body))),
	} {
		if !strings.Contains(got, "PAN in body field card.number (app struct)") || !strings.Contains(got, "CVC in body field card.cvc (app struct)") {
			t.Errorf("%s: findings %q", name, got)
		}
	}
	if got := scanJSON(http.Header{"Content-Encoding": {"br"}}, advBrotliStored([]byte(body))); !strings.Contains(got, "PAN in the body bytes") {
		t.Errorf("brotli: findings %q", got)
	}
	h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	got := strings.Join(advScanBody(h, []byte("a=1;card[number]="+advPct(p)+"&card%5Bcvc%5D=+"+cvc)), "; ")
	if !strings.Contains(got, "PAN in form field card.number") || !strings.Contains(got, "CVC in form field card.cvc") {
		t.Errorf("form: findings %q", got)
	}
	if f := advPHPForm("card.number=1&card+number=2&card[number=3&x[]=4"); f["card_number"] != "3" || f["x.[]"] != "4" {
		t.Errorf("PHP names: %v", f)
	}
	if advIsCVC("tok_sandbox_"+cvc+"ab") || !advIsCVC(" "+cvc) || !advIsCVC(advJSONEscapes(cvc)) {
		t.Error("advIsCVC")
	}
}
