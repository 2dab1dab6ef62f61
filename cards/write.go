package cards

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aliasgate/aliasgate/auth"
	"github.com/aliasgate/aliasgate/cards/tsp"
	"github.com/aliasgate/aliasgate/internal/jsonapi"
	pkgpan "github.com/aliasgate/aliasgate/internal/pan"
	"github.com/aliasgate/aliasgate/vault"
)

const attrPointer = "/data/attributes"

// errs collects JSON:API errors.
type errs struct{ e *jsonapi.Error }

func (c *errs) add(e *jsonapi.Error) {
	if c.e == nil {
		c.e = e
		return
	}
	c.e.Append(e)
}

func (c *errs) err() error {
	if c.e == nil {
		return nil
	}
	return c.e
}

func invalid(field, code, detail string) *jsonapi.Error {
	return jsonapi.Invalid(attrPointer+"/"+field, code, detail)
}

// safeName reports whether a client-chosen name (attribute, meta key or
// query parameter) may be echoed in a pointer or a parameter: short, and
// not holding a digit run that could be card data nor a card number a
// reader sees (pan.MaskShown: "4111_1111_1111_1111" was echoed).
func safeName(s string) bool {
	if s == "" || len(s) > MaxMetaKeyLen {
		return false
	}
	digits := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			digits++
			if digits > 4 {
				return false
			}
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_', c == '-', c == '.':
			digits = 0
		default:
			return false
		}
	}
	// Groups of ≤4 digits joined by '-' or '.' (issue 17), or by '_'.
	return pkgpan.MaskShown(s) == s
}

// escapePointer escapes a JSON pointer token.
func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// readAttributes reads a request document and returns its attributes and
// the members of its data.relationships (nil for none: absent, null or
// {}), which the caller checks against the card's (checkRelationships).
// id is the card id of a PATCH ("" for POST).
func readAttributes(r *http.Request, id string) (map[string]json.RawMessage, map[string]json.RawMessage, error) {
	if err := jsonapi.CheckContentType(r, jsonapi.MediaType); err != nil {
		return nil, nil, err
	}
	var top map[string]json.RawMessage
	if err := jsonapi.DecodeBody(r, MaxBody, false, &top); err != nil {
		return nil, nil, err
	}
	bad := func(pointer, detail string) error {
		e := jsonapi.NewError(http.StatusBadRequest, "invalid_document", "Bad Request", detail)
		e.Objects[0].Source = &jsonapi.Source{Pointer: pointer}
		return e
	}
	raw, ok := top["data"]
	if !ok || top == nil {
		return nil, nil, bad("/data", "the document needs a data object")
	}
	var data map[string]json.RawMessage
	if err := json.Unmarshal(raw, &data); err != nil || data == nil {
		return nil, nil, bad("/data", "data must be an object")
	}
	if t, ok := data["type"]; ok {
		var s string
		if json.Unmarshal(t, &s) != nil || s != typeCards {
			e := jsonapi.NewError(http.StatusConflict, "type_mismatch", "Conflict", `data.type must be "cards"`)
			e.Objects[0].Source = &jsonapi.Source{Pointer: "/data/type"}
			return nil, nil, e
		}
	}
	if v, ok := data["id"]; ok && !(id == "" && namesNoID(v)) {
		var s string
		if id == "" { // JSON:API: 403 to a create with a client-generated id the server does not support
			e := jsonapi.NewError(http.StatusForbidden, "client_id_not_supported", "Forbidden", "card ids are assigned by the server")
			e.Objects[0].Source = &jsonapi.Source{Pointer: "/data/id"}
			return nil, nil, e
		}
		if json.Unmarshal(v, &s) != nil || s != id {
			e := jsonapi.NewError(http.StatusConflict, "id_mismatch", "Conflict", "data.id must be the card id of the path")
			e.Objects[0].Source = &jsonapi.Source{Pointer: "/data/id"}
			return nil, nil, e
		}
	}
	var rels map[string]json.RawMessage
	if rel, ok := data["relationships"]; ok {
		if json.Unmarshal(rel, &rels) != nil {
			return nil, nil, bad("/data/relationships", "relationships must be an object")
		}
		if len(rels) == 0 {
			rels = nil
		}
	}
	attrs := map[string]json.RawMessage{}
	if a, ok := data["attributes"]; ok {
		if json.Unmarshal(a, &attrs) != nil || attrs == nil {
			return nil, nil, jsonapi.Invalid(attrPointer, "invalid_attributes", "attributes must be an object")
		}
	}
	return attrs, rels, nil
}

// namesNoID reports whether a create's data.id is null or "": what client
// code sends for a resource not saved yet (a model serialized with its
// nulls, a Go struct with `json:"id"`). It asks for no id, as an absent
// member does; any other value is a client-generated id (403).
func namesNoID(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	return string(v) == "null" || string(v) == `""`
}

