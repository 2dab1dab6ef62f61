package vgs

import (
	"fmt"
	"math/rand/v2"
	"mime"
	"os"
	"path/filepath"
	"regexp/syntax"
	"slices"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/routes"
)

// TestDifferentialNeverWider converts every export in testdata and asks the
// model of VGS (model_test.go) and the converted native routes, loaded by
// the routes package and matched as the proxies match them (Set.Match, then
// Route.Matching), about generated requests and responses. A native filter
// that applies where VGS would not apply its entry fails the test. Where
// VGS applies an entry and the native routes do not (a narrowing), the
// report must name the entry or its route.
func TestDifferentialNeverWider(t *testing.T) {
	inputs, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range inputs {
		t.Run(strings.TrimSuffix(filepath.Base(in), ".yaml"), func(t *testing.T) {
			src, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			differential(t, src, 4000, true)
		})
	}
}

// differential runs n generated requests through both; strict (the
// fixtures) also wants most of them checkable and some of them applied.
func differential(t *testing.T, src []byte, n int, strict bool) {
	t.Helper()
	out, rep, err := Convert(src)
	if err != nil {
		if strict {
			t.Fatalf("Convert: %v", err)
		}
		return
	}
	set, err := routes.Parse(out, "converted", routes.Options{})
	if err != nil {
		t.Fatalf("the converted routes do not load: %v\n%s", err, out)
	}
	model, err := readModel(src)
	if err != nil {
		t.Fatal(err)
	}
	if !strict && len(model) > 50 {
		return // keep a fuzz input cheap
	}
	entryOf, unique := nativeEntryIDs(model)
	if !unique {
		if strict {
			t.Fatal("the fixture repeats an entry id (or leaves one out): give every entry its own")
		}
		return
	}
	gen := newRequestGen(model)
	var checked, unknown, fired, vgsFired int
	narrowed := map[string]string{} // VGS entry id → an exchange where native did less
	for i := range n {
		req := gen.next(i)
		for _, phase := range []string{"request", "response"} {
			want, known := modelApplied(model, req, phase)
			if !known {
				unknown++
				continue
			}
			checked++
			got := nativeApplied(set, req, phase)
			vgsFired += len(want)
			fired += len(got)
			for _, f := range got {
				id, ok := entryFor(entryOf, f)
				if !ok {
					if !strict {
						return // ids the fuzzer repeated or left out: no map
					}
					t.Fatalf("native filter %q maps to no VGS entry", f)
				}
				if !slices.Contains(want, id) {
					t.Errorf("wider than VGS: %s %+v: native filter %s applies, VGS applies %v", phase, req, f, want)
				}
			}
			for _, id := range want {
				if _, seen := narrowed[id]; !seen && !slices.ContainsFunc(got, func(f string) bool { e, _ := entryFor(entryOf, f); return e == id }) {
					narrowed[id] = fmt.Sprintf("%s %+v", phase, req)
				}
			}
		}
		if t.Failed() {
			t.Fatalf("converted routes:\n%s", out)
		}
	}
	if strict && checked < n {
		t.Fatalf("only %d of %d exchanges could be checked (%d the model cannot evaluate)", checked, 2*n, unknown)
	}
	if strict && vgsFired == 0 {
		t.Fatal("the generated requests never make VGS apply an entry: the generator misses the fixture")
	}
	for id, where := range narrowed {
		if strict && !reported(rep, model, id) {
			t.Errorf("VGS applies entry %s where the native routes do not (%s), and the report does not say so:\n%s", id, where, rep)
		}
	}
	t.Logf("%d exchanges checked (%d unknown to the model); VGS applied %d entries, native %d filters; %d entries narrowed, all reported",
		checked, unknown, vgsFired, fired, len(narrowed))
}

// nativeApplied returns the ids of the native filters that apply to req.
func nativeApplied(set *routes.Set, req modelRequest, phase string) []string {
	dir := routes.Inbound
	if req.outbound {
		dir = routes.Outbound
	}
	r := set.Match(dir, req.host+":"+req.port, req.path)
	if r == nil {
		return nil
	}
	mt, _, _ := mime.ParseMediaType(req.ctype)
	x := routes.Exchange{Method: req.method, Path: req.path, Query: req.query, MediaType: mt, RequestContentType: req.ctype}
	if phase == "response" {
		x.Status = req.status
	}
	var ids []string
	for _, f := range r.Matching(routes.Phase(phase), x) {
		ids = append(ids, f.ID)
	}
	return ids
}

