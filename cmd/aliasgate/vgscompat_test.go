package main

import (
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aliasgate/aliasgate/internal/pan"
)

// vgsGateway starts a gateway with the vault API and returns a vgsClient
// of a client holding both alias scopes, and one of a client that may
// only write.
func vgsGateway(t *testing.T, extra map[string]string) (*gatewayProc, *vgsClient, *vgsClient) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	env := testEnv(extra)
	both := createClient(t, env, dir, "--name", "vgs", "--account", "acct_vgs", "--scopes", "aliases:write,aliases:reveal")
	writer := createClient(t, env, dir, "--name", "w", "--account", "acct_vgs", "--scopes", "aliases:write")
	g := startGateway(t, env, "--data-dir", dir, "--enable-vault-api")
	return g, &vgsClient{base: g.inbound, user: both.ID, pass: both.Secret, hc: http.DefaultClient},
		&vgsClient{base: g.inbound, user: writer.ID, pass: writer.Secret, hc: http.DefaultClient}
}

// statusOf returns the HTTP status of a vgsStatusError, or fails.
func statusOf(t *testing.T, what string, err error) (int, vgsAPIError) {
	t.Helper()
	var se vgsStatusError
	if !errors.As(err, &se) {
		t.Fatalf("%s: %v, want an ApiErrorsResponse", what, err)
	}
	return se.Status, se.Errors[0]
}

