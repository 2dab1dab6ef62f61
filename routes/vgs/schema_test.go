package vgs

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// checkNative checks a decoded route file against the rules of DESIGN.md
// "Routes" that a YAML decoder does not: allowed values, one body kind per
// filter, unique ids, compilable patterns. It returns "" when all hold.
func checkNative(f nativeFile) string {
	routeIDs := map[string]bool{}
	for _, r := range f.Routes {
		if !idPattern.MatchString(r.ID) || routeIDs[r.ID] {
			return fmt.Sprintf("route id %q empty or repeated", r.ID)
		}
		routeIDs[r.ID] = true
		switch r.Direction {
		case "inbound":
			if r.Upstream == "" || r.PathPrefix == "" || !strings.HasPrefix(r.PathPrefix, "/") {
				return fmt.Sprintf("route %s: inbound needs upstream and path_prefix", r.ID)
			}
			if len(r.Ports) > 0 {
				return fmt.Sprintf("route %s: inbound with ports", r.ID)
			}
		case "outbound":
			if r.Upstream != "" || r.PathPrefix != "" {
				return fmt.Sprintf("route %s: outbound with upstream or path_prefix", r.ID)
			}
			if r.Host == "*" {
				return fmt.Sprintf("route %s: outbound to any host", r.ID)
			}
			for _, p := range r.Ports {
				if p < 1 || p > 65535 {
					return fmt.Sprintf("route %s: port %d", r.ID, p)
				}
			}
		default:
			return fmt.Sprintf("route %s: direction %q", r.ID, r.Direction)
		}
		if (r.Host == "") == (r.HostRegex == "") || strings.Contains(strings.TrimPrefix(r.Host, "*."), "*") && r.Host != "*" {
			return fmt.Sprintf("route %s: host %q, host_regex %q", r.ID, r.Host, r.HostRegex)
		}
		if r.HostRegex != "" {
			if _, err := regexp.Compile(r.HostRegex); err != nil {
				return fmt.Sprintf("route %s: host_regex %q: %v", r.ID, r.HostRegex, err)
			}
		}
		filterIDs := map[string]bool{}
		groups := 0
		for _, fl := range r.Filters {
			if !idPattern.MatchString(fl.ID) || filterIDs[fl.ID] {
				return fmt.Sprintf("route %s: filter id %q empty or repeated", r.ID, fl.ID)
			}
			filterIDs[fl.ID] = true
			if fl.Group != "" {
				groups++
			}
			if fl.Phase != "request" && fl.Phase != "response" {
				return fmt.Sprintf("filter %s: phase %q", fl.ID, fl.Phase)
			}
			if fl.Operation != "redact" && fl.Operation != "reveal" {
				return fmt.Sprintf("filter %s: operation %q", fl.ID, fl.Operation)
			}
			if fl.Operation == "reveal" && fl.Phase == "request" && r.Direction == "inbound" {
				return fmt.Sprintf("filter %s: reveal on an inbound request", fl.ID)
			}
			if fl.OnError != "reject" {
				return fmt.Sprintf("filter %s: on_error %q", fl.ID, fl.OnError)
			}
			if fl.Match != nil {
				if fl.Match.PathInfo != "" {
					if _, err := regexp.Compile(fl.Match.PathInfo); err != nil {
						return fmt.Sprintf("filter %s: path_info %q: %v", fl.ID, fl.Match.PathInfo, err)
					}
				}
				for _, ct := range fl.Match.RequestContentType {
					if ct == "" || strings.TrimSpace(ct) != ct {
						return fmt.Sprintf("filter %s: request_content_type %q", fl.ID, ct)
					}
				}
				for _, m := range fl.Match.Methods {
					if !regexp.MustCompile(`^[A-Z]+$`).MatchString(m) {
						return fmt.Sprintf("filter %s: method %q", fl.ID, m)
					}
				}
				for _, s := range fl.Match.Status {
					if s < 100 || s > 599 {
						return fmt.Sprintf("filter %s: status %d", fl.ID, s)
					}
				}
				if len(fl.Match.Status) > 0 && fl.Phase != "response" {
					return fmt.Sprintf("filter %s: status on a request filter", fl.ID)
				}
			}
			if len(fl.Targets) == 0 {
				return fmt.Sprintf("filter %s: no targets", fl.ID)
			}
			bodyKind := ""
			var xmlSeen []string
			formSeen := map[string]bool{}
			for _, tg := range fl.Targets {
				kinds := 0
				for _, k := range []struct{ name, v string }{{"json", tg.JSON}, {"form", tg.Form}, {"header", tg.Header}, {"xml", tg.XML}, {"regex", tg.Regex}} {
					if k.v == "" {
						continue
					}
					kinds++
					if k.name == "header" {
						continue
					}
					if bodyKind != "" && bodyKind != k.name {
						return fmt.Sprintf("filter %s: body targets of two kinds", fl.ID)
					}
					bodyKind = k.name
				}
				if kinds != 1 {
					return fmt.Sprintf("filter %s: a target with %d locations", fl.ID, kinds)
				}
				if tg.JSON != "" && !gjsonPathOK(tg.JSON) {
					return fmt.Sprintf("filter %s: json path %q", fl.ID, tg.JSON)
				}
				if tg.Regex != "" {
					re, err := regexp.Compile(tg.Regex)
					if err != nil || re.NumSubexp() > 1 || re.MatchString("") {
						return fmt.Sprintf("filter %s: regex %q", fl.ID, tg.Regex)
					}
				}
				if tg.XML != "" {
					if _, why := xmlPath(tg.XML); why != "" || strings.HasSuffix(tg.XML, "/text()") {
						return fmt.Sprintf("filter %s: xml %q", fl.ID, tg.XML)
					}
					for _, o := range xmlSeen {
						if xmlOverlap(o, tg.XML) {
							return fmt.Sprintf("filter %s: xml %q overlaps %q", fl.ID, tg.XML, o)
						}
					}
					xmlSeen = append(xmlSeen, tg.XML)
				}
				if tg.Form != "" {
					if formSeen[tg.Form] {
						return fmt.Sprintf("filter %s: form field %q twice", fl.ID, tg.Form)
					}
					formSeen[tg.Form] = true
				}
				if fl.Operation == "reveal" && (tg.Format != "" || tg.Storage != "" || len(tg.Classifiers) > 0) {
					return fmt.Sprintf("filter %s: format, storage or classifiers on a reveal target", fl.ID)
				}
				if tg.Format != "" && !slices.Contains(nativeFormats, tg.Format) {
					return fmt.Sprintf("filter %s: format %q", fl.ID, tg.Format)
				}
				if tg.Storage != "" && tg.Storage != "persistent" && tg.Storage != "volatile" {
					return fmt.Sprintf("filter %s: storage %q", fl.ID, tg.Storage)
				}
			}
		}
		if groups > 0 && groups != len(r.Filters) {
			return fmt.Sprintf("route %s: some filters have a group, some not", r.ID)
		}
	}
	return ""
}

