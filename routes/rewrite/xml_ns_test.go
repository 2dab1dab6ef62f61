package rewrite

import (
	"slices"
	"strings"
	"testing"
)

// An xml target with XMLNamespaces reads its path as XPath 1.0 does, with
// the root element's namespace declarations as the context.
func TestXMLNamespacesReadNamesAsXPath(t *testing.T) {
	const soap = `xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"`
	const s = `xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"`
	tests := []struct {
		name, path, body string
		want             []string // values located
	}{
		{"plain document", "/pay/pan", `<pay><pan>1</pan></pay>`, []string{"1"}},
		{"an unprefixed step skips a prefixed element", "/pay/pan", `<pay xmlns:x="urn:x"><x:pan>1</x:pan><pan>2</pan></pay>`, []string{"2"}},
		{"an unprefixed step skips a prefixed parent", "/pay/pan", `<x:pay xmlns:x="urn:x"><pan>1</pan></x:pay>`, nil},
		{"a default namespace on the root", "/pay/pan", `<pay xmlns="urn:p"><pan>1</pan></pay>`, nil},
		{"a default namespace below", "/pay/pan", `<pay><pan xmlns="urn:p">1</pan><pan>2</pan></pay>`, []string{"2"}},
		{"the default namespace undeclared below", "/pay/pan", `<pay><pan xmlns="">3</pan></pay>`, []string{"3"}},
		{"undeclared inside a namespace", "/pay/pan", `<pay xmlns="urn:p"><pan xmlns="">1</pan></pay>`, nil},
		{"the same prefix", "/soap:Envelope/soap:Body/pan", `<soap:Envelope ` + soap + `><soap:Body><pan>4</pan></soap:Body></soap:Envelope>`, []string{"4"}},
		{"another prefix, the same namespace", "/soap:Envelope/soap:Body/pan", `<s:Envelope ` + s + ` ` + soap + `><s:Body><pan>5</pan></s:Body></s:Envelope>`, []string{"5"}},
		{"the namespace as the default", "/soap:Envelope/soap:Body/pan", `<soap:Envelope ` + soap + `><Body xmlns="http://schemas.xmlsoap.org/soap/envelope/"><pan xmlns="">6</pan></Body></soap:Envelope>`, []string{"6"}},
		{"the path's prefix bound below the root only", "/soap:Envelope/soap:Body/pan", `<s:Envelope ` + s + `><s:Body ` + soap + `><pan>12</pan></s:Body></s:Envelope>`, nil},
		{"the path's prefix bound nowhere", "/soap:Envelope/soap:Body/pan", `<s:Envelope ` + s + `><s:Body><pan>7</pan></s:Body></s:Envelope>`, nil},
		{"the root binds the prefix to another namespace", "/soap:Envelope/soap:Body/pan", `<soap:Envelope xmlns:soap="urn:other"><soap:Body><pan>8</pan></soap:Body></soap:Envelope>`, []string{"8"}},
		{"a prefix rebound below", "/soap:Envelope/soap:Body/pan", `<soap:Envelope ` + soap + `><soap:Body xmlns:soap="urn:other"><pan>9</pan></soap:Body></soap:Envelope>`, nil},
		{"a binding ends with its element", "/r/x:a", `<r><q xmlns:x="urn:x"/><x:a>10</x:a></r>`, nil},
		{"an undeclared element prefix", "/r/x:a", `<r><x:a>11</x:a></r>`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := newXMLLocator([]TargetSpec{{Kind: KindXML, Path: tt.path, XMLNamespaces: true}}, []int{0})
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
		})
	}
}

// With namespaces read, two targets whose steps share a local name can name
// one element (two prefixes, one namespace): refused like any overlap.
func TestXMLNamespacesOverlapByLocalName(t *testing.T) {
	_, err := newXMLLocator([]TargetSpec{
		{Kind: KindXML, Path: "/s:Envelope/s:pan", XMLNamespaces: true},
		{Kind: KindXML, Path: "/soap:Envelope/soap:pan", XMLNamespaces: true},
	}, []int{0, 1})
	if err == nil || !strings.Contains(err.Error(), "same element") {
		t.Fatalf("err = %v, want an overlap", err)
	}
	if _, err := newXMLLocator([]TargetSpec{{Kind: KindXML, Path: "/s:Envelope/s:pan"}, {Kind: KindXML, Path: "/soap:Envelope/soap:pan"}}, []int{0, 1}); err != nil {
		t.Fatalf("literal prefixes: %v", err)
	}
}