// TestVGSSpecExamples replays the examples of VGS's api.yaml (requests and
// responses) against a real gateway and compares shapes and status codes.
func TestVGSSpecExamples(t *testing.T) {
	g, c, _ := vgsGateway(t, nil)

	// info.description, "Errors": too many aliases at once, to the byte
	// (href is the request URL: this gateway's).
	items := make([]map[string]any, 21)
	for i := range items {
		items[i] = map[string]any{"value": "v", "format": "UUID"}
	}
	_, r, err := c.CreateAliases(items)
	if status, e := statusOf(t, "21 values", err); status != 400 || len(r.Errors) != 1 ||
		e != (vgsAPIError{Status: 400, Title: "Bad request", Detail: "Too many values (limit: 20)", Href: g.inbound + "/aliases"}) {
		t.Fatalf("21 values: %d %s", status, r.Body)
	}

	// createAliases example A: the value is a JSON number.
	a, _, err := c.CreateAliases([]map[string]any{{"value": 122105155, "classifiers": []string{"bank-account"}, "format": "UUID", "storage": "PERSISTENT"}})
	if err != nil {
		t.Fatal(err)
	}
	uuidRE := regexp.MustCompile(`^tok_sandbox_[1-9A-HJ-NP-Za-km-z]{22}$`)
	if len(a) != 1 || a[0].Value != "122105155" || !slices.Equal(a[0].Classifiers, []string{"bank-account"}) || a[0].Storage != "PERSISTENT" ||
		len(a[0].Aliases) != 1 || !uuidRE.MatchString(a[0].Aliases[0].Alias) || *a[0].Aliases[0].Format != "UUID" || a[0].CreatedAt == nil {
		t.Fatalf("example A: %+v", a)
	}
	// Example B: reference the alias of A for a RAW_UUID alias.
	b, _, err := c.CreateAliases([]map[string]any{{"alias": a[0].Aliases[0].Alias, "format": "RAW_UUID", "storage": "PERSISTENT"}})
	if err != nil {
		t.Fatal(err)
	}
	if b[0].Value != "122105155" || len(b[0].Aliases) != 2 || *b[0].Aliases[0].Format != "RAW_UUID" ||
		b[0].Aliases[1].Alias != a[0].Aliases[0].Alias || !slices.Equal(b[0].Classifiers, []string{"bank-account"}) {
		t.Fatalf("example B: %+v", b)
	}
	// The cURL sample of createAliases.
	v, _, err := c.CreateAliases([]map[string]any{{"value": "test@example.com", "classifiers": []string{"email_address"}, "format": "UUID", "storage": "VOLATILE"}})
	if err != nil || v[0].Storage != "VOLATILE" || v[0].Value != "test@example.com" {
		t.Fatalf("cURL sample: %+v %v", v, err)
	}

	// revealMultipleAliases: the example answer's two volatile
	// bank-account values, under q (v1.0.0) and aliases (newer).
	two, _, err := c.CreateAliases([]map[string]any{
		{"value": "476673481", "classifiers": []string{"bank-account"}, "format": "UUID", "storage": "VOLATILE"},
		{"value": "750360025", "classifiers": []string{"bank-account"}, "format": "UUID", "storage": "VOLATILE"},
	})
	if err != nil {
		t.Fatal(err)
	}
	names := []string{two[0].Aliases[0].Alias, two[1].Aliases[0].Alias}
	for _, param := range []string{"q", "aliases"} {
		got, _, err := c.RevealMultipleAliases(param, names, "")
		if err != nil {
			t.Fatalf("reveal multiple (%s): %v", param, err)
		}
		for i, want := range []string{"476673481", "750360025"} {
			d, ok := got[names[i]]
			if !ok || d.Value != want || !slices.Equal(d.Classifiers, []string{"bank-account"}) || d.Storage != "VOLATILE" ||
				len(d.Aliases) != 1 || d.Aliases[0].Alias != names[i] || *d.Aliases[0].Format != "UUID" {
				t.Fatalf("reveal multiple (%s) %s: %+v", param, names[i], got)
			}
		}
	}

	// revealAlias, updateAlias (the cURL sample's classifiers), deleteAlias
	// with the storage parameter of the newer samples.
	one, _, err := c.RevealAlias(a[0].Aliases[0].Alias, "PERSISTENT")
	if err != nil || one.Value != "122105155" {
		t.Fatalf("reveal: %+v %v", one, err)
	}
	if _, err := c.UpdateAlias(a[0].Aliases[0].Alias, []string{"credit-cards", "PII"}); err != nil {
		t.Fatal(err)
	}
	if one, _, err = c.RevealAlias(b[0].Aliases[0].Alias, ""); err != nil || !slices.Equal(one.Classifiers, []string{"credit-cards", "PII"}) {
		t.Fatalf("after update, the value's other alias: %+v %v", one, err)
	}
	if _, err := c.DeleteAlias(a[0].Aliases[0].Alias, "PERSISTENT"); err != nil {
		t.Fatal(err)
	}
	_, _, err = c.RevealAlias(a[0].Aliases[0].Alias, "")
	if status, _ := statusOf(t, "reveal after delete", err); status != 404 {
		t.Fatalf("reveal after delete: %d", status)
	}
	// deleteAliases' cURL sample: {"storage":"VOLATILE","data":[alias]}.
	if _, err := c.DeleteAliases([]string{v[0].Aliases[0].Alias}, "VOLATILE"); err != nil {
		t.Fatal(err)
	}
	_, _, err = c.RevealAlias(v[0].Aliases[0].Alias, "")
	if status, _ := statusOf(t, "reveal after batch delete", err); status != 404 {
		t.Fatalf("reveal after batch delete: %d", status)
	}
}