// idPattern is the native loader's rule for route and filter ids.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$`)

// gjsonPathOK accepts the gjson subset DESIGN.md allows: non-empty keys
// separated by '.', '#' as a whole element (not last), a query #(…)# as a
// whole element (the native loader checks its inside), special characters
// only when escaped with '\'.
func gjsonPathOK(p string) bool {
	p = replaceQueries(p)
	var elems []string
	var cur strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '\\':
			if i+1 == len(p) {
				return false
			}
			i++
			cur.WriteByte('\\')
			cur.WriteByte(p[i])
			continue
		case c == '.':
			if cur.Len() == 0 {
				return false
			}
			elems = append(elems, cur.String())
			cur.Reset()
			continue
		case strings.IndexByte("@|{}[]!=<>~%*?$", c) >= 0:
			return false
		}
		cur.WriteByte(c)
	}
	if cur.Len() == 0 {
		return false
	}
	elems = append(elems, cur.String())
	for _, e := range elems {
		if strings.Contains(strings.ReplaceAll(e, "\\#", ""), "#") && e != "#" {
			return false
		}
	}
	return elems[len(elems)-1] != "#"
}

// replaceQueries writes each #(…)# element of a gjson path as "Q", a plain
// key, skipping quoted strings inside; a malformed one is left as it is
// (and then refused).
func replaceQueries(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] == '\\' && i+1 < len(p) {
			b.WriteString(p[i : i+2])
			i++
			continue
		}
		if !strings.HasPrefix(p[i:], "#(") || i > 0 && p[i-1] != '.' {
			b.WriteByte(p[i])
			continue
		}
		depth, j, quoted := 0, i+1, false
		for ; j < len(p); j++ {
			switch c := p[j]; {
			case quoted && c == '\\':
				j++
			case c == '"':
				quoted = !quoted
			case quoted:
			case c == '(':
				depth++
			case c == ')':
				depth--
			}
			if depth == 0 {
				break
			}
		}
		if j+1 >= len(p) || p[j] != ')' || p[j+1] != '#' || j+2 < len(p) && p[j+2] != '.' {
			b.WriteByte(p[i])
			continue
		}
		b.WriteByte('Q')
		i = j + 1
	}
	return b.String()
}
