package vgs

import (
	"fmt"
	"net/url"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"

	"github.com/aliasgate/aliasgate/internal/pan"
	"github.com/aliasgate/aliasgate/routes"
)

// Convert converts a VGS route export (YAML or JSON) into a native route
// file. It returns the native YAML, and a Report of every route, entry,
// target, condition or setting the output does not express; what it cannot
// express it leaves out rather than broadening (see the package doc). err is
// non-nil (wrapping ErrNotExport) only when the input is not a VGS route
// export at all. The output is deterministic: the same input gives the same
// bytes.
func Convert(in []byte) (out []byte, report Report, err error) {
	docs, err := decodeDocuments(in)
	if err != nil {
		return nil, Report{}, err
	}
	cands, err := collectRoutes(docs)
	if err != nil {
		return nil, Report{}, err
	}
	c := &converter{routeIDs: map[string]bool{}, groupIDs: map[string]bool{}}
	for _, cand := range cands {
		c.route(cand)
	}
	c.build()
	for _, r := range c.routes {
		c.rep.Filters += len(r.Filters)
	}
	c.rep.Routes = len(c.routes)

	header := []string{"Converted from a VGS route export by aliasgate routes import-vgs."}
	if c.rep.Complete() {
		header = append(header, "Every VGS route and entry was converted.")
	} else {
		header = append(header, fmt.Sprintf("Not expressed (%d):", len(c.rep.Items)))
		for _, it := range c.rep.Items {
			header = append(header, "  "+it.String())
		}
	}
	out, err = encodeNative(header, c.routes)
	if err != nil {
		return nil, c.rep, err
	}
	return out, c.rep, nil
}

type converter struct {
	rep      Report
	vgs      []*pendingRoute // the VGS routes converted, in input order
	routes   []nativeRoute
	routeIDs map[string]bool // native route ids in use
	groupIDs map[string]bool // filter groups in use
}

// pendingRoute is one VGS route, converted but not yet placed on native
// routes.
type pendingRoute struct {
	label     string // VGS id or data[N], for reports
	baseID    string // native id
	group     string // its filters' group when it shares a native route
	direction string
	upstream  string
	hosts     []hostSpec
	filters   []nativeFilter
	comment   string
	// inexact names, per phase, why aliasgate cannot tell exactly when the
	// route has a matching entry (an entry left out or narrowed); a later
	// VGS route on the same hosts then cannot be placed behind it.
	inexact map[string]string
	// leftOut marks a VGS route left out whole (RouteLeftOut) that VGS
	// would still try first on the hosts it matches: it has no native
	// route and no filters, and only stops the later routes (shadow).
	leftOut bool
	// read is what VGS matches with host_endpoint where hosts is narrower
	// (an unescaped '.', any character in VGS, taken as a literal dot;
	// vgsHosts): the hosts the route may win on when it stops the later
	// routes (mayOverlap). nil: hosts.
	read []hostSpec
}

const (
	inbound  = "inbound"
	outbound = "outbound"
)