// TestVGSClientEveryOperationAndError drives every operation of the spec
// through the hand-written client, with each error the spec's
// ApiErrorsResponse covers for it: 401 (wrong credentials), 403 (a scope
// the client lacks), 404 (unknown alias) and 400 (a request the API
// refuses).
func TestVGSClientEveryOperationAndError(t *testing.T) {
	g, c, writer := vgsGateway(t, nil)
	bad := &vgsClient{base: g.inbound, user: c.user, pass: c.pass + "x", hc: http.DefaultClient}
	made, _, err := c.CreateAliases([]map[string]any{{"value": "4111111111111111", "format": "FPE_SIX_T_FOUR"}})
	if err != nil {
		t.Fatal(err)
	}
	alias := made[0].Aliases[0].Alias
	ops := []struct {
		name string
		call func(*vgsClient) error
	}{
		{"createAliases", func(c *vgsClient) error {
			_, _, err := c.CreateAliases([]map[string]any{{"value": "x", "format": "UUID"}})
			return err
		}},
		{"revealMultipleAliases", func(c *vgsClient) error { _, _, err := c.RevealMultipleAliases("q", []string{alias}, ""); return err }},
		{"revealAlias", func(c *vgsClient) error { _, _, err := c.RevealAlias(alias, ""); return err }},
		{"updateAlias", func(c *vgsClient) error { _, err := c.UpdateAlias(alias, []string{"pan"}); return err }},
		{"deleteAliases", func(c *vgsClient) error { _, err := c.DeleteAliases([]string{"tok_sandbox_none"}, ""); return err }},
		{"deleteAlias", func(c *vgsClient) error { _, err := c.DeleteAlias("tok_sandbox_none", ""); return err }},
	}
	for _, op := range ops {
		if status, e := statusOf(t, op.name+" with a wrong password", op.call(bad)); status != 401 || e.Title != "Unauthorized" {
			t.Errorf("%s with a wrong password: %d %+v", op.name, status, e)
		}
	}
	for _, op := range ops[1:3] {
		if status, _ := statusOf(t, op.name+" without the reveal scope", op.call(writer)); status != 403 {
			t.Errorf("%s without the reveal scope: %d", op.name, status)
		}
	}
	for _, op := range ops[:4] {
		if err := op.call(c); err != nil {
			t.Errorf("%s: %v", op.name, err)
		}
	}
	errs := []struct {
		name   string
		call   func() error
		status int
	}{
		{"deleteAliases of unknown aliases", func() error { return ops[4].call(c) }, 404},
		{"deleteAlias of an unknown alias", func() error { return ops[5].call(c) }, 404},
		{"revealAlias of an unknown alias", func() error { _, _, err := c.RevealAlias("tok_sandbox_none", ""); return err }, 404},
		{"revealMultipleAliases of unknown aliases", func() error {
			_, _, err := c.RevealMultipleAliases("aliases", []string{"tok_sandbox_a", "tok_sandbox_b"}, "")
			return err
		}, 404},
		{"updateAlias of an unknown alias", func() error { _, err := c.UpdateAlias("tok_sandbox_none", []string{"x"}); return err }, 404},
		{"createAliases without a value", func() error { _, _, err := c.CreateAliases([]map[string]any{{"format": "UUID"}}); return err }, 400},
		{"createAliases of a CUSTOM format", func() error {
			_, _, err := c.CreateAliases([]map[string]any{{"value": "x", "format": "CUSTOM"}})
			return err
		}, 400},
		{"createAliases of a JS format", func() error {
			_, _, err := c.CreateAliases([]map[string]any{{"value": "x", "format": "JS"}})
			return err
		}, 400},
		{"createAliases referencing an alias twice", func() error {
			_, _, err := c.CreateAliases([]map[string]any{{"alias": alias, "format": "UUID"}, {"alias": alias, "format": "PFPT"}})
			return err
		}, 400},
		{"revealMultipleAliases of nothing", func() error { _, _, err := c.RevealMultipleAliases("q", nil, ""); return err }, 400},
		{"revealAlias with a bad storage", func() error { _, _, err := c.RevealAlias(alias, "DISK"); return err }, 400},
		{"updateAlias without classifiers", func() error { _, err := c.UpdateAlias(alias, nil); return err }, 400},
		{"deleteAlias with a bad storage", func() error { _, err := c.DeleteAlias(alias, "DISK"); return err }, 400},
		{"deleteAliases of 21", func() error { _, err := c.DeleteAliases(make([]string, 21), ""); return err }, 400},
	}
	for _, tt := range errs {
		status, e := statusOf(t, tt.name, tt.call())
		if status != tt.status || e.Href == "" || e.Title == "" || e.Detail == "" {
			t.Errorf("%s: %d %+v, want %d", tt.name, status, e, tt.status)
		}
	}
	// ?q= with an empty list: the error names q, the parameter sent.
	_, r, err := c.RevealMultipleAliases("q", []string{""}, "")
	if status, _ := statusOf(t, "empty q", err); status != 400 || !strings.Contains(string(r.Body), `"parameter":"q"`) || strings.Contains(string(r.Body), `"aliases"`) {
		t.Fatalf("empty q: %d %s", status, r.Body)
	}
	// The alias is still there: nothing above removed it.
	if _, _, err := c.RevealAlias(alias, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteAliases([]string{alias, "tok_sandbox_none"}, "PERSISTENT"); err != nil {
		t.Fatalf("batch delete of one known alias: %v", err)
	}
}

// TestVGSEveryAliasFormat creates an alias of every format of the spec's
// table through the client and checks its shape; CUSTOM and JS are refused.
func TestVGSEveryAliasFormat(t *testing.T) {
	_, c, _ := vgsGateway(t, nil)
	base58 := `[1-9A-HJ-NP-Za-km-z]`
	tests := []struct {
		format, value string
		shape         *regexp.Regexp
		luhn          int // 1: Luhn-valid, -1: never, 0: no promise
	}{
		{"UUID", "4111111111111111", regexp.MustCompile(`^tok_sandbox_` + base58 + `{22}$`), 0},
		{"NUM_LENGTH_PRESERVING", "5551234567", regexp.MustCompile(`^[1-9][0-9]{9}$`), 0},
		{"FPE_SIX_T_FOUR", "4111111111111111", regexp.MustCompile(`^411111[0-9]{6}1111$`), 1},
		{"FPE_T_FOUR", "4111111111111111", regexp.MustCompile(`^[1-9][0-9]{11}1111$`), 1},
		{"PFPT", "4111111111111111", regexp.MustCompile(`^991[0-9]{12}1111$`), 1},
		{"NON_LUHN_FPE_ALPHANUMERIC", "5454545454545454", regexp.MustCompile(`^[1-9][0-9]{15}$`), -1},
		{"FPE_SSN_T_FOUR", "078-05-1120", regexp.MustCompile(`^[0-8][0-9]{2}-[0-9]{2}-1120$`), 0},
		{"FPE_ACC_NUM_T_FOUR", "122105155", regexp.MustCompile(`^[1-9][0-9]{4}5155$`), 0},
		{"FPE_ALPHANUMERIC_ACC_NUM_T_FOUR", "GB29NWBK60161331926819", regexp.MustCompile(`^[0-9A-Za-z]{18}6819$`), 0},
		{"GENERIC_T_FOUR", "4111111111111111", regexp.MustCompile(`^tok_sandbox_` + base58 + `{22}_1111$`), 0},
		{"RAW_UUID", "4111111111111111", regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`), 0},
		{"ALPHANUMERIC_SIX_T_FOUR", "4111111111111111", regexp.MustCompile(`^411111[0-9A-Za-z]{9}1111$`), -1},
		{"VGS_FIXED_LEN_GENERIC", "12312345", regexp.MustCompile(`^vgs` + base58 + `{26}$`), 0},
	}
	var items []map[string]any
	for _, tt := range tests {
		items = append(items, map[string]any{"value": tt.value, "format": tt.format, "storage": "PERSISTENT"})
	}
	got, _, err := c.CreateAliases(items)
	if err != nil {
		t.Fatal(err)
	}
	again, _, err := c.CreateAliases(items)
	if err != nil {
		t.Fatal(err)
	}
	for i, tt := range tests {
		a := got[i].Aliases[0]
		if *a.Format != tt.format || !tt.shape.MatchString(a.Alias) || a.Alias == tt.value ||
			tt.luhn == 1 && !pan.Valid(a.Alias) || tt.luhn == -1 && pan.Valid(a.Alias) {
			t.Errorf("%s: alias %q of %q", tt.format, a.Alias, tt.value)
		}
		if again[i].Aliases[0].Alias != a.Alias {
			t.Errorf("%s: a persistent value got a second alias", tt.format)
		}
		if r, _, err := c.RevealAlias(a.Alias, ""); err != nil || r.Value != tt.value {
			t.Errorf("%s: reveal %q %v", tt.format, r.Value, err)
		}
	}
	for _, f := range []string{"CUSTOM", "JS"} {
		_, _, err := c.CreateAliases([]map[string]any{{"value": "x", "format": f}})
		if status, e := statusOf(t, f, err); status != 400 || !strings.Contains(e.Detail, f) {
			t.Errorf("%s: %d %+v", f, status, e)
		}
	}
}

// TestVGSClassifiersAndNumbers: classifiers with spaces are kept, a new
// redaction of a stored value merges its classifiers, and a JSON number
// value is stored as its text.
func TestVGSClassifiersAndNumbers(t *testing.T) {
	_, c, _ := vgsGateway(t, nil)
	first, _, err := c.CreateAliases([]map[string]any{{"value": "4111111111111111", "format": "UUID", "classifiers": []string{"credit card"}}})
	if err != nil {
		t.Fatal(err)
	}
	second, _, err := c.CreateAliases([]map[string]any{{"value": "4111111111111111", "format": "UUID", "classifiers": []string{"visa", "credit card"}}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"credit card", "visa"}
	if second[0].Aliases[0].Alias != first[0].Aliases[0].Alias || !slices.Equal(second[0].Classifiers, want) {
		t.Fatalf("second redaction: %+v", second[0])
	}
	if r, _, err := c.RevealAlias(first[0].Aliases[0].Alias, ""); err != nil || !slices.Equal(r.Classifiers, want) {
		t.Fatalf("reveal: %+v %v", r, err)
	}
	nums, _, err := c.CreateAliases([]map[string]any{{"value": 122105155, "format": "FPE_ACC_NUM_T_FOUR"}, {"value": -1.5e3, "format": "UUID"}})
	if err != nil {
		t.Fatal(err)
	}
	if nums[0].Value != "122105155" || nums[1].Value != "-1500" {
		t.Fatalf("number values: %q, %q", nums[0].Value, nums[1].Value)
	}
}

// countingReader yields n bytes of a create body whose one value never
// ends, counting what was read.
type countingReader struct {
	n    int64
	read atomic.Int64 // the transport reads while the test looks
}

func (r *countingReader) Read(p []byte) (int, error) {
	done := r.read.Load()
	if done >= r.n {
		return 0, io.EOF
	}
	prefix := `{"data":[{"value":"`
	k := 0
	for ; k < len(p) && done < r.n; k++ {
		if done < int64(len(prefix)) {
			p[k] = prefix[done]
		} else {
			p[k] = 'a'
		}
		done++
	}
	r.read.Store(done)
	return k, nil
}

// TestVGSLargeValues: a value up to vault.max_value_size is stored and
// revealed through the gateway; one byte more is refused (400); a body
// far over the bound is cut off after a bounded read (413 or a closed
// connection), so that a large value cannot exhaust memory.
func TestVGSLargeValues(t *testing.T) {
	g, c, _ := vgsGateway(t, map[string]string{"ALIASGATE_VAULT_MAX_VALUE_SIZE": "2MiB"})
	doc := strings.Repeat("IBAN GB29 NWBK 6016 1331 9268 19; ", (2<<20)/34) // under 2 MiB, no card number
	made, _, err := c.CreateAliases([]map[string]any{{"value": doc, "format": "VGS_FIXED_LEN_GENERIC"}})
	if err != nil {
		t.Fatalf("a %d-byte value: %v", len(doc), err)
	}
	if r, _, err := c.RevealAlias(made[0].Aliases[0].Alias, ""); err != nil || r.Value != doc {
		t.Fatalf("reveal of the large value: %d bytes, %v", len(r.Value), err)
	}
	over := strings.Repeat("a", 2<<20+1)
	_, r, err := c.CreateAliases([]map[string]any{{"value": over, "format": "UUID"}})
	if status, e := statusOf(t, "a value over the bound", err); status != 400 || !strings.Contains(e.Detail, "2097152") {
		t.Fatalf("a value over the bound: %d %s", status, r.Body)
	}
	// A 1 GiB body: the gateway stops reading at twice the value bound
	// plus 64 KiB.
	body := &countingReader{n: 1 << 30}
	req, _ := http.NewRequest("POST", g.inbound+"/aliases", body)
	req.SetBasicAuth(c.user, c.pass)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err == nil {
		res.Body.Close()
		if res.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("a 1 GiB body: %d", res.StatusCode)
		}
	}
	if read := body.read.Load(); read > 64<<20 {
		t.Fatalf("the gateway read %d bytes of a 1 GiB body", read)
	}
}
