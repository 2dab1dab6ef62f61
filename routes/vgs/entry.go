package vgs

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/aliasgate/aliasgate/internal/pan"
)

// nativeFormats are the alias formats of the vault (vault.Formats; the
// aliasgate command's tests check that the two lists agree). VGS's CUSTOM
// and JS are not among them.
var nativeFormats = []string{
	"UUID", "RAW_UUID", "FPE_SIX_T_FOUR", "FPE_T_FOUR", "PFPT", "NUM_LENGTH_PRESERVING", "GENERIC_T_FOUR",
	"FPE_ACC_NUM_T_FOUR", "FPE_ALPHANUMERIC_ACC_NUM_T_FOUR", "FPE_SSN_T_FOUR", "NON_LUHN_FPE_ALPHANUMERIC",
	"ALPHANUMERIC_SIX_T_FOUR", "VGS_FIXED_LEN_GENERIC",
}

// NativeFormats returns the alias formats the converter emits.
func NativeFormats() []string { return slices.Clone(nativeFormats) }

// entry converts one VGS rule entry into a native filter. Everything it
// cannot express is reported; an entry with any entry-level problem
// (operation, phase, storage, format, classifier filter, condition,
// transformer) is left out whole, never emitted with a broader match.
//
// exact is false when VGS may apply the entry where the output has no
// filter with the same condition (the entry was left out for anything but
// a condition that never matches, or its condition was narrowed); phase is
// the entry's native phase ("" when it has none).
//
// An entry gives several filters when its condition is an OR of groups no
// two of which can hold at once (convertConditions): one per group.
func (c *converter) entry(route, routeID, direction string, n int, v any) (fs []nativeFilter, ok, exact bool, phase string) {
	label := fmt.Sprintf("entries[%d]", n)
	m, ok := asMap(v)
	if !ok {
		c.rep.add(route, label, EntryLeftOut, "not an entry object")
		return nil, false, true, ""
	}
	vgsID := str(m, "id")
	if vgsID != "" {
		label = oneLine(vgsID)
	}
	var whys, ignored []string // entry-level problems; settings converted without
	var targetWhys []string    // fields that could not be converted
	var targetNotes []string   // fields converted narrower

	for _, k := range []string{"operations", "operations_v2"} {
		if ops, _ := field(m, k); len(asList(ops)) > 0 {
			whys = append(whys, k+" (custom code such as Larky) cannot be expressed")
		}
	}
	if sel := str(m, "id_selector"); sel != "" {
		whys = append(whys, fmt.Sprintf("id_selector %q has no native equivalent", sel))
	}

	if phase = entryPhase(m); phase == "" {
		// VGS never applies it either.
		c.rep.add(route, label, EntryLeftOut, fmt.Sprintf("phase %q is neither REQUEST nor RESPONSE, so VGS never applies the entry", str(m, "phase")))
		return nil, false, true, ""
	}
	var operation string
	op := str(m, "operation")
	switch strings.ToUpper(op) {
	case "REDACT":
		operation = "redact"
	case "ENRICH":
		operation = "reveal"
	default:
		whys = append(whys, fmt.Sprintf("operation %q is neither REDACT nor ENRICH", op))
	}
	if operation == "reveal" && phase == "request" && direction == inbound {
		whys = append(whys, "ENRICH on an inbound REQUEST cannot be expressed: aliasgate reveals only on the way out (outbound routes, inbound responses), never into the merchant's app")
	}
	var storage string
	switch tm := str(m, "token_manager"); strings.ToUpper(tm) {
	case "":
	case "PERSISTENT":
		storage = "persistent"
	case "VOLATILE":
		storage = "volatile"
	default:
		whys = append(whys, fmt.Sprintf("token_manager %q is neither PERSISTENT nor VOLATILE", tm))
	}
	// A reveal finds the alias whatever its format, storage or tags, so
	// only a redact needs (and may have) them.
	format := strings.ToUpper(str(m, "public_token_generator"))
	if format != "" && operation == "redact" && !slices.Contains(nativeFormats, format) {
		whys = append(whys, fmt.Sprintf("public_token_generator %q is not an aliasgate alias format", str(m, "public_token_generator")))
	}

	tags, include, exclude, other, why := classifiers(m)
	if why != "" {
		whys = append(whys, why)
	}
	if operation == "redact" {
		var dropped []string
		if tags, dropped = vaultTags(tags); len(dropped) > 0 {
			ignored = append(ignored, fmt.Sprintf("classifiers %s are not tags the vault keeps (1 to %d printable characters, at most %d, never a card number); dropped, the values are still aliased", quoteList(dropped), maxClassifierLen, maxClassifiers))
		}
	}
	if len(include) > 0 || len(exclude) > 0 {
		var parts []string
		if len(include) > 0 {
			parts = append(parts, "INCLUDE "+quoteList(include))
		}
		if len(exclude) > 0 {
			parts = append(parts, "EXCLUDE "+quoteList(exclude))
		}
		msg := fmt.Sprintf("classifiers %s limit which aliases are revealed", strings.Join(parts, ", "))
		if operation == "reveal" {
			whys = append(whys, msg+"; that cannot be expressed")
		} else {
			ignored = append(ignored, msg+", which means nothing on a redact")
		}
	}
	for _, k := range other {
		ignored = append(ignored, fmt.Sprintf("classifiers key %q has no native equivalent", k))
	}

	config, _ := field(m, "config")
	matches, never, notes, why := convertConditions(config, phase)
	exact = why == "" && len(notes) == 0
	switch {
	case why != "":
		whys = append(whys, why)
	case never:
		for _, n := range notes {
			c.rep.add(route, label, Narrowed, n)
		}
		reason := "the condition never matches a request of its phase, so VGS never applies the entry"
		switch {
		case empty(config):
			reason = "the entry has no condition, so VGS never applies it"
		case len(notes) > 0:
			reason = "what the condition keeps once narrowed as above never matches"
		}
		c.rep.add(route, label, EntryLeftOut, reason)
		return nil, false, exact, phase
	}

	// Where: body and/or header.
	rawTargets, _ := field(m, "targets")
	var body, header bool
	for _, t := range asList(rawTargets) {
		s, _ := scalar(t)
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "body":
			body = true
		case "header", "headers":
			header = true
		default:
			targetWhys = append(targetWhys, fmt.Sprintf("target %q (neither body nor header) cannot be expressed", s))
		}
	}
	if rawTargets == nil || len(asList(rawTargets)) == 0 {
		body = true
	}

	// What: one native target per transformer_config item.
	// transformer_config_map settings the conversion does not read (the
	// dashboard keeps a tokenDecorator there, which reshapes the aliases
	// a redact makes): said, never dropped without a word.
	if rawMap, _ := field(m, "transformer_config_map"); rawMap != nil {
		cm, _ := asMap(rawMap)
		keys := make([]string, 0, len(cm))
		for k, v := range cm {
			if v == nil || strings.ToUpper(str(m, "transformer")) == "REGEX" && slices.Contains([]string{"patterns", "replacement", "charset"}, k) {
				continue
			}
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if cm == nil {
			ignored = append(ignored, "transformer_config_map is not an object; not read")
		}
		for _, k := range keys {
			ignored = append(ignored, fmt.Sprintf("transformer_config_map %q has no native equivalent (aliasgate makes the aliases of the format as they are)", k))
		}
	}
	rawCfg, _ := field(m, "transformer_config")
	var cfg []string
	for _, x := range asList(rawCfg) {
		s, ok := scalar(x)
		if !ok {
			targetWhys = append(targetWhys, "a transformer_config item is not a string")
			continue
		}
		cfg = append(cfg, s)
	}
	transformer := strings.ToUpper(str(m, "transformer"))
	var targets []nativeTarget
	addTarget := func(t nativeTarget) {
		if !slices.ContainsFunc(targets, func(u nativeTarget) bool { return u.key() == t.key() }) {
			targets = append(targets, t)
		}
	}
	switch transformer {
	case "JSON_PATH", "FORM_FIELD", "XPATH":
		if header {
			targetWhys = append(targetWhys, fmt.Sprintf("a header target with %s cannot be expressed (only a REGEX entry can name a header)", transformer))
		}
		if len(cfg) == 0 {
			whys = append(whys, "transformer_config lists no field")
		}
		for _, f := range cfg {
			if !body {
				break
			}
			switch transformer {
			case "JSON_PATH":
				if p, why := jsonPath(f); why != "" {
					targetWhys = append(targetWhys, fmt.Sprintf("JSONPath %q (%s) cannot be expressed", f, why))
				} else {
					addTarget(nativeTarget{JSON: p})
				}
			case "FORM_FIELD":
				if why := formField(f); why != "" {
					targetWhys = append(targetWhys, fmt.Sprintf("form field %q cannot be expressed (%s)", f, why))
				} else {
					addTarget(nativeTarget{Form: f})
				}
			case "XPATH":
				p, why := xmlPath(f)
				if why == "" {
					for _, t := range targets {
						if t.XML != p && xmlOverlap(t.XML, p) {
							why = fmt.Sprintf("it names the element of %s or one inside or around it; one filter cannot target both", t.XML)
							break
						}
					}
				}
				if why != "" {
					targetWhys = append(targetWhys, fmt.Sprintf("XPath %q (%s) cannot be expressed", f, why))
				} else {
					// XPath compares namespaces, not prefixes; namespaces
					// says the same natively.
					addTarget(nativeTarget{XML: p, Namespaces: true})
				}
			}
		}
	case "REGEX":
		patterns, replacement, why := regexConfig(m, cfg)
		if why != "" {
			whys = append(whys, why)
		}
		if len(patterns) == 0 {
			whys = append(whys, "no REGEX pattern is configured")
		}
		for _, p := range patterns {
			if body {
				if re, why := bodyRegex(p, replacement); why != "" {
					targetWhys = append(targetWhys, fmt.Sprintf("REGEX %q on the body: %s", p, why))
				} else {
					if javaLineStart(re) {
						targetNotes = append(targetNotes, fmt.Sprintf("REGEX %q on the body: Java's (?m)^ also matches after a lone \\r, U+0085, U+2028 or U+2029, RE2's after \\n only; on a body with such line ends the target finds less", p))
					}
					addTarget(nativeTarget{Regex: re})
				}
			}
			if header {
				if name, why := headerRegex(p, replacement); why != "" {
					targetWhys = append(targetWhys, fmt.Sprintf("REGEX %q on headers: %s", p, why))
				} else {
					addTarget(nativeTarget{Header: name})
				}
			}
		}
	case "":
		whys = append(whys, "no transformer")
	default:
		whys = append(whys, fmt.Sprintf("transformer %q cannot be expressed (aliasgate has JSON_PATH, FORM_FIELD, XPATH and REGEX)", transformer))
	}

	if len(whys) > 0 || len(targets) == 0 {
		for _, w := range append(whys, targetWhys...) {
			c.rep.add(route, label, EntryLeftOut, w)
		}
		if len(whys) == 0 && len(targetWhys) == 0 {
			c.rep.add(route, label, EntryLeftOut, "no target")
		}
		return nil, false, false, phase
	}
	for _, n := range append(notes, targetNotes...) {
		c.rep.add(route, label, Narrowed, n)
	}
	if len(targetNotes) > 0 {
		exact = false
	}
	for _, w := range targetWhys {
		c.rep.add(route, label, TargetLeftOut, w)
	}
	for _, w := range ignored {
		c.rep.add(route, label, Ignored, w)
	}

	if operation == "redact" {
		for i := range targets {
			targets[i].Format = format
			targets[i].Storage = storage
			targets[i].Classifiers = tags
		}
	}
	id := sanitizeID(vgsID)
	if id == "" {
		id = fmt.Sprintf("%s-%d", routeID, n+1)
	}
	for i, m := range matches {
		f := nativeFilter{
			ID:        id,
			Phase:     phase,
			Match:     m,
			Operation: operation,
			OnError:   "reject",
			Targets:   slices.Clone(targets),
		}
		if len(matches) > 1 {
			f.ID = fmt.Sprintf("%s-%d", id, i+1)
		}
		fs = append(fs, f)
	}
	return fs, true, exact, phase
}

