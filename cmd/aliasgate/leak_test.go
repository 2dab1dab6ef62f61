package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/pan"
)

// Card data the leak test sends. Every alias format in the test is a
// tok_… (UUID) one, so any Luhn-valid 13–19 digit run found in what the
// gateway writes is card data, not an alias.
var (
	e2ePANs = []string{"4111111111111111", "5555555555554444", "4012888888881881", "378282246310005",
		"6011111111111117", "4242424242424242", "3530111333300000", "5105105105105100"}
	e2eCVCs = []string{"737", "392", "7319", "846"}
)

// e2eExchange is one answer the gateway gave, kept for the scan.
type e2eExchange struct {
	what   string
	status int
	header http.Header
	body   []byte
	reveal bool // the answer is meant to carry card data (a reveal, a PCI client)
}

// e2eRecorder collects the gateway's answers.
type e2eRecorder struct {
	t  *testing.T
	mu sync.Mutex
	ex []e2eExchange
}

func (l *e2eRecorder) do(what string, c *http.Client, req *http.Request, reveal bool) (int, []byte) {
	l.t.Helper()
	if c == nil {
		c = http.DefaultClient
	}
	res, err := c.Do(req)
	if err != nil {
		l.t.Fatalf("%s: %v", what, err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	l.mu.Lock()
	l.ex = append(l.ex, e2eExchange{what, res.StatusCode, res.Header, b, reveal})
	l.mu.Unlock()
	return res.StatusCode, b
}

func (l *e2eRecorder) send(what, method, u, ctype, body string, reveal bool, hdr ...string) (int, []byte) {
	l.t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		l.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return l.do(what, nil, req, reveal)
}

// e2eCVCIn reports whether b holds one of the test CVCs as a whole value
// — a JSON string ("737"), a form or logfmt value (=737), XML text
// (>737<) — rather than three digits inside something else (a hex id, a
// time, a byte count).
func e2eCVCIn(b []byte) string {
	for _, cvc := range e2eCVCs {
		for _, form := range []string{`"` + cvc + `"`, ">" + cvc + "<", "=" + cvc + "&", "=" + cvc + " ", "=" + cvc + `"`, "=" + cvc + "\n"} {
			if bytes.Contains(b, []byte(form)) {
				return cvc
			}
		}
		if bytes.HasSuffix(b, []byte("="+cvc)) {
			return cvc
		}
	}
	return ""
}

// e2eMaskedRE finds a value the production logger's scrubber masked in a
// log field other than the access log's path and host (which mask
// client-sent text by design): that would mean card data reached a logger.
var e2eMaskedRE = regexp.MustCompile(`[0-9]{6}\*{3,9}[0-9]{4}`)

func e2eMaskedFields(line []byte) []string {
	var m map[string]any
	if json.Unmarshal(line, &m) != nil {
		if e2eMaskedRE.Match(line) {
			return []string{"(unparsed line)"}
		}
		return nil
	}
	var out []string
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case string:
			if e2eMaskedRE.MatchString(x) && prefix != "path" && prefix != "host" {
				out = append(out, prefix)
			}
		case map[string]any:
			for k, e := range x {
				if e2eMaskedRE.MatchString(k) {
					out = append(out, prefix+"."+k+" (key)")
				}
				walk(k, e)
			}
		case []any:
			for _, e := range x {
				walk(prefix, e)
			}
		}
	}
	walk("", m)
	return out
}

