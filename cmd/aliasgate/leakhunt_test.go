package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/pan"
)

// huntPAN is the card number the leak hunt puts everywhere a client can;
// huntCVC its CVC.
const (
	huntPAN = "4111111111111111"
	huntCVC = "7319"
)

// huntDigits turns b into the digits a reader takes from it: percent and
// JSON \u escapes undone (twice), full-width digits read as ASCII, NUL
// bytes (UTF-16) dropped, then every byte that is not a digit or a
// letter dropped, so a card number written with any separator between
// its digits reads as a run of them.
func huntDigits(b []byte) string {
	s := string(bytes.ReplaceAll(b, []byte{0}, nil))
	for i := 0; i < 2; i++ {
		s = huntUnescape(s)
	}
	var out strings.Builder
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
			out.WriteRune(r)
		case r >= '０' && r <= '９':
			out.WriteRune('0' + r - '０')
		}
	}
	return out.String()
}

var huntJSONEscRE = regexp.MustCompile(`\\u([0-9a-fA-F]{4})`)
var huntPctRE = regexp.MustCompile(`%([0-9a-fA-F]{2})`)

func huntUnescape(s string) string {
	s = huntJSONEscRE.ReplaceAllStringFunc(s, func(m string) string {
		var r rune
		fmt.Sscanf(m[2:], "%04x", &r)
		return string(r)
	})
	return huntPctRE.ReplaceAllStringFunc(s, func(m string) string {
		b, _ := hex.DecodeString(m[1:])
		return string(b)
	})
}

var huntB64RE = regexp.MustCompile(`[A-Za-z0-9+/_-]{16,}={0,2}`)
var huntHexRE = regexp.MustCompile(`[0-9a-fA-F]{32,}`)

// huntSpellings returns where b holds the hunt's PAN or CVC in any
// spelling: digits after stripping separators and escapes, base64 (any
// alignment, either alphabet), hex, UTF-16.
func huntSpellings(b []byte) []string { return huntSpellingsAs(b, huntReader) }

// huntReader reports whether b holds huntPAN as a reader sees it: its
// digits with any separators and escapes between them.
func huntReader(b []byte) bool { return strings.Contains(huntDigits(b), huntPAN) }

// huntPanReading reports whether b holds a card number as package pan
// reads it (the leak guard's and the inspector's reading of message
// content: docs/DECISIONS.md, "card numbers grouped by _ or :").
func huntPanReading(b []byte) bool { return pan.ContainsAll(b) }

// huntSpellingsAs is huntSpellings with found as the reading of text.
func huntSpellingsAs(b []byte, found func([]byte) bool) []string {
	var out []string
	if found(b) {
		out = append(out, "digits")
	}
	for _, m := range huntB64RE.FindAll(b, -1) {
		s := strings.TrimRight(string(m), "=")
		for off := 0; off < 4 && off < len(s); off++ {
			t := s[off:]
			t = t[:len(t)/4*4]
			for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
				if d, err := enc.DecodeString(t); err == nil && found(d) {
					out = append(out, "base64")
				}
			}
		}
	}
	for _, m := range huntHexRE.FindAll(b, -1) {
		for off := 0; off < 2; off++ {
			t := m[off:]
			t = t[:len(t)/2*2]
			if d, err := hex.DecodeString(string(t)); err == nil && found(d) {
				out = append(out, "hex")
			}
		}
	}
	for _, form := range []string{`"` + huntCVC + `"`, "=" + huntCVC + "&", "=" + huntCVC + " ", "=" + huntCVC + "\n", ":" + huntCVC + ","} {
		if bytes.Contains(b, []byte(form)) {
			out = append(out, "cvc")
		}
	}
	return out
}

// huntRaw sends raw bytes to addr and returns what came back: the status
// line, the header and the body (nil when no answer could be read).
func huntRaw(t *testing.T, addr, raw string) []byte {
	t.Helper()
	res, body, _ := rawExchange(t, addr, raw)
	if res == nil {
		return nil
	}
	var b bytes.Buffer
	res.Header.Write(&b)
	b.Write(body)
	return append([]byte(res.Status+"\n"), b.Bytes()...)
}

