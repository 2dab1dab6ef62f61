package vgs

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
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
	c := &converter{
		byKey:    map[string]int{},
		inbound:  map[string]int{},
		routeIDs: map[string]bool{},
	}
	for _, cand := range cands {
		c.route(cand)
	}
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
	routes   []nativeRoute
	byKey    map[string]int  // direction, host, upstream → index in routes
	inbound  map[string]int  // inbound host → index in routes
	routeIDs map[string]bool // native route ids in use
}

const (
	inbound  = "inbound"
	outbound = "outbound"
)

// route converts one VGS route object.
func (c *converter) route(cand candidate) {
	label := fmt.Sprintf("data[%d]", cand.index)
	m, ok := asMap(cand.value)
	if !ok || !routeLike(m) {
		c.rep.add(label, "", RouteLeftOut, "not a route object (expected id, type: rule_chain and attributes, or host_endpoint and entries)")
		return
	}
	attrs := m
	if a, ok := field(m, "attributes"); ok {
		if am, ok := asMap(a); ok {
			attrs = am
		}
	}
	vgsID := str(m, "id")
	if vgsID == "" {
		vgsID = str(attrs, "id")
	}
	if vgsID != "" {
		label = oneLine(vgsID)
	}
	typ := str(m, "type")
	if typ == "" {
		typ = str(attrs, "type")
	}
	if typ != "" && !strings.EqualFold(typ, "rule_chain") {
		c.rep.add(label, "", RouteLeftOut, fmt.Sprintf("type %q is not an HTTP route (rule_chain)", typ))
		return
	}
	if p := str(attrs, "protocol"); p != "" && !strings.EqualFold(p, "http") && !strings.EqualFold(p, "https") {
		c.rep.add(label, "", RouteLeftOut, fmt.Sprintf("protocol %q routes cannot be expressed (aliasgate routes HTTP)", p))
		return
	}
	if t := str(attrs, "transport"); t != "" && !strings.EqualFold(t, "http") {
		c.rep.add(label, "", RouteLeftOut, fmt.Sprintf("transport %q cannot be expressed (aliasgate routes HTTP)", t))
		return
	}
	rawEntries, _ := field(attrs, "entries")
	var entries []any
	switch e := rawEntries.(type) {
	case nil:
	case []any:
		entries = e
	default:
		c.rep.add(label, "", RouteLeftOut, "entries is not a list")
		return
	}

	hostEndpoint := str(attrs, "host_endpoint")
	doe := str(attrs, "destination_override_endpoint")
	direction := inbound
	if doe == "*" || (doe == "" && hostEndpoint != "") {
		direction = outbound
	}
	if doe == "" && hostEndpoint == "" {
		c.rep.add(label, "", RouteLeftOut, "neither host_endpoint nor destination_override_endpoint is set, so the route is neither inbound nor outbound")
		return
	}

	hosts, port, why := hostPatterns(hostEndpoint, direction)
	if why != "" {
		c.rep.add(label, "", RouteLeftOut, why)
		return
	}
	var upstream string
	if direction == inbound {
		var assumed bool
		upstream, assumed, why = upstreamURL(doe)
		if why != "" {
			c.rep.add(label, "", RouteLeftOut, why)
			return
		}
		for _, h := range hosts {
			if i, ok := c.inbound[h]; ok && c.routes[i].Upstream != upstream {
				c.rep.add(label, "", RouteLeftOut, fmt.Sprintf(
					"inbound host %q already goes to %s (route %s); aliasgate picks an inbound route by host and path prefix, not by filter, so a second upstream %s for the same host cannot be expressed",
					h, c.routes[i].Upstream, c.routes[i].ID, upstream))
				return
			}
		}
		if assumed {
			c.rep.add(label, "", Ignored, fmt.Sprintf("destination_override_endpoint %q has no scheme; https assumed", doe))
		}
	}
	if port != "" {
		c.rep.add(label, "", Ignored, fmt.Sprintf("host_endpoint %q restricts the port to %s; aliasgate host patterns have no port, so the route matches any port", hostEndpoint, port))
	}
	if se := str(attrs, "source_endpoint"); se != "" && se != "*" {
		c.rep.add(label, "", Ignored, fmt.Sprintf("source_endpoint %q has no native equivalent", se))
	}

	baseID := sanitizeID(vgsID)
	if baseID == "" {
		baseID = fmt.Sprintf("route-%d", cand.index+1)
	}
	var filters []nativeFilter
	for i, e := range entries {
		if f, ok := c.entry(label, baseID, direction, i, e); ok {
			filters = append(filters, f)
		}
	}

	comment := "VGS route " + label
	if name := tagName(attrs); name != "" {
		comment += fmt.Sprintf(" %q", name)
	}
	comment += " (" + direction
	if hostEndpoint != "" {
		comment += ", host_endpoint " + hostEndpoint
	}
	comment += ")"

	for k, h := range hosts {
		key := direction + "\x00" + h + "\x00" + upstream
		if i, ok := c.byKey[key]; ok {
			r := &c.routes[i]
			r.comments = append(r.comments, comment)
			r.Filters = appendFilters(r.Filters, filters)
			continue
		}
		id := baseID
		if len(hosts) > 1 {
			id = fmt.Sprintf("%s-%d", baseID, k+1)
		}
		r := nativeRoute{
			ID:        c.uniqueRouteID(id),
			Direction: direction,
			Host:      h,
			Upstream:  upstream,
			Filters:   appendFilters(nil, filters),
			comments:  []string{comment},
		}
		if direction == inbound {
			r.PathPrefix = "/"
			c.inbound[h] = len(c.routes)
		}
		c.byKey[key] = len(c.routes)
		c.routes = append(c.routes, r)
	}
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
// '_' and '-'; any other run of characters becomes one '-'.
func sanitizeID(id string) string {
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
