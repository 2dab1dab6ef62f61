package inspector

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/aliasgate/aliasgate/internal/atomicfile"
	"github.com/aliasgate/aliasgate/proxy"
	"github.com/aliasgate/aliasgate/routes"
	"github.com/aliasgate/aliasgate/routes/dryrun"
	"github.com/aliasgate/aliasgate/routes/rewrite"
)

// inlineName names the inline routes in load problems.
const inlineName = "inline routes"

// routesInfo is the answer of GET /ui/api/routes.
type routesInfo struct {
	// Source is "file" (routes_file, which apply writes) or "inline" (the
	// config's routes list, which apply only hot-loads).
	Source string `json:"source"`
	File   string `json:"file,omitempty"`
	YAML   string `json:"yaml"`
}

func (i *Inspector) getRoutes(w http.ResponseWriter, r *http.Request) {
	doc, err := i.currentDoc()
	if err != nil {
		i.log.Error("inspector: read the routes file", "error", err.Error())
		writeJSONError(w, http.StatusInternalServerError, "the routes file cannot be read")
		return
	}
	info := routesInfo{Source: "inline", YAML: string(doc)}
	if i.opts.RoutesFile != "" {
		info.Source, info.File = "file", i.opts.RoutesFile
	}
	writeJSON(w, http.StatusOK, info)
}

// currentDoc returns the routes document in force: the file's content, or
// the inline routes (as last applied).
func (i *Inspector) currentDoc() ([]byte, error) {
	if i.opts.RoutesFile != "" {
		b, err := routes.ReadFile(i.opts.RoutesFile) // a regular file only: a FIFO would block for good
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("inspector: read routes file: %w", err)
		}
		return b, nil
	}
	i.applyMu.Lock()
	defer i.applyMu.Unlock()
	return slices.Clone(i.inline), nil
}

func (i *Inspector) docName() string {
	if i.opts.RoutesFile != "" {
		return i.opts.RoutesFile
	}
	return inlineName
}

// proposeRequest asks for a target on a field of a captured request.
type proposeRequest struct {
	Capture uint64 `json:"capture"`
	// Kind and Path name the field as the capture lists it.
	Kind string `json:"kind"`
	Path string `json:"path"`
	// Target overrides the proposed target path (default: the field's
	// pattern, array indexes as #).
	Target string `json:"target,omitempty"`
	// Format and Storage override the proposed ones ("default": none).
	Format  string `json:"format,omitempty"`
	Storage string `json:"storage,omitempty"`
	// Upstream is the upstream of a new inbound route.
	Upstream string `json:"upstream,omitempty"`
}

// proposal is the answer of POST /ui/api/propose.
type proposal struct {
	Route     string        `json:"route"`
	NewRoute  bool          `json:"new_route"`
	Filter    string        `json:"filter"`
	NewFilter bool          `json:"new_filter"`
	Operation string        `json:"operation"`
	Target    proposedField `json:"target"`
	// Already reports that the filter targets this field already; YAML is
	// then the current document.
	Already bool `json:"already"`
	// YAML is the whole routes document with the proposal in it.
	YAML string `json:"yaml"`
	// Problems are what keeps YAML from loading (e.g. a new inbound route
	// without its upstream).
	Problems []string `json:"problems"`
	Notes    []string `json:"notes"`
}

type proposedField struct {
	Kind        string   `json:"kind"`
	Path        string   `json:"path"`
	Format      string   `json:"format,omitempty"`
	Storage     string   `json:"storage,omitempty"`
	Classifiers []string `json:"classifiers,omitempty"`
}

