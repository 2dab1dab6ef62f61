// Package yamltag holds the one rule for YAML tags in the gateway's YAML
// files (the configuration and the routes file): none is accepted. A tag
// changes what a value means without looking different to a reader:
// `port: !!str 443` is a string, `ttl: !!int 0x10` 16, `!!binary` bytes
// decoded from base64, and a custom tag (`!foo`, `!<tag:…>`) a type
// nothing here knows. gopkg.in/yaml.v3 decodes them silently. (The
// non-specific tag `!` leaves no mark in yaml.v3's tree and changes
// nothing it decodes: it is not looked for.) The files write values plainly (quote a string); every tag is
// a problem with its line.
package yamltag

import "gopkg.in/yaml.v3"

// Tagged is a node written with a tag.
type Tagged struct {
	Line int
	Tag  string // as yaml.v3 resolved it (!!str, !!binary, !foo, or a verbatim tag:… without its !<>)
}

// Message is the problem to report for t (without its line).
func (t Tagged) Message() string {
	tag := t.Tag
	if tag != "" && tag[0] != '!' {
		tag = "!<" + tag + ">" // a verbatim tag, as written
	}
	if r := []rune(tag); len(r) > 40 {
		tag = string(r[:40]) + "…"
	}
	return "YAML tag " + tag + " is not accepted: write the value without a tag (quote it for a string)"
}

// Find returns the nodes of the tree n, n included, written with a tag,
// in document order. An alias is not followed (its anchor is in the tree).
func Find(n *yaml.Node) []Tagged {
	var out []Tagged
	walk(n, &out)
	return out
}

func walk(n *yaml.Node, out *[]Tagged) {
	if n == nil {
		return
	}
	if n.Style&yaml.TaggedStyle != 0 {
		*out = append(*out, Tagged{Line: n.Line, Tag: n.Tag})
	}
	for _, c := range n.Content {
		walk(c, out)
	}
}