// route converts one VGS route object.
func (c *converter) route(cand candidate) {
	label := fmt.Sprintf("data[%d]", cand.index)
	if cand.other != "" {
		if cand.name != "" {
			label = oneLine(cand.name)
		}
		// Not an HTTP route: VGS applies it to other traffic (SFTP, file
		// transfers), never before an HTTP route.
		c.rep.add(label, "", RouteLeftOut, fmt.Sprintf("%s is not an HTTP route (vault.vgs.io HttpRoute); aliasgate routes HTTP", cand.other))
		return
	}
	m, ok := asMap(cand.value)
	if !ok || !routeLike(m) {
		c.rep.add(label, "", RouteLeftOut, "not a route object (expected id, type: rule_chain and attributes, or host_endpoint and entries)")
		return
	}
	attrs, vgsID := routeAttributes(m)
	if vgsID != "" {
		label = oneLine(vgsID)
	}
	doe := str(attrs, "destination_override_endpoint")
	// VGS's own reading: "*" makes a route outbound, anything else (or
	// nothing) inbound, with destination_override_endpoint the upstream.
	direction := inbound
	if doe == "*" {
		direction = outbound
	}
	typ := str(m, "type")
	if typ == "" {
		typ = str(attrs, "type")
	}
	if typ != "" && !ruleChain(typ) {
		c.leaveOut(label, attrs, direction, fmt.Sprintf("type %q is not an HTTP route (rule_chain)", typ))
		return
	}
	if p := str(attrs, "protocol"); p != "" && !strings.EqualFold(p, "http") && !strings.EqualFold(p, "https") {
		c.leaveOut(label, attrs, direction, fmt.Sprintf("protocol %q routes cannot be expressed (aliasgate routes HTTP)", p))
		return
	}
	if t := str(attrs, "transport"); t != "" && !strings.EqualFold(t, "http") {
		c.leaveOut(label, attrs, direction, fmt.Sprintf("transport %q cannot be expressed (aliasgate routes HTTP)", t))
		return
	}
	rawEntries, _ := field(attrs, "entries")
	var entries []any
	switch e := rawEntries.(type) {
	case nil:
	case []any:
		entries = e
	default:
		c.leaveOut(label, attrs, direction, "entries is not a list")
		return
	}

	hostEndpoint := str(attrs, "host_endpoint")
	hosts, note, why := hostPatterns(hostEndpoint, direction)
	if why != "" {
		c.leaveOut(label, attrs, direction, why)
		return
	}
	var upstream string
	if direction == inbound {
		var assumed bool
		upstream, assumed, why = upstreamURL(doe)
		if why != "" {
			c.leaveOut(label, attrs, direction, why)
			return
		}
		if assumed {
			c.rep.add(label, "", Ignored, fmt.Sprintf("destination_override_endpoint %q has no scheme; https assumed", doe))
		}
	}
	if se := str(attrs, "source_endpoint"); se != "" && se != "*" {
		c.leaveOut(label, attrs, direction, fmt.Sprintf("source_endpoint %q limits the clients the route applies to; aliasgate routes cannot say that", se))
		return
	}
	if note != "" {
		c.rep.add(label, "", Narrowed, note)
	}

	baseID := sanitizeID(vgsID)
	if baseID == "" {
		baseID = fmt.Sprintf("route-%d", cand.index+1)
	}
	v := &pendingRoute{label: label, baseID: baseID, direction: direction, upstream: upstream, hosts: hosts, inexact: map[string]string{}}
	if note != "" {
		v.read = vgsHosts(hostEndpoint, direction)
	}
	v.group = uniqueID(baseID, c.groupIDs)
	for i, e := range entries {
		fs, ok, exact, phase := c.entry(label, baseID, direction, i, e)
		if ok {
			v.filters = append(v.filters, fs...)
		}
		if !exact {
			for _, ph := range phasesOf(phase) {
				if v.inexact[ph] == "" {
					v.inexact[ph] = fmt.Sprintf("entry %s of VGS route %s was left out or narrowed", entryLabel(e, i), label)
				}
			}
		}
	}

	v.comment = "VGS route " + label
	if name := tagName(attrs); name != "" {
		v.comment += fmt.Sprintf(" %q", name)
	}
	v.comment += " (" + direction
	if hostEndpoint != "" {
		v.comment += ", host_endpoint " + hostEndpoint
	}
	v.comment += ")"
	c.vgs = append(c.vgs, v)
}

// leaveOut reports a VGS route left out whole (why) and records it as a
// shadow when VGS would still try it: the route is an object with
// entries of a phase, so in VGS it may win that phase on the hosts its
// host_endpoint matches (all hosts of its direction when the pattern cannot
// be read), whatever made aliasgate leave it out (a type, protocol or
// upstream it cannot express, a source_endpoint, a host pattern). The
// routes after it are then not placed where it may match, for those
// phases (build), as behind a route with an entry left out: aliasgate
// would otherwise apply them where VGS applies the left-out route instead.
func (c *converter) leaveOut(label string, attrs map[string]any, direction, why string) {
	c.rep.add(label, "", RouteLeftOut, why)
	raw, _ := field(attrs, "entries")
	v := &pendingRoute{label: label, direction: direction, inexact: map[string]string{}, leftOut: true}
	for _, e := range asList(raw) {
		if m, ok := asMap(e); ok {
			if ph := entryPhase(m); ph != "" {
				v.inexact[ph] = fmt.Sprintf("VGS route %s, left out, comes first and may match these hosts", label)
			}
		}
	}
	if len(v.inexact) == 0 {
		return // no entry VGS applies: it never wins
	}
	var note string
	v.hosts, note, why = hostPatterns(str(attrs, "host_endpoint"), direction)
	switch {
	case why != "":
		v.hosts = []hostSpec{{host: "*"}}
	case note != "":
		v.hosts = vgsHosts(str(attrs, "host_endpoint"), direction)
	}
	c.vgs = append(c.vgs, v)
}

