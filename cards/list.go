package cards

// GET /cards: an account's cards, a page at a time.
//
// Decisions (the spec pages have no list):
//   - Query parameters, JSON:API style: page[size] (1–100, default 20),
//     page[after] (the id of the last card of the previous page: the
//     cursor), filter[card_fingerprint], filter[last4] (4 digits),
//     filter[exp_month] (1–12), filter[exp_year] (2 or 4 digits, either form
//     matches a card stored with the other), filter[created_at][gte] and
//     filter[created_at][lt] (RFC 3339 instants, a half-open range).
//     Filters combine with AND. Any other parameter, a repeated one or a bad
//     value → 400 with source.parameter.
//   - Cards are listed in card id order (ids are random, so this is not
//     creation order; it is stable, and a card created while a client pages
//     appears on a later page or not at all, never twice). links.next is
//     there when more cards may follow; links.self is the request's page.
//   - One request reads at most MaxListScan card records: a filter that
//     matches few cards gives short (even empty) pages with a links.next
//     that goes on from where the scan stopped, rather than one request
//     reading a whole account. filter[card_fingerprint] is one index range
//     (every card of the fingerprint: several with duplicate detection
//     off), then a read of its cards.
//   - Cards in a list never carry pan or cvc, for PCI clients too (one
//     card at a time through GET /cards/{id}); cvc_status comes from one
//     vault read of the page's CVC aliases (audited like any reveal).
//   - Cards being deleted are left out.

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aliasgate/aliasgate/internal/jsonapi"
	pkgpan "github.com/aliasgate/aliasgate/internal/pan"
	"github.com/aliasgate/aliasgate/vault"
)

// Limits of GET /cards.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
	// MaxListScan is the most card records one GET /cards reads.
	MaxListScan = 1000
	listBatch   = 100
)

// ListDocument is the response of GET /cards.
type ListDocument struct {
	Data     []Resource `json:"data"`
	Links    ListLinks  `json:"links"`
	Metadata Metadata   `json:"metadata"`
}

// ListLinks are the pagination links of a list.
type ListLinks struct {
	Self string `json:"self"`
	Next string `json:"next,omitempty"`
}

// listQuery is a parsed GET /cards query.
type listQuery struct {
	size        int
	after       string
	fingerprint string
	last4       string
	expMonth    int // 0: any
	expYear     int // 4-digit year; 0: any
	from, until time.Time
	params      url.Values // the accepted parameters, to build links
}

func badParam(name, detail string) *jsonapi.Error {
	e := jsonapi.NewError(http.StatusBadRequest, "invalid_parameter", "Bad Request", detail)
	if isListParam(name) || safeName(strings.NewReplacer("[", ".", "]", ".").Replace(name)) {
		e.Objects[0].Source = &jsonapi.Source{Parameter: name}
	}
	return e
}

var listParams = []string{"page[size]", "page[after]", "filter[card_fingerprint]", "filter[last4]",
	"filter[exp_month]", "filter[exp_year]", "filter[created_at][gte]", "filter[created_at][lt]"}

func isListParam(name string) bool { return slices.Contains(listParams, name) }

// parseListQuery reads the query of GET /cards.
func parseListQuery(v url.Values) (*listQuery, error) {
	lq := &listQuery{size: DefaultPageSize, params: url.Values{}}
	for _, name := range sortedKeys(v) {
		if !isListParam(name) {
			return nil, unknownParam(name, listParams)
		}
		if len(v[name]) != 1 {
			return nil, badParam(name, "the parameter is given more than once")
		}
		s := v[name][0]
		var bad string
		switch name {
		case "page[size]":
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > MaxPageSize {
				bad = fmt.Sprintf("page[size] is 1 to %d", MaxPageSize)
			}
			lq.size = n
		case "page[after]":
			if !validCardID(s) {
				bad = "page[after] is a card id (the last of the previous page)"
			}
			lq.after = s
		case "filter[card_fingerprint]":
			if s == "" || len(s) > 64 || pkgpan.ContainsString(s) || strings.Contains(s, vault.CardIndexSep) {
				bad = "filter[card_fingerprint] is a card_fingerprint"
			}
			lq.fingerprint = s
		case "filter[last4]":
			if len(s) != 4 || !allDigits(s) {
				bad = "filter[last4] is 4 digits"
			}
			lq.last4 = s
		case "filter[exp_month]":
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > 12 {
				bad = "filter[exp_month] is 1 to 12"
			}
			lq.expMonth = n
		case "filter[exp_year]":
			n, err := strconv.Atoi(s)
			fy, ok := fullYear(n)
			if err != nil || !ok || (len(s) != 2 && len(s) != 4) {
				bad = "filter[exp_year] is 2 digits or a 4-digit year 2000-2099"
			}
			lq.expYear = fy
		case "filter[created_at][gte]", "filter[created_at][lt]":
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				bad = name + " is an RFC 3339 instant such as 2026-01-02T15:04:05Z"
			}
			if name == "filter[created_at][gte]" {
				lq.from = t
			} else {
				lq.until = t
			}
		}
		if bad != "" {
			return nil, badParam(name, bad)
		}
		if name != "page[after]" {
			lq.params.Set(name, s)
		}
	}
	return lq, nil
}

