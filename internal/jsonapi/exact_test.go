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
		if got := namesOf(&d).inexact(key); got != want {
			t.Errorf("%q: inexact %v, encoding/json reads it as %q", key, got, readAs)
		}
		err := CheckMembersExact([]byte(`{`+strconv.Quote(key)+`:"x"}`), &d)
		if (err != nil) != want {
			t.Errorf("%q: CheckMembersExact = %v", key, err)
		}
	}
}
