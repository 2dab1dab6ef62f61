package vgs

import (
	"bytes"
	"fmt"

	"gopkg.in/yaml.v3"
)

// The native route file, as DESIGN.md "Routes" defines it. Only the keys
// that file format has are written; field order is the output order.

type nativeFile struct {
	Routes []nativeRoute `yaml:"routes"`
}

type nativeRoute struct {
	ID         string         `yaml:"id"`
	Direction  string         `yaml:"direction"`
	Host       string         `yaml:"host,omitempty"`
	HostRegex  string         `yaml:"host_regex,omitempty"`
	Ports      []int          `yaml:"ports,omitempty,flow"`
	PathPrefix string         `yaml:"path_prefix,omitempty"`
	Upstream   string         `yaml:"upstream,omitempty"`
	Filters    []nativeFilter `yaml:"filters"`

	comments []string `yaml:"-"` // one line each, written above the route
}

type nativeFilter struct {
	ID        string         `yaml:"id"`
	Group     string         `yaml:"group,omitempty"`
	Phase     string         `yaml:"phase"`
	Match     *nativeMatch   `yaml:"match,omitempty"`
	Operation string         `yaml:"operation"`
	OnError   string         `yaml:"on_error"`
	Targets   []nativeTarget `yaml:"targets"`
}

type nativeMatch struct {
	Methods            []string `yaml:"methods,omitempty"`
	PathInfo           string   `yaml:"path_info,omitempty"`
	RequestContentType []string `yaml:"request_content_type,omitempty"`
	Status             []int    `yaml:"status,omitempty"`
}

func (m *nativeMatch) empty() bool {
	return m == nil || (len(m.Methods) == 0 && m.PathInfo == "" && len(m.RequestContentType) == 0 && len(m.Status) == 0)
}

type nativeTarget struct {
	JSON        string   `yaml:"json,omitempty"`
	Form        string   `yaml:"form,omitempty"`
	Header      string   `yaml:"header,omitempty"`
	XML         string   `yaml:"xml,omitempty"`
	Namespaces  bool     `yaml:"namespaces,omitempty"`
	Regex       string   `yaml:"regex,omitempty"`
	Format      string   `yaml:"format,omitempty"`
	Storage     string   `yaml:"storage,omitempty"`
	Classifiers []string `yaml:"classifiers,omitempty"`
	Luhn        bool     `yaml:"luhn,omitempty"`
}

// key identifies a target's location, to drop duplicates within a filter.
func (t nativeTarget) key() string {
	return t.JSON + "\x00" + t.Form + "\x00" + t.Header + "\x00" + t.XML + "\x00" + t.Regex
}

// encodeNative writes the route file: a header comment, then each route
// with its comment lines, match and targets in flow style as in DESIGN.md.
func encodeNative(header []string, routes []nativeRoute) ([]byte, error) {
	seq := &yaml.Node{Kind: yaml.SequenceNode}
	for i := range routes {
		r := &routes[i]
		if r.Filters == nil {
			r.Filters = []nativeFilter{}
		}
		n := &yaml.Node{}
		if err := n.Encode(r); err != nil {
			return nil, fmt.Errorf("vgs: encode route %s: %w", r.ID, err)
		}
		n.HeadComment = commentText(r.comments)
		flowStyle(n)
		seq.Content = append(seq.Content, n)
	}
	if len(seq.Content) == 0 {
		seq.Style = yaml.FlowStyle
	}
	root := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{
		{Kind: yaml.ScalarNode, Tag: "!!str", Value: "routes"}, seq,
	}}
	doc := &yaml.Node{Kind: yaml.DocumentNode, HeadComment: commentText(header), Content: []*yaml.Node{root}}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("vgs: encode routes: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("vgs: encode routes: %w", err)
	}
	return b.Bytes(), nil
}

// flowStyle sets the flow style on a route node's filter matches and
// targets.
func flowStyle(route *yaml.Node) {
	filters := mappingValue(route, "filters")
	if filters == nil {
		return
	}
	for _, f := range filters.Content {
		if m := mappingValue(f, "match"); m != nil {
			m.Style = yaml.FlowStyle
		}
		if ts := mappingValue(f, "targets"); ts != nil {
			if len(ts.Content) == 0 {
				ts.Style = yaml.FlowStyle
			}
			for _, t := range ts.Content {
				t.Style = yaml.FlowStyle
			}
		}
	}
}

func mappingValue(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func commentText(lines []string) string {
	var b bytes.Buffer
	for i, l := range lines {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString("# ")
		b.WriteString(shown(l))
	}
	return b.String()
}