// matches reports whether rec passes the filters.
func (lq *listQuery) matches(rec *record) bool {
	switch {
	case rec.Deleting,
		lq.fingerprint != "" && rec.Fingerprint != lq.fingerprint,
		lq.last4 != "" && rec.Last4 != lq.last4,
		lq.expMonth != 0 && rec.ExpMonth != lq.expMonth,
		!lq.from.IsZero() && rec.CreatedAt.Before(lq.from),
		!lq.until.IsZero() && !rec.CreatedAt.Before(lq.until):
		return false
	}
	if lq.expYear != 0 {
		if fy, _ := fullYear(rec.ExpYear); fy != lq.expYear {
			return false
		}
	}
	return true
}

// link is /cards with the query's parameters and page[after]=after.
func (lq *listQuery) link(after string) string {
	v := url.Values{}
	for k, s := range lq.params {
		v[k] = s
	}
	if after != "" {
		v.Set("page[after]", after)
	}
	if len(v) == 0 {
		return "/cards"
	}
	return "/cards?" + v.Encode()
}

func (h *Handler) serveList(w http.ResponseWriter, r *http.Request) {
	q, ok := h.begin(w, r)
	if !ok {
		return
	}
	lq, err := parseListQuery(r.URL.Query())
	if err != nil {
		h.fail(q, "list cards", err)
		return
	}
	recs, next, err := h.listPage(q, lq)
	if err != nil {
		h.fail(q, "list cards", err)
		return
	}
	statuses, err := h.cvcStatuses(q, recs)
	if err != nil {
		h.fail(q, "list cards", err)
		return
	}
	doc := ListDocument{Data: make([]Resource, 0, len(recs)), Links: ListLinks{Self: lq.link(lq.after)},
		Metadata: Metadata{Observability: q.obs}}
	for i, rec := range recs {
		doc.Data = append(doc.Data, Resource{Type: typeCards, ID: rec.ID,
			Attributes: h.attributes(q, rec, "", "", statuses[i])})
	}
	if next != "" {
		doc.Links.Next = lq.link(next)
	}
	jsonapi.WriteJSON(w, http.StatusOK, jsonapi.MediaType, doc)
}

// listPage returns the cards of the page and the cursor of the next one
// ("" when the account has no more cards after them).
func (h *Handler) listPage(q *request, lq *listQuery) ([]*record, string, error) {
	var out []*record
	if lq.fingerprint != "" {
		return h.listFingerprint(q, lq)
	}
	cursor, scanned := lq.after, 0
	for scanned < MaxListScan {
		n := min(listBatch, MaxListScan-scanned)
		ids, raw, err := h.store.ListCards(q.ctx, q.p.Account, cursor, n)
		if err != nil {
			return nil, "", fmt.Errorf("list cards: %w", err)
		}
		for i, id := range ids {
			rec, err := decodeRecord(raw[i])
			if err != nil {
				return nil, "", err
			}
			if lq.matches(rec) {
				if len(out) == lq.size { // one match more: there is a next page
					return out, out[len(out)-1].ID, nil
				}
				out = append(out, rec)
			}
			cursor = id
			scanned++
		}
		if len(ids) < n {
			return out, "", nil // the end of the account's cards
		}
	}
	return out, cursor, nil // scan budget spent: go on after the last card read
}

// listFingerprint is listPage for filter[card_fingerprint]: every card of
// the fingerprint (several with duplicate detection off, duplicates.go),
// in card id order, at most MaxListScan records read.
func (h *Handler) listFingerprint(q *request, lq *listQuery) ([]*record, string, error) {
	ids, err := h.store.CardsByFingerprint(q.ctx, q.p.Account, lq.fingerprint)
	if err != nil {
		return nil, "", fmt.Errorf("list cards: %w", err)
	}
	slices.Sort(ids)
	var out []*record
	scanned := 0
	for i, id := range ids {
		if id <= lq.after {
			continue
		}
		if scanned == MaxListScan {
			return out, ids[i-1], nil // go on after the last card read
		}
		scanned++
		b, ok, err := h.store.GetCard(q.ctx, q.p.Account, id)
		if err != nil {
			return nil, "", fmt.Errorf("list cards: %w", err)
		}
		if !ok {
			continue
		}
		rec, err := decodeRecord(b)
		if err != nil {
			return nil, "", err
		}
		if lq.matches(rec) {
			if len(out) == lq.size {
				return out, out[len(out)-1].ID, nil
			}
			out = append(out, rec)
		}
	}
	return out, "", nil
}

// cvcStatuses returns the cvc_status of each card, with one vault read.
func (h *Handler) cvcStatuses(q *request, recs []*record) ([]string, error) {
	out := make([]string, len(recs))
	var aliases []string
	var idx []int
	for i, rec := range recs {
		out[i] = CVCNone
		if rec.CVCAlias != "" {
			aliases, idx = append(aliases, rec.CVCAlias), append(idx, i)
		}
	}
	if len(aliases) == 0 {
		return out, nil
	}
	rev, err := h.vault.Reveal(q.ctx, aliases)
	if err != nil {
		return nil, fmt.Errorf("cvc status: %w", err)
	}
	for j, rv := range rev {
		switch {
		case rv.Err == nil:
			out[idx[j]] = CVCActive
		case errors.Is(rv.Err, vault.ErrNotFound):
			out[idx[j]] = CVCExpired
		default:
			return nil, fmt.Errorf("cvc status: %w", rv.Err)
		}
	}
	return out, nil
}