// nativeEntryIDs maps native filter ids to VGS entry ids. The fixtures give
// every entry an id unique in the export, which the converter keeps.
func nativeEntryIDs(model []modelRoute) (m map[string]string, unique bool) {
	m = map[string]string{}
	for _, r := range model {
		for _, e := range r.entries {
			id := sanitizeID(e.id)
			if _, dup := m[id]; dup || id == "" {
				return nil, false
			}
			m[id] = e.id
		}
	}
	return m, true
}

// entryFor maps a native filter id to its VGS entry: the entry's id, or
// the entry's id and "-N" for one of the filters an entry whose OR of
// groups became one filter per group gives (convertConditions).
func entryFor(entryOf map[string]string, f string) (string, bool) {
	if id, ok := entryOf[f]; ok {
		return id, true
	}
	base, n, found := strings.Cut(f[max(0, strings.LastIndexByte(f, '-')):], "-")
	if !found || base != "" || n == "" || strings.Trim(n, "0123456789") != "" {
		return "", false
	}
	id, ok := entryOf[strings.TrimSuffix(f, "-"+n)]
	return id, ok
}

// reported reports whether the report names the entry, or its route as
// left out or narrowed.
func reported(rep Report, model []modelRoute, id string) bool {
	route := ""
	for _, r := range model {
		for _, e := range r.entries {
			if e.id == id {
				route = r.label
			}
		}
	}
	for _, it := range rep.Items {
		if it.Entry == id || sanitizeID(id) == it.Entry || it.Route == route && it.Entry == "" && it.Effect != Ignored {
			return true
		}
	}
	return false
}

// requestGen makes requests from the values an export names (hosts, paths,
// content types, methods, statuses), from samples of its patterns, and
// from near misses of both. Most requests aim at one route and one entry
// (its hosts, its condition's values, each replaced now and then by any
// other value), so that near misses of each condition are tried.
type requestGen struct {
	rng    *rand.Rand
	all    genValues
	routes []genRoute
}

type genValues struct {
	hosts, ports, paths, queries, methods, ctypes []string
	statuses                                      []int
}

type genRoute struct {
	outbound bool
	hosts    []string
	ports    []string
	entries  []genValues
}