func (i *Inspector) propose(w http.ResponseWriter, r *http.Request) {
	var req proposeRequest
	if !decodeRequest(w, r, &req) {
		return
	}
	e, ok := i.buf.Get(req.Capture)
	if !ok {
		writeJSONError(w, http.StatusNotFound, "no such capture")
		return
	}
	v := e.Request.Received
	var field *Field
	if v != nil {
		for k := range v.Fields {
			if v.Fields[k].Kind == req.Kind && v.Fields[k].Path == req.Path {
				field = &v.Fields[k]
				break
			}
		}
	}
	if field == nil {
		writeJSONError(w, http.StatusBadRequest, "the capture's request has no such field")
		return
	}
	doc, err := i.currentDoc()
	if err != nil {
		writeJSONError(w, http.StatusInternalServerError, "the routes file cannot be read")
		return
	}
	p, err := i.buildProposal(e, field, req, doc)
	if err != nil {
		writeJSONError(w, http.StatusConflict, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// suggest returns the target a field's hint calls for.
func suggest(kind, path, hint string, outbound bool) (proposedField, []string) {
	t := proposedField{Kind: kind, Path: path}
	if outbound {
		return t, []string{"an outbound request carries aliases: the proposal reveals them into the values on the way out"}
	}
	var notes []string
	switch {
	case hint == HintPAN:
		t.Format, t.Storage, t.Classifiers = "FPE_SIX_T_FOUR", "persistent", []string{"pan"}
		notes = append(notes, "a card number: FPE_SIX_T_FOUR keeps its first 6 and last 4 digits and its length, kept until deleted")
	case strings.HasPrefix(hint, HintCVC):
		t.Storage, t.Classifiers = "volatile", []string{"cvc"}
		if n, _ := strconv.Atoi(strings.TrimPrefix(hint, HintCVC)); n >= 4 {
			t.Format = "NUM_LENGTH_PRESERVING"
			notes = append(notes, "a security code: volatile storage (PCI DSS forbids keeping it after authorization), digits of the same length")
		} else {
			notes = append(notes, "a security code: volatile storage (PCI DSS forbids keeping it after authorization); the default UUID format, since NUM_LENGTH_PRESERVING needs at least 4 digits")
		}
	case strings.HasPrefix(hint, HintDigits):
		if n, _ := strconv.Atoi(strings.TrimPrefix(hint, HintDigits)); n >= 4 {
			t.Format = "NUM_LENGTH_PRESERVING"
		}
		t.Storage = "persistent"
	default:
		t.Storage = "persistent"
	}
	return t, notes
}

var slugRE = regexp.MustCompile(`[^A-Za-z0-9]+`)

// buildProposal edits doc (the routes document in force) to target field.
func (i *Inspector) buildProposal(e *Entry, field *Field, req proposeRequest, doc []byte) (*proposal, error) {
	set, err := routes.Parse(doc, i.docName(), i.opts.RouteOptions)
	if err != nil {
		return nil, fmt.Errorf("the routes in force do not load: %s", loadProblems(err)[0])
	}
	outbound := e.Direction == string(routes.Outbound)
	target := req.Target
	if target == "" {
		target = field.Pattern
	}
	tf, notes := suggest(field.Kind, target, field.Hint, outbound)
	if req.Format != "" {
		tf.Format = strings.ToUpper(req.Format)
		if tf.Format == "DEFAULT" {
			tf.Format = ""
		}
	}
	if req.Storage != "" {
		tf.Storage = strings.ToLower(req.Storage)
	}
	op := rewrite.Redact
	if outbound {
		op = rewrite.Reveal
		tf.Format, tf.Storage, tf.Classifiers = "", "", nil
	}
	p := &proposal{Operation: op.String(), Target: tf, Notes: notes, Problems: []string{}}

	root, seq, err := routesSeq(doc)
	if err != nil {
		return nil, err
	}
	mediaType := ""
	for _, h := range e.Request.Received.Headers {
		if h.Name == "Content-Type" {
			mediaType = h.Value
		}
	}
	x := routes.Exchange{Method: e.Method, Path: e.Path, Query: e.Query, MediaType: mediaType, RequestContentType: mediaType}
	kind := rewrite.Kind(field.Kind)

	route := routeByID(set, e.Route)
	if route != nil && string(route.Direction) != e.Direction {
		route = nil
	}
	if route == nil {
		p.Route, p.NewRoute = i.newRouteID(set, e), true
		p.Filter, p.NewFilter = filterID(nil, target), true
		rn := newRouteNode(p.Route, e, req.Upstream, filterNode(p.Filter, op, e, mediaType, kind, tf))
		seq.Content = append(seq.Content, rn)
		if e.Direction == string(routes.Inbound) && req.Upstream == "" && !strings.HasPrefix(e.Route, "internal:") {
			p.Notes = append(p.Notes, "the request matched no route: give the URL of the app behind the gateway as the new route's upstream")
		}
	} else {
		p.Route = route.ID
		rn := findRouteNode(seq, route.ID)
		if rn == nil {
			return nil, fmt.Errorf("route %s is not in the document", route.ID)
		}
		fi, f := pickFilter(route, x, op, kind)
		if f != nil {
			p.Filter = f.ID
			for _, t := range f.Targets {
				if k, path := t.Kind(); k == kind && (path == target || kind == rewrite.KindHeader && strings.EqualFold(path, target)) {
					p.Already = true
				}
			}
			if p.Already {
				p.YAML = string(doc)
				p.Notes = append(p.Notes, fmt.Sprintf("filter %s of route %s targets this field already", f.ID, route.ID))
				return p, nil
			}
			fn := seqItem(mapGetNode(rn, "filters"), fi)
			tn := mapGetNode(fn, "targets")
			if fn == nil || tn == nil || tn.Kind != yaml.SequenceNode {
				return nil, fmt.Errorf("filter %s of route %s is not in the document", f.ID, route.ID)
			}
			tn.Content = append(tn.Content, targetNode(tf))
		} else {
			p.Filter, p.NewFilter = filterID(route, target), true
			flist := mapGetNode(rn, "filters")
			if flist == nil || flist.Kind != yaml.SequenceNode {
				flist = list(false)
				setMapKey(rn, "filters", flist)
			}
			flist.Content = append(flist.Content, filterNode(p.Filter, op, e, mediaType, kind, tf))
		}
	}
	out, err := encodeDoc(root)
	if err != nil {
		return nil, err
	}
	p.YAML = string(out)
	if _, err := routes.Parse(out, "proposal", i.opts.RouteOptions); err != nil {
		p.Problems = loadProblems(err)
	}
	return p, nil
}

// pickFilter returns the first redact (reveal) request filter of route
// that matches x and can take a target of kind (one body kind per filter),
// and its index.
func pickFilter(route *routes.Route, x routes.Exchange, op rewrite.Operation, kind rewrite.Kind) (int, *routes.Filter) {
	matching := route.Matching(routes.Request, x)
	for idx, f := range route.Filters {
		if f.Operation != op || !slices.Contains(matching, f) {
			continue
		}
		ok := true
		if kind != rewrite.KindHeader {
			for _, t := range f.Targets {
				if k, _ := t.Kind(); k != rewrite.KindHeader && k != kind {
					ok = false
				}
			}
		}
		if ok {
			return idx, f
		}
	}
	return -1, nil
}

func routeByID(set *routes.Set, id string) *routes.Route {
	for _, r := range set.Routes {
		if r.ID == id {
			return r
		}
	}
	return nil
}

func (i *Inspector) newRouteID(set *routes.Set, e *Entry) string {
	base := "inspector-" + strings.Trim(slugRE.ReplaceAllString(strings.ToLower(hostOnly(e.Host)), "-"), "-")
	if base == "inspector-" {
		base = "inspector-route"
	}
	base = truncate(base, 100)
	id := base
	for n := 2; routeByID(set, id) != nil; n++ {
		id = base + "-" + strconv.Itoa(n)
	}
	return id
}

// filterID names a new filter after its target, unique in route.
func filterID(route *routes.Route, target string) string {
	base := truncate("redact-"+strings.Trim(slugRE.ReplaceAllString(strings.ToLower(target), "-"), "-"), 100)
	taken := func(id string) bool {
		if route == nil {
			return false
		}
		for _, f := range route.Filters {
			if f.ID == id {
				return true
			}
		}
		return false
	}
	id := base
	for n := 2; taken(id); n++ {
		id = base + "-" + strconv.Itoa(n)
	}
	return id
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// hostOnly drops the port of a Host header, and returns "" for hosts a
// route cannot name (IPv6 literals, masked values).
func hostOnly(h string) string {
	h = strings.ToLower(h)
	if strings.HasPrefix(h, "[") || strings.Contains(h, "*") {
		return ""
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 {
		h = h[:i]
	}
	return strings.TrimSuffix(h, ".")
}

// YAML tree editing: the document is edited as a yaml.Node so that its
// comments and layout stay.

func str(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v} }

func mapping(flow bool, kv ...*yaml.Node) *yaml.Node {
	n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: kv}
	if flow {
		n.Style = yaml.FlowStyle
	}
	return n
}

func list(flow bool, items ...*yaml.Node) *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: items}
	if flow {
		n.Style = yaml.FlowStyle
	}
	return n
}

func targetNode(t proposedField) *yaml.Node {
	n := mapping(true, str(t.Kind), str(t.Path))
	if t.Format != "" {
		n.Content = append(n.Content, str("format"), str(t.Format))
	}
	if t.Storage != "" {
		n.Content = append(n.Content, str("storage"), str(t.Storage))
	}
	if len(t.Classifiers) > 0 {
		cs := list(true)
		for _, c := range t.Classifiers {
			cs.Content = append(cs.Content, str(c))
		}
		n.Content = append(n.Content, str("classifiers"), cs)
	}
	return n
}

// filterNode is a new filter matching the captured request's method, exact
// path and (for body targets) content type.
func filterNode(id string, op rewrite.Operation, e *Entry, mediaType string, kind rewrite.Kind, t proposedField) *yaml.Node {
	match := mapping(true, str("methods"), list(true, str(strings.ToUpper(e.Method))), str("path"), str("^"+regexp.QuoteMeta(e.Path)+"$"))
	if kind != rewrite.KindHeader {
		for _, ct := range []string{"json", "form", "multipart", "xml"} {
			if mediaType != "" && routes.ContentTypeMatches(ct, mediaType) {
				match.Content = append(match.Content, str("content_type"), str(ct))
				break
			}
		}
	}
	return mapping(false,
		str("id"), str(id),
		str("match"), match,
		str("operation"), str(op.String()),
		str("targets"), list(false, targetNode(t)),
	)
}

func newRouteNode(id string, e *Entry, upstream string, filter *yaml.Node) *yaml.Node {
	host := hostOnly(e.Host)
	if host == "" {
		host = "*"
	}
	prefix := "/"
	if upstream == "" && strings.HasPrefix(e.Route, "internal:") && e.Route != "internal:oauth" {
		upstream = e.Route // a built-in mount: put the route in front of it
		if seg, _, _ := strings.Cut(strings.TrimPrefix(e.Path, "/"), "/"); seg != "" {
			prefix = "/" + seg
		}
	}
	n := mapping(false, str("id"), str(id), str("direction"), str(e.Direction), str("host"), str(host), str("path_prefix"), str(prefix))
	if e.Direction == string(routes.Inbound) {
		n.Content = append(n.Content, str("upstream"), str(upstream))
	}
	n.Content = append(n.Content, str("filters"), list(false, filter))
	return n
}

// routesSeq parses doc and returns its root and the routes sequence (made
// when the document is empty).
func routesSeq(doc []byte) (*yaml.Node, *yaml.Node, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(doc, &root); err != nil {
		return nil, nil, fmt.Errorf("the routes document is not YAML: %w", err)
	}
	if root.Kind == 0 || len(root.Content) == 0 || root.Content[0].Tag == "!!null" {
		seq := list(false)
		root = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{mapping(false, str("routes"), seq)}}
		return &root, seq, nil
	}
	top := root.Content[0]
	switch top.Kind {
	case yaml.SequenceNode:
		return &root, top, nil
	case yaml.MappingNode:
		seq := mapGetNode(top, "routes")
		if seq == nil || seq.Tag == "!!null" {
			seq = list(false)
			setMapKey(top, "routes", seq)
		}
		if seq.Kind != yaml.SequenceNode {
			return nil, nil, errors.New("routes: is not a list")
		}
		return &root, seq, nil
	}
	return nil, nil, errors.New("the routes document is neither a list nor a mapping")
}