// classifiers reads an entry's classifiers: a map {TAGS, INCLUDE, EXCLUDE}
// whose values are lists or comma-separated strings (as the VGS dashboard
// writes them), or a plain list of tags. other lists unknown keys that have
// a value.
func classifiers(m map[string]any) (tags, include, exclude, other []string, why string) {
	v, _ := field(m, "classifiers")
	if v == nil {
		return nil, nil, nil, nil, ""
	}
	if cm, ok := asMap(v); ok {
		keys := make([]string, 0, len(cm))
		for k := range cm {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			vals, bad := tagList(cm[k])
			if bad {
				return nil, nil, nil, nil, fmt.Sprintf("classifiers %q is not a list of tags", k)
			}
			switch strings.ToUpper(k) {
			case "TAGS":
				tags = union(tags, vals)
			case "INCLUDE":
				include = union(include, vals)
			case "EXCLUDE":
				exclude = union(exclude, vals)
			default:
				if len(vals) > 0 {
					other = append(other, k)
				}
			}
		}
		return tags, include, exclude, other, ""
	}
	tags, bad := tagList(v)
	if bad {
		return nil, nil, nil, nil, "classifiers is not a list of tags"
	}
	return tags, nil, nil, nil, ""
}

// The vault's classifier limits (vault.CheckClassifiers; the aliasgate
// command's tests check that the converter's output loads with them).
const (
	maxClassifiers   = 32
	maxClassifierLen = 64
)

