package jsonapi

import (
	"errors"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/internal/pan"
)

// TestDecodeRefusesRepeatedMembersAndDeepNesting: encoding/json keeps the
// last of repeated members while other readers keep the first, so a
// document that repeats a member name is refused (400, pointer to the
// member); so is one nested deeper than MaxDepth. Neither error quotes a
// value, and a card number used as a member name is masked in the pointer.
func TestDecodeRefusesRepeatedMembersAndDeepNesting(t *testing.T) {
	const pn = "4111111111111111"
	tests := []struct {
		name, body, code, pointer string
	}{
		{"top level", `{"data":1,"data":2}`, "duplicate_member", "/data"},
		{"attribute", `{"data":{"attributes":{"pan":"tok_x","pan":"` + pn + `"}}}`, "duplicate_member", "/data/attributes/pan"},
		{"through an escape", `{"data":{"attributes":{"pan":"x","p\u0061n":"` + pn + `"}}}`, "duplicate_member", "/data/attributes/pan"},
		{"in an array element", `{"data":[{"value":"a"},{"value":"b","value":"` + pn + `"}]}`, "duplicate_member", "/data/1/value"},
		{"pointer escapes", `{"a/b":{"~":1,"~":2}}`, "duplicate_member", "/a~1b/~0"},
		{"card number as the name", `{"` + pn + `":1,"` + pn + `":2}`, "duplicate_member", "/" + pan.Mask(pn)},
		{"too deep", strings.Repeat(`[`, MaxDepth+1) + strings.Repeat(`]`, MaxDepth+1), "too_deep", ""},
		{"too deep in objects", strings.Repeat(`{"a":`, MaxDepth+1) + "1" + strings.Repeat(`}`, MaxDepth+1), "too_deep", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v any
			err := Decode([]byte(tt.body), false, &v)
			var e *Error
			if !errors.As(err, &e) || e.Status != 400 || e.Objects[0].Code != tt.code {
				t.Fatalf("err = %v, want a 400 %s", err, tt.code)
			}
			if tt.pointer != "" && (e.Objects[0].Source == nil || e.Objects[0].Source.Pointer != tt.pointer) {
				t.Fatalf("source %+v, want pointer %s", e.Objects[0].Source, tt.pointer)
			}
			if pan.Contains([]byte(err.Error())) || strings.Contains(e.Objects[0].Detail, pn) {
				t.Fatalf("error quotes a value: %v", err)
			}
		})
	}
	for name, ok := range map[string]string{
		"same name in sibling objects": `{"data":[{"value":"a"},{"value":"b"}]}`,
		"same name at two depths":      `{"data":{"data":{"data":1}}}`,
		"at the depth limit":           strings.Repeat(`[`, MaxDepth) + strings.Repeat(`]`, MaxDepth),
		"value equal to a name":        `{"a":"a","b":"a"}`,
	} {
		var v any
		if err := Decode([]byte(ok), false, &v); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Malformed documents keep their own error.
	var v any
	if err := Decode([]byte(`{"a":1,"b"`), false, &v); err == nil || !strings.Contains(err.Error(), "cut short") && !strings.Contains(err.Error(), "not valid JSON") {
		t.Errorf("malformed: %v", err)
	}
}