func mapGetNode(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func setMapKey(n *yaml.Node, key string, v *yaml.Node) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			n.Content[i+1] = v
			return
		}
	}
	n.Content = append(n.Content, str(key), v)
}

func seqItem(n *yaml.Node, i int) *yaml.Node {
	if n == nil || n.Kind != yaml.SequenceNode || i < 0 || i >= len(n.Content) {
		return nil
	}
	return n.Content[i]
}

func findRouteNode(seq *yaml.Node, id string) *yaml.Node {
	for _, rn := range seq.Content {
		if v := mapGetNode(rn, "id"); v != nil && v.Value == id {
			return rn
		}
	}
	return nil
}

func encodeDoc(root *yaml.Node) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return nil, fmt.Errorf("inspector: encode routes: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("inspector: encode routes: %w", err)
	}
	return buf.Bytes(), nil
}

// loadProblems lists the problems of a routes load error.
func loadProblems(err error) []string {
	var le *routes.LoadError
	if errors.As(err, &le) {
		out := make([]string, len(le.Problems))
		for k, p := range le.Problems {
			out[k] = p.String()
		}
		return out
	}
	return []string{err.Error()}
}

// Preview.

type previewRequest struct {
	Capture uint64 `json:"capture"`
	YAML    string `json:"yaml"`
}