// vaultTags splits a redact's tags into those the vault keeps and the
// others: beyond the first maxClassifiers kept, longer than
// maxClassifierLen characters, with characters that are not printable, or
// holding a card number (vault.CheckClassifiers refuses each, and with it
// every redaction of the filter: the routes would not load). A tag only
// labels the aliases a redaction makes; the values are aliased without it.
func vaultTags(tags []string) (kept, dropped []string) {
	for _, t := range tags {
		ok := len(kept) < maxClassifiers && utf8.RuneCountInString(t) <= maxClassifierLen && utf8.ValidString(t) &&
			!strings.ContainsFunc(t, func(r rune) bool { return !unicode.IsGraphic(r) }) &&
			!pan.ContainsLooseString(t) && pan.MaskShown(t) == t
		if ok {
			kept = append(kept, t)
		} else {
			dropped = append(dropped, t)
		}
	}
	return kept, dropped
}

func tagList(v any) (tags []string, bad bool) {
	for _, x := range asList(v) {
		s, ok := scalar(x)
		if !ok {
			return nil, true
		}
		for _, t := range strings.Split(s, ",") {
			t = oneLine(strings.TrimSpace(t))
			if t != "" && !slices.Contains(tags, t) {
				tags = append(tags, t)
			}
		}
	}
	return tags, false
}

