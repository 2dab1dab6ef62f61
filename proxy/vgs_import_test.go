package proxy

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/routes"
	"github.com/aliasgate/aliasgate/routes/vgs"
	"github.com/aliasgate/aliasgate/vault"
)

// importVGS converts a VGS export from routes/vgs/testdata, with its
// upstream (from) pointed at up, as `aliasgate routes import-vgs` does,
// and loads the result as the aliasgate command does.
func importVGS(t *testing.T, file, from, up string) (*routes.Set, vgs.Report) {
	t.Helper()
	src, err := os.ReadFile("../routes/vgs/testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(src, []byte(from)) {
		t.Fatalf("%s does not name %s", file, from)
	}
	out, rep, err := vgs.Convert(bytes.ReplaceAll(src, []byte(from), []byte(up)))
	if err != nil {
		t.Fatal(err)
	}
	set, err := routes.Parse(out, file, routes.Options{CheckFormat: func(f string) error {
		_, err := vault.ParseFormat(f)
		return err
	}})
	if err != nil {
		t.Fatalf("the converted routes do not load: %v\n%s", err, out)
	}
	return set, rep
}

// A REGEX entry imported from VGS finds what Java's engine finds: '.'
// stops at a carriage return (and U+0085, U+2028, U+2029), so a CRLF text
// body keeps its line ends and only the card number becomes an alias; '$'
// matches before a final line end ((?m): before every line end); a
// (?U) pattern (Unicode classes in Java, lazy quantifiers in RE2) is not
// imported at all rather than aliasing one digit and passing the rest.
func TestImportedVGSRegexMatchesAsJava(t *testing.T) {
	up := newUpstream(t, nil)
	set, rep := importVGS(t, "java-regex-text.yaml", "https://legacy.example-shop.test", up.URL)
	g := newGateway(t, set, nil, gwOptions{})

	body := "ORDER 17\r\nPAN: " + testPAN + "\r\nEXP: 12/30\r\n"
	resp, _ := g.do(t, "POST", "/legacy/order", "text/plain", strings.NewReader(body), nil)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("plain-text order: status %d", resp.StatusCode)
	}
	var got string
	if r := up.requests(); len(r) > 0 {
		got = string(r[len(r)-1].Body)
	}
	want := regexp.MustCompile(`^ORDER 17\r\nPAN: 411111[0-9]{6}1111\r\nEXP: 12/30\r\n$`)
	if !want.MatchString(got) || strings.Contains(got, testPAN) {
		t.Errorf("upstream got %q; want the PAN alone as a six-four alias, line ends kept", got)
	}

	// Java's '$' matches before the line end that ends the body, and in
	// (?m) mode before every CRLF: the card numbers become aliases, the
	// line ends stay.
	for _, tt := range []struct{ path, body, want string }{
		{"/legacy/line", "card=" + testPAN + "\n", `^card=411111[0-9]{6}1111\n$`},
		{"/legacy/batch", "BATCH 2\r\nPAN: " + testPAN + "\r\nPAN: " + testPAN2 + "\r\n", `^BATCH 2\r\nPAN: 411111[0-9]{6}1111\r\nPAN: 555555[0-9]{6}4444\r\n$`},
	} {
		resp, _ := g.do(t, "POST", tt.path, "text/plain", strings.NewReader(tt.body), nil)
		got := string(up.last(t).Body)
		if resp.StatusCode != http.StatusOK || !regexp.MustCompile(tt.want).MatchString(got) || strings.Contains(got, testPAN) || strings.Contains(got, testPAN2) {
			t.Errorf("%s: status %d, upstream got %q; want %s", tt.path, resp.StatusCode, got, tt.want)
		}
	}

	// (?U): Java reads \d+ greedy (Unicode digits); RE2 would read it lazy
	// and alias "4" only. The entry must be reported, never applied so.
	found := false
	for _, it := range rep.Items {
		if it.Entry == "7c1d0e55-8f2a-4d3b-b6c8-9e0a1b2c3d4e" && strings.Contains(it.Reason, "(?U)") {
			found = true
		}
	}
	if !found {
		t.Errorf("the (?U) entry is not reported:\n%s", rep)
	}
	n := len(up.requests())
	resp, _ = g.do(t, "POST", "/legacy/unicode", "application/x-www-form-urlencoded", strings.NewReader("card="+testPAN), nil)
	if len(up.requests()) > n {
		if b := string(up.last(t).Body); strings.Contains(b, testPAN[1:]) {
			t.Fatalf("status %d: upstream got %q: the card number's digits after the first passed in clear", resp.StatusCode, b)
		}
	}
}

// A JSONPath member whose name is digits ($.cards.0, $['saved']['1'])
// names an object member only, never an array element: an imported reveal
// gives the client the card number under {"cards":{"0":…}} as VGS does,
// and leaves the alias under {"cards":[…]}, where VGS finds nothing.
func TestImportedVGSDigitMembersAreKeysOnly(t *testing.T) {
	var reply string
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, reply)
	})
	set, _ := importVGS(t, "json-digit-keys.yaml", "https://wallet.example-shop.test", up.URL)
	g := newGateway(t, set, nil, gwOptions{})
	panA, _ := aliases(t, g.vault)
	for _, tt := range []struct {
		name, reply string
		revealed    bool
	}{
		{"member 0", `{"cards":{"0":{"number":"` + panA + `"}}}`, true},
		{"member 1", `{"saved":{"1":{"number":"` + panA + `"}}}`, true},
		{"element 0", `{"cards":[{"number":"` + panA + `"}]}`, false},
		{"element 1", `{"saved":[{"number":"x"},{"number":"` + panA + `"}]}`, false},
	} {
		reply = tt.reply
		resp, body := g.do(t, "GET", "/wallet", "", nil, nil)
		want := strings.ReplaceAll(tt.reply, panA, testPAN)
		if !tt.revealed {
			want = tt.reply
		}
		if resp.StatusCode != http.StatusOK || string(body) != want {
			t.Errorf("%s: status %d, client got %s; want %s", tt.name, resp.StatusCode, body, want)
		}
	}
}
