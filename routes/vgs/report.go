package vgs

import (
	"strings"

	"github.com/aliasgate/aliasgate/internal/pan"
)

// Effect says what the converted routes do about a piece of the VGS export
// that could not be expressed.
type Effect string

// Effects.
const (
	// RouteLeftOut: the whole VGS route (every entry of it) is missing from
	// the output.
	RouteLeftOut Effect = "route left out"
	// EntryLeftOut: the VGS entry has no native filter. It is never emitted
	// with a broader match or a partial condition.
	EntryLeftOut Effect = "entry left out"
	// TargetLeftOut: the entry's filter is written without this field; the
	// entry's other fields are converted.
	TargetLeftOut Effect = "target left out"
	// Narrowed: the output applies the route or entry on less traffic
	// than VGS would (never on more): a condition value or a host it
	// cannot say exactly is dropped, or the entry is left out on some
	// hosts. The Reason says where.
	Narrowed Effect = "narrowed"
	// Ignored: the setting has no native equivalent and the route or entry
	// is converted without it (the Reason says what that changes).
	Ignored Effect = "ignored"
)

// Item is one piece of a VGS export that Convert could not express.
type Item struct {
	// Route is the VGS route id, or "data[N]" for a route without one.
	Route string
	// Entry is the VGS entry id, or "entries[N]" for an entry without one;
	// empty when the item concerns the route itself.
	Entry string
	// Reason says what could not be expressed and why. It is one line.
	Reason string
	// Effect says what the output does instead.
	Effect Effect
}

// String formats the item as one line:
//
//	route 9a1…: entry 3c2…: JSONPath "$..pan" (recursive descent) cannot be expressed; entry left out
func (it Item) String() string {
	var b strings.Builder
	b.WriteString("route ")
	b.WriteString(it.Route)
	b.WriteString(": ")
	if it.Entry != "" {
		b.WriteString("entry ")
		b.WriteString(it.Entry)
		b.WriteString(": ")
	}
	b.WriteString(it.Reason)
	b.WriteString("; ")
	b.WriteString(string(it.Effect))
	return oneLine(b.String())
}

// Report lists everything Convert could not express, in input order, and
// counts what it wrote.
type Report struct {
	// Items is every route, entry, target, condition or setting that the
	// output does not express exactly.
	Items []Item
	// Routes and Filters count the native routes and filters written.
	Routes  int
	Filters int
}

// Complete reports whether every piece of the export was converted exactly
// (the CLI exits 0 when it is, 1 when it is not).
func (r Report) Complete() bool { return len(r.Items) == 0 }

// String returns one line per item, each ending in a newline; "" when the
// report is complete.
func (r Report) String() string {
	var b strings.Builder
	for _, it := range r.Items {
		b.WriteString(it.String())
		b.WriteByte('\n')
	}
	return b.String()
}

func (r *Report) add(route, entry string, effect Effect, reason string) {
	r.Items = append(r.Items, Item{Route: shown(route), Entry: shown(entry), Reason: shown(reason), Effect: effect})
}

// shown is input text as the report and the output's comments quote it: on
// one line (oneLine), then its card numbers masked as the CLI masks what a
// file said (pan.MaskLoose) and as a reader sees them (pan.MaskShown:
// groups apart by '/' or any other character), so that an export holding
// one (an id, a condition's value) never has it printed or written into
// the routes file. Masked after oneLine: its spaces join groups a tab or
// a newline kept apart ("5105 1051\t0510 5100").
func shown(s string) string { return pan.MaskShown(pan.MaskLoose(oneLine(s))) }

// oneLine replaces control characters (newlines included) with spaces, so a
// report line or an output comment can never be split by input text.
func oneLine(s string) string {
	if !strings.ContainsFunc(s, isControl) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if isControl(r) {
			return ' '
		}
		return r
	}, s)
}

func isControl(r rune) bool {
	return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' || r == '\ufeff'
}