type previewFilter struct {
	ID        string          `json:"id"`
	Operation string          `json:"operation"`
	Changes   []previewChange `json:"changes"`
	Error     string          `json:"error,omitempty"`
	OnError   string          `json:"on_error"`
}

type previewChange struct {
	Kind  string `json:"kind"`
	Path  string `json:"path"`
	Count int    `json:"count"`
}

type previewResult struct {
	Route   string          `json:"route"`
	Filters []previewFilter `json:"filters"`
	Refused string          `json:"refused,omitempty"`
	// Unmatched: the body matches no filter with body targets on a route
	// that redacts request bodies; the gateway refuses it (422
	// no_matching_filter) unless the route says unmatched_body: pass.
	Unmatched bool `json:"unmatched_body,omitempty"`
	// Status and Code are the gateway's answer to a request it refuses
	// (dryrun.Result.Status, Code: 422 no_matching_filter, 400
	// malformed_body for Content-Type fields that differ, 415
	// unsupported_charset, 413 body_too_large over limits.max_body or
	// made longer than it by the filters, the leak guard's 422
	// card_data_leak; before any route, 403 forwarded_by_reveal_route
	// to /cards or /aliases); absent when it forwards it. Error is why it
	// does not read the body (dryrun.Result.BodyErr), when it does not.
	// The captured body is masked, so the leak guard finds no card
	// number the gateway's found in it.
	Status    int    `json:"status,omitempty"`
	Code      string `json:"code,omitempty"`
	BodyError string `json:"body_error,omitempty"`
	// Request is the rewritten request as text (start line, headers, body).
	Request string `json:"request"`
}