// checkRelationships refuses (403 relationships_not_supported, JSON:API's
// answer to an unsupported request to update a relationship) a
// data.relationships member unless it is one of the card's relationships
// (current: name → the card's linkage) and names exactly what the card has,
// in any order: such a member asks for no change. A card has no
// relationship a client sets; members were ignored and the rest of the
// document applied. A JSON:API client sends the relationships of its model
// back as they are (Ember Data a to-many without inverse, on create an
// empty one): those are accepted.
func checkRelationships(rels map[string]json.RawMessage, current map[string][]Identifier) error {
	for _, name := range sortedKeys(rels) {
		cur, known := current[name]
		sent, ok := sentLinkage(rels[name])
		if !known || !ok || !sameLinkage(sent, cur) {
			e := jsonapi.NewError(http.StatusForbidden, "relationships_not_supported", "Forbidden",
				"a card's relationships are not set by clients; send attributes only (or each relationship as the card has it)")
			e.Objects[0].Source = &jsonapi.Source{Pointer: "/data/relationships"}
			return e
		}
	}
	return nil
}

// sentLinkage reads a relationship object a client sent: its "data", an
// array of resource identifiers each with a string "type" and "id". Member
// names are read exactly as JSON:API spells them: encoding/json matches
// them in any letter case, the last one winning, so {"id":"another card's
// token","ID":"its own"} read as its own linkage while its "id" named
// another. Any member but "data", "links" and "meta" (of the relationship)
// or "type", "id" and "meta" (of an identifier) is refused (ok false).
func sentLinkage(raw json.RawMessage) (ids []Identifier, ok bool) {
	var rel map[string]json.RawMessage
	if json.Unmarshal(raw, &rel) != nil || !onlyMembers(rel, "data", "links", "meta") {
		return nil, false
	}
	var items []map[string]json.RawMessage
	if d, has := rel["data"]; !has || json.Unmarshal(d, &items) != nil || items == nil {
		return nil, false
	}
	ids = make([]Identifier, 0, len(items))
	for _, it := range items {
		var x Identifier
		if !onlyMembers(it, "type", "id", "meta") || json.Unmarshal(it["type"], &x.Type) != nil ||
			json.Unmarshal(it["id"], &x.ID) != nil {
			return nil, false
		}
		ids = append(ids, x)
	}
	return ids, true
}

// onlyMembers reports whether m is an object whose members are all among
// names.
func onlyMembers(m map[string]json.RawMessage, names ...string) bool {
	if m == nil {
		return false
	}
	for k := range m {
		if !contains(names, k) {
			return false
		}
	}
	return true
}

// sameLinkage reports whether a and b name the same resources, in any order.
func sameLinkage(a, b []Identifier) bool {
	if len(a) != len(b) {
		return false
	}
	seen := make(map[Identifier]int, len(b))
	for _, x := range b {
		seen[x]++
	}
	for _, x := range a {
		if seen[x] == 0 {
			return false
		}
		seen[x]--
	}
	return true
}

// newCardLinkage is a card's linkage before it is stored: no card update,
// no network token.
var newCardLinkage = map[string][]Identifier{typeCardUpdates: {}, typeNetworkTokens: {}}

// linkage returns rec's relationships as GET …?include= links them:
// card_updates every update recorded, network_tokens the active token if
// any.
func (h *Handler) linkage(q *request, rec *record) (map[string][]Identifier, error) {
	out := map[string][]Identifier{typeCardUpdates: {}, typeNetworkTokens: {}}
	raw, err := h.store.CardUpdates(q.ctx, q.p.Account, rec.ID)
	if err != nil {
		return nil, err
	}
	for _, b := range raw {
		var u storedUpdate
		if err := json.Unmarshal(b, &u); err != nil {
			return nil, err
		}
		out[typeCardUpdates] = append(out[typeCardUpdates], Identifier{Type: typeCardUpdates, ID: u.ID})
	}
	if t := rec.currentToken(); t != nil {
		out[typeNetworkTokens] = append(out[typeNetworkTokens], Identifier{Type: typeNetworkTokens, ID: t.ID})
	}
	return out, nil
}

