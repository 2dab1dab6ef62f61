package vgs

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"

	"gopkg.in/yaml.v3"
)

// ErrNotExport is wrapped by the error Convert returns for input that is not
// a VGS route export.
var ErrNotExport = errors.New("vgs: not a VGS route export")

// decodeDocuments parses the input as JSON (when it looks like JSON and
// parses) or as one or more YAML documents, into generic values. A byte
// order mark is read first (utf8Text), so that a JSON export saved with one
// is read as JSON: read as YAML, it was refused for JSON's "\/" escape.
func decodeDocuments(in []byte) (docs []any, err error) {
	in = utf8Text(in)
	trimmed := bytes.TrimSpace(in)
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("%w: empty input", ErrNotExport)
	}
	var jsonErr error
	if trimmed[0] == '{' || trimmed[0] == '[' {
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		dec.UseNumber()
		var v any
		if jsonErr = dec.Decode(&v); jsonErr == nil {
			if _, err := dec.Token(); err == io.EOF {
				return []any{v}, nil
			}
			jsonErr = errors.New("text after the JSON value")
		}
		// Not plain JSON: YAML flow syntax is a superset, try that.
	}
	failed := func(yamlErr any) error {
		if jsonErr != nil {
			return fmt.Errorf("%w: cannot parse input as JSON (%v) or as YAML (%v)", ErrNotExport, jsonErr, yamlErr)
		}
		return fmt.Errorf("%w: cannot parse input as YAML or JSON: %v", ErrNotExport, yamlErr)
	}
	defer func() {
		if r := recover(); r != nil {
			docs, err = nil, failed(r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(in))
	for {
		var v any
		err := dec.Decode(&v)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, failed(err)
		}
		docs = append(docs, v)
	}
	return docs, nil
}

// utf8Text returns the input without a UTF-8 byte order mark, and UTF-16
// text that starts with one (Windows editors and PowerShell 5's redirection
// write it) as UTF-8; other input as it is.
func utf8Text(in []byte) []byte {
	if b, ok := bytes.CutPrefix(in, []byte{0xef, 0xbb, 0xbf}); ok {
		return b
	}
	var order binary.ByteOrder
	switch {
	case bytes.HasPrefix(in, []byte{0xff, 0xfe}):
		order = binary.LittleEndian
	case bytes.HasPrefix(in, []byte{0xfe, 0xff}):
		order = binary.BigEndian
	default:
		return in
	}
	if len(in)%2 != 0 {
		return in // not UTF-16 after all: the parsers refuse it
	}
	units := make([]uint16, 0, len(in)/2-1)
	for i := 2; i < len(in); i += 2 {
		units = append(units, order.Uint16(in[i:]))
	}
	return []byte(string(utf16.Decode(units)))
}

