package inspector

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/pan"
	"github.com/aliasgate/aliasgate/proxy"
	"github.com/aliasgate/aliasgate/routes"
	"github.com/aliasgate/aliasgate/routes/rewrite"
)

const (
	pan1 = "4111111111111111"
	pan2 = "5555555555554444"
	amex = "378282246310005"
)

// TestCardsAreFoundInGroupsAndNotInNonCards: the inspector finds card
// numbers with pan.FindString (it used its own finder before issue 17).
func TestCardsAreFoundInGroupsAndNotInNonCards(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"card " + pan1 + " ok", []string{pan1}},
		{"4111 1111 1111 1111", []string{"4111 1111 1111 1111"}},
		{"4111-1111-1111-1111", []string{"4111-1111-1111-1111"}},
		{"3782 822463 10005", []string{"3782 822463 10005"}},
		{"4111 1111 1111 1111 12 29", []string{"4111 1111 1111 1111"}},
		{"4111111111111112", nil},     // Luhn-invalid
		{"41111111111111111111", nil}, // 20 digits: not a card number
		{"4111  1111 1111 1111", nil}, // two separators: not one run
		{"x" + pan1 + "y" + pan2, []string{pan1, pan2}},
		{"5555 5555 5555 4444-" + pan1, []string{"5555 5555 5555 4444", pan1}},
	}
	for _, tt := range tests {
		var got []string
		for _, c := range pan.FindString(tt.in) {
			got = append(got, tt.in[c.Start:c.End])
		}
		if strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("pan.FindString(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestMasksKeepFirstSixAndLastFour(t *testing.T) {
	tests := []struct{ fn, in, want string }{
		{"cards", "pay " + pan1, "pay 411111******1111"},
		{"cards", "4111 1111 1111 1111", "4111 11** **** 1111"},
		{"cards", amex, "378282*****0005"},
		{"cards", "4111.1111.1111.1111", "4111.11**.****.1111"},
		{"cards", "4111\u00a01111\u00a01111\u00a01111", "4111\u00a011**\u00a0****\u00a01111"},
		{"cards", "４１１１１１１１１１１１１１１１", "４１１１１１" + strings.Repeat("***", 6) + "１１１１"},
		{"cards", "q=%34111+1111+1111+1111", "q=%34111+11**+****+1111"},
		{"cards", "&#52;111 1111 1111 1111", "&#52;111 11** **** 1111"},
		{"target", pan1, "411111******1111"},
		{"target", "737", "***"},
		{"target", "tok_live_abc", "************"},
		{"target", "4111-1111-1111-1111", "4111-11**-****-1111"},
		{"all", strings.Repeat("s", 80), strings.Repeat("*", 64) + "…"},
	}
	for _, tt := range tests {
		var got string
		switch tt.fn {
		case "cards":
			got, _ = maskCards(tt.in)
		case "target":
			got = maskTarget(tt.in)
		case "all":
			got = maskAll(tt.in)
		}
		if got != tt.want {
			t.Errorf("%s(%q) = %q, want %q", tt.fn, tt.in, got, tt.want)
		}
	}
}

func TestHints(t *testing.T) {
	tests := []struct{ key, v, want string }{
		{"number", pan1, HintPAN},
		{"number", "4111 1111 1111 1111", HintPAN},
		{"cvc", "737", "cvc3"},
		{"card_cvv2", "4021", "cvc4"},
		{"securityCode", "12a", HintCVC},
		{"client_secret", "x", HintSecret},
		{"zip", "10115", "digits5"},
		{"name", "Ada", HintText},
		{"number", "4111111111111112", "digits16"},
	}
	for _, tt := range tests {
		if got := hintOf(tt.key, tt.v); got != tt.want {
			t.Errorf("hintOf(%q, %q) = %q, want %q", tt.key, tt.v, got, tt.want)
		}
	}
}

// route loads one route document and returns its first route.
func route(t *testing.T, doc string) *routes.Route {
	t.Helper()
	set, err := routes.Parse([]byte(doc), "test.yaml", routes.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return set.Routes[0]
}

const maskRoute = `routes:
  - id: shop
    direction: inbound
    host: "*"
    upstream: http://127.0.0.1:1
    filters:
      - id: card-in
        operation: redact
        targets: [{json: card.number}, {json: "items.#.code"}, {header: X-Secret-Ref}]
      - id: form-in
        operation: redact
        targets: [{form: ref}]
      - id: xml-in
        operation: redact
        targets: [{xml: /pay/ref}]
      - id: tail
        operation: redact
        targets: [{regex: 'ref-(\d+)'}]
`

func TestJSONBodiesAreMaskedInEveryShape(t *testing.T) {
	r := newRules("shop", route(t, maskRoute), routes.Request, nil, false, nil)
	tests := []struct {
		name, in string
		want     []string // substrings of the masked body
	}{
		{"string", `{"card":{"number":"` + pan1 + `"}}`, []string{`"number": "411111******1111"`}},
		{"number", `{"n":` + pan1 + `}`, []string{`"n": "411111******1111"`}},
		{"escaped digit", `{"p":"\u0034111111111111111"}`, []string{`"p": "411111******1111"`}},
		{"escaped all", `{"p":"\u0034\u0031\u0031\u0031111111111111"}`, []string{`"p": "411111******1111"`}},
		{"spaces", `{"note":"card 4111 1111 1111 1111 exp"}`, []string{`card 4111 11** **** 1111 exp`}},
		{"cvc key", `{"cvc":"737","card_cvv2":4021,"SecurityCode":"123"}`, []string{`"cvc": "***"`, `"card_cvv2": "****"`, `"SecurityCode": "***"`}},
		{"targeted key", `{"items":[{"code":"42"},{"code":"7"}]}`, []string{`"code": "**"`, `"code": "*"`}},
		{"secret", `{"password":"hunter2hunter2","client_secret":"abc"}`, []string{`"password": "**************"`, `"client_secret": "***"`}},
		{"card in a key", `{"` + pan1 + `":1}`, []string{`"411111******1111": 1`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := makeView(http.Header{"Content-Type": {"application/json"}}, []byte(tt.in), false, r, viewOptions{limit: 1 << 16, fields: true})
			for _, w := range tt.want {
				if !strings.Contains(v.Body, w) {
					t.Errorf("body %s lacks %s", v.Body, w)
				}
			}
			assertMasked(t, v)
		})
	}
}

// assertMasked fails when a view holds one of the test card numbers or
// CVCs in clear.
func assertMasked(t *testing.T, v *View) {
	t.Helper()
	b, _ := json.Marshal(v.jsonValue())
	for _, s := range []string{pan1, pan2, amex, "4111 1111 1111 1111", "4021", `"737"`, "hunter2", `"42"`} {
		if bytes.Contains(b, []byte(s)) {
			t.Errorf("the view holds %q: %s", s, b)
		}
	}
}

func TestMalformedAndTruncatedJSONIsStillMasked(t *testing.T) {
	r := newRules("shop", route(t, maskRoute), routes.Request, nil, false, nil)
	o := viewOptions{limit: 64, fields: true}
	in := `{"cvc":"737","items":[{"code":"42"}],"card":{"number":"` + pan1 + `"},"more":"` + strings.Repeat("x", 50) + `"}`
	// Malformed: the closing braces are missing.
	v := makeView(http.Header{"Content-Type": {"application/json"}}, []byte(in[:len(in)-60]), false, r, o)
	assertMasked(t, v)
	if !strings.Contains(v.Body, `"cvc":"***"`) || !strings.Contains(v.Body, `411111******1111`) {
		t.Errorf("malformed body: %s", v.Body)
	}
	// Truncated in the middle of the card number: the cut digits go.
	cut := strings.Index(in, pan1) + 9
	v = makeView(http.Header{"Content-Type": {"application/json"}}, []byte(in[:cut]), true, r, o)
	if !v.Truncated || strings.Contains(v.Body, "411111111") || !strings.HasSuffix(v.Body, `"number":""`) {
		t.Errorf("truncated body: %+v", v)
	}
}

func TestSentViewsShowAliasesOfAppliedRedactFilters(t *testing.T) {
	rt := route(t, maskRoute)
	alias := "4111113072521171" // Luhn-valid, as FPE aliases are
	body := `{"card":{"number":"` + alias + `"},"other":"` + alias + `"}`
	sent := newRules("shop", rt, routes.Request, map[string]bool{"card-in": true}, true, map[string]bool{alias: true})
	v := makeView(http.Header{"Content-Type": {"application/json"}}, []byte(body), false, sent, viewOptions{limit: 1 << 16})
	if !strings.Contains(v.Body, `"number": "`+alias+`"`) || !strings.Contains(v.Body, `"other": "411111******1171"`) {
		t.Errorf("sent view: %s", v.Body)
	}
	// A filter that did not apply (on_error: pass) left the value: masked.
	notApplied := newRules("shop", rt, routes.Request, map[string]bool{}, true, map[string]bool{alias: true})
	v = makeView(http.Header{"Content-Type": {"application/json"}}, []byte(body), false, notApplied, viewOptions{limit: 1 << 16})
	if strings.Contains(v.Body, alias) {
		t.Errorf("a value of a filter that did not apply is shown: %s", v.Body)
	}
	// A filter that applied, but a value at its target that no redaction
	// made (a query target that did not select it): masked as a target.
	madeNothing := newRules("shop", rt, routes.Request, map[string]bool{"card-in": true}, true, nil)
	v = makeView(http.Header{"Content-Type": {"application/json"}}, []byte(`{"card":{"number":"`+pan2+`"}}`), false, madeNothing, viewOptions{limit: 1 << 16})
	if strings.Contains(v.Body, pan2) || !strings.Contains(v.Body, `"number": "555555******4444"`) {
		t.Errorf("a value no redaction made is shown at a kept target: %s", v.Body)
	}
}

func TestOtherBodiesAndHeadersAreMasked(t *testing.T) {
	r := newRules("shop", route(t, maskRoute), routes.Request, nil, false, nil)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(`{"pan":"` + pan2 + `","cvc":"737"}`))
	zw.Close()
	tests := []struct {
		name   string
		header http.Header
		body   string
		want   []string
	}{
		{"form", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}},
			"n=%34111111111111111&s=5555+5555+5555+4444&cvv=737&ref=42&ok=1",
			[]string{"n=411111******1111", "s=5555+55**+****+4444", "cvv=***", "ref=**", "ok=1"}},
		{"multipart", http.Header{"Content-Type": {"multipart/form-data; boundary=b"}},
			"--b\r\nContent-Disposition: form-data; name=\"pan\"\r\n\r\n" + pan1 + "\r\n--b\r\nContent-Disposition: form-data; name=\"cvc\"\r\n\r\n737\r\n--b--\r\n",
			[]string{"411111******1111", "\r\n***\r\n"}},
		// A boundary is the client's text like any other: a card-like run
		// in it (multipart.NewWriter's 60 random hex characters hold one
		// now and then) is masked in the delimiters as in the header.
		{"multipart with a card number in its boundary", http.Header{"Content-Type": {"multipart/form-data; boundary=ef" + pan1 + "ab"}},
			"--ef" + pan1 + "ab\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nabc\r\n--ef" + pan1 + "ab--\r\n",
			[]string{"--ef411111******1111ab\r\n", "\r\nabc\r\n", "--ef411111******1111ab--", "boundary=ef411111******1111ab"}},
		{"xml", http.Header{"Content-Type": {"application/xml"}},
			"<pay><pan>" + pan1 + "</pan><cvv2>737</cvv2><ref>42</ref></pay>",
			[]string{"<pan>411111******1111</pan>", "<cvv2>***</cvv2>", "<ref>**</ref>"}},
		{"text and regex target", http.Header{"Content-Type": {"text/plain"}},
			"ref-42 card 4111-1111-1111-1111", []string{"ref-** card 4111-11**-****-1111"}},
		{"gzip", http.Header{"Content-Type": {"application/json"}, "Content-Encoding": {"gzip"}},
			gz.String(), []string{`"pan": "555555******4444"`, `"cvc": "***"`}},
		{"headers", http.Header{"Authorization": {"Bearer s3cr3t-4021"}, "Cookie": {"sid=abc; pan=" + pan1},
			"X-Card": {"4111 1111 1111 1111"}, "X-Secret-Ref": {"42"}, "X-Cvc": {"737"}}, "",
			[]string{`Bearer ***********`, `sid=***; pan=****************`, `4111 11** **** 1111`, `"X-Secret-Ref","value":"**"`, `"X-Cvc","value":"***"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := makeView(tt.header, []byte(tt.body), false, r, viewOptions{limit: 1 << 16, fields: true})
			b, _ := json.Marshal(v)
			for _, w := range tt.want {
				if !strings.Contains(v.Body, w) && !strings.Contains(string(b), w) {
					t.Errorf("view lacks %q: %s", w, b)
				}
			}
			assertMasked(t, v)
		})
	}
}

func TestBodiesThatCannotBeMaskedAreWithheld(t *testing.T) {
	r := newRules("shop", route(t, maskRoute), routes.Request, nil, false, nil)
	tests := []struct {
		name   string
		header http.Header
		body   string
		rules  *rules
	}{
		{"brotli", http.Header{"Content-Encoding": {"br"}}, "\x1b\x03" + pan1, r},
		{"bad gzip", http.Header{"Content-Encoding": {"gzip"}}, pan1, r},
		{"binary", http.Header{"Content-Type": {"application/octet-stream"}}, "\x00\x01" + pan1, r},
		{"malformed xml with targets", http.Header{"Content-Type": {"application/xml"}}, "<pay><ref>42</ref", r},
		{"broken multipart", http.Header{"Content-Type": {"multipart/form-data; boundary=b"}}, "--b\r\nContent-Disposition: form-data; name=\"cvc\"\r\n\r\n737", r},
		{"vault API", http.Header{"Content-Type": {"application/json"}}, `{"data":[{"value":"737"}]}`, newRules("internal:aliases", nil, routes.Request, nil, false, nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := makeView(tt.header, []byte(tt.body), false, tt.rules, viewOptions{limit: 1 << 16})
			if v.Body != "" || v.BodyKind != "withheld" || v.Note == "" {
				t.Errorf("view = %+v, want the body withheld with a note", v)
			}
			assertMasked(t, v)
		})
	}
}

func TestFieldsCarryGjsonPathsAndOffsets(t *testing.T) {
	r := newRules("", nil, routes.Request, nil, false, nil)
	body := `{"card":{"number":"` + pan1 + `"},"items":[{"cvc":"737"}],"a.b":{"c*":1}}`
	v := makeView(http.Header{"Content-Type": {"application/json"}, "X-Ref": {"r1"}}, []byte(body), false, r, viewOptions{limit: 1 << 16, fields: true})
	want := map[string][2]string{ // path -> pattern, value
		"card.number": {"card.number", `"411111******1111"`},
		"items.0.cvc": {"items.#.cvc", `"***"`},
		`a\.b.c\*`:    {`a\.b.c\*`, `1`},
		"X-Ref":       {"X-Ref", ""},
	}
	seen := 0
	for _, f := range v.Fields {
		w, ok := want[f.Path]
		if !ok {
			t.Errorf("unexpected field %+v", f)
			continue
		}
		seen++
		if f.Pattern != w[0] {
			t.Errorf("%s: pattern %q, want %q", f.Path, f.Pattern, w[0])
		}
		if f.Kind != "header" && v.Body[f.start:f.end] != w[1] {
			t.Errorf("%s: offsets select %q, want %q", f.Path, v.Body[f.start:f.end], w[1])
		}
	}
	if seen != len(want) {
		t.Errorf("%d of %d fields", seen, len(want))
	}
	// The parts the API sends rebuild the body.
	var joined strings.Builder
	for _, p := range v.jsonValue().Parts {
		joined.WriteString(p.Text)
	}
	if joined.String() != v.Body {
		t.Errorf("parts rebuild %q, want %q", joined.String(), v.Body)
	}
}

// TestQueryTargetsAreMasked: a JSON target with a gjson query masks every
// value the query could select (its condition is not evaluated: masking
// more is safe), and the condition's dots do not split the path.
func TestQueryTargetsAreMasked(t *testing.T) {
	const doc = `routes:
  - id: pay
    direction: inbound
    host: "*"
    upstream: http://127.0.0.1:1
    filters:
      - id: q
        operation: redact
        targets: [{json: 'payments.#(kind.name=="card")#.ref'}, {json: 'lines.#(t=="c").code'}]
`
	r := newRules("pay", route(t, doc), routes.Request, nil, false, nil)
	in := `{"payments":[{"kind":{"name":"card"},"ref":"42"},{"kind":{"name":"gift"},"ref":"hunter2"}],"lines":[{"t":"d","code":"737"}],"keep":"visible"}`
	v := makeView(http.Header{"Content-Type": {"application/json"}}, []byte(in), false, r, viewOptions{limit: 1 << 16, fields: true})
	for _, w := range []string{`"ref": "**"`, `"ref": "*******"`, `"code": "***"`, `"keep": "visible"`} {
		if !strings.Contains(v.Body, w) {
			t.Errorf("body %s lacks %s", v.Body, w)
		}
	}
	assertMasked(t, v)
}

// TestCryptogramsAreMaskedWhole: a payment cryptogram is card data: under
// a key that names one (cryptogram, CAVV, TAVV, UCAF, authentication
// value), or inside an object so named (the Card Management API's
// {"cryptogram":{"value":…}}), in JSON, forms, XML and headers, it is
// masked whole; so is a CVC inside an object named like one.
func TestCryptogramsAreMaskedWhole(t *testing.T) {
	r := newRules("shop", nil, routes.Request, nil, false, nil)
	const c = "AgAAAAAABk4DWZ4C28yUQAAAAAA="
	tests := []struct {
		name   string
		header http.Header
		body   string
	}{
		{"json answer", http.Header{"Content-Type": {"application/json"}},
			`{"data":{"attributes":{"cryptogram":{"eci":"07","type":"TAVV","value":"` + c + `"}}}}`},
		{"json keys", http.Header{"Content-Type": {"application/json"}},
			`{"cavv":"` + c + `","three_ds":{"authentication_value":"` + c + `"},"tokenCryptogram":["` + c + `"]}`},
		{"json cvc object", http.Header{"Content-Type": {"application/json"}}, `{"cvc":{"value":"8316"},"c":"` + c + `"}`},
		{"form", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, "tavv=" + c + "&ucaf=" + c},
		{"xml", http.Header{"Content-Type": {"application/xml"}}, "<pay><cryptogram>" + c + "</cryptogram></pay>"},
		{"header", http.Header{"X-Cryptogram": {c}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := makeView(tt.header, []byte(tt.body), false, r, viewOptions{limit: 1 << 16, fields: true})
			b, _ := json.Marshal(v)
			if tt.name == "json cvc object" {
				if strings.Contains(string(b), "8316") {
					t.Errorf("the CVC is shown: %s", b)
				}
				return
			}
			if strings.Contains(string(b), c) || strings.Contains(string(b), c[:12]) {
				t.Errorf("the cryptogram is shown: %s", b)
			}
		})
	}
}

// TestExchangeSecretsAreMaskedInEveryView: a value the exchange put on the
// wire that no other mask finds (proxy.Exchange.Secrets: a network_token
// filter's cryptogram) is masked wherever a view shows it: the free text
// of a processor's answer, a header, as written or in another spelling.
func TestExchangeSecretsAreMaskedInEveryView(t *testing.T) {
	insp, err := New(Options{Token: token, Size: 4, Table: routes.NewTable(nil),
		PreviewTokenizer: func(context.Context) (rewrite.Tokenizer, func(), error) { return &fakeTok{}, func() {}, nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer insp.Close()
	const c = "uoDdfwzl+r/l9Jl3BxbErg=="
	answer := proxy.Snapshot{Seen: true, Header: http.Header{"Content-Type": {"application/json"}, "X-Declined": {c}},
		Body: []byte(`{"detail":"cryptogram ` + c + ` failed","escaped":"uoDdfwzl+r\/l9Jl3BxbErg==","q":"uoDdfwzl%2Br%2Fl9Jl3BxbErg%3D%3D"}`)}
	insp.Capture(&proxy.Exchange{Direction: routes.Outbound, Start: time.Now(), Method: "POST", Host: "psp", Path: "/pay",
		RouteName: "-", Status: 402, Secrets: []string{c},
		Request:  proxy.Passage{Sent: proxy.Snapshot{Seen: true, Header: http.Header{"Content-Type": {"text/plain"}}, Body: []byte("pay " + c)}},
		Response: proxy.Passage{Received: answer, Sent: answer}})
	e, ok := insp.Buffer().Get(insp.Buffer().List(1)[0].ID)
	if !ok {
		t.Fatal("no entry")
	}
	b, _ := json.Marshal(e)
	for _, sp := range []string{"uoDdfwzl", "l9Jl3BxbErg"} {
		if strings.Contains(string(b), sp) {
			t.Errorf("the entry shows %q: %s", sp, b)
		}
	}
}

// TestCVCInTextIsMaskedThroughInvisibleCharacters: a CVC written after its
// name in free text was masked only when nothing came between its digits
// and in its name: "CVV: 7<U+200B>37" or "c<U+200B>vc 737", which read as
// the CVC on any screen, were shown in clear. The text is read without
// the characters shown as nothing (pan.Invisible).
func TestCVCInTextIsMaskedThroughInvisibleCharacters(t *testing.T) {
	r := newRules("shop", route(t, maskRoute), routes.Request, nil, false, nil)
	for _, body := range []string{
		"CVV: 7\u200b37 thanks", "cvc 4\u200e021.", "security code: 73\u00ad7", "c\u200bv\u200bc: 737",
		"CVV:\u2060 737", "cvv\ufe0f 7\U000e00203\u200d7", "note \ufffd cvc: 7\u200b37 \ufffd",
	} {
		v := makeView(http.Header{"Content-Type": {"text/plain"}}, []byte(body), false, r, viewOptions{limit: 1 << 16})
		shown := strings.Map(func(r rune) rune {
			if pan.Invisible(r) {
				return -1
			}
			return r
		}, v.Body)
		if strings.Contains(shown, "737") || strings.Contains(shown, "4021") {
			t.Errorf("%+q shown as %+q", body, v.Body)
		}
	}
}

// TestCVCInTextIsMaskedThroughEscapedInvisibleCharacters: an invisible
// character written as an escape the card-number finder reads (an HTML or
// XML character reference, a JSON escape, percent-encoding) between a CVC's
// digits is read as nothing too: "CVV: 7&#x200b;37" is "CVV: 737" in a
// browser and to anyone reading the capture.
func TestCVCInTextIsMaskedThroughEscapedInvisibleCharacters(t *testing.T) {
	r := newRules("shop", route(t, maskRoute), routes.Request, nil, false, nil)
	unescape := strings.NewReplacer("&#x200b;", "", "&#8203;", "", "&#X200E;", "", `\u200b`, "", `\udb40\udc20`, "", "%E2%80%8B", "", "%e2%80%8e", "")
	for _, tt := range []struct{ ct, body string }{
		{"text/html", "<p>CVV: 7&#x200b;37</p>"},
		{"text/html", "<p>cvc 7&#8203;3&#X200E;7</p>"},
		{"application/xml", "<n>CVV: 7&#x200b;37</n>"},
		{"text/plain", `note: security code 7\u200b37`},
		{"text/plain", `cvv: 73\udb40\udc207`},
		{"text/plain", "q=cvc%3A+7%E2%80%8B3%e2%80%8e7"},
	} {
		v := makeView(http.Header{"Content-Type": {tt.ct}}, []byte(tt.body), false, r, viewOptions{limit: 1 << 16})
		if shown := unescape.Replace(v.Body); strings.Contains(shown, "737") {
			t.Errorf("%s %+q shown as %+q", tt.ct, tt.body, v.Body)
		}
	}
}