func (i *Inspector) preview(w http.ResponseWriter, r *http.Request) {
	var req previewRequest
	if !decodeRequest(w, r, &req) {
		return
	}
	set, err := routes.Parse([]byte(req.YAML), "proposal", i.opts.RouteOptions)
	if err != nil {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": "the routes do not load", "problems": loadProblems(err)})
		return
	}
	e, ok := i.buf.Get(req.Capture)
	if !ok || e.Request.Received == nil {
		writeJSONError(w, http.StatusNotFound, "no such capture")
		return
	}
	if out := earlyRefusal(e); out != nil {
		// Refused before any route reads the body, whatever the routes.
		writeJSON(w, http.StatusOK, out)
		return
	}
	if why := bodyUnavailable(e.Request.Received); why != "" {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{
			"error":            "the capture's request body is not available for a preview: the gateway's filters read all of it, the inspector kept " + map[string]string{"truncated": "only its start", "withheld": "none of it"}[why],
			"body_unavailable": why,
			"reason":           e.Request.Received.Note,
		})
		return
	}
	res, err := i.runPreview(r.Context(), set, e)
	if err != nil {
		i.log.Error("inspector: preview failed", "error", err.Error())
		writeJSONError(w, http.StatusInternalServerError, "the preview vault cannot be opened")
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// earlyRefusal returns the preview of a request the inbound listener
// refuses before any route, whatever the routes (its status and code:
// proxy.RevealRouteRefusal), nil for any other.
func earlyRefusal(e *Entry) *previewResult {
	if routes.Direction(e.Direction) != routes.Inbound {
		return nil
	}
	h := http.Header{}
	for _, l := range e.Request.Received.Headers {
		h.Add(l.Name, l.Value)
	}
	jerr := proxy.RevealRouteRefusal(e.Path, h)
	if jerr == nil {
		return nil
	}
	return &previewResult{Filters: []previewFilter{}, Status: jerr.Status, Code: jerr.Objects[0].Code}
}

// bodyUnavailable says why a preview cannot run on the request view v:
// "truncated" (the inspector kept the start of the body, or the receiver
// did not read it all) or "withheld" (not kept: binary, an encoding or
// charset it cannot mask); "" when the view holds the whole body (or there
// is none). Run on a part of a body, the filters would find nothing, or
// a malformed body, where the gateway found and changed the values.
func bodyUnavailable(v *View) string {
	switch {
	case v.BodyKind == "withheld":
		return "withheld"
	case v.Truncated:
		return "truncated"
	}
	return ""
}

// runPreview applies set to the masked request of e with the dry-run
// engine and a throw-away vault.
func (i *Inspector) runPreview(ctx context.Context, set *routes.Set, e *Entry) (*previewResult, error) {
	v := e.Request.Received
	h := http.Header{}
	for _, l := range v.Headers {
		h.Add(l.Name, l.Value)
	}
	// The view's body is decoded and may be re-indented.
	h.Del("Content-Length")
	h.Del("Content-Encoding")
	h.Del("Transfer-Encoding")
	tok, closeVault, err := i.opts.PreviewTokenizer(ctx)
	if err != nil {
		return nil, fmt.Errorf("inspector: preview vault: %w", err)
	}
	defer closeVault()
	out := &previewResult{Filters: []previewFilter{}}
	m := &dryrun.Message{Direction: routes.Direction(e.Direction), Phase: routes.Request,
		Method: e.Method, Host: e.Host, Path: e.Path, Query: e.Query, Header: h, Body: []byte(v.Body),
		Rules: proxy.GatewayRules{MaxBody: i.opts.MaxBody}}
	res := dryrun.Run(ctx, set, m, standIn{tok})
	if res.Route != nil {
		out.Route = res.Route.ID
	}
	for _, fr := range res.Filters {
		pf := previewFilter{ID: fr.Filter.ID, Operation: fr.Filter.Operation.String(), OnError: string(fr.Filter.OnError), Changes: []previewChange{}}
		if fr.Err != nil {
			pf.Error = fr.Err.Error()
		}
		for _, c := range fr.Changes {
			pf.Changes = append(pf.Changes, previewChange{Kind: string(c.Kind), Path: c.Path, Count: c.Count})
		}
		out.Filters = append(out.Filters, pf)
	}
	if res.Refused != nil {
		out.Refused = res.Refused.ID
	}
	out.Unmatched = res.Unmatched
	out.Status, out.Code = res.Status, res.Code
	if res.BodyErr != nil {
		_, out.BodyError = proxy.Refusal(routes.Request, res.BodyErr)
	}
	var b strings.Builder
	target := e.Path
	if e.Query != "" {
		target += "?" + e.Query
	}
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", e.Method, target, e.Host)
	_ = h.Write(&b)
	b.WriteString("\r\n")
	b.Write(m.Body)
	out.Request = b.String()
	return out, nil
}

// standIn lets the throw-away vault take masked values: the asterisks of
// a mask stand in as zeros, so a masked card number keeps its length and
// its first 6 and last 4 digits (what FPE_SIX_T_FOUR keeps) and a masked
// CVC its length.
type standIn struct{ t rewrite.Tokenizer }

func (s standIn) Redact(ctx context.Context, items []rewrite.RedactItem) ([]string, error) {
	in := make([]rewrite.RedactItem, len(items))
	for k, it := range items {
		it.Value = strings.ReplaceAll(strings.ReplaceAll(it.Value, "…", ""), "*", "0")
		in[k] = it
	}
	return s.t.Redact(ctx, in)
}

func (s standIn) Reveal(ctx context.Context, aliases []string) ([]string, error) {
	return s.t.Reveal(ctx, aliases)
}

// Apply.

type applyRequest struct {
	YAML string `json:"yaml"`
}

type applyResult struct {
	Applied bool `json:"applied"`
	// Persisted reports that the routes file was written.
	Persisted bool   `json:"persisted"`
	File      string `json:"file,omitempty"`
	Backup    string `json:"backup,omitempty"`
	Routes    int    `json:"routes"`
	Filters   int    `json:"filters"`
	Note      string `json:"note,omitempty"`
}

func (i *Inspector) apply(w http.ResponseWriter, r *http.Request) {
	var req applyRequest
	if !decodeRequest(w, r, &req) {
		return
	}
	res, problems, err := i.applyDoc(r.Context(), []byte(req.YAML))
	switch {
	case problems != nil:
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": "the routes do not load; nothing was changed", "problems": problems})
	case errors.Is(err, errNotRecorded) && res == nil:
		i.log.Error("inspector: apply refused: the audit log cannot record it", "error", err.Error())
		writeJSONError(w, http.StatusServiceUnavailable, "the audit log cannot record the change; nothing was changed")
	case errors.Is(err, errNotRecorded):
		i.log.Error("inspector: routes applied but not recorded in the audit log", "error", err.Error())
		writeJSON(w, http.StatusInternalServerError, map[string]any{"error": "the routes were applied, but the audit log could not record it",
			"applied": true, "persisted": res.Persisted, "routes": res.Routes})
	case err != nil:
		i.log.Error("inspector: apply failed", "error", err.Error())
		writeJSONError(w, http.StatusInternalServerError, "the routes could not be applied: "+err.Error())
	default:
		writeJSON(w, http.StatusOK, res)
	}
}

// errNotRecorded wraps the error of Options.Applied.
var errNotRecorded = errors.New("inspector: the audit log did not record the applied routes")

// applyDoc validates doc and makes it the routes in force: written over the
// routes file (the old one kept as .bak) and reloaded, or stored in the
// table when the routes are inline. Options.Applied records it: before the
// set is stored for inline routes (when it fails nothing changes: nil
// result, errNotRecorded), after the reload for a routes file (when it
// fails the set is in force: the result and errNotRecorded).
func (i *Inspector) applyDoc(ctx context.Context, doc []byte) (*applyResult, []string, error) {
	i.applyMu.Lock()
	defer i.applyMu.Unlock()
	if routes.Empty(doc) {
		return nil, []string{"the document holds no routes list (empty, or routes: with no value): nothing was applied; apply routes: [] to remove every route"}, nil
	}
	set, err := routes.Parse(doc, i.docName(), i.opts.RouteOptions)
	if err != nil {
		return nil, loadProblems(err), nil
	}
	res := &applyResult{Applied: true, Routes: len(set.Routes)}
	for _, rt := range set.Routes {
		res.Filters += len(rt.Filters)
	}
	file := i.opts.RoutesFile
	if file == "" {
		if err := i.recordApplied(ctx, res.Routes); err != nil {
			return nil, nil, err
		}
		i.opts.Table.Store(set)
		i.inline = slices.Clone(doc)
		res.Note = "no routes_file is configured (the routes are inline in the configuration, or none): the new set runs now but is not saved; put it in a routes_file, or in the configuration's routes: list, to keep it"
		i.log.Info("inspector: routes applied (inline, not saved)", "routes", res.Routes)
		return res, nil, nil
	}
	// A link is written through: replacing it would leave the file it
	// names, where the operator edits the routes, no longer loaded.
	if real, err := filepath.EvalSymlinks(file); err == nil {
		file = real
	}
	perm := os.FileMode(0o600)
	old, err := routes.ReadFile(file) // a regular file only: a FIFO would block for good
	switch {
	case err == nil:
		if fi, err := os.Stat(file); err == nil {
			perm = fi.Mode().Perm()
		}
		res.Backup = file + ".bak"
		if err := atomicfile.Write(res.Backup, old, perm); err != nil {
			return nil, nil, fmt.Errorf("back up the routes file: %w", err)
		}
	case errors.Is(err, fs.ErrNotExist):
		old = nil
	default:
		return nil, nil, fmt.Errorf("read the routes file: %w", err)
	}
	if err := atomicfile.Write(file, doc, perm); err != nil {
		return nil, nil, fmt.Errorf("write the routes file: %w", err)
	}
	if err := i.opts.Reload(); err != nil {
		// The set loaded here; put the old file back all the same.
		if old != nil {
			_ = atomicfile.Write(file, old, perm)
			_ = i.opts.Reload()
		}
		return nil, nil, fmt.Errorf("reload the routes file: %w", err)
	}
	res.Persisted, res.File = true, i.opts.RoutesFile
	i.log.Info("inspector: routes applied", "file", file, "backup", res.Backup, "routes", res.Routes)
	if err := i.recordApplied(ctx, res.Routes); err != nil {
		return res, nil, err
	}
	return res, nil, nil
}

// recordApplied calls Options.Applied (when set) for a set of n routes.
func (i *Inspector) recordApplied(ctx context.Context, n int) error {
	if i.opts.Applied == nil {
		return nil
	}
	if err := i.opts.Applied(ctx, n); err != nil {
		return fmt.Errorf("%w: %w", errNotRecorded, err)
	}
	return nil
}