// phasesOf lists the native phases an entry of phase ("" when unknown)
// can apply to.
func phasesOf(phase string) []string {
	if phase == "" {
		return []string{"request", "response"}
	}
	return []string{phase}
}

func entryLabel(e any, i int) string {
	if m, ok := asMap(e); ok {
		if id := str(m, "id"); id != "" {
			return oneLine(id)
		}
	}
	return fmt.Sprintf("entries[%d]", i)
}

// build places the VGS routes on native routes. VGS tries its routes in
// order and applies, per phase, the matching entries of the first route
// whose host_endpoint matches and that has a matching entry; aliasgate
// picks one route per request by host. So each native host selector gets
// one native route holding, as filter groups in VGS order, the VGS routes
// whose host_endpoint matches every host of that selector (Route.Matching:
// the first group that matches wins). A VGS route that matches only some
// of those hosts, or whose entries were not all converted exactly, would
// take precedence in VGS where aliasgate cannot tell: the VGS routes after
// it are left out on that selector (for that phase) and reported, never
// applied where VGS would not apply them.
func (c *converter) build() {
	type sel struct {
		direction string
		host      hostSpec
	}
	var sels []sel
	for _, v := range c.vgs {
		if v.leftOut {
			continue // no native route of its own
		}
		for _, h := range v.hosts {
			if s := (sel{v.direction, h}); !slices.Contains(sels, s) {
				sels = append(sels, s)
			}
		}
	}
	index := func(dir string, h hostSpec) int {
		return slices.Index(sels, sel{dir, h})
	}
	for si, s := range sels {
		// precedes reports whether aliasgate picks h's native route before
		// s's for a host both match, so that s never sees that host.
		precedes := func(h hostSpec) bool {
			rh, rs := h.rank(), s.host.rank()
			return rh > rs || rh == rs && index(s.direction, h) < si
		}
		r := nativeRoute{Direction: s.direction, Host: s.host.host, HostRegex: s.host.regex}
		if s.host.port != "" {
			n, _ := strconv.Atoi(s.host.port)
			r.Ports = []int{n}
		}
		var members []*pendingRoute
		blocked := map[string]string{} // phase → why later routes are left out
		for _, v := range c.vgs {
			if v.direction != s.direction {
				continue
			}
			if v.leftOut {
				// It has no native route that would take some of its
				// hosts before s (precedes): count every host it may match.
				if v.mayOverlap(s.host, func(hostSpec) bool { return false }) {
					for ph, why := range v.inexact {
						if blocked[ph] == "" {
							blocked[ph] = why
						}
					}
				}
				continue
			}
			covers := v.covers(s.host)
			if !covers {
				if v.mayOverlap(s.host, precedes) && len(v.phases()) > 0 {
					c.rep.add(v.label, "", Narrowed, fmt.Sprintf(
						"its host_endpoint may match some hosts of %s, which aliasgate routes by another native route (%s) without this route's entries; there they are not applied",
						s.host, s.host))
					for _, ph := range v.phases() {
						if blocked[ph] == "" {
							blocked[ph] = fmt.Sprintf("VGS route %s comes first and matches some hosts of %s but not all", v.label, s.host)
						}
					}
				}
				continue
			}
			if s.direction == inbound && len(members) > 0 && v.upstream != r.Upstream {
				c.rep.add(v.label, "", Narrowed, fmt.Sprintf(
					"on host %s the route goes to %s, but VGS route %s before it goes to %s; a native route has one upstream, so this route's entries are left out there",
					s.host, v.upstream, members[0].label, r.Upstream))
				for _, ph := range []string{"request", "response"} {
					if blocked[ph] == "" {
						blocked[ph] = fmt.Sprintf("VGS route %s before it on %s has another upstream", v.label, s.host)
					}
				}
				continue
			}
			var kept []nativeFilter
			for _, f := range v.filters {
				if why := blocked[f.Phase]; why != "" {
					c.rep.add(v.label, f.ID, Narrowed, fmt.Sprintf("left out on host %s: %s, so aliasgate cannot tell when VGS would apply this entry there", s.host, why))
					continue
				}
				kept = append(kept, f)
			}
			if len(members) == 0 {
				r.Upstream = v.upstream
			}
			members = append(members, v)
			r.comments = append(r.comments, v.comment)
			for _, f := range kept {
				f.Group = v.group
				r.Filters = appendFilters(r.Filters, []nativeFilter{f})
			}
			for ph, why := range v.inexact {
				if blocked[ph] == "" {
					blocked[ph] = why
				}
			}
		}
		groups := map[string]bool{}
		for _, f := range r.Filters {
			groups[f.Group] = true
		}
		if len(groups) < 2 {
			for i := range r.Filters {
				r.Filters[i].Group = ""
			}
		}
		// The native route is named after the VGS route whose
		// host_endpoint gave the selector.
		for _, v := range c.vgs {
			if i := slices.Index(v.hosts, s.host); i >= 0 && v.direction == s.direction && !v.leftOut {
				r.ID = v.baseID
				if len(v.hosts) > 1 {
					r.ID = fmt.Sprintf("%s-%d", v.baseID, i+1)
				}
				break
			}
		}
		r.ID = c.uniqueRouteID(r.ID)
		if s.direction == inbound {
			r.PathPrefix = "/"
		}
		c.routes = append(c.routes, r)
	}
}