func newRequestGen(model []modelRoute) *requestGen {
	g := &requestGen{
		rng: rand.New(rand.NewPCG(20, 20)),
		all: genValues{
			ports:    []string{"443", "80", "8443", "8080"},
			hosts:    []string{"other.example", "localhost"},
			paths:    []string{"/", "/x", "/api/x"},
			queries:  []string{"", "", "a=1", "version=2", "format=json"},
			methods:  []string{"POST", "GET", "PUT", "post", "PATCH"},
			ctypes:   []string{"", "application/json", "application/json; charset=utf-8", "Application/JSON", "application/vnd.api+json", "application/xml", "text/xml", "application/soap+xml", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/plain"},
			statuses: []int{200, 201, 204, 302, 400, 402, 404, 500},
		},
	}
	for _, r := range model {
		gr := genRoute{outbound: r.outbound, hosts: []string{"shop.example", "tnt1.sandbox.verygoodproxy.com"}}
		if r.host != nil {
			gr.hosts = nil
			p := strings.TrimSuffix(strings.TrimPrefix(r.host.String(), `(?i)^(?:`), `)$`)
			for range 6 {
				h := sample(g.rng, p)
				if host, port, ok := strings.Cut(h, ":"); ok && strings.Contains(p, ":") {
					gr.ports = append(gr.ports, port)
					h = host
				}
				gr.hosts = append(gr.hosts, h, "a.b."+h, "x"+h, strings.ToUpper(h))
				if i := strings.IndexByte(h, '.'); i > 0 {
					gr.hosts = append(gr.hosts, "a1"+h[i:], "a.b"+h[i:], h[i+1:], "a-b"+h[i:])
				}
			}
		}
		gr.hosts = validHosts(gr.hosts)
		g.all.hosts = append(g.all.hosts, gr.hosts...)
		g.all.ports = append(g.all.ports, gr.ports...)
		for _, e := range r.entries {
			var v genValues
			v.add(g.rng, e.config, 0)
			gr.entries = append(gr.entries, v)
			g.all.paths = append(g.all.paths, v.paths...)
			g.all.queries = append(g.all.queries, v.queries...)
			g.all.methods = append(g.all.methods, v.methods...)
			g.all.ctypes = append(g.all.ctypes, v.ctypes...)
			g.all.statuses = append(g.all.statuses, v.statuses...)
		}
		if len(gr.hosts) > 0 {
			g.routes = append(g.routes, gr)
		}
	}
	g.all.hosts = validHosts(g.all.hosts)
	return g
}

// validHosts keeps the host names a client can send (no empty label),
// lower case, without duplicates.
func validHosts(hosts []string) []string {
	var out []string
	for _, h := range hosts {
		h = strings.ToLower(h)
		bad := strings.ContainsFunc(h, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_')
		})
		if h != "" && !bad && !slices.Contains(strings.Split(h, "."), "") && !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	return out
}

// add collects the values of a condition tree, with near misses.
func (v *genValues) add(rng *rand.Rand, cfg any, depth int) {
	if depth > maxConditionDepth {
		return
	}
	if l, ok := cfg.([]any); ok {
		for _, c := range l {
			v.add(rng, c, depth+1)
		}
		return
	}
	m, ok := asMap(cfg)
	if !ok {
		return
	}
	rules, _ := field(m, "rules")
	for _, r := range asList(rules) {
		v.add(rng, r, depth+1)
	}
	e, _ := field(m, "expression")
	em, ok := asMap(e)
	if !ok {
		return
	}
	raw, _ := field(em, "values")
	for _, x := range asList(raw) {
		s, _ := scalar(x)
		switch norm(str(em, "field")) {
		case "pathinfo", "path":
			v.addPath(rng, s, norm(str(em, "operator")))
		case "contenttype":
			v.ctypes = append(v.ctypes, s, strings.ToUpper(s), s+"; charset=utf-8")
		case "method", "httpmethod":
			v.methods = append(v.methods, s, strings.ToUpper(s), strings.ToLower(s))
		case "status":
			var n int
			for _, c := range s {
				n = n*10 + int(c-'0')
			}
			v.statuses = append(v.statuses, n, n+1, n-1)
		case "querystring":
			v.queries = append(v.queries, s)
		}
	}
}

func (v *genValues) addPath(rng *rand.Rand, p, op string) {
	var base []string
	if op == "matches" {
		if _, err := syntax.Parse(p, syntax.Perl); err != nil {
			return
		}
		for range 8 {
			base = append(base, sample(rng, p))
		}
	} else {
		base = []string{p}
	}
	for _, b := range base {
		path, query, _ := strings.Cut(b, "?")
		if query != "" {
			v.queries = append(v.queries, query, query+"&a=1")
		}
		for _, q := range []string{path, path + "/", path + "x", path + "/more", "/api" + path, "/v2/legacy" + path, "/x" + path + "/y", strings.TrimSuffix(path, "/")} {
			if !strings.HasPrefix(q, "/") {
				q = "/" + q
			}
			if c, err := routes.CanonicalPath(q); err == nil {
				v.paths = append(v.paths, c)
			}
		}
	}
}

func (g *requestGen) next(i int) modelRequest {
	pick := func(own, all []string) string {
		if len(own) > 0 && g.rng.IntN(4) > 0 {
			return own[g.rng.IntN(len(own))]
		}
		return all[g.rng.IntN(len(all))]
	}
	var r genRoute
	var e genValues
	outbound := i%2 == 0
	if len(g.routes) > 0 && g.rng.IntN(5) > 0 {
		r = g.routes[g.rng.IntN(len(g.routes))]
		outbound = r.outbound
		if len(r.entries) > 0 {
			e = r.entries[g.rng.IntN(len(r.entries))]
		}
	}
	status := g.all.statuses[g.rng.IntN(len(g.all.statuses))]
	if len(e.statuses) > 0 && g.rng.IntN(4) > 0 {
		status = e.statuses[g.rng.IntN(len(e.statuses))]
	}
	return modelRequest{
		outbound: outbound,
		host:     pick(r.hosts, g.all.hosts),
		port:     pick(r.ports, g.all.ports),
		method:   pick(e.methods, g.all.methods),
		path:     pick(e.paths, g.all.paths),
		query:    pick(e.queries, g.all.queries),
		ctype:    pick(e.ctypes, g.all.ctypes),
		status:   status,
	}
}

// FuzzConvertNeverWider: for any export, the converted routes load in the
// routes package and never apply a filter where the model of VGS would not
// apply its entry (over a few hundred generated requests). Fuzz it with
// -fuzzminimizetime 1000x, as FuzzConvert.
func FuzzConvertNeverWider(f *testing.F) {
	addFixtures(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		differential(t, in, 200, false)
	})
}
