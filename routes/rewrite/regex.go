package rewrite

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"

	"github.com/aliasgate/aliasgate/internal/pan"
)

// Regex targets are RE2 patterns run over the whole body, whatever its media
// type and whether or not it is text (the regexp package reads invalid UTF-8
// as U+FFFD, one byte at a time, so offsets stay byte offsets). When the
// pattern has groups the first group is the value, else the whole match; a
// group that did not take part in the match or matched nothing is skipped.
// A Luhn target keeps only values that are all digits and pass the Luhn
// check. Replacements are written as they are (Raw).
//
// The matches of all regex targets are merged by start offset; where two
// overlap, the one that starts first is kept (on a tie, the one of the lower
// target index) and the other is dropped, so the rewrite is the same
// whatever order the targets are listed in apart from ties.
//
// A pattern that matches the empty string is refused when the filter is
// compiled: it would match between every two bytes of a body, and a body
// yielding more than maxRegexMatches matches of one pattern is ErrMalformed.

// maxRegexMatches is the most matches one regex target may have in a body,
// and the most spans all regex targets may yield together.
const maxRegexMatches = 100000

type regexTarget struct {
	re     *regexp.Regexp
	groups bool
	luhn   bool
	target int
}

type regexLocator struct {
	targets []regexTarget
}

func newRegexLocator(specs []TargetSpec, idx []int) (Locator, error) {
	l := &regexLocator{targets: make([]regexTarget, 0, len(specs))}
	for i, s := range specs {
		if s.Path == "" {
			return nil, fmt.Errorf("rewrite: target %d: empty regular expression", idx[i])
		}
		re, err := regexp.Compile(s.Path)
		if err != nil {
			return nil, fmt.Errorf("rewrite: target %d: bad regular expression: %w", idx[i], err)
		}
		if re.MatchString("") {
			return nil, fmt.Errorf("rewrite: target %d: regular expression matches the empty string, so it would match everywhere", idx[i])
		}
		l.targets = append(l.targets, regexTarget{re: re, groups: re.NumSubexp() > 0, luhn: s.Luhn, target: idx[i]})
	}
	return l, nil
}

// Locate implements Locator.
func (l *regexLocator) Locate(msg *Message) ([]Span, error) {
	var spans []Span
	for _, t := range l.targets {
		var err error
		if spans, err = t.locate(msg.Body, spans); err != nil {
			return nil, err
		}
		if len(spans) > maxRegexMatches {
			return nil, fmt.Errorf("%w: more than %d regular expression matches", ErrMalformed, maxRegexMatches)
		}
	}
	if len(l.targets) == 1 {
		return spans, nil // one pattern's matches are ordered and disjoint
	}
	slices.SortFunc(spans, func(a, b Span) int {
		return cmp.Or(cmp.Compare(a.Start, b.Start), cmp.Compare(a.Target, b.Target))
	})
	out := spans[:0]
	last := 0
	for _, s := range spans {
		if s.Start >= last {
			out = append(out, s)
			last = s.End
		}
	}
	return out, nil
}

// locate appends the spans of t's matches in body to spans.
func (t regexTarget) locate(body []byte, spans []Span) ([]Span, error) {
	var ms [][]int
	if t.groups {
		ms = t.re.FindAllSubmatchIndex(body, maxRegexMatches+1)
	} else {
		ms = t.re.FindAllIndex(body, maxRegexMatches+1)
	}
	if len(ms) > maxRegexMatches {
		return nil, fmt.Errorf("%w: target %d: more than %d regular expression matches", ErrMalformed, t.target, maxRegexMatches)
	}
	for _, m := range ms {
		start, end := m[0], m[1]
		if t.groups {
			start, end = m[2], m[3]
		}
		if start < 0 || start == end {
			continue
		}
		v := string(body[start:end])
		if t.luhn && !pan.Valid(v) {
			continue
		}
		spans = append(spans, Span{Start: start, End: end, Value: v, Encoding: Raw, Target: t.target})
	}
	return spans, nil
}
