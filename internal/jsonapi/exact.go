package jsonapi

import (
	"encoding"
	"encoding/json"
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
// decoders refuse, besides what Decode refuses, a member name of an object
// read into a struct that is not one of that struct's names (json tags,
// else Go field names, promoted fields included) but equals one of them
// once case is folded as encoding/json folds it: 400 inexact_member with
// the member's pointer.
//
// Each object is checked against the struct it is read into, found by
// walking v's type along the document, as encoding/json does: a member
// encoding/json ignores (one the struct does not read) and the keys of a
// map (a meta object, attributes read as map[string]json.RawMessage),
// which encoding/json reads exactly, are the client's own and may differ
// from an API name in case; the values of a map or slice of structs are
// checked as those structs. What is read into an interface, a
// json.RawMessage or another type that unmarshals itself is not looked
// into: a handler that decodes such a value into a struct later checks it
// itself.

// shape is what checkMembers knows of the Go value a JSON value is read
// into; nil is a value whose members encoding/json does not fold.
type shape struct {
	kind   shapeKind
	fields map[string]*shape   // object of a struct: exact names → their values
	folded map[string]struct{} // object of a struct: the names folded
	elem   *shape              // array of a slice or array, object of a map
}

type shapeKind uint8

const (
	shapeStruct shapeKind = iota + 1
	shapeList
	shapeMap
)

var shapeCache sync.Map // reflect.Type → *shape

// shapeOf returns the shape of the values v's type reads.
func shapeOf(v any) *shape {
	t := reflect.TypeOf(v)
	if s, ok := shapeCache.Load(t); ok {
		return s.(*shape)
	}
	s := buildShape(t, map[reflect.Type]*shape{})
	shapeCache.Store(t, s)
	return s
}

var (
	unmarshalerType     = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

func buildShape(t reflect.Type, building map[reflect.Type]*shape) *shape {
	for t != nil && t.Kind() == reflect.Pointer {
		if t.Implements(unmarshalerType) || t.Implements(textUnmarshalerType) {
			return nil
		}
		t = t.Elem()
	}
	if t == nil || reflect.PointerTo(t).Implements(unmarshalerType) || reflect.PointerTo(t).Implements(textUnmarshalerType) {
		return nil
	}
	if s, ok := building[t]; ok {
		return s // a recursive type
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 && t.Kind() == reflect.Slice {
			return nil // []byte is a base64 string
		}
		s := &shape{kind: shapeList}
		building[t] = s
		s.elem = buildShape(t.Elem(), building)
		return s
	case reflect.Map:
		s := &shape{kind: shapeMap}
		building[t] = s
		s.elem = buildShape(t.Elem(), building)
		return s
	case reflect.Struct:
		s := &shape{kind: shapeStruct, fields: map[string]*shape{}, folded: map[string]struct{}{}}
		building[t] = s
		addFields(s, t, building, map[reflect.Type]bool{})
		return s
	}
	return nil
}

// addFields adds t's fields to s, and the promoted fields of its embedded
// structs (a shallower name hides a deeper one).
func addFields(s *shape, t reflect.Type, building map[reflect.Type]*shape, embedded map[reflect.Type]bool) {
	if embedded[t] {
		return
	}
	embedded[t] = true
	var promoted []reflect.Type
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
		if f.Anonymous && name == "" {
			if ft.Kind() == reflect.Struct {
				promoted = append(promoted, ft)
			}
			if ft.Kind() == reflect.Struct || !f.IsExported() {
				continue
			}
		}
		if name == "" {
			name = f.Name
		}
		if _, ok := s.fields[name]; ok {
			continue
		}
		s.fields[name] = buildShape(f.Type, building)
		s.folded[foldName(name)] = struct{}{}
	}
	for _, p := range promoted {
		addFields(s, p, building, embedded)
	}
}

// inexact reports whether key is not a name of s's struct but folds to one.
func (s *shape) inexact(key string) bool {
	if s == nil || s.kind != shapeStruct {
		return false
	}
	if _, ok := s.fields[key]; ok {
		return false
	}
	_, ok := s.folded[foldName(key)]
	return ok
}

// child is the shape of the value of the current member or element of an
// object or array of shape s (nil: not looked into).
func (s *shape) child(obj bool, key string) *shape {
	switch {
	case s == nil:
		return nil
	case obj && s.kind == shapeStruct:
		return s.fields[key]
	case obj && s.kind == shapeMap, !obj && s.kind == shapeList:
		return s.elem
	}
	return nil
}

// opens is s if a JSON object (obj) or array is read as s, else nil.
func (s *shape) opens(obj bool) *shape {
	if s == nil || (s.kind == shapeList) == obj {
		return nil
	}
	return s
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
	if err := checkMembers(body, shapeOf(v)); err != nil {
		return err
	}
	return decode(body, strict, v)
}

// CheckMembersExact refuses what DecodeBodyExact refuses besides syntax
// and types: a repeated member, nesting deeper than MaxDepth, a member
// name v reads only when letter case is ignored. A body that is not JSON
// is left to the caller (nil), for handlers that ignore such a body.
func CheckMembersExact(body []byte, v any) error {
	return checkMembers(body, shapeOf(v))
}