// asMap returns v as a string-keyed map.
func asMap(v any) (map[string]any, bool) {
	switch m := v.(type) {
	case map[string]any:
		return m, true
	case map[any]any:
		// Non-string keys (1, 1.0, true) may read as the same text: a
		// string key wins, else the first in a fixed order, so that the
		// result never depends on map iteration order.
		keys := make([]any, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sortKey := func(k any) string { return fmt.Sprintf("%T\x00%v", k, k) }
		slices.SortFunc(keys, func(a, b any) int { return strings.Compare(sortKey(a), sortKey(b)) })
		out := make(map[string]any, len(m))
		for _, k := range keys {
			ks, _ := scalar(k)
			if _, taken := out[ks]; taken {
				if _, isString := k.(string); !isString {
					continue
				}
			}
			out[ks] = m[k]
		}
		return out, true
	}
	return nil, false
}

// asList returns v as a list: a list as it is, nil as nil and any other
// value as a list of one (VGS accepts a single value where a list is
// expected, e.g. condition values).
func asList(v any) []any {
	switch l := v.(type) {
	case nil:
		return nil
	case []any:
		return l
	}
	return []any{v}
}

// scalar returns a scalar value as text; false for maps, lists and null.
func scalar(v any) (string, bool) {
	switch s := v.(type) {
	case string:
		return s, true
	case json.Number:
		return s.String(), true
	case int:
		return strconv.Itoa(s), true
	case int64:
		return strconv.FormatInt(s, 10), true
	case uint64:
		return strconv.FormatUint(s, 10), true
	case float64:
		if s == math.Trunc(s) && math.Abs(s) < 1e15 {
			return strconv.FormatInt(int64(s), 10), true
		}
		return strconv.FormatFloat(s, 'g', -1, 64), true
	case bool:
		return strconv.FormatBool(s), true
	case time.Time:
		return s.Format(time.RFC3339Nano), true
	}
	return "", false
}

// field looks a key up as VGS writes it (snake_case), then in camelCase as
// some VGS tools write it. present is false when neither key is there.
func field(m map[string]any, key string) (v any, present bool) {
	if v, ok := m[key]; ok {
		return v, true
	}
	if c := camel(key); c != key {
		if v, ok := m[c]; ok {
			return v, true
		}
	}
	return nil, false
}

// str is field as trimmed text; "" when absent, null or not a scalar.
func str(m map[string]any, key string) string {
	v, _ := field(m, key)
	s, _ := scalar(v)
	return strings.TrimSpace(s)
}

func camel(s string) string {
	var b strings.Builder
	up := false
	for _, r := range s {
		if r == '_' {
			up = true
			continue
		}
		if up && r >= 'a' && r <= 'z' {
			r -= 'a' - 'A'
		}
		up = false
		b.WriteRune(r)
	}
	return b.String()
}

// candidate is one element of an export's route list, before conversion.
type candidate struct {
	index int // position among all candidates, for "data[N]"
	value any
	// other names a vgs-cli resource of another route kind (SftpRoute,
	// MftRoute), "apiVersion kind": reported, never converted.
	other string
	name  string // its metadata.name
}

// collectRoutes finds the route objects of every accepted export shape:
//
//	data: [ {id, type: rule_chain, attributes: {...}} | {flat route} ]   (also data: {one route})
//	[ route, ... ]                                                        (a bare list)
//	{id, type, attributes} | {flat route}                                 (one route)
//	{apiVersion: vault.vgs.io/v1, kind: HttpRoute, spec: route}           (vgs-cli resources)
func collectRoutes(docs []any) ([]candidate, error) {
	var out []candidate
	recognized := false
	add := func(v any) { out = append(out, candidate{index: len(out), value: v}) }
	for _, doc := range docs {
		switch d := doc.(type) {
		case nil:
			continue
		case []any:
			if !anyRouteLike(d) {
				continue
			}
			recognized = true
			for _, v := range d {
				add(v)
			}
			continue
		}
		m, ok := asMap(doc)
		if !ok {
			continue
		}
		if data, ok := field(m, "data"); ok {
			switch dv := data.(type) {
			case nil:
				recognized = true
			case []any:
				recognized = true
				for _, v := range dv {
					add(v)
				}
			default:
				if _, isMap := asMap(dv); isMap {
					recognized = true
					add(dv)
				}
			}
			continue
		}
		if kind := str(m, "kind"); kind != "" {
			api := str(m, "apiVersion")
			if api != "" && !vgsAPI(api) {
				// Another tool's resource (Kubernetes' Gateway API has a
				// kind HTTPRoute too): not a VGS export.
				continue
			}
			if strings.EqualFold(kind, "HttpRoute") {
				if spec, ok := field(m, "spec"); ok {
					recognized = true
					add(spec)
					continue
				}
			} else if api != "" && len(kind) > len("Route") && strings.EqualFold(kind[len(kind)-len("Route"):], "Route") {
				recognized = true
				name := ""
				if md, ok := asMap(m["metadata"]); ok {
					name = str(md, "name")
				}
				out = append(out, candidate{index: len(out), other: api + " " + kind, name: name})
				continue
			}
		}
		if routeLike(m) {
			recognized = true
			add(m)
		}
	}
	if !recognized {
		return nil, fmt.Errorf("%w: expected \"data:\" with a list of rule_chain routes, a list of routes or one route object", ErrNotExport)
	}
	return out, nil
}

// vgsAPI reports whether a resource's apiVersion is one of VGS's
// (vault.vgs.io/v1, mft.vgs.io/v1beta, …).
func vgsAPI(api string) bool {
	group, _, _ := strings.Cut(api, "/")
	group = strings.ToLower(group)
	return group == "vgs.io" || strings.HasSuffix(group, ".vgs.io")
}

func anyRouteLike(l []any) bool {
	for _, v := range l {
		if m, ok := asMap(v); ok && routeLike(m) {
			return true
		}
	}
	return false
}

// routeLike reports whether a map is a VGS route object, wrapped or flat.
func routeLike(m map[string]any) bool {
	if a, ok := field(m, "attributes"); ok {
		if _, isMap := asMap(a); isMap {
			return true
		}
	}
	if ruleChain(str(m, "type")) {
		return true
	}
	for _, k := range []string{"host_endpoint", "destination_override_endpoint", "entries"} {
		if _, ok := field(m, k); ok {
			return true
		}
	}
	return false
}

// routeAttributes returns a route object's attributes (the object itself
// when it is flat) and its id (from either).
func routeAttributes(m map[string]any) (attrs map[string]any, id string) {
	attrs = m
	if a, ok := field(m, "attributes"); ok {
		if am, ok := asMap(a); ok {
			attrs = am
		}
	}
	id = str(m, "id")
	if id == "" {
		id = str(attrs, "id")
	}
	return attrs, id
}
