package cards

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/obs/obstest"
	pkgpan "github.com/aliasgate/aliasgate/internal/pan"
)

// listAll follows links.next from path and returns the card ids of every page.
func (e *env) listAll(path string, hdr ...string) (ids []string, pages int) {
	e.t.Helper()
	for path != "" {
		if pages++; pages > 50 {
			e.t.Fatal("links.next never ends")
		}
		r := e.do("GET", path, "", hdr...)
		if r.code != 200 {
			e.t.Fatalf("GET %s: %d %s", path, r.code, r.body)
		}
		obstest.AssertNoPAN(e.t, "list body", r.body)
		var doc struct {
			Data []struct {
				ID         string         `json:"id"`
				Type       string         `json:"type"`
				Attributes map[string]any `json:"attributes"`
			} `json:"data"`
			Links    map[string]string `json:"links"`
			Metadata map[string]any    `json:"metadata"`
		}
		if err := json.Unmarshal(r.body, &doc); err != nil || doc.Data == nil || doc.Metadata["observability"] == nil {
			e.t.Fatalf("GET %s: list document %s", path, r.body)
		}
		if doc.Links["self"] != path {
			e.t.Errorf("links.self = %q, want %q", doc.Links["self"], path)
		}
		for _, d := range doc.Data {
			if d.Type != "cards" || d.Attributes["pan_alias"] == nil || d.Attributes["cvc_status"] == nil {
				e.t.Errorf("list item %+v", d)
			}
			if _, ok := d.Attributes["pan"]; ok {
				e.t.Errorf("a list item carries pan: %v", d.Attributes)
			}
			if _, ok := d.Attributes["cvc"]; ok {
				e.t.Errorf("a list item carries cvc: %v", d.Attributes)
			}
			ids = append(ids, d.ID)
		}
		path = doc.Links["next"]
	}
	return ids, pages
}

// TestListCardsPagesAndFilters: GET /cards pages through the account's
// cards with a cursor (each card once, in id order), filters combine, and
// another account sees none of them. A PCI client's list holds no PAN or
// CVC.
func TestListCardsPagesAndFilters(t *testing.T) {
	e := setup(t)
	type made struct {
		id, last4, fp string
		month, year   int
		created       time.Time
	}
	var cards []made
	pans := []string{"4111111111111111", "5555555555554444", "4242424242424242", "378282246310005",
		"6011111111111117", "4000056655665556", "5200828282828210"}
	for i, p := range pans {
		month, year := 1+i%3, 30
		if i%2 == 1 {
			year = 2031
		}
		cvc := `,"cvc":"123"`
		if strings.HasPrefix(p, "37") {
			cvc = `,"cvc":"1234"`
		}
		id, r := e.create(fmt.Sprintf(`"pan":%q,"exp_month":%d,"exp_year":%d%s`, p, month, year, cvc))
		a := attrsOf(t, r.doc)
		cards = append(cards, made{id, p[len(p)-4:], a["card_fingerprint"].(string), month, year, e.clk.Now()})
		e.clk.Add(time.Hour)
	}
	e.clk.Add(2 * time.Hour) // past the CVC's volatile TTL for the first cards
	var all []string
	for _, c := range cards {
		all = append(all, c.id)
	}
	slices.Sort(all)

	got, pages := e.listAll("/cards?page%5Bsize%5D=3", pci)
	if !slices.Equal(got, all) || pages != 3 {
		t.Fatalf("pages of 3: %v in %d pages, want %v in 3", got, pages, all)
	}
	if got, pages = e.listAll("/cards"); !slices.Equal(got, all) || pages != 1 {
		t.Fatalf("default page: %v in %d pages", got, pages)
	}
	if got, _ := e.listAll("/cards", "X-Test-Account: ACTaccountB"); len(got) != 0 {
		t.Fatalf("another account lists %v", got)
	}

	filter := func(keep func(made) bool) []string {
		var out []string
		for _, c := range cards {
			if keep(c) {
				out = append(out, c.id)
			}
		}
		slices.Sort(out)
		return out
	}
	from, until := cards[2].created, cards[5].created
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"filter[last4]=4444", filter(func(c made) bool { return c.last4 == "4444" })},
		{"filter[exp_month]=2", filter(func(c made) bool { return c.month == 2 })},
		{"filter[exp_year]=2030", filter(func(c made) bool { return c.year == 30 })},
		{"filter[exp_year]=31", filter(func(c made) bool { return c.year == 2031 })},
		{"filter[exp_month]=1&filter[exp_year]=30", filter(func(c made) bool { return c.month == 1 && c.year == 30 })},
		{"filter[card_fingerprint]=" + cards[3].fp, []string{cards[3].id}},
		{"filter[card_fingerprint]=" + cards[3].fp + "&filter[last4]=0000", nil},
		{"filter[created_at][gte]=" + from.Format(time.RFC3339) + "&filter[created_at][lt]=" + until.Format(time.RFC3339),
			filter(func(c made) bool { return !c.created.Before(from) && c.created.Before(until) })},
		{"filter[last4]=9999", nil},
	} {
		v, _ := url.ParseQuery(tc.query)
		got, _ := e.listAll("/cards?" + v.Encode() + "&page%5Bsize%5D=1")
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.query, got, tc.want)
		}
	}
	// cvc_status: the first card's CVC expired with the volatile TTL.
	r := e.do("GET", "/cards?filter%5Bcard_fingerprint%5D="+cards[0].fp, "")
	if !strings.Contains(string(r.body), `"cvc_status":"expired"`) {
		t.Errorf("cvc_status of an expired CVC: %s", r.body)
	}
	e.clk.Add(-3 * time.Hour)
	r = e.do("GET", "/cards?filter%5Bcard_fingerprint%5D="+cards[6].fp, "")
	if !strings.Contains(string(r.body), `"cvc_status":"active"`) {
		t.Errorf("cvc_status of a live CVC: %s", r.body)
	}
	// A deleted card is not listed.
	if code, _ := e.doNoContent("DELETE", "/cards/"+cards[1].id); code != http.StatusNoContent {
		t.Fatalf("delete: %d", code)
	}
	if got, _ := e.listAll("/cards"); len(got) != len(all)-1 || slices.Contains(got, cards[1].id) {
		t.Errorf("after a delete: %v", got)
	}
}

