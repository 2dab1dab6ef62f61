package jsonapi

import (
	"net/http"
	"reflect"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Exact member names.
//
// encoding/json matches a member to a struct field ignoring letter case,
// with Unicode folding: "Value", "VALUE" and "ſtorage" (a long s) are read
// as the fields value and storage. A document {"value":A,"Value":B} is then
// one member to the gateway (B, the last) and two different ones to every
// parser that reads names exactly (a WAF, a front end, the proxy's
// rewriter), which is the ambiguity the refusal of repeated members ends;
// and a lone "ſtorage" is a member only the gateway reads. The Exact
// decoders refuse, besides what Decode refuses, a member name that is not
// one of the names v's types read (json tags, else Go field names) but
// equals one of them once case is folded as encoding/json folds it: 400
// inexact_member with the member's pointer. They are for documents read
// into structs only: a map of client-chosen keys (the Card Management
// API's meta) may hold keys that differ only in case, and is read with
// Decode.

// fieldNames are the member names a Go type reads, as spelled and folded.
type fieldNames struct {
	exact, folded map[string]struct{}
}

var fieldNamesCache sync.Map // reflect.Type → *fieldNames

// namesOf returns the member names v's type (and every type it holds) reads.
func namesOf(v any) *fieldNames {
	t := reflect.TypeOf(v)
	if n, ok := fieldNamesCache.Load(t); ok {
		return n.(*fieldNames)
	}
	n := &fieldNames{exact: map[string]struct{}{}, folded: map[string]struct{}{}}
	collectNames(t, map[reflect.Type]bool{}, n)
	fieldNamesCache.Store(t, n)
	return n
}

func collectNames(t reflect.Type, seen map[reflect.Type]bool, n *fieldNames) {
	if t == nil || seen[t] {
		return
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
		collectNames(t.Elem(), seen, n)
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" || (!f.IsExported() && !f.Anonymous) {
				continue
			}
			name := tag
			for j := 0; j < len(tag); j++ {
				if tag[j] == ',' {
					name = tag[:j]
					break
				}
			}
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if f.Anonymous && name == "" && ft.Kind() == reflect.Struct {
				collectNames(ft, seen, n) // promoted fields
				continue
			}
			if name == "" {
				name = f.Name
			}
			n.exact[name] = struct{}{}
			n.folded[foldName(name)] = struct{}{}
			collectNames(f.Type, seen, n)
		}
	}
}

// inexact reports whether key is not a name n reads but folds to one.
func (n *fieldNames) inexact(key string) bool {
	if _, ok := n.exact[key]; ok {
		return false
	}
	_, ok := n.folded[foldName(key)]
	return ok
}

// foldName folds s as encoding/json does when it matches member names to
// fields: ASCII letters to upper case, every other rune to the smallest
// rune of its case-folding orbit (so "ſ" is "S" and "K", the Kelvin sign,
// "K").
func foldName(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			out = append(out, c)
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		out = utf8.AppendRune(out, foldRune(r))
		i += size
	}
	return string(out)
}

func foldRune(r rune) rune {
	for {
		r2 := unicode.SimpleFold(r)
		if r2 <= r {
			return r2
		}
		r = r2
	}
}

// DecodeBodyExact is DecodeBody for a document read into structs: it also
// refuses a member name v reads only when letter case is ignored (see
// above).
func DecodeBodyExact(r *http.Request, limit int64, strict bool, v any) error {
	body, err := readBody(r, limit)
	if err != nil {
		return err
	}
	if err := checkMembers(body, namesOf(v)); err != nil {
		return err
	}
	return decode(body, strict, v)
}

// CheckMembersExact refuses what DecodeBodyExact refuses besides syntax
// and types: a repeated member, nesting deeper than MaxDepth, a member
// name v reads only when letter case is ignored. A body that is not JSON
// is left to the caller (nil), for handlers that ignore such a body.
func CheckMembersExact(body []byte, v any) error {
	return checkMembers(body, namesOf(v))
}
