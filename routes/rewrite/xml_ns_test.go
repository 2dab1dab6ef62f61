package rewrite

import (
	"slices"
	"testing"
)

// An xml target with XMLNoNamespace reads an unprefixed step as XPath 1.0
// does: an element in no namespace only.
func TestXMLNoNamespaceMatchesElementsInNoNamespaceOnly(t *testing.T) {
	tests := []struct {
		name, path, body string
		want             []string // values located
	}{
		{"plain document", "/pay/pan", `<pay><pan>1</pan></pay>`, []string{"1"}},
		{"a prefix on the element", "/pay/pan", `<pay xmlns:x="urn:x"><x:pan>1</x:pan><pan>2</pan></pay>`, []string{"2"}},
		{"a prefix on the parent", "/pay/pan", `<x:pay xmlns:x="urn:x"><pan>1</pan></x:pay>`, nil},
		{"a default namespace on the root", "/pay/pan", `<pay xmlns="urn:p"><pan>1</pan></pay>`, nil},
		{"a default namespace below", "/pay/pan", `<pay><pan xmlns="urn:p">1</pan><pan>2</pan></pay>`, []string{"2"}},
		{"the default namespace undeclared", "/pay/pan", `<pay xmlns="urn:p"><x xmlns=""/></pay>`, nil},
		{"undeclared again below", "/a/pay/pan", `<a xmlns=''><pay><pan>3</pan></pay></a>`, []string{"3"}},
		{"undeclared inside a namespace", "/pay/pan", `<pay xmlns="urn:p"><pan xmlns="">1</pan></pay>`, nil}, // pay is in urn:p
		{"a prefixed step stays literal", "/s:Envelope/s:Body/pan", `<s:Envelope xmlns:s="urn:s"><s:Body><pan>4</pan></s:Body></s:Envelope>`, []string{"4"}},
		{"a prefixed step under a default namespace", "/s:Envelope/pan", `<s:Envelope xmlns:s="urn:s" xmlns="urn:d"><pan>5</pan></s:Envelope>`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := newXMLLocator([]TargetSpec{{Kind: KindXML, Path: tt.path, XMLNoNamespace: true}}, []int{0})
			if err != nil {
				t.Fatal(err)
			}
			spans, err := l.Locate(&Message{Body: []byte(tt.body)})
			if err != nil {
				t.Fatalf("Locate: %v", err)
			}
			var got []string
			for _, s := range spans {
				got = append(got, s.Value)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("located %q, want %q", got, tt.want)
			}
			// Without XMLNoNamespace every element of that local name counts.
			loose, err := newXMLLocator([]TargetSpec{{Kind: KindXML, Path: tt.path}}, []int{0})
			if err != nil {
				t.Fatal(err)
			}
			all, err := loose.Locate(&Message{Body: []byte(tt.body)})
			if err != nil || len(all) < len(spans) {
				t.Errorf("the loose target found %d spans (%v), fewer than the strict one's %d", len(all), err, len(spans))
			}
		})
	}
}