// TestListCardsBadQueries: unknown, repeated and malformed parameters are
// 400 naming the parameter, and nothing of a card-like value is echoed.
func TestListCardsBadQueries(t *testing.T) {
	e := setup(t)
	for _, tc := range []struct{ query, param string }{
		{"page[size]=0", "page[size]"},
		{"page[size]=101", "page[size]"},
		{"page[size]=x", "page[size]"},
		{"page[after]=4111111111111111", "page[after]"},
		{"filter[last4]=123", "filter[last4]"},
		{"filter[last4]=1234&filter[last4]=5678", "filter[last4]"},
		{"filter[exp_month]=13", "filter[exp_month]"},
		{"filter[exp_year]=203", "filter[exp_year]"},
		{"filter[created_at][gte]=yesterday", "filter[created_at][gte]"},
		{"filter[pan]=4111111111111111", "filter[pan]"},
		{"filter[4111111111111111]=1", ""},
		{"sort=created_at", "sort"},
	} {
		v, _ := url.ParseQuery(tc.query)
		r := e.do("GET", "/cards?"+v.Encode(), "")
		obstest.AssertNoPAN(t, tc.query, r.body)
		if r.code != http.StatusBadRequest {
			t.Errorf("%s: %d %s", tc.query, r.code, r.body)
			continue
		}
		errs := r.doc["errors"].([]any)
		src, _ := errs[0].(map[string]any)["source"].(map[string]any)
		if got, _ := src["parameter"].(string); got != tc.param {
			t.Errorf("%s: source.parameter %q, want %q", tc.query, got, tc.param)
		}
	}
	// An unknown parameter's detail lists the accepted ones as the other
	// endpoints' do, comma-separated (it was Go's rendering of a slice:
	// "accepted: [page[size] page[after] …]").
	r := e.do("GET", "/cards?sort=created_at", "")
	detail, _ := r.doc["errors"].([]any)[0].(map[string]any)["detail"].(string)
	if want := "unknown query parameter; accepted: page[size], page[after], filter[card_fingerprint], filter[last4], " +
		"filter[exp_month], filter[exp_year], filter[created_at][gte], filter[created_at][lt]"; detail != want {
		t.Errorf("detail %q, want %q", detail, want)
	}
}

// TestListCardsBoundsTheScan: a filter that matches one card past
// MaxListScan others gives an empty first page whose links.next leads to it,
// so that no request reads more than MaxListScan records.
func TestListCardsBoundsTheScan(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	now := e.clk.Now()
	put := func(id, last4 string) {
		b, _ := json.Marshal(&record{ID: id, PANAlias: "tok_x_" + id, BIN: "411111", First8: "41111111", Last4: last4,
			Brand: "VISA", Type: "CREDIT", Fingerprint: "fp" + id, ExpMonth: 1, ExpYear: 30, CreatedAt: now, UpdatedAt: now})
		if _, err := e.store.PutCard(ctx, "ACTaccountA", id, "fp"+id, b); err != nil {
			t.Fatal(err)
		}
	}
	for range MaxListScan + 5 {
		put(newCardID(), "0000")
	}
	last := "CRD" + strings.Repeat("z", 22)
	put(last, "4242")
	r := e.do("GET", "/cards?filter%5Blast4%5D=4242", "")
	if r.code != 200 || len(r.doc["data"].([]any)) != 0 {
		t.Fatalf("first page: %d %.300s", r.code, r.body)
	}
	next, _ := r.doc["links"].(map[string]any)["next"].(string)
	if next == "" {
		t.Fatalf("no links.next after a spent scan: %.300s", r.body)
	}
	got, _ := e.listAll(next)
	if !slices.Equal(got, []string{last}) {
		t.Fatalf("after the cursor: %v", got)
	}
}

// FuzzListQuery: the GET /cards query parser never panics, and an error
// never names a parameter holding a card-like number.
func FuzzListQuery(f *testing.F) {
	for _, s := range []string{"page[size]=3&page[after]=CRD1111111111111111111111", "filter[last4]=4242",
		"filter[created_at][gte]=2026-01-02T15:04:05Z", "filter[4111111111111111]=1", "a=%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		lq, err := parseListQuery(v)
		if err == nil {
			if lq.size < 1 || lq.size > MaxPageSize {
				t.Fatalf("page size %d accepted", lq.size)
			}
			return
		}
		if b, _ := json.Marshal(err); pkgpan.Contains(b) {
			t.Fatalf("error holds a card-like number: %s", b)
		}
	})
}