// TestNothingLeaks runs the gateway's end-to-end flows at log level debug
// — inbound redaction (JSON, form, XML, header), a response reveal,
// outbound reveal through the MITM proxy, the Card Management API (PCI and
// non-PCI clients), the vault API and OAuth — and the error paths with
// card data in bad input, then scans every log line, every answer that is
// not meant to reveal (status, headers and body), /metrics and every file
// of the data dir for Luhn-valid 13–19 digit runs and the test CVCs: none
// may be there. Log values the production scrubber had to mask count as
// leaks too: the scrubber is the second line of defence, not the first.
func TestNothingLeaks(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	rec := &e2eRecorder{t: t}

	// The merchant app behind the inbound proxy: echoes what it got.
	var appMu sync.Mutex
	var appSaw [][]byte
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		appMu.Lock()
		appSaw = append(appSaw, append([]byte(r.Header.Get("X-Card-Number")+"\n"), b...))
		appMu.Unlock()
		w.Header().Set("Content-Type", r.Header.Get("Content-Type"))
		w.Write(b)
	}))
	defer app.Close()
	// The processor behind the outbound proxy: echoes the card number.
	psp := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Card struct{ Number, CVC string } }
		json.NewDecoder(r.Body).Decode(&in)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"status": "authorized", "echo": map[string]string{"pan": in.Card.Number}})
	}))
	defer psp.Close()
	bundle := filepath.Join(dir, "psp.pem")
	os.WriteFile(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: psp.Certificate().Raw}), 0o600)

	routesFile := filepath.Join(dir, "routes.yaml")
	os.WriteFile(routesFile, []byte(`routes:
  - id: checkout
    direction: inbound
    host: "*"
    path_prefix: /checkout
    upstream: `+app.URL+`
    leak_guard: block
    filters:
      - id: card-json
        match: {content_type: json}
        operation: redact
        targets:
          - {json: card.number, classifiers: [pan]}
          - {json: card.cvc, storage: volatile}
      - id: card-form
        match: {content_type: form}
        operation: redact
        targets: [{form: card_number}, {form: cvc, storage: volatile}]
      - id: card-xml
        match: {content_type: xml}
        operation: redact
        targets: [{xml: /payment/card/pan}, {xml: /payment/card/cvc, storage: volatile}]
      - id: card-header
        operation: redact
        targets: [{header: X-Card-Number}]
  - id: statement
    direction: inbound
    host: "*"
    path_prefix: /statement
    upstream: `+app.URL+`
    leak_guard: "off"
    filters:
      - id: reveal-out
        phase: response
        operation: reveal
        targets: [{json: card.number}]
  - id: psp
    direction: outbound
    host: 127.0.0.1
    filters:
      - id: reveal-psp
        operation: reveal
        targets: [{json: card.number}, {json: card.cvc}]
      - id: redact-echo
        phase: response
        operation: redact
        targets: [{json: echo.pan}]
`), 0o600)
	env := testEnv(map[string]string{
		"ALIASGATE_ROUTES_FILE": routesFile, "ALIASGATE_OUTBOUND_CA_BUNDLE": bundle,
		"ALIASGATE_OUTBOUND_ALLOW_PRIVATE_DESTINATIONS": "true", "ALIASGATE_LOG_LEVEL": "debug",
		"ALIASGATE_LIMITS_MAX_BODY": "64KiB",
	})
	api := createClient(t, env, data, "--name", "api", "--account", "acct_1", "--scopes", "aliases:write,aliases:reveal")
	pci := createClient(t, env, data, "--name", "pci", "--account", "acct_1", "--scopes", "cards:read,cards:write,network-tokens:write", "--pci")
	plain := createClient(t, env, data, "--name", "plain", "--account", "acct_1", "--scopes", "cards:read,cards:write,network-tokens:write")
	ob := createClient(t, env, data, "--name", "backend", "--account", "acct_1", "--outbound")
	caPEM, _, err := runCmd(t, env, "ca", "cert", "--data-dir", data)
	if err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, env, "--data-dir", data, "--enable-vault-api")
	in := g.inbound
	const js, form, xml, jsonapi = "application/json", "application/x-www-form-urlencoded", "application/xml", "application/vnd.api+json"
	P, C := e2ePANs, e2eCVCs

	// Inbound redaction, every body kind and a header.
	checkout := func(what, ctype, body string, want int, hdr ...string) []byte {
		t.Helper()
		status, b := rec.send(what, "POST", in+"/checkout/pay", ctype, body, false, hdr...)
		if status != want {
			t.Errorf("%s: status %d, want %d: %s", what, status, want, pan.Mask(string(b)))
		}
		return b
	}
	echoed := checkout("json", js, `{"card":{"number":"`+P[0]+`","cvc":"`+C[0]+`"},"amount":1999}`, 200)
	checkout("form", form, "card_number="+P[1]+"&cvc="+C[1]+"&amount=10", 200)
	checkout("xml", xml, "<payment><card><pan>"+P[2]+"</pan><cvc>"+C[3]+"</cvc></card></payment>", 200)
	checkout("header", js, `{"amount":1}`, 200, "X-Card-Number", P[3])
	// A body no filter of this redacting route reads: refused, not forwarded.
	checkout("unmatched body", "text/plain", "cvc "+C[2], 422)
	// Bad input carrying card data: refused, nothing forwarded, no echo.
	checkout("malformed json", js, `{"card":{"number":"`+P[0]+`","cvc":"`+C[0]+`"`, 400)
	checkout("duplicate key", js, `{"card":{"number":"tok_x","number":"`+P[0]+`"}}`, 422)
	checkout("untargeted card number", js, `{"card":{"number":"`+P[0]+`"},"note":"`+P[1]+`"}`, 422)
	// Invalid UTF-8 in a targeted string is redacted like any byte string
	// (encoding/json and gjson accept it too): the app gets an alias.
	checkout("invalid utf-8", js, "{\"card\":{\"number\":\""+P[0]+"\xff\"}}", 200)
	checkout("deep nesting", js, strings.Repeat(`{"a":`, 200)+`"`+P[0]+`"`+strings.Repeat("}", 200), 400)
	checkout("truncated form", form, "card_number="+P[1]+"&cvc=%", 400)
	checkout("truncated xml", xml, "<payment><card><pan>"+P[2]+"</pan>", 400)
	checkout("object as card number", js, `{"card":{"number":{"pan":"`+P[0]+`"}}}`, 422)
	checkout("too large", js, `{"card":{"number":"`+P[0]+`"},"pad":"`+strings.Repeat("x", 70<<10)+`"}`, 413)
	var bomb bytes.Buffer
	zw := gzip.NewWriter(&bomb)
	zw.Write([]byte(`{"card":{"number":"` + P[0] + `"},"pad":"`))
	zw.Write(bytes.Repeat([]byte("0"), 8<<20))
	zw.Close()
	checkout("gzip bomb", js, bomb.String(), 413, "Content-Encoding", "gzip")
	checkout("brotli", js, "\x1b\x03\x00"+P[0], 415, "Content-Encoding", "br")
	rec.send("no route, card in the path", "GET", in+"/nowhere/"+P[4]+"?pan="+P[5], "", "", false)
	rec.send("no route, grouped card in the path", "GET", in+"/nowhere/"+grouped(P[6], "-")+"/"+url.PathEscape(grouped(P[7], " ")), "", "", false)

	// The app saw aliases only.
	appMu.Lock()
	for _, b := range appSaw {
		if pan.Contains(b) || e2eCVCIn(b) != "" {
			t.Errorf("the app received card data: %s", pan.Mask(string(b)))
		}
	}
	appMu.Unlock()

	// A response reveal: the client gets the card number back (exempt).
	var redacted struct{ Card struct{ Number string } }
	if err := json.Unmarshal(echoed, &redacted); err != nil || !strings.HasPrefix(redacted.Card.Number, "tok_") {
		t.Fatalf("checkout answer %s", pan.Mask(string(echoed)))
	}
	if status, b := rec.send("statement", "POST", in+"/statement", js, `{"card":{"number":"`+redacted.Card.Number+`"}}`, true); status != 200 || !strings.Contains(string(b), P[0]) {
		t.Errorf("statement reveal: %d %s", status, pan.Mask(string(b)))
	}

	// Vault API, success (reveals are exempt) and error paths.
	basic := func(c credential) []string {
		r, _ := http.NewRequest("GET", "/", nil)
		r.SetBasicAuth(c.ID, c.Secret)
		return []string{"Authorization", r.Header.Get("Authorization")}
	}
	status, b := rec.send("vault create", "POST", in+"/aliases", js,
		`{"data":[{"value":"`+P[4]+`","classifiers":["pan"]},{"value":"`+C[2]+`","storage":"VOLATILE"}]}`, true, basic(api)...)
	var created struct {
		Data []struct{ Aliases []struct{ Alias string } }
	}
	if status != 201 || json.Unmarshal(b, &created) != nil || len(created.Data) != 2 {
		t.Fatalf("vault create: %d %s", status, pan.Mask(string(b)))
	}
	panAlias, cvcAlias := created.Data[0].Aliases[0].Alias, created.Data[1].Aliases[0].Alias
	rec.send("vault reveal", "GET", in+"/aliases/"+panAlias, "", "", true, basic(api)...)
	rec.send("vault reveal many", "GET", in+"/aliases?q="+panAlias+","+cvcAlias, "", "", true, basic(api)...)
	rec.send("vault classifiers with a PAN", "POST", in+"/aliases", js, `{"data":[{"value":"`+P[5]+`","classifiers":["`+P[6]+`"]}]}`, false, basic(api)...)
	rec.send("vault bad format", "POST", in+"/aliases", js, `{"data":[{"value":"`+P[5]+`x","format":"FPE_SIX_T_FOUR"}]}`, false, basic(api)...)
	rec.send("vault malformed", "POST", in+"/aliases", js, `{"data":[{"value":"`+P[5]+`"`, false, basic(api)...)
	rec.send("vault wrong type", "POST", in+"/aliases", js, `{"data":[{"value":{"pan":`+P[5]+`}}]}`, false, basic(api)...)
	rec.send("vault wrong type in an array", "POST", in+"/aliases", js, `{"data":[{"value":[`+P[5]+`]}]}`, false, basic(api)...)
	// A JSON number is a value (its text), answered like any create.
	rec.send("vault number value", "POST", in+"/aliases", js, `{"data":[{"value":`+P[5]+`}]}`, true, basic(api)...)
	rec.send("vault unknown field", "POST", in+"/aliases", js, `{"data":[{"value":"x","`+P[5]+`":1}]}`, false, basic(api)...)
	rec.send("vault PAN as alias", "GET", in+"/aliases/"+P[5], "", "", false, basic(api)...)
	rec.send("vault PAN as query", "GET", in+"/aliases?q="+P[5]+","+P[6], "", "", false, basic(api)...)
	rec.send("vault update PAN classifier", "PUT", in+"/aliases/"+panAlias, js, `{"data":{"classifiers":["`+P[6]+`"]}}`, false, basic(api)...)
	rec.send("vault bearer PAN", "GET", in+"/aliases/"+panAlias, "", "", false, "Authorization", "Bearer "+P[5])
	rec.send("vault basic PAN", "GET", in+"/aliases/"+panAlias, "", "", false, "Authorization", "Basic "+P[5])
	r, _ := http.NewRequest("GET", "/", nil)
	r.SetBasicAuth(P[5], P[6])
	rec.send("vault basic PAN id", "GET", in+"/aliases/"+panAlias, "", "", false, "Authorization", r.Header.Get("Authorization"))
	rec.send("oauth secret PAN", "POST", in+"/oauth/token", form, "grant_type=client_credentials&client_id="+api.ID+"&client_secret="+P[5], false)
	rec.send("oauth id PAN", "POST", in+"/oauth/token", form, "grant_type=client_credentials&client_id="+P[5]+"&client_secret="+P[6], false)
	rec.send("vault delete", "DELETE", in+"/aliases/"+panAlias, "", "", false, basic(api)...)
	rec.send("vault reveal deleted", "GET", in+"/aliases/"+panAlias, "", "", false, basic(api)...)

	// Card Management API: PCI answers are exempt, the others are not.
	bearer := func(c credential) []string { return []string{"Authorization", "Bearer " + limToken(t, in, c)} }
	pciAuth, plainAuth := bearer(pci), bearer(plain)
	card := func(pan, cvc string) string {
		return `{"data":{"type":"cards","attributes":{"pan":"` + pan + `","cvc":"` + cvc + `","exp_month":5,"exp_year":2030,"meta":{"crm":"C-42"}}}}`
	}
	_, b = rec.send("cards create pci", "POST", in+"/cards", jsonapi, card(P[3], C[2]), true, pciAuth...)
	status, b = rec.send("cards create plain", "POST", in+"/cards", jsonapi, card(P[7], C[0]), false, plainAuth...)
	var cd struct{ Data struct{ ID string } }
	if status != 201 || json.Unmarshal(b, &cd) != nil {
		t.Fatalf("cards create: %d %s", status, pan.Mask(string(b)))
	}
	id := cd.Data.ID
	rec.send("cards get plain", "GET", in+"/cards/"+id+"?include=card_updates,network_tokens", "", "", false, plainAuth...)
	rec.send("cards get pci", "GET", in+"/cards/"+id, "", "", true, pciAuth...)
	rec.send("cards patch plain", "PATCH", in+"/cards/"+id, jsonapi, `{"data":{"attributes":{"cvc":"`+C[1]+`","exp_month":6}}}`, false, plainAuth...)
	rec.send("cards network token plain", "POST", in+"/cards/"+id+"/network-tokens", jsonapi, "", false, plainAuth...)
	rec.send("cards cryptogram plain", "POST", in+"/cards/"+id+"/cryptogram", jsonapi, `{"data":{"attributes":{}}}`, false, plainAuth...)
	rec.send("cards duplicate", "POST", in+"/cards", jsonapi, card(P[7], C[0]), false, plainAuth...)
	for name, body := range map[string]string{
		"cards meta PAN":       `{"data":{"attributes":{"pan":"` + P[0] + `","exp_month":5,"exp_year":2030,"meta":{"k":"` + P[1] + `"}}}}`,
		"cards PAN as key":     `{"data":{"attributes":{"pan":"` + P[0] + `","exp_month":5,"exp_year":2030,"` + P[1] + `":"x"}}}`,
		"cards expired":        `{"data":{"attributes":{"pan":"` + P[0] + `","cvc":"` + C[0] + `","exp_month":1,"exp_year":2001}}}`,
		"cards bad cvc":        `{"data":{"attributes":{"pan":"` + P[0] + `","cvc":"` + C[2] + `","exp_month":5,"exp_year":2030}}}`,
		"cards numeric PAN":    `{"data":{"attributes":{"pan":` + P[0] + `,"exp_month":5,"exp_year":2030}}}`,
		"cards malformed":      `{"data":{"attributes":{"pan":"` + P[0] + `"`,
		"cards PAN as alias":   `{"data":{"attributes":{"pan_alias":"` + P[0] + `","exp_month":5,"exp_year":2030}}}`,
		"cards wrong type PAN": `{"data":{"type":"` + P[0] + `","attributes":{}}}`,
	} {
		rec.send(name, "POST", in+"/cards", jsonapi, body, false, plainAuth...)
	}
	rec.send("cards PAN as id", "GET", in+"/cards/"+P[0], "", "", false, plainAuth...)

	// Outbound: the processor gets the card number, the merchant an alias.
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(caPEM))
	proxyURL, _ := url.Parse(g.outbound)
	proxyURL.User = url.UserPassword(ob.ID, ob.Secret)
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL), TLSClientConfig: &tls.Config{RootCAs: pool}}}
	_, vb := rec.send("vault create for outbound", "POST", in+"/aliases", js, `{"data":[{"value":"`+P[6]+`"}]}`, true, basic(api)...)
	json.Unmarshal(vb, &created)
	outAlias := created.Data[0].Aliases[0].Alias
	req, _ := http.NewRequest("POST", psp.URL+"/charges", strings.NewReader(`{"card":{"number":"`+outAlias+`","cvc":"`+cvcAlias+`"}}`))
	req.Header.Set("Content-Type", js)
	if status, b := rec.do("outbound reveal", client, req, false); status != 200 || !strings.Contains(string(b), "authorized") {
		t.Errorf("outbound: %d %s", status, pan.Mask(string(b)))
	}
	req, _ = http.NewRequest("POST", psp.URL+"/charges", strings.NewReader(`{"card":{"number":"tok_sandbox_unknownAliasXXXXXXXXXXX"}}`))
	req.Header.Set("Content-Type", js)
	rec.do("outbound unknown alias", client, req, false)
	// CONNECT to a host that is a card number: refused, and the log line
	// names the host masked.
	if c, err := net.Dial("tcp", proxyURL.Host); err == nil {
		fmt.Fprintf(c, "CONNECT %s.example:443 HTTP/1.1\r\nHost: %s.example:443\r\nProxy-Authorization: %s\r\n\r\n", P[0], P[0], e2eBasic(ob))
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if res, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil || res.StatusCode != http.StatusForbidden {
			t.Errorf("CONNECT to an unrouted host: %v %v", res, err)
		} else {
			b, _ := io.ReadAll(res.Body)
			rec.mu.Lock()
			rec.ex = append(rec.ex, e2eExchange{"CONNECT unrouted", res.StatusCode, res.Header, b, false})
			rec.mu.Unlock()
		}
		c.Close()
	}

	// Admin.
	rec.send("metrics", "GET", g.admin+"/metrics", "", "", false)
	rec.send("readyz", "GET", g.admin+"/readyz", "", "", false)
	g.stop(t)

	// The scan.
	for _, e := range rec.ex {
		if e.reveal {
			continue
		}
		var hb bytes.Buffer
		e.header.Write(&hb)
		body := e.body
		if e.what == "metrics" {
			// Card data could only be in a name or a label value: drop each
			// sample's value (a float, whose 16–17 significant digits the
			// finder may read as a card number).
			var names bytes.Buffer
			for _, line := range bytes.Split(body, []byte("\n")) {
				if i := bytes.LastIndexByte(line, ' '); i > 0 && !bytes.HasPrefix(line, []byte("#")) {
					line = line[:i]
				}
				names.Write(line)
				names.WriteByte('\n')
			}
			body = names.Bytes()
		}
		for part, b := range map[string][]byte{"body": body, "headers": hb.Bytes()} {
			for _, c := range pan.Find(b) {
				t.Errorf("%s (%d): the %s hold a card-like number: …%s…", e.what, e.status, part,
					pan.Mask(string(b[max(0, c.Start-60):min(len(b), c.End+10)])))
			}
			if cvc := e2eCVCIn(b); cvc != "" {
				t.Errorf("%s (%d): the %s hold the CVC %s: %s", e.what, e.status, part, cvc, pan.Mask(string(b)))
			}
		}
	}
	log := []byte(g.stderr.String())
	if pan.Contains(log) {
		t.Errorf("the log holds %d card-like numbers", len(pan.Find(log)))
	}
	for _, p := range P {
		for _, sep := range []string{" ", "-"} {
			if bytes.Contains(log, []byte(grouped(p, sep))) {
				t.Errorf("the log holds a card number written in groups (%q)", sep)
			}
		}
	}
	lines := bytes.Split(log, []byte("\n"))
	for i, line := range lines {
		if f := e2eMaskedFields(line); len(f) > 0 {
			t.Errorf("log line %d: the scrubber masked card data in %v: %s", i+1, f, pan.Mask(string(line)))
		}
		if cvc := e2eCVCIn(line); cvc != "" {
			t.Errorf("log line %d holds the CVC %s: %s", i+1, cvc, pan.Mask(string(line)))
		}
	}
	if len(lines) < 50 || !bytes.Contains(log, []byte(`"level":"DEBUG"`)) {
		t.Errorf("the log has %d lines and no debug line: the scan saw too little", len(lines))
	}
	err = filepath.WalkDir(data, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if pan.Contains(b) {
			t.Errorf("%s holds a card-like number", p)
		}
		if e2eIsText(b) {
			if cvc := e2eCVCIn(b); cvc != "" {
				t.Errorf("%s holds the CVC %s: %s", p, cvc, pan.Mask(string(b)))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// e2eIsText reports whether b looks like a text file (no NUL in its first
// KiB): binary files (the bbolt vault) hold ciphertext in which any short
// digit string turns up by chance.
func e2eIsText(b []byte) bool {
	return !bytes.Contains(b[:min(len(b), 1024)], []byte{0})
}

// grouped writes a card number in groups of four digits joined by sep.
func grouped(p, sep string) string {
	var parts []string
	for len(p) > 4 {
		parts, p = append(parts, p[:4]), p[4:]
	}
	return strings.Join(append(parts, p), sep)
}

func e2eBasic(c credential) string {
	r, _ := http.NewRequest("GET", "/", nil)
	r.SetBasicAuth(c.ID, c.Secret)
	return r.Header.Get("Authorization")
}
