package jsonapi

import (
	"encoding/json"
	"strconv"
	"testing"
)

// TestInexactNamesAreWhatEncodingJSONFolds: a member name is inexact
// exactly when encoding/json reads it into a field whose name it is not.
func TestInexactNamesAreWhatEncodingJSONFolds(t *testing.T) {
	type doc struct {
		Value   string `json:"value"`
		Storage string `json:"storage"`
		Kind    string `json:"kind"`
		Plain   string
	}
	for _, key := range []string{"value", "Value", "VALUE", "vAlUe", "ſtorage", "storage", "STORAGE", "\u212Aind", "kind",
		"Kind", "Plain", "plain", "PLAIN", "other", "valuе" /* Cyrillic e */, "value ", "ﬆorage"} {
		var d doc
		if err := json.Unmarshal([]byte(`{`+strconv.Quote(key)+`:"x"}`), &d); err != nil {
			t.Fatal(err)
		}
		readAs := ""
		switch {
		case d.Value == "x":
			readAs = "value"
		case d.Storage == "x":
			readAs = "storage"
		case d.Kind == "x":
			readAs = "kind"
		case d.Plain == "x":
			readAs = "Plain"
		}
		want := readAs != "" && readAs != key
		if got := shapeOf(&d).inexact(key); got != want {
			t.Errorf("%q: inexact %v, encoding/json reads it as %q", key, got, readAs)
		}
		err := CheckMembersExact([]byte(`{`+strconv.Quote(key)+`:"x"}`), &d)
		if (err != nil) != want {
			t.Errorf("%q: CheckMembersExact = %v", key, err)
		}
	}
}

// TestExactNamesAreThoseOfTheObjectsOwnStruct: a member name is checked
// against the names of the struct that object is read into, as
// encoding/json matches it, not against every name of the document's
// types: a member encoding/json ignores (unknown, or inside a map, an
// interface or a json.RawMessage) is the client's own and may differ from
// an API name in case (a meta object's "Value"), and a name exact in one
// struct is folded into another's field where it is not one of its names.
func TestExactNamesAreThoseOfTheObjectsOwnStruct(t *testing.T) {
	type inner struct {
		Value string // read as "Value" (no tag)
	}
	type doc struct {
		Value string            `json:"value"`
		Inner inner             `json:"inner"`
		List  []inner           `json:"list"`
		Meta  map[string]string `json:"meta"`
		Raw   json.RawMessage   `json:"raw"`
		Any   any               `json:"any"`
	}
	for _, c := range []struct {
		body    string
		pointer string // "" when accepted
	}{
		{`{"value":"x","inner":{"Value":"y"},"list":[{"Value":"z"}]}`, ""},
		{`{"meta":{"Value":"x","INNER":"y","ſtorage":"z"}}`, ""},
		{`{"unknown":{"Value":1,"LIST":[{"VALUE":2}]}}`, ""},
		{`{"meta2":{"Data":1},"value":"x"}`, ""},
		{`{"raw":{"VALUE":1,"Inner":2}}`, ""},
		{`{"any":{"Value":1,"Inner":{"value":2}}}`, ""},
		{`{"Value":"x"}`, "/Value"},                 // doc.value, though inner's "Value" is exact
		{`{"inner":{"value":"y"}}`, "/inner/value"}, // inner.Value, though doc's "value" is exact
		{`{"list":[{"Value":"y"},{"vALUE":"z"}]}`, "/list/1/vALUE"},
		{`{"Meta":{"a":"b"}}`, "/Meta"},
		{`{"\u0056alue":"x"}`, "/Value"},                      // escaped: read as "Value"
		{`{"\u0076alue":"x","inner":{"\u0056alue":"y"}}`, ""}, // escaped exact names
		{`{"list":[{"\u212Aey":1,"\u0056ALUE":"z"}]}`, "/list/0/VALUE"},
	} {
		// What encoding/json does with it: an inexact member is read.
		var d doc
		if err := json.Unmarshal([]byte(c.body), &d); err != nil {
			t.Fatalf("%s: %v", c.body, err)
		}
		err := CheckMembersExact([]byte(c.body), &doc{})
		switch {
		case c.pointer == "" && err != nil:
			t.Errorf("%s: refused: %v", c.body, err)
		case c.pointer != "":
			e, ok := err.(*Error)
			if !ok || e.Objects[0].Code != "inexact_member" || e.Objects[0].Source == nil || e.Objects[0].Source.Pointer != c.pointer {
				t.Errorf("%s: %v, want inexact_member at %s", c.body, err, c.pointer)
			}
		}
	}
}