// phases lists the phases in which the VGS route can win: those of its
// converted entries and of the entries it could not convert exactly.
func (v *pendingRoute) phases() []string {
	var out []string
	for _, ph := range []string{"request", "response"} {
		_, inexact := v.inexact[ph]
		if inexact || slices.ContainsFunc(v.filters, func(f nativeFilter) bool { return f.Phase == ph }) {
			out = append(out, ph)
		}
	}
	return out
}

// covers reports whether the VGS route's host_endpoint matches every host
// (and port) that the native selector h matches.
func (v *pendingRoute) covers(h hostSpec) bool {
	for _, vh := range v.hosts {
		if vh.port != "" && vh.port != h.port {
			continue
		}
		switch {
		case vh == hostSpec{host: "*"}:
			return true
		case vh.regex != "":
			if vh.regex == h.regex || h.regex == "" && !strings.HasPrefix(h.host, "*") && hostRegexMatches(vh.regex, h.host) {
				return true
			}
		case h.regex != "":
			// A host_regex whose every match is one or more characters
			// then ".domain" is below *.domain.
			if strings.HasPrefix(vh.host, "*.") && strings.HasSuffix(regexSuffix(h.regex), vh.host[1:]) {
				return true
			}
		case vh.host == h.host:
			return true
		case strings.HasPrefix(vh.host, "*."):
			if h.host != "*" && strings.HasSuffix(h.host, vh.host[1:]) {
				return true
			}
		}
	}
	return false
}

// mayOverlap reports whether the VGS route's host_endpoint may match a
// host (and port) that h matches; true when that cannot be ruled out.
// Hosts that a more specific selector takes (precedes) never reach h's
// route, and are not counted; the hosts VGS matches beyond the route's
// native selectors (read) are counted whatever precedes says, since no
// native route of this one takes them.
func (v *pendingRoute) mayOverlap(h hostSpec, precedes func(hostSpec) bool) bool {
	return overlaps(v.hosts, h, precedes) || overlaps(v.read, h, func(hostSpec) bool { return false })
}

// overlaps reports whether one of hosts, other than those precedes
// reports, may match a host (and port) that h matches (mayOverlap).
func overlaps(hosts []hostSpec, h hostSpec, precedes func(hostSpec) bool) bool {
	for _, vh := range hosts {
		if vh.port != "" && h.port != "" && vh.port != h.port || precedes(vh) {
			continue
		}
		if vh.host == "*" || h.host == "*" {
			return true
		}
		if vh.regex != "" || h.regex != "" {
			x, y := vh, h
			if x.regex == "" {
				x, y = y, x
			}
			if y.regex == "" && !strings.HasPrefix(y.host, "*") && !hostRegexMatches(x.regex, y.host) {
				continue // a regex against an exact host is decided
			}
			return true
		}
		a, b := strings.TrimPrefix(vh.host, "*"), strings.TrimPrefix(h.host, "*")
		wa, wb := a != vh.host, b != h.host
		switch {
		case !wa && !wb:
			if a == b {
				return true
			}
		case wa && wb:
			if strings.HasSuffix(a, b) || strings.HasSuffix(b, a) {
				return true
			}
		case wa:
			if strings.HasSuffix(b, a) {
				return true
			}
		default:
			if strings.HasSuffix(a, b) {
				return true
			}
		}
	}
	return false
}