// regexConfig reads a REGEX entry's patterns and replacement: the
// transformer_config_map {patterns, replacement, charset} the dashboard
// writes, else the transformer_config list of older exports. A missing or
// empty replacement is VGS's default, the alias in place of the value.
func regexConfig(m map[string]any, cfg []string) (patterns []string, replacement, why string) {
	replacement = defaultReplacement
	rawMap, _ := field(m, "transformer_config_map")
	cm, _ := asMap(rawMap)
	if cm != nil {
		raw, _ := field(cm, "patterns")
		for _, x := range asList(raw) {
			if s, ok := scalar(x); ok && s != "" {
				patterns = append(patterns, s)
			}
		}
		rv, _ := field(cm, "replacement")
		if r, _ := scalar(rv); r != "" {
			replacement = r
		}
	}
	if len(patterns) == 0 {
		for _, s := range cfg {
			if s != "" {
				patterns = append(patterns, s)
			}
		}
	}
	if cm != nil {
		switch cs := str(cm, "charset"); strings.ToUpper(cs) {
		case "", "DEFAULT", "UTF-8", "UTF8", "US-ASCII", "ASCII":
		case "ISO-8859-1", "LATIN1":
			for _, p := range patterns {
				for i := 0; i < len(p); i++ {
					if p[i] >= 0x80 {
						return patterns, replacement, fmt.Sprintf("charset %q with non-ASCII patterns cannot be expressed (aliasgate matches UTF-8)", cs)
					}
				}
			}
		default:
			return patterns, replacement, fmt.Sprintf("charset %q cannot be expressed (aliasgate matches UTF-8)", cs)
		}
	}
	return patterns, replacement, ""
}

// entryPhase returns the native phase of a VGS entry: "request" for phase
// REQUEST, "response" for RESPONSE, "" for anything else (VGS never applies
// such an entry).
func entryPhase(m map[string]any) string {
	switch strings.ToUpper(str(m, "phase")) {
	case "REQUEST":
		return "request"
	case "RESPONSE":
		return "response"
	}
	return ""
}
