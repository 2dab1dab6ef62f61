package yamltag

import (
	"testing"

	"gopkg.in/yaml.v3"
)

// TestFindReportsEveryTagWithItsLine: explicit tags (standard, custom,
// verbatim, on keys, values, lists and mappings, anchored) are found with
// their lines; plain and quoted values, and the non-specific tag (which
// yaml.v3 ignores), are not.
func TestFindReportsEveryTagWithItsLine(t *testing.T) {
	src := `a: !!str 10
b: !foo x
!!str c: 1
d: ! 10
e: !<tag:yaml.org,2002:int> '7'
f: !!binary aGk=
g: &x !!int 3
h: *x
i: !!seq [1]
j: !!map {k: v}
k: ! true
l: !
plain: 10
quoted: "10"
text: hello world
nonspecific_text: ! hello world
`
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	want := []Tagged{{1, "!!str"}, {2, "!foo"}, {3, "!!str"}, {5, "!!int"}, {6, "!!binary"}, {7, "!!int"},
		{9, "!!seq"}, {10, "!!map"}}
	got := Find(&doc)
	if len(got) != len(want) {
		t.Fatalf("Find = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Find[%d] = %v, want %v", i, got[i], want[i])
		}
	}
	if m := got[4].Message(); m != "YAML tag !!binary is not accepted: write the value without a tag (quote it for a string)" {
		t.Errorf("Message = %q", m)
	}
}