// regexSuffix returns the literal text (lower case) every match of the
// host regexp p ends with, after at least one character; "" when there is
// none.
func regexSuffix(p string) string {
	re, err := syntax.Parse(p, syntax.Perl)
	if err != nil {
		return ""
	}
	re = re.Simplify()
	if re.Op != syntax.OpConcat {
		return ""
	}
	i := len(re.Sub)
	suffix := ""
	for i > 0 && re.Sub[i-1].Op == syntax.OpLiteral {
		suffix = string(re.Sub[i-1].Rune) + suffix
		i--
	}
	if i == 0 || suffix == "" {
		return ""
	}
	head := &syntax.Regexp{Op: syntax.OpConcat, Sub: re.Sub[:i], Flags: re.Flags}
	h, err := regexp.Compile(head.String())
	if err != nil || h.MatchString("") {
		return ""
	}
	return strings.ToLower(suffix)
}

// rank is the selector's precedence in routes.Set.Match.
func (h hostSpec) rank() int {
	return routes.HostRank(h.host, h.regex != "", h.port != "")
}

// hostRegexMatches matches host against a host_regex as the native loader
// compiles it.
func hostRegexMatches(pattern, host string) bool {
	re, err := regexp.Compile(`(?i)^(?:` + pattern + `)$`)
	return err == nil && re.MatchString(host)
}

// ruleChain reports whether a route type names VGS's HTTP route:
// rule_chain, as the API writes it, or rule-chains, as some exports do.
func ruleChain(typ string) bool {
	switch strings.ToLower(typ) {
	case "rule_chain", "rule_chains", "rule-chain", "rule-chains":
		return true
	}
	return false
}

func tagName(attrs map[string]any) string {
	t, _ := field(attrs, "tags")
	if m, ok := asMap(t); ok {
		return str(m, "name")
	}
	return ""
}

// appendFilters appends copies of filters to dst, renaming a filter whose id
// is already taken in dst.
func appendFilters(dst, filters []nativeFilter) []nativeFilter {
	used := map[string]bool{}
	for _, f := range dst {
		used[f.ID] = true
	}
	for _, f := range filters {
		f.ID = uniqueID(f.ID, used)
		f.Targets = append([]nativeTarget(nil), f.Targets...)
		if f.Match != nil {
			m := *f.Match
			f.Match = &m
		}
		dst = append(dst, f)
	}
	return dst
}

func (c *converter) uniqueRouteID(id string) string {
	return uniqueID(id, c.routeIDs)
}

// uniqueID returns id, or id-2, id-3, … when taken, and marks it used.
func uniqueID(id string, used map[string]bool) string {
	out := id
	for n := 2; used[out]; n++ {
		out = id + "-" + strconv.Itoa(n)
	}
	used[out] = true
	return out
}

// sanitizeID keeps a VGS id readable as a native id: letters, digits, '.',
// '_' and '-'; any other run of characters becomes one '-'. A card number in
// the id so made is masked (pan.MaskLoose, the rule the routes refuse an id
// by), each masked digit an 'x': masked before, "4111/1111/1111/1111" (no
// card number to MaskLoose) became "4111-1111-1111-1111", one to the routes.
func sanitizeID(id string) string {
	s := replaceOthers(id)
	if m := pan.MaskLoose(s); m != s {
		s = strings.ReplaceAll(m, "*", "x")
	}
	return s
}

// replaceOthers turns each run of characters a native id does not take
// into one '-' (at most 100 bytes, trimmed of '-', '.' and '_').
func replaceOthers(id string) string {
	var b strings.Builder
	dash := false
	for _, r := range id {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'
		if ok {
			b.WriteRune(r)
			dash = false
		} else if !dash {
			b.WriteByte('-')
			dash = true
		}
		if b.Len() >= 100 {
			break
		}
	}
	return strings.Trim(b.String(), "-._")
}

// upstreamURL checks an inbound route's destination_override_endpoint. A
// bare host[:port] is taken as https (assumed is then true).
func upstreamURL(doe string) (upstream string, assumed bool, why string) {
	if doe == "" {
		return "", false, "inbound route without destination_override_endpoint (the upstream)"
	}
	s := doe
	if !strings.Contains(s, "://") {
		s = "https://" + s
		assumed = true
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" ||
		(!strings.EqualFold(u.Scheme, "http") && !strings.EqualFold(u.Scheme, "https")) ||
		strings.ContainsFunc(s, isControl) || strings.ContainsAny(u.Host, " *") {
		return "", false, fmt.Sprintf("destination_override_endpoint %q is not an http(s) upstream URL", doe)
	}
	u.Scheme = strings.ToLower(u.Scheme)
	return u.String(), assumed, ""
}