// checkAllowed reports attributes outside allowed.
func checkAllowed(c *errs, attrs map[string]json.RawMessage, allowed ...string) {
	for _, k := range sortedKeys(attrs) {
		if contains(allowed, k) {
			continue
		}
		if safeName(k) {
			c.add(invalid(escapePointer(k), "unknown_attribute",
				"this attribute is not accepted here; accepted: "+strings.Join(allowed, ", ")))
		} else {
			c.add(jsonapi.Invalid(attrPointer, "unknown_attribute",
				"an attribute name is not accepted; accepted: "+strings.Join(allowed, ", ")))
		}
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	// small maps: insertion sort keeps the dependency list short
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// stringAttr reads a string attribute; present false when absent.
func stringAttr(c *errs, attrs map[string]json.RawMessage, name string) (string, bool) {
	raw, ok := attrs[name]
	if !ok {
		return "", false
	}
	var s string
	if bytes.HasPrefix(bytes.TrimSpace(raw), []byte(`"`)) && json.Unmarshal(raw, &s) == nil {
		return s, true
	}
	c.add(invalid(name, "invalid_type", name+" must be a string"))
	return "", false
}

// intAttr reads an integer attribute.
func intAttr(c *errs, attrs map[string]json.RawMessage, name string) (int, bool) {
	raw, ok := attrs[name]
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(string(bytes.TrimSpace(raw)))
	if err != nil {
		c.add(invalid(name, "invalid_type", name+" must be an integer"))
		return 0, false
	}
	return n, true
}

// metaAttr reads meta; null is an empty object.
func metaAttr(c *errs, attrs map[string]json.RawMessage) (map[string]string, bool) {
	raw, ok := attrs["meta"]
	if !ok {
		return nil, false
	}
	if string(bytes.TrimSpace(raw)) == "null" {
		return map[string]string{}, true
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil || m == nil {
		c.add(invalid("meta", "invalid_type", "meta must be an object of strings"))
		return nil, false
	}
	n := 0
	if len(m) > MaxMetaKeys {
		c.add(invalid("meta", "invalid_meta", fmt.Sprintf("meta holds at most %d keys", MaxMetaKeys)))
		n++
	}
	out := make(map[string]string, len(m))
	for _, k := range sortedKeys(m) {
		ptr := "meta"
		if safeName(k) {
			ptr += "/" + escapePointer(k)
		}
		if k == "" || len(k) > MaxMetaKeyLen {
			c.add(invalid(ptr, "invalid_meta", fmt.Sprintf("meta keys are 1 to %d characters", MaxMetaKeyLen)))
			n++
			continue
		}
		if pkgpan.ContainsShownValue(k) {
			c.add(invalid(ptr, "invalid_meta", "meta keys must not hold card numbers"))
			n++
			continue
		}
		var v string
		if !bytes.HasPrefix(bytes.TrimSpace(m[k]), []byte(`"`)) || json.Unmarshal(m[k], &v) != nil {
			c.add(invalid(ptr, "invalid_meta", "meta values must be strings"))
			n++
			continue
		}
		if len(v) > MaxMetaValueLen {
			c.add(invalid(ptr, "invalid_meta", fmt.Sprintf("meta values are at most %d characters", MaxMetaValueLen)))
			n++
			continue
		}
		if pkgpan.ContainsShownValue(v) {
			c.add(invalid(ptr, "invalid_meta", "meta values must not hold card numbers"))
			n++
			continue
		}
		out[k] = v
	}
	return out, n == 0
}

// checkPAN validates a PAN; field names the attribute it came from.
func checkPAN(pan, field string) *jsonapi.Error {
	from := ""
	if field != "pan" {
		from = "the value behind "
	}
	switch {
	case !allDigits(pan):
		return invalid(field, "invalid_pan", from+field+" must hold digits only")
	case len(pan) < 12 || len(pan) > 19:
		return invalid(field, "invalid_pan", from+field+" must be 12 to 19 digits")
	case !pkgpan.Valid(pan):
		return invalid(field, "invalid_pan", from+field+" fails the Luhn check")
	}
	return nil
}

// checkCVC validates a CVC for brand.
func checkCVC(cvc, brand, field string) *jsonapi.Error {
	n := cvcLength(brand)
	if len(cvc) != n || !allDigits(cvc) {
		from := ""
		if field != "cvc" {
			from = "the value behind "
		}
		return invalid(field, "invalid_cvc", fmt.Sprintf("%s%s must be %d digits for this card brand", from, field, n))
	}
	return nil
}

// fullYear returns the 4-digit year of exp_year as sent.
func fullYear(y int) (int, bool) {
	switch {
	case y >= 0 && y <= 99:
		return 2000 + y, true
	case y >= 2000 && y <= 2099:
		return y, true
	}
	return 0, false
}

// checkExpiry validates month and year against now. An expired card is
// accepted (it is what an account updater refreshes) and flagged when shown
// (see cardExpired).
func checkExpiry(c *errs, month, year int, now time.Time) {
	ok := true
	if month < 1 || month > 12 {
		c.add(invalid("exp_month", "invalid_exp_month", "exp_month must be 1 to 12"))
		ok = false
	}
	fy, good := fullYear(year)
	if !good {
		c.add(invalid("exp_year", "invalid_exp_year", "exp_year must be 2 digits or a 4-digit year 2000-2099"))
		ok = false
	}
	if !ok {
		return
	}
	if fy > now.UTC().Year()+maxFutureYears {
		c.add(invalid("exp_year", "invalid_exp_year",
			fmt.Sprintf("exp_year is more than %d years ahead", maxFutureYears)))
	}
}

// aliasAttr reads an alias attribute.
func aliasAttr(c *errs, attrs map[string]json.RawMessage, name string) (string, bool) {
	s, ok := stringAttr(c, attrs, name)
	if ok && (s == "" || len(s) > maxAliasLen) {
		c.add(invalid(name, "unknown_alias", name+" is not a known alias"))
		return "", false
	}
	return s, ok
}

// revealInputs reveals the alias attributes; unknown ones are 422 errors.
// A PCI client is shown the card's pan and cvc in clear, so the aliases it
// names become their values in its answers: it needs aliases:reveal for
// that, as GET /aliases/{alias} would (403 insufficient_scope before the
// vault is asked, naming the first alias attribute; an alias is not a
// capability). A client that is not PCI sees no clear data and names
// aliases with cards:write alone.
func (h *Handler) revealInputs(q *request, names, aliases []string) ([]string, error) {
	if err := aliasScope(q, names[0]); err != nil {
		return nil, err
	}
	noteAlias(q.ctx, names[0])
	out, err := h.vault.Reveal(q.ctx, aliases)
	if err != nil {
		return nil, fmt.Errorf("reveal input aliases: %w", err)
	}
	var c errs
	vals := make([]string, len(out))
	for i, o := range out {
		switch {
		case o.Err == nil:
			vals[i] = o.Value
		case errors.Is(o.Err, vault.ErrNotFound):
			c.add(invalid(names[i], "unknown_alias", names[i]+" is not a known alias (or it expired)"))
		default:
			return nil, o.Err
		}
	}
	return vals, c.err()
}

// writeRunKey marks the context of a request that releaseUnwritten
// follows; it holds a *writeRun.
type writeRunKey struct{}

// writeRun is what a request releaseUnwritten follows did: serveCreate
// sets took once it has a principal (it then releases what a create that
// stores no card made itself), servePatch sets wrote once the card took
// the change.
type writeRun struct{ took, wrote bool }

// noteWrite marks the request's writeRun, if releaseUnwritten follows it.
func noteWrite(ctx context.Context, mark func(*writeRun)) {
	if run, _ := ctx.Value(writeRunKey{}).(*writeRun); run != nil {
		mark(run)
	}
}

// releaseUnwritten serves a request through an inbound route in front of
// the API whose redactions made aliases (vault.CreatedAliases: the raw
// card data flow), and releases them (ReleaseRouteAliases) when the
// request wrote nothing: whatever refused it — the guard (401 an expired
// access token, 403, 415), begin (403 account_not_allowed, 429), the
// validation (400, 404, 422: a PATCH naming a card number,
// pan_immutable), the idempotency check (409, 422) or a failure — and
// whichever endpoint it reached; only a create and a PATCH keep what the
// client sent. A create that ran releases what it made itself when it
// stores no card (serveCreate, releaseCreated); a PATCH the card took
// keeps its aliases (meta may hold one). Before, the aliases of a refused
// create's route were released, those of a refused PATCH stayed for good.
func (h *Handler) releaseUnwritten(w http.ResponseWriter, r *http.Request) {
	run := new(writeRun)
	defer func() { // a panic of the handler included
		if !run.took && !run.wrote {
			h.ReleaseRouteAliases(r)
		}
	}()
	h.serve(w, r.WithContext(context.WithValue(r.Context(), writeRunKey{}, run)))
}

// ReleaseRouteAliases releases the aliases the inbound route in front of
// the API that r came through made (vault.RouteAliases: not those the
// API's own work made after the proxy handed the request on, a network
// token's PAN) and that the
// request it forwarded did not keep, as a create that stores no card
// releases its own (releaseCreated: a volatile alias is deleted, one of a
// card number leaves the vault unless cards of the account have it, an
// alias the account held before the request was not made by it and is
// not listed), in the account the route's redactions used (the actor's,
// the vault's default one when the route names none). The vault API calls
// it for a request it refused. It runs past the client's disconnect; a
// failure is logged.
func (h *Handler) ReleaseRouteAliases(r *http.Request) {
	ctx := r.Context()
	made := vault.RouteAliases(ctx)
	if len(made) == 0 {
		return
	}
	account := vault.ActorFrom(ctx).Account
	if account == "" {
		d, ok := h.vault.(interface{ DefaultAccount() string })
		if !ok {
			h.releaseFailed()
			h.log.WarnContext(ctx, "cards: the aliases a refused request's route made were not released: no default account")
			return
		}
		account = d.DefaultAccount()
	}
	h.releaseMade(&request{ctx: vault.WithAccount(ctx, account), p: principalOf(account),
		obs: Observability{TraceID: traceID(r.Header.Get("traceparent")), AccountID: account, VaultID: h.vaultID}}, made)
}

// dropRouteCVC deletes in, the cvc_alias a create or a PATCH named, once
// the card holds a CVC alias of its own (held, made by the write's own
// redaction) when the inbound route in front of the API made in within
// this request (vault.CreatedUnder: the raw card data flow): no card
// holds it and no client saw it, and it is a second copy of the CVC that
// would otherwise live until it expired. An alias the client made before
// (the vault API, a route's earlier request) is the client's and stays.
// A failure is logged: the alias then expires.
func (h *Handler) dropRouteCVC(q *request, in, held string) {
	if in == "" || in == held || !vault.CreatedUnder(q.ctx, in) {
		return
	}
	dq := *q
	dq.ctx = context.WithoutCancel(q.ctx) // the card is written: its client leaving changes nothing
	if err := h.deleteAlias(&dq, in); err != nil {
		h.releaseFailed()
		h.log.WarnContext(q.ctx, "cards: the CVC alias the route made was not deleted; it expires", "account_id", q.p.Account,
			"error", err.Error(), "trace_id", q.obs.TraceID)
	}
}

// aliasScope is revealInputs' refusal of a PCI client whose principal
// lacks aliases:reveal (403 insufficient_scope pointing at attribute
// name), nil for any other client. An idempotent replay of a request that
// named an alias asks it again (idempotency.go).
func aliasScope(q *request, name string) error {
	if !q.p.PCI || q.p.HasScope(auth.ScopeAliasesReveal) {
		return nil
	}
	e := jsonapi.NewError(http.StatusForbidden, "insufficient_scope", "Forbidden",
		"a PCI client is shown the card data in clear, so naming an alias (pan_alias, cvc_alias) needs the aliases:reveal scope")
	e.Objects[0].Source = &jsonapi.Source{Pointer: attrPointer + "/" + name}
	return e
}

func (h *Handler) serveCreate(w http.ResponseWriter, r *http.Request) {
	q, ok := h.begin(w, r)
	if !ok {
		return
	}
	noteWrite(r.Context(), func(run *writeRun) { run.took = true })
	// The aliases this request makes (its redaction, an inbound route's in
	// front of the API) are released when no card is stored (duplicates.go).
	q.ctx = vault.WithCreations(q.ctx)
	stored := false
	defer func() {
		if !stored {
			h.releaseCreated(q)
		}
	}()
	attrs, rels, err := readAttributes(r, "")
	if err == nil {
		err = checkRelationships(rels, newCardLinkage)
	}
	if err != nil {
		h.fail(q, "create card", err)
		return
	}
	var c errs
	checkAllowed(&c, attrs, "pan", "pan_alias", "cvc", "cvc_alias", "exp_month", "exp_year", "meta",
		"cardholder", "token_type")
	holder, _ := cardholderAttr(&c, attrs)
	tokenType, _ := tokenTypeAttr(&c, attrs)
	pan, hasPAN := stringAttr(&c, attrs, "pan")
	panAlias, hasPANAlias := aliasAttr(&c, attrs, "pan_alias")
	cvc, hasCVC := stringAttr(&c, attrs, "cvc")
	cvcAlias, hasCVCAlias := aliasAttr(&c, attrs, "cvc_alias")
	_, sentPAN := attrs["pan"]
	_, sentPANAlias := attrs["pan_alias"]
	_, sentCVC := attrs["cvc"]
	_, sentCVCAlias := attrs["cvc_alias"]
	switch {
	case sentPAN && sentPANAlias:
		c.add(invalid("pan_alias", "pan_conflict", "send either pan or pan_alias, not both"))
	case !sentPAN && !sentPANAlias:
		c.add(invalid("pan", "pan_missing", "pan or pan_alias is required"))
	}
	if sentCVC && sentCVCAlias {
		c.add(invalid("cvc_alias", "cvc_conflict", "send either cvc or cvc_alias, not both"))
	}
	month, hasMonth := intAttr(&c, attrs, "exp_month")
	year, hasYear := intAttr(&c, attrs, "exp_year")
	if _, sent := attrs["exp_month"]; !sent {
		c.add(invalid("exp_month", "exp_month_missing", "exp_month is required"))
	}
	if _, sent := attrs["exp_year"]; !sent {
		c.add(invalid("exp_year", "exp_year_missing", "exp_year is required"))
	}
	if hasMonth && hasYear {
		checkExpiry(&c, month, year, h.now())
	}
	meta, _ := metaAttr(&c, attrs)
	if hasPAN {
		if e := checkPAN(pan, "pan"); e != nil {
			c.add(e)
			hasPAN = false
		}
	}
	if err := c.err(); err != nil {
		h.fail(q, "create card", err)
		return
	}
	var names, aliases []string
	if hasPANAlias {
		names, aliases = append(names, "pan_alias"), append(aliases, panAlias)
	}
	if hasCVCAlias {
		names, aliases = append(names, "cvc_alias"), append(aliases, cvcAlias)
	}
	if len(aliases) > 0 {
		vals, err := h.revealInputs(q, names, aliases)
		if err != nil {
			h.fail(q, "create card", err)
			return
		}
		if hasPANAlias {
			pan, vals = vals[0], vals[1:]
			if e := checkPAN(pan, "pan_alias"); e != nil {
				h.fail(q, "create card", e)
				return
			}
		}
		if hasCVCAlias {
			cvc, hasCVC = vals[0], true
		}
	}
	brand := Brand(pan)
	if hasCVC {
		field := "cvc"
		if hasCVCAlias {
			field = "cvc_alias"
		}
		if e := checkCVC(cvc, brand, field); e != nil {
			h.fail(q, "create card", e)
			return
		}
	}

	reqs := []vault.RedactRequest{{Value: pan, Format: vault.FormatUUID, Storage: vault.StoragePersistent}}
	if hasCVC {
		reqs = append(reqs, vault.RedactRequest{Value: cvc, Format: vault.FormatUUID, Storage: vault.StorageVolatile})
	}
	toks, err := h.vault.Redact(q.ctx, reqs)
	if err != nil {
		h.fail(q, "create card: redact", err)
		return
	}
	if err := h.addNumber(q.ctx, pan, toks[0].Alias); err != nil { // numbers.go
		h.fail(q, "create card: numbers index", err)
		return
	}
	now := h.now().UTC().Truncate(time.Second)
	rec := &record{
		ID: newCardID(), PANAlias: toks[0].Alias, BIN: pan[:6], First8: first8(pan), Last4: pan[len(pan)-4:],
		Brand: brand, Type: h.bins.cardType(pan), Fingerprint: fingerprint(h.fpKey, q.p.Account, pan),
		ExpMonth: month, ExpYear: year, CreatedAt: now, UpdatedAt: now,
	}
	if len(meta) > 0 {
		rec.Meta = meta
	}
	rec.Cardholder, rec.TokenType = holder, tokenType
	status := CVCNone
	if hasCVC {
		rec.CVCAlias, status = toks[1].Alias, CVCActive
	}
	// The cards the account holds of this number (duplicates.go): with
	// detection on, any of them makes this a duplicate (303); with it off
	// the card is made under its own index key, but counted all the same.
	held, err := cardsOfFingerprint(q.ctx, h.store, q.p.Account, rec.Fingerprint)
	if err != nil {
		h.fail(q, "create card: store", err)
		return
	}
	if rec.PANAliasOrigin, err = h.aliasOrigin(q, toks[0], held); err != nil {
		h.fail(q, "create card: vault", err)
		return
	}
	detect := !h.settings(q.p.Account).DuplicateDetectionOff
	existing := ""
	if detect && len(held) > 0 {
		existing = primaryCard(held).ID
	} else {
		if !detect {
			rec.IndexKey = ownIndexKey(rec.Fingerprint, rec.ID)
			if len(held) > 0 && !h.noteDuplicate(q) {
				return
			}
		}
		b, err := json.Marshal(rec)
		if err != nil {
			h.fail(q, "create card: encode", err)
			return
		}
		if existing, err = h.store.PutCard(q.ctx, q.p.Account, rec.ID, rec.indexKey(), b); err != nil {
			// The card may have been stored all the same (writeOutcome).
			if err = h.writeOutcome(q, rec.ID, nil, b, err); err != nil {
				stored = mayHaveWritten(err) // nothing the card may reference is released
				h.fail(q, "create card: store", err)
				return
			}
			existing = ""
		}
		rec.raw = b // what autoProvision's compare-and-swap write replaces
		stored = existing == ""
		if existing == "" {
			// A delete of the card number's last other card may have
			// removed the alias since the redaction (restore.go).
			if rec, err = h.keepPANAlias(q, rec, pan); err != nil {
				h.fail(q, "create card: store", err)
				return
			}
		}
	}
	if existing != "" {
		if !h.noteDuplicate(q) {
			return
		}
		h.log.InfoContext(q.ctx, "cards: duplicate card", "card_id", existing, "account_id", q.p.Account,
			"trace_id", q.obs.TraceID)
		noteOutcome(q.ctx, existing, "")
		q.w.Header().Set("Location", "/cards/"+existing)
		h.write(q, http.StatusSeeOther, Document{Data: Resource{Type: typeCards, ID: existing}})
		return
	}
	h.log.InfoContext(q.ctx, "cards: card created", "card_id", rec.ID, "account_id", q.p.Account,
		"card_brand", rec.Brand, "trace_id", q.obs.TraceID)
	h.dropRouteCVC(q, cvcAlias, rec.CVCAlias)
	h.publishCard(q, EventCardCreated, rec, SourceAPI, nil)
	h.autoProvision(q, rec, pan)
	noteOutcome(q.ctx, rec.ID, "")
	q.w.Header().Set("Location", "/cards/"+rec.ID)
	h.write(q, http.StatusCreated, Document{Data: Resource{Type: typeCards, ID: rec.ID,
		Attributes: h.attributes(q, rec, pan, cvc, status)}})
}

// noteDuplicate counts a create of a card number the account holds
// (Options.Duplicates); false when the caller is throttled (answered 429).
func (h *Handler) noteDuplicate(q *request) bool {
	if h.dups == nil {
		return true
	}
	if err := h.dups.NoteDuplicate(q.ctx); err != nil {
		h.fail(q, "create card: duplicate", err)
		return false
	}
	return true
}

// first8 is the first 8 digits of PANs of 16 digits or more, else the BIN
// (PCI DSS: first 8 + last 4 only for PANs of at least 16 digits).
func first8(pan string) string {
	if len(pan) >= 16 {
		return pan[:8]
	}
	return pan[:6]
}

func (h *Handler) servePatch(w http.ResponseWriter, r *http.Request) {
	q, ok := h.begin(w, r)
	if !ok {
		return
	}
	if id := strings.TrimPrefix(r.URL.Path, "/cards/"); validCardID(id) {
		defer h.lock(q.p.Account, id)()
	}
	rec, err := h.load(q)
	if err != nil {
		h.fail(q, "update card", err)
		return
	}
	attrs, rels, err := readAttributes(r, rec.ID)
	if err == nil && rels != nil {
		var cur map[string][]Identifier
		if cur, err = h.linkage(q, rec); err == nil {
			err = checkRelationships(rels, cur)
		}
	}
	if err != nil {
		h.fail(q, "update card", err)
		return
	}
	var c errs
	for _, k := range []string{"pan", "pan_alias"} {
		if _, ok := attrs[k]; ok {
			c.add(invalid(k, "pan_immutable", "the card number cannot be changed; create a new card"))
			delete(attrs, k)
		}
	}
	checkAllowed(&c, attrs, "cvc", "cvc_alias", "exp_month", "exp_year", "meta", "cardholder", "token_type")
	holder, hasHolder := cardholderAttr(&c, attrs)
	tokenType, hasTokenType := tokenTypeAttr(&c, attrs)
	cvc, hasCVC := stringAttr(&c, attrs, "cvc")
	cvcAlias, hasCVCAlias := aliasAttr(&c, attrs, "cvc_alias")
	_, sentCVC := attrs["cvc"]
	_, sentCVCAlias := attrs["cvc_alias"]
	if sentCVC && sentCVCAlias {
		c.add(invalid("cvc_alias", "cvc_conflict", "send either cvc or cvc_alias, not both"))
	}
	month, hasMonth := intAttr(&c, attrs, "exp_month")
	year, hasYear := intAttr(&c, attrs, "exp_year")
	if !hasMonth {
		month = rec.ExpMonth
	}
	if !hasYear {
		year = rec.ExpYear
	}
	_, sentMonth := attrs["exp_month"]
	_, sentYear := attrs["exp_year"]
	if (hasMonth || hasYear) && (hasMonth || !sentMonth) && (hasYear || !sentYear) {
		checkExpiry(&c, month, year, h.now())
	}
	meta, hasMeta := metaAttr(&c, attrs)
	if hasCVC {
		if e := checkCVC(cvc, rec.Brand, "cvc"); e != nil {
			c.add(e)
		}
	}
	if err := c.err(); err != nil {
		h.fail(q, "update card", err)
		return
	}
	if hasCVCAlias {
		vals, err := h.revealInputs(q, []string{"cvc_alias"}, []string{cvcAlias})
		if err != nil {
			h.fail(q, "update card", err)
			return
		}
		cvc, hasCVC = vals[0], true
		if e := checkCVC(cvc, rec.Brand, "cvc_alias"); e != nil {
			h.fail(q, "update card", e)
			return
		}
	}

	// The vault work is done once; the record change is applied with
	// compare-and-swap (cas.go), again to the card as re-read when another
	// writer stored it first, so a concurrent change of other fields is
	// kept and what changed is decided against the card as stored.
	var newCVCAlias string
	if hasCVC {
		toks, err := h.vault.Redact(q.ctx, []vault.RedactRequest{{Value: cvc, Format: vault.FormatUUID,
			Storage: vault.StorageVolatile}})
		if err != nil {
			h.fail(q, "update card: redact", err)
			return
		}
		newCVCAlias = toks[0].Alias
	}
	now := h.now().UTC().Truncate(time.Second)
	var upd storedUpdate
	var tokenChanged bool
	var tokenID string     // the token whose expiry the token service was asked to change
	var replacedCVC string // the CVC alias the stored card had, replaced by newCVCAlias
	change := func(next *record) (*storedUpdate, error) {
		if next.Deleting {
			return nil, errNotFound()
		}
		cur := *next
		replacedCVC = ""
		upd = storedUpdate{ID: newUUID(), CardUpdate: CardUpdate{ChangedFields: []string{},
			UpdatedValues: []UpdatedValue{}, Event: "api-update", ReceivedAt: formatTime(now)}}
		tokenChanged = false
		change := func(field string, old, new any) {
			o, _ := json.Marshal(old)
			n, _ := json.Marshal(new)
			upd.ChangedFields = append(upd.ChangedFields, field)
			upd.UpdatedValues = append(upd.UpdatedValues, UpdatedValue{FieldName: field, OldValue: o, NewValue: n})
		}
		if hasCVC {
			replacedCVC = cur.CVCAlias
			next.CVCAlias = newCVCAlias
			upd.ChangedFields = append(upd.ChangedFields, "cvc")
		}
		if hasMonth && month != cur.ExpMonth {
			next.ExpMonth = month
			change("exp_month", cur.ExpMonth, month)
		}
		if hasYear && year != cur.ExpYear {
			next.ExpYear = year
			change("exp_year", cur.ExpYear, year)
		}
		if hasMeta && !maps.Equal(meta, cur.Meta) {
			old := cur.Meta
			if old == nil {
				old = map[string]string{}
			}
			next.Meta = meta
			if len(meta) == 0 {
				next.Meta = nil
			}
			change("meta", old, meta)
		}
		if hasHolder && !sameCardholder(holder, cur.Cardholder) {
			next.Cardholder = holder
			upd.ChangedFields = append(upd.ChangedFields, "cardholder") // values stay out of the history
		}
		if hasTokenType {
			next.TokenType = tokenType // "pan", what every card shows: no change
		}
		if len(upd.ChangedFields) == 0 {
			return nil, errNoWrite
		}
		next.UpdatedAt = now
		var err error
		if t := next.currentToken(); t != nil {
			tokenID = t.ID
		}
		if tokenChanged, err = h.refreshToken(q, next, now); err != nil { // the token service: the same expiry again on a retry
			return nil, fmt.Errorf("network token: %w", err)
		}
		return &upd, nil
	}
	_, next, err := h.mutate(q, rec, change)
	if errors.Is(err, tsp.ErrDeleted) {
		// The token service deleted the token and the card was not told
		// (lifecycle.go): it is retired, and the card updated without it.
		h.retireGoneToken(q, rec.ID, tokenID)
		if rec, err = h.loadID(q, rec.ID); err == nil {
			_, next, err = h.mutate(q, rec, change)
		}
	}
	if err != nil {
		if mayHaveWritten(err) { // the card may hold what it took: nothing is released (writeOutcome)
			noteWrite(r.Context(), func(run *writeRun) { run.wrote = true })
		}
		h.fail(q, "update card", err)
		return
	}
	noteWrite(r.Context(), func(run *writeRun) { run.wrote = true }) // the card holds what it took (releaseUnwritten)
	h.dropRouteCVC(q, cvcAlias, next.CVCAlias)
	if replacedCVC != "" && replacedCVC != newCVCAlias {
		// The card's old CVC: no card holds it now (a reissue and a
		// card's deletion delete theirs too); a failure leaves it to expire.
		if err := h.deleteAlias(q, replacedCVC); err != nil {
			h.releaseFailed()
			h.log.WarnContext(q.ctx, "cards: update: the replaced CVC was not deleted; it expires", "card_id", rec.ID,
				"account_id", q.p.Account, "error", err.Error(), "trace_id", q.obs.TraceID)
		}
	}
	included := &[]Resource{} // the page's answer has included: empty when nothing changed
	if len(upd.ChangedFields) > 0 {
		included = &[]Resource{{Type: typeCardUpdates, ID: upd.ID, Attributes: upd.CardUpdate}}
		h.log.InfoContext(q.ctx, "cards: card updated", "card_id", rec.ID, "account_id", q.p.Account,
			"changed_fields", strings.Join(upd.ChangedFields, ","), "trace_id", q.obs.TraceID)
		h.publishCard(q, EventCardUpdated, next, SourceAPI, &upd)
		if tokenChanged {
			h.publishToken(q, EventNetworkTokenUpdated, next, next.currentToken(), SourceAPI)
		}
	}
	pan, oldCVC, status, err := h.reveal(q, next)
	if err != nil {
		h.fail(q, "update card", err)
		return
	}
	if !hasCVC {
		cvc = oldCVC
	}
	if len(*included) > 0 {
		noteOutcome(q.ctx, rec.ID, upd.ID)
	} else {
		noteOutcome(q.ctx, rec.ID, "")
	}
	h.write(q, http.StatusOK, Document{Data: Resource{Type: typeCards, ID: rec.ID,
		Attributes: h.attributes(q, next, pan, cvc, status)}, Included: included})
}