// rawExchange writes raw to a new connection to addr and reads one answer
// and its body (at most 1 MiB), within 10 s; the connection is closed. res
// is nil when no answer could be read (err says why: the peer may close on
// a request it refuses); a body cut short comes with its error.
func rawExchange(t *testing.T, addr, raw string) (*http.Response, []byte, error) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	_, werr := io.WriteString(c, raw)
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		if werr != nil {
			err = werr
		}
		return nil, nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	return res, body, err
}

// huntPathSpellings are the spellings of huntPAN a client may put in a URL.
var huntPathSpellings = []string{
	huntPAN,
	"%34%31%31%31%31%31%31%31%31%31%31%31%31%31%31%31",
	"4111%201111%201111%201111",
	"4111-1111-1111-1111",
	"4111.1111.1111.1111",
	"4111%091111%091111%091111",
	"4111%C2%A01111%C2%A01111%C2%A01111",
	"4111%E2%80%8B1111%E2%80%8B1111%E2%80%8B1111",
	strings.Repeat("%EF%BC%94", 1) + strings.Repeat("%EF%BC%91", 15),
	"4111+1111+1111+1111",
	"4111_1111_1111_1111",
	"4111/1111/1111/1111",
	"4111%2F1111%2F1111%2F1111",
}

// TestLeakHunt puts huntPAN (and huntCVC) into every place a client can
// put it — the path, the query, header names and values, the method, the
// CONNECT authority, JSON keys, multipart file names, OAuth credentials,
// card and alias ids — then reads everything the gateway produced: its
// log, its audit log, /metrics, /readyz, the inspector's captures, every
// answer's status line, headers and body, and every file of the data dir,
// in every spelling (huntSpellings).
func TestLeakHunt(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	routesFile := filepath.Join(dir, "routes.yaml")
	os.WriteFile(routesFile, []byte(`routes:
  - id: checkout
    direction: inbound
    host: "*"
    path_prefix: /checkout
    upstream: http://127.0.0.1:1
    leak_guard: block
    filters:
      - id: card-json
        match: {content_type: json}
        operation: redact
        targets: [{json: card.number}]
  - id: guarded
    direction: inbound
    host: "*"
    path_prefix: /guarded
    upstream: http://127.0.0.1:1
    leak_guard: log
  - id: psp
    direction: outbound
    host: 127.0.0.1
`), 0o600)
	env := testEnv(map[string]string{
		"ALIASGATE_ROUTES_FILE": routesFile, "ALIASGATE_LOG_LEVEL": "debug",
		"ALIASGATE_ADMIN_UI": "true", "ALIASGATE_ADMIN_TOKEN": testAdminToken,
		"ALIASGATE_OUTBOUND_ALLOW_PRIVATE_DESTINATIONS": "true", "ALIASGATE_ADMIN_UI_CAPTURE_SIZE": "5000",
	})
	api := createClient(t, env, data, "--name", "api", "--account", "acct_1", "--scopes", "aliases:write,aliases:reveal")
	plain := createClient(t, env, data, "--name", "plain", "--account", "acct_1", "--scopes", "cards:read,cards:write")
	ob := createClient(t, env, data, "--name", "backend", "--account", "acct_1", "--outbound")
	g := startGateway(t, env, "--data-dir", data, "--enable-vault-api")
	inAddr := strings.TrimPrefix(g.inbound, "http://")
	outAddr := strings.TrimPrefix(g.outbound, "http://")
	adminAddr := strings.TrimPrefix(g.admin, "http://")

	type answer struct {
		what string
		b    []byte
	}
	var answers []answer
	keep := func(what string, b []byte) { answers = append(answers, answer{what, b}) }
	req := func(what, addr, method, target string, hdr []string, body string) {
		var sb strings.Builder
		fmt.Fprintf(&sb, "%s %s HTTP/1.1\r\n", method, target)
		hasHost := false
		for i := 0; i+1 < len(hdr); i += 2 {
			if strings.EqualFold(hdr[i], "Host") {
				hasHost = true
			}
			fmt.Fprintf(&sb, "%s: %s\r\n", hdr[i], hdr[i+1])
		}
		if !hasHost {
			fmt.Fprintf(&sb, "Host: %s\r\n", addr)
		}
		fmt.Fprintf(&sb, "Content-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
		keep(what, huntRaw(t, addr, sb.String()))
	}
	basic := func(user, pass string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	}
	tok := limToken(t, g.inbound, plain)
	const js = "application/json"

	for _, prefix := range []string{"/nowhere/", "/checkout/", "/guarded/", "/aliases/", "/cards/", "/oauth/", "/admin/", "/ui/"} {
		for i, p := range huntPathSpellings {
			what := fmt.Sprintf("path %s%d", prefix, i)
			hdr := []string{"Authorization", basic(api.ID, api.Secret)}
			if prefix == "/cards/" {
				hdr = []string{"Authorization", "Bearer " + tok}
			}
			addr := inAddr
			if prefix == "/admin/" || prefix == "/ui/" {
				addr, hdr = adminAddr, []string{"Authorization", "Bearer " + testAdminToken}
			}
			req(what, addr, "GET", prefix+p+"?"+p+"="+p, hdr, "")
			req(what+" POST", addr, "POST", prefix+p, append(hdr, "Content-Type", js), `{"card":{"number":"`+huntPAN+`"}}`)
		}
	}
	for _, name := range []string{"Host", "User-Agent", "Referer", "X-Forwarded-For", "Forwarded", "Idempotency-Key", "Cookie", "X-Request-Id", "Origin", "Content-Type", "Accept", "Content-Encoding", "Transfer-Encoding", "Expect", "If-Match"} {
		for _, v := range []string{huntPAN, "4111 1111 1111 1111", "4111_1111_1111_1111", "4111\t1111\t1111\t1111", "4111/1111/1111/1111", "a=" + huntPAN, huntPAN + "=1", "http://" + huntPAN + ".example/" + huntPAN} {
			for _, prefix := range []string{"/nowhere", "/checkout/x", "/guarded/x", "/aliases", "/cards", "/oauth/token"} {
				hdr := []string{name, v, "Authorization", basic(api.ID, api.Secret)}
				if prefix == "/cards" {
					hdr[3] = "Bearer " + tok
				}
				req("header "+name+" "+prefix, inAddr, "POST", prefix, append(hdr, "Content-Type", js), `{"data":[{"value":"x"}]}`)
			}
			req("header "+name+" admin", adminAddr, "GET", "/metrics", []string{name, v}, "")
			req("header "+name+" outbound", outAddr, "GET", "http://127.0.0.1:9/", []string{name, v, "Proxy-Authorization", basic(ob.ID, ob.Secret)}, "")
		}
	}
	// Header names, methods, credentials.
	for _, id := range []string{huntPAN, "4111_1111_1111_1111", "4111:1111:1111:1111", "4111/1111/1111/1111"} {
		for _, prefix := range []string{"/aliases", "/cards", "/oauth/token"} {
			req("basic user "+id+prefix, inAddr, "POST", prefix, []string{"Authorization", basic(id, huntCVC), "Content-Type", "application/x-www-form-urlencoded"}, "grant_type=client_credentials")
			req("oauth id "+id, inAddr, "POST", "/oauth/token", []string{"Content-Type", "application/x-www-form-urlencoded"}, "grant_type=client_credentials&client_id="+url.QueryEscape(id)+"&client_secret=x")
		}
		req("proxy user "+id, outAddr, "GET", "http://127.0.0.1:9/", []string{"Proxy-Authorization", basic(id, huntCVC)}, "")
		req("CONNECT "+id, outAddr, "CONNECT", id+".example:443", []string{"Host", id + ".example:443", "Proxy-Authorization", basic(ob.ID, ob.Secret)}, "")
		req("admin user "+id, adminAddr, "GET", "/admin/clients/"+id, []string{"Authorization", "Bearer " + testAdminToken}, "")
		req("host "+id, inAddr, "GET", "/", []string{"Host", id + ".example"}, "")
		req("admin tsp "+id, adminAddr, "POST", "/admin/tsp/simulate", []string{"Authorization", "Bearer " + testAdminToken, "Content-Type", js},
			`{"account":"`+id+`","card_id":"`+id+`","event":"`+id+`","`+id+`":1}`)
		req("admin tsp event "+id, adminAddr, "POST", "/admin/tsp/simulate", []string{"Authorization", "Bearer " + testAdminToken, "Content-Type", js},
			`{"account":"acct_1","card_id":"CRD9QkRhpY43HGyVCrG85v9Sz","event":"`+id+`"}`)
		req("admin deliveries "+id, adminAddr, "GET", "/admin/webhooks/deliveries?state="+url.QueryEscape(id)+"&endpoint="+url.QueryEscape(id)+"&"+url.QueryEscape(id)+"=1", []string{"Authorization", "Bearer " + testAdminToken}, "")
		req("admin keys "+id, adminAddr, "POST", "/admin/keys/rotate?"+url.QueryEscape(id)+"=1", []string{"Authorization", "Bearer " + testAdminToken, "Content-Type", js}, `{"`+id+`":1}`)
		req("captures "+id, adminAddr, "GET", "/ui/api/captures?route="+url.QueryEscape(id)+"&"+url.QueryEscape(id)+"=1", []string{"Authorization", "Bearer " + testAdminToken}, "")
		req("ui preview "+id, adminAddr, "POST", "/ui/api/preview", []string{"Authorization", "Bearer " + testAdminToken, "Content-Type", js}, `{"capture_id":"`+id+`","routes":"routes:\n  - id: `+id+`\n"}`)
	}
	for _, name := range []string{"4111_1111_1111_1111", "4111:1111:1111:1111", "4111/1111/1111/1111", "4111\t1111\t1111\t1111", "4111 1111 1111 1111"} {
		for _, prefix := range []string{"/checkout/x", "/guarded/x"} {
			req("guard json key "+prefix, inAddr, "POST", prefix, []string{"Content-Type", js}, `{"`+name+`":"`+huntPAN+`","a":{"`+name+`":[`+huntPAN+`]}}`)
			req("guard form key "+prefix, inAddr, "POST", prefix, []string{"Content-Type", "application/x-www-form-urlencoded"}, url.QueryEscape(name)+"="+huntPAN)
			req("guard query key "+prefix, inAddr, "GET", prefix+"?"+url.QueryEscape(name)+"="+huntPAN, nil, "")
			req("guard xml "+prefix, inAddr, "POST", prefix, []string{"Content-Type", "application/xml"}, "<a><b n=\""+name+"\">"+huntPAN+"</b></a>")
			if !strings.ContainsAny(name, " \t/:") {
				req("guard header name "+prefix, inAddr, "GET", prefix, []string{"X-" + name, huntPAN}, "")
			}
		}
	}
	for _, prefix := range []string{"/nowhere", "/checkout/x", "/guarded/x", "/aliases", "/cards", "/oauth/token"} {
		req("header name "+prefix, inAddr, "GET", prefix, []string{"X-" + huntPAN, "1", huntPAN, "1"}, "")
		req("method "+prefix, inAddr, huntPAN, prefix, nil, "")
		req("method grouped "+prefix, inAddr, "4111-1111-1111-1111", prefix, nil, "")
		req("basic user "+prefix, inAddr, "GET", prefix, []string{"Authorization", basic(huntPAN, huntCVC)}, "")
		req("bearer "+prefix, inAddr, "GET", prefix, []string{"Authorization", "Bearer " + huntPAN}, "")
		req("cookie name "+prefix, inAddr, "GET", prefix, []string{"Cookie", huntPAN + "=x; s=" + huntPAN}, "")
		req("proxy-auth "+prefix, inAddr, "GET", prefix, []string{"Proxy-Authorization", basic(huntPAN, huntCVC)}, "")
		req("absolute uri "+prefix, inAddr, "GET", "http://"+huntPAN+".example"+prefix, nil, "")
	}
	req("admin method", adminAddr, huntPAN, "/metrics", nil, "")
	req("admin basic", adminAddr, "GET", "/admin/clients", []string{"Authorization", basic(huntPAN, huntCVC)}, "")
	req("admin bearer", adminAddr, "GET", "/admin/clients", []string{"Authorization", "Bearer " + huntPAN}, "")
	req("admin host", adminAddr, "GET", "/metrics", []string{"Host", huntPAN + ".example"}, "")
	// The outbound listener.
	for _, target := range []string{huntPAN + ".example:443", huntPAN + ":443", "[" + huntPAN + "]:443", "4111-1111-1111-1111.example:443", "127.0.0.1:" + huntPAN} {
		req("CONNECT "+target, outAddr, "CONNECT", target, []string{"Host", target, "Proxy-Authorization", basic(ob.ID, ob.Secret)}, "")
		req("CONNECT anon "+target, outAddr, "CONNECT", target, []string{"Host", target}, "")
	}
	req("outbound proxy user", outAddr, "CONNECT", "127.0.0.1:443", []string{"Proxy-Authorization", basic(huntPAN, huntCVC)}, "")
	req("outbound method", outAddr, huntPAN, "http://127.0.0.1:9/", []string{"Proxy-Authorization", basic(ob.ID, ob.Secret)}, "")
	req("outbound path", outAddr, "GET", "http://127.0.0.1:9/"+huntPAN+"?q="+huntPAN, []string{"Proxy-Authorization", basic(ob.ID, ob.Secret)}, "")
	req("outbound host", outAddr, "GET", "http://"+huntPAN+".example/", []string{"Proxy-Authorization", basic(ob.ID, ob.Secret)}, "")
	// SNI on the outbound listener through an allowed CONNECT.
	for _, sni := range []string{huntPAN + ".example", "4111_1111_1111_1111.example", "4111-1111-1111-1111.example", "127.0.0.1"} {
		func() {
			c, err := net.Dial("tcp", outAddr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(3 * time.Second))
			fmt.Fprintf(c, "CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1:443\r\nProxy-Authorization: %s\r\n\r\n", basic(ob.ID, ob.Secret))
			res, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatalf("CONNECT: %v", err)
			}
			keep("sni connect", []byte(res.Status))
			if res.StatusCode != 200 {
				t.Fatalf("CONNECT to a routed host: %s", res.Status)
			}
			tc := tls.Client(c, &tls.Config{ServerName: sni, InsecureSkipVerify: true})
			err = tc.Handshake()
			keep("sni handshake", []byte(fmt.Sprint(err)))
			if err != nil {
				return // refused: a name other than the CONNECT host's
			}
			fmt.Fprintf(tc, "GET /%s/4111_1111_1111_1111 HTTP/1.1\r\nHost: %s\r\nX-4111_1111_1111_1111: %s\r\n\r\n", huntPAN, "4111_1111_1111_1111.example", huntPAN)
			b, _ := io.ReadAll(tc)
			keep("sni answer", b)
		}()
	}
	// Bodies: JSON keys, malformed JSON, multipart file names.
	for _, prefix := range []string{"/checkout/x", "/guarded/x", "/aliases", "/cards"} {
		auth := basic(api.ID, api.Secret)
		if prefix == "/cards" {
			auth = "Bearer " + tok
		}
		for i, body := range []string{
			`{"` + huntPAN + `":1}`, `{"card":{"` + huntPAN + `":"` + huntCVC + `"}}`, `{"card":{"number":` + huntPAN + `,}`,
			`{"card":{"number":"` + huntPAN + `"`, `[` + huntPAN + `x]`, `{"card":{"number":"4111 1111 1111 1111"}}`,
			`{"data":[{"value":"` + huntPAN + `","format":"` + huntPAN + `"}]}`, `{"data":{"type":"cards","id":"` + huntPAN + `","attributes":{"pan":"x` + huntPAN + `","cvc":"` + huntCVC + `x","exp_month":"` + huntPAN + `"}}}`,
			`{"data":[{"value":"x","storage":"` + huntPAN + `","classifiers":["` + huntPAN + `"],"` + huntPAN + `":1}]}`,
			"\xff\xfe" + huntPAN, `{"card":{"number":"` + huntPAN + `\ud800"}}`,
		} {
			for _, ct := range []string{js, "application/vnd.api+json", "text/plain", huntPAN + "/json", "application/json; charset=" + huntPAN} {
				req(fmt.Sprintf("body %s %d %s", prefix, i, ct), inAddr, "POST", prefix, []string{"Authorization", auth, "Content-Type", ct}, body)
			}
		}
		// multipart.NewWriter's boundary, and one holding the card number
		// (a random boundary of 60 hex characters holds a card-like run of
		// digits about once in 230).
		for i, boundary := range []string{"", "x" + huntPAN + "y"} {
			var mb bytes.Buffer
			mw := multipart.NewWriter(&mb)
			if boundary != "" {
				mw.SetBoundary(boundary)
			}
			fw, _ := mw.CreateFormFile(huntPAN, huntPAN+".txt")
			fw.Write([]byte("x"))
			mw.Close()
			req(fmt.Sprintf("multipart %s %d", prefix, i), inAddr, "POST", prefix, []string{"Authorization", auth, "Content-Type", mw.FormDataContentType()}, mb.String())
		}
		req("PATCH "+prefix, inAddr, "PATCH", prefix+"/"+huntPAN, []string{"Authorization", auth, "Content-Type", "application/vnd.api+json"}, `{"data":{"id":"`+huntPAN+`","type":"cards","attributes":{"`+huntPAN+`":1}}}`)
		req("PUT "+prefix, inAddr, "PUT", prefix+"/"+huntPAN, []string{"Authorization", auth, "Content-Type", js}, `{"data":{"classifiers":["`+huntPAN+`"]}}`)
		req("DELETE "+prefix, inAddr, "DELETE", prefix+"/"+huntPAN, []string{"Authorization", auth}, "")
	}
	for _, body := range []string{
		"grant_type=client_credentials&client_id=" + huntPAN + "&client_secret=" + huntCVC,
		"grant_type=" + huntPAN, "grant_type=client_credentials&scope=" + huntPAN,
		"grant_type=client_credentials&client_id=" + api.ID + "&client_secret=" + huntPAN,
		huntPAN + "=1&grant_type=client_credentials",
	} {
		req("oauth "+body[:12], inAddr, "POST", "/oauth/token", []string{"Content-Type", "application/x-www-form-urlencoded"}, body)
		req("oauth json "+body[:12], inAddr, "POST", "/oauth/token", []string{"Content-Type", js}, body)
	}
	req("oauth basic", inAddr, "POST", "/oauth/token", []string{"Content-Type", "application/x-www-form-urlencoded", "Authorization", basic(huntPAN, huntCVC)}, "grant_type=client_credentials")
	req("oauth basic scope", inAddr, "POST", "/oauth/token", []string{"Content-Type", "application/x-www-form-urlencoded", "Authorization", basic(plain.ID, plain.Secret)}, "grant_type=client_credentials&scope=cards:read%20"+huntPAN)
	req("cards query", inAddr, "GET", "/cards?"+huntPAN+"=1&filter["+huntPAN+"]=2&page[size]="+huntPAN+"&include="+huntPAN+"&sort="+huntPAN+"&fields[cards]="+huntPAN, []string{"Authorization", "Bearer " + tok}, "")
	req("aliases query", inAddr, "GET", "/aliases?q="+huntPAN+"&"+huntPAN+"=1", []string{"Authorization", basic(api.ID, api.Secret)}, "")
	// Admin endpoints with card data in ids.
	for _, p := range []string{"/admin/clients/" + huntPAN + "/revoke", "/admin/clients/" + huntPAN + "/rotate-secret", "/admin/webhooks/deliveries/" + huntPAN + "/redeliver", "/admin/keys/" + huntPAN, "/admin/tsp/simulate", "/ui/api/captures/" + huntPAN, "/ui/api/" + huntPAN} {
		req("admin "+p, adminAddr, "POST", p, []string{"Authorization", "Bearer " + testAdminToken, "Content-Type", js}, `{"event":"`+huntPAN+`","card":"`+huntPAN+`","`+huntPAN+`":1}`)
	}

	// Read everything.
	get := func(path string) []byte {
		r, _ := http.NewRequest("GET", g.admin+path, nil)
		r.Header.Set("Authorization", "Bearer "+testAdminToken)
		res, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return b
	}
	keep("/metrics", get("/metrics"))
	keep("/readyz", get("/readyz"))
	caps := get("/ui/api/captures?limit=5000")
	keep("captures", caps)
	ids := regexp.MustCompile(`"id":\s*(\d+)`).FindAllSubmatch(caps, -1)
	for _, m := range ids {
		keep("capture "+string(m[1]), get("/ui/api/captures/"+string(m[1])))
	}
	g.stop(t)
	// The scan saw what was sent: the captures, the guard's lines, the
	// access lines of the card-number paths.
	if log := g.stderr.String(); len(ids) < 500 || !strings.Contains(log, "leak guard found card-like numbers") ||
		!strings.Contains(log, `"path":"/cards/4111/11**/****/1111"`) {
		t.Errorf("the hunt saw too little: %d captures, log of %d bytes", len(ids), len(log))
	}

	report := func(where string, b []byte) {
		t.Helper()
		if s := huntSpellings(b); len(s) > 0 {
			t.Errorf("%s holds the card data (%v): %.600q", where, s, pan.MaskLoose(string(b)))
		}
	}
	for _, a := range answers {
		if !strings.HasPrefix(a.what, "capture") {
			report("answer to "+a.what, a.b)
			continue
		}
		// A capture shows message content as the app got it, masked as
		// package pan reads card numbers; its request line (method, host,
		// path) as the access line writes it, as a reader sees them.
		if s := huntSpellingsAs(a.b, huntPanReading); len(s) > 0 {
			var at []string
			for _, c := range pan.Find(a.b) {
				at = append(at, pan.MaskLoose(string(a.b[max(0, c.Start-80):min(len(a.b), c.End+20)])))
			}
			t.Errorf("%s holds a card number (%v) at %q", a.what, s, at)
		}
		var doc struct {
			Method, Host, Path string
			Captures           []struct{ Method, Host, Path string }
		}
		json.Unmarshal(a.b, &doc)
		doc.Captures = append(doc.Captures, struct{ Method, Host, Path string }{doc.Method, doc.Host, doc.Path})
		for _, c := range doc.Captures {
			report(a.what+" request line", []byte(c.Method+" "+c.Host+" "+c.Path))
		}
	}
	for i, line := range strings.Split(g.stderr.String(), "\n") {
		report(fmt.Sprintf("log line %d", i+1), []byte(line))
	}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || p == routesFile {
			return err
		}
		b, _ := os.ReadFile(p)
		if strings.HasSuffix(p, ".db") {
			if bytes.Contains(b, []byte(huntPAN)) {
				t.Errorf("%s holds the PAN", p)
			}
			return nil
		}
		for i, line := range bytes.Split(b, []byte("\n")) {
			report(fmt.Sprintf("%s line %d", p, i+1), line)
		}
		return nil
	})
}
