package pan

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestValid(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"4111111111111111", true},
		{"4111111111111112", false},
		{"5555555555554444", true},
		{"378282246310005", true},
		{"6011111111111117", true},
		{"0", true},
		{"", false},
		{"4111 1111 1111 1111", false},
		{"41111111111111a1", false},
	}
	for _, tt := range tests {
		if got := Valid(tt.in); got != tt.want {
			t.Errorf("Valid(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestCheckDigitMakesValidNumbers(t *testing.T) {
	for _, p := range []string{"411111111111111", "555555555555444", "37828224631000", "7", ""} {
		n := p + string(CheckDigit([]byte(p)))
		if !Valid(n) {
			t.Errorf("%q + check digit = %q is not Luhn-valid", p, n)
		}
	}
}

func TestFindReportsOnlyLuhnValidRunsOfCardLength(t *testing.T) {
	body := `{"pan":"4111111111111111","n":"4111111111111112","long":"41111111111111111111111","short":"411111111111","amex":378282246310005}`
	got := Find([]byte(body))
	var runs []string
	for _, c := range got {
		runs = append(runs, body[c.Start:c.End])
	}
	want := "4111111111111111,378282246310005"
	if strings.Join(runs, ",") != want {
		t.Fatalf("Find = %v, want %s", runs, want)
	}
	if !Contains([]byte(body)) || Contains([]byte(`{"n":"4111111111111112"}`)) {
		t.Fatal("Contains disagrees with Find")
	}
}

const (
	visa = "4111111111111111"
	mc   = "5555555555554444"
	amex = "378282246310005"
)

// spell writes each digit of s with f (separators as they are).
func spell(s string, f func(d byte) string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= '0' && c <= '9' {
			b.WriteString(f(c))
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

func fullWidth(d byte) string { return string(rune(0xFF10 + rune(d-'0'))) }
func jsonEsc(d byte) string   { return fmt.Sprintf(`\u%04x`, d) }
func jsonEscU(d byte) string  { return fmt.Sprintf(`\u%04X`, d) }
func pctEsc(d byte) string    { return fmt.Sprintf("%%%02X", d) }
func htmlDec(d byte) string   { return fmt.Sprintf("&#%d;", d) }
func htmlHex(d byte) string   { return fmt.Sprintf("&#x%x;", d) }

func TestFindEverySpelling(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string // spans, each with its digits checked against the spelling's
	}{
		{"plain", "pan " + visa + ".", []string{visa}},
		{"spaces", "pan 4111 1111 1111 1111 ok", []string{"4111 1111 1111 1111"}},
		{"dashes", "4111-1111-1111-1111", []string{"4111-1111-1111-1111"}},
		{"dots", "4111.1111.1111.1111", []string{"4111.1111.1111.1111"}},
		{"plus (form space)", "n=4111+1111+1111+1111&x=1", []string{"4111+1111+1111+1111"}},
		{"amex groups", "3782 822463 10005", []string{"3782 822463 10005"}},
		{"nbsp", "4111\u00a01111\u00a01111\u00a01111", []string{"4111\u00a01111\u00a01111\u00a01111"}},
		{"narrow nbsp", "4111\u202f1111\u202f1111\u202f1111", []string{"4111\u202f1111\u202f1111\u202f1111"}},
		{"thin and figure space, en dash", "4111\u20091111\u20071111\u20131111", []string{"4111\u20091111\u20071111\u20131111"}},
		{"full-width", "x" + spell(visa, fullWidth) + "y", []string{spell(visa, fullWidth)}},
		{"full-width groups", spell("4111 1111-1111\uff0e1111", fullWidth), []string{spell("4111 1111-1111\uff0e1111", fullWidth)}},
		{"json escapes", `{"a":"` + spell(visa, jsonEsc) + `"}`, []string{spell(visa, jsonEsc)}},
		{"json escapes upper hex", spell(mc, jsonEscU), []string{spell(mc, jsonEscU)}},
		{"json escaped separators", `4111\u00201111\u002d1111\u00a01111`, []string{`4111\u00201111\u002d1111\u00a01111`}},
		{"json full-width escapes", `\uff14\uFF11\uff11\uff11111111111111`, []string{`\uff14\uFF11\uff11\uff11111111111111`}},
		{"percent", "pan=" + spell(visa, pctEsc) + "&x", []string{spell(visa, pctEsc)}},
		{"percent space", "pan=4111%201111%201111%201111", []string{"4111%201111%201111%201111"}},
		{"percent lower hex nbsp", "4111%c2%a01111%C2%A01111%e2%80%af1111", []string{"4111%c2%a01111%C2%A01111%e2%80%af1111"}},
		{"percent full-width", "%EF%BC%94" + visa[1:], []string{"%EF%BC%94" + visa[1:]}},
		{"html decimal", "<p>" + spell(visa, htmlDec) + "</p>", []string{spell(visa, htmlDec)}},
		{"html hex", spell(visa, htmlHex), []string{spell(visa, htmlHex)}},
		{"html upper X, leading zeros, no semicolon", "&#X34&#0000049&#x00031;" + visa[3:], []string{"&#X34&#0000049&#x00031;" + visa[3:]}},
		{"html full-width", "&#65300;" + visa[1:], []string{"&#65300;" + visa[1:]}},
		{"html separators", "4111&#32;1111&nbsp;1111&#xA0;1111&#8239;", []string{"4111&#32;1111&nbsp;1111&#xA0;1111"}},
		{"every spelling mixed", "4" + fullWidth('1') + `\u0031` + "%31 " + "&#49;&#x31;1" + htmlDec('1') + "%C2%A0" + `\u0031` + "111&nbsp;1111",
			[]string{"4" + fullWidth('1') + `\u0031` + "%31 " + "&#49;&#x31;1" + htmlDec('1') + "%C2%A0" + `\u0031` + "111&nbsp;1111"}},
		{"window after a group", "4111 1111 1111 1111 5", []string{"4111 1111 1111 1111"}},
		{"window before a group", "12 4111 1111 1111 1111", []string{"4111 1111 1111 1111"}},
		{"window between groups", "order 7 4111 1111 1111 1111 12 29", []string{"4111 1111 1111 1111"}},
		{"two numbers", "x" + visa + "y" + mc, []string{visa, mc}},
		{"grouped then plain", "5555 5555 5555 4444-" + visa, []string{"5555 5555 5555 4444", visa}},
		{"next to a long group", "12345678901234567890 4111 1111 1111 1111", []string{"4111 1111 1111 1111"}},
		{"letters around", "a" + visa + "b", []string{visa}},
		{"hidden behind an escape's hex digits", "%" + amex, []string{amex}},
		{"hidden after \\u", `\u` + amex, []string{amex}},
		{"hidden in a long char ref", "&#" + visa + ";", []string{visa}},

		{"Luhn-invalid", "4111111111111112", nil},
		{"Luhn-invalid grouped", "4111 1111 1111 1112", nil},
		{"20 digits", "41111111111111111111", nil},
		{"20 full-width digits", spell("41111111111111111111", fullWidth), nil},
		{"20 escaped digits", spell("41111111111111111111", jsonEsc), nil},
		{"12 digits", "411111111111", nil},
		{"two separators", "4111  1111 1111 1111", nil},
		{"space and dash", "4111 -1111 1111 1111", nil},
		{"comma", "4111,1111,1111,1111", nil},
		{"letter inside", "4111 1111 x111 1111", nil},
		{"slash", "4111/1111/1111/1111", nil},
		{"tab", "4111\t1111\t1111\t1111", nil},
		{"escaped letter", `4111\u00411111 1111 1111`, nil},
		{"double escape", spell(visa, func(d byte) string { return fmt.Sprintf("%%25%02X", d) }), nil},
		{"date", "2026-11-23 12:00", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Find([]byte(tt.in))
			var spans []string
			for _, c := range got {
				spans = append(spans, tt.in[c.Start:c.End])
			}
			if !slices.Equal(spans, tt.want) {
				t.Fatalf("Find(%q) spans = %q, want %q", tt.in, spans, tt.want)
			}
			for _, c := range got {
				if want := plainDigits(tt.in[c.Start:c.End]); c.Digits() != want {
					t.Errorf("Digits() = %s, want %s", Mask(c.Digits()), Mask(want))
				}
				if !Valid(c.Digits()) || c.Len() != len(c.Digits()) || string(c.AppendDigits([]byte("x"))) != "x"+c.Digits() {
					t.Errorf("bad candidate %+v", c)
				}
			}
			if Contains([]byte(tt.in)) != (len(tt.want) > 0) || ContainsString(tt.in) != (len(tt.want) > 0) {
				t.Errorf("Contains disagrees with Find")
			}
			if len(FindString(tt.in)) != len(got) {
				t.Errorf("FindString disagrees with Find")
			}
		})
	}
}

// plainDigits decodes the digits of one spelled number with an independent
// decoder (the standard library's), for the table above.
func plainDigits(s string) string {
	var b strings.Builder
	for len(s) > 0 {
		switch {
		case strings.HasPrefix(s, `\u`) && len(s) >= 6:
			var r rune
			fmt.Sscanf(s[2:6], "%x", &r)
			writeDigit(&b, r)
			s = s[6:]
		case strings.HasPrefix(s, "&#x") || strings.HasPrefix(s, "&#X"):
			var r rune
			end := strings.IndexFunc(s[3:], func(c rune) bool { return !strings.ContainsRune("0123456789abcdefABCDEF", c) }) + 3
			if end < 3 {
				end = len(s)
			}
			fmt.Sscanf(s[3:end], "%x", &r)
			writeDigit(&b, r)
			s = strings.TrimPrefix(s[end:], ";")
		case strings.HasPrefix(s, "&#"):
			var r rune
			end := strings.IndexFunc(s[2:], func(c rune) bool { return c < '0' || c > '9' }) + 2
			if end < 2 {
				end = len(s)
			}
			fmt.Sscanf(strings.TrimLeft(s[2:end], "0"), "%d", &r)
			writeDigit(&b, r)
			s = strings.TrimPrefix(s[end:], ";")
		case s[0] == '%':
			var bs []byte
			for len(s) >= 3 && s[0] == '%' {
				var x byte
				fmt.Sscanf(s[1:3], "%02x", &x)
				bs = append(bs, x)
				s = s[3:]
			}
			for _, r := range string(bs) {
				writeDigit(&b, r)
			}
		default:
			r := []rune(s)[0]
			writeDigit(&b, r)
			s = s[len(string(r)):]
		}
	}
	return b.String()
}

func writeDigit(b *strings.Builder, r rune) {
	switch {
	case r >= '0' && r <= '9':
		b.WriteRune(r)
	case r >= 0xFF10 && r <= 0xFF19:
		b.WriteRune('0' + r - 0xFF10)
	}
}

func TestFindReportsEveryWindowSorted(t *testing.T) {
	// Groups of one digit: every window of 13–19 of them is checked.
	in := "1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3"
	got := Find([]byte(in))
	digits := strings.ReplaceAll(in, " ", "")
	var want []string
	for a := 0; a < len(digits); a++ {
		for b := a + MinLen; b <= a+MaxLen && b <= len(digits); b++ {
			if Valid(digits[a:b]) {
				want = append(want, fmt.Sprintf("%d-%d", 2*a, 2*b-1))
			}
		}
	}
	var have []string
	for _, c := range got {
		have = append(have, fmt.Sprintf("%d-%d", c.Start, c.End))
	}
	if len(want) == 0 || !slices.Equal(have, want) {
		t.Fatalf("windows = %v, want %v", have, want)
	}
}

func TestFindMaxBoundsTheResult(t *testing.T) {
	body := []byte("a " + visa + " b " + mc + " c " + amex + " 1 2 3")
	for max, want := range []struct {
		n    int
		more bool
	}{{0, true}, {1, true}, {2, true}, {3, false}, {3, false}} {
		got, more := FindMax(body, max)
		if len(got) != want.n || more != want.more {
			t.Errorf("FindMax(%d) = %d candidates, more %v; want %d, %v", max, len(got), more, want.n, want.more)
		}
	}
	if got, more := FindMax([]byte("no card 1234"), 0); len(got) != 0 || more {
		t.Error("FindMax found something in text without a candidate")
	}
	// The worst case of Find: a few candidates per byte; FindMax stays small.
	dense := []byte(strings.Repeat("1 2 3 4 5 6 7 8 9 0 ", 5000))
	if got, more := FindMax(dense, 100); len(got) != 100 || !more {
		t.Errorf("FindMax(dense, 100) = %d, %v", len(got), more)
	}
}

func TestFindOffsetsCoverTheWholeSpelling(t *testing.T) {
	in := `{"n":"` + spell(visa[:8], jsonEsc) + `\u0020` + spell(visa[8:], htmlDec) + `"}`
	got := Find([]byte(in))
	if len(got) != 1 {
		t.Fatalf("got %d candidates", len(got))
	}
	c := got[0]
	if c.Start != 6 || c.End != len(in)-2 || c.Digits() != visa {
		t.Fatalf("candidate [%d,%d) %s, want [6,%d) and the Visa test number", c.Start, c.End, Mask(c.Digits()), len(in)-2)
	}
}

func TestContainsDoesNotAllocate(t *testing.T) {
	body := []byte(strings.Repeat(`{"id":12345,"amount":"12.50","note":"caf\u00e9 %20 &amp;"},`, 50) + spell(visa, pctEsc))
	s := string(body)
	if !Contains(body) || !ContainsString(s) {
		t.Fatal("not found")
	}
	if n := testing.AllocsPerRun(20, func() { Contains(body); ContainsString(s) }); n != 0 {
		t.Fatalf("Contains allocates %v times", n)
	}
	clean := []byte(strings.Repeat(`{"id":12345,"amount":"12.50","note":"caf\u00e9 %20 &amp;"},`, 50))
	if n := testing.AllocsPerRun(20, func() { Find(clean) }); n != 0 {
		t.Fatalf("Find allocates %v times without a candidate", n)
	}
	if Mask(string(clean)) != string(clean) {
		t.Fatal("Mask changed text without a candidate")
	}
}

func TestMaskKeepsFirstSixLastFour(t *testing.T) {
	tests := []struct{ in, want string }{
		{"card 4111111111111111 and 5555555555554444.", "card 411111******1111 and 555555******4444."},
		{"no card 1234", "no card 1234"},
		{"4111 1111 1111 1111", "4111 11** **** 1111"},
		{"amex 3782-822463-10005.", "amex 3782-82****-*0005."},
		{"4111.1111.1111.1111", "4111.11**.****.1111"},
		{`"` + spell(visa, jsonEsc) + `"`, `"` + spell("411111", jsonEsc) + strings.Repeat("******", 6) + spell("1111", jsonEsc) + `"`},
		{spell(visa, pctEsc), spell("411111", pctEsc) + strings.Repeat("***", 6) + spell("1111", pctEsc)},
		{spell(visa, htmlDec), spell("411111", htmlDec) + strings.Repeat("*****", 6) + spell("1111", htmlDec)},
		{spell(visa, fullWidth), spell("411111", fullWidth) + strings.Repeat("***", 6) + spell("1111", fullWidth)},
		{"%" + amex, "%378282*****0005"},
		{"12 4111 1111 1111 1111", "12 4111 11** **** 1111"},
	}
	for _, tt := range tests {
		got := Mask(tt.in)
		if got != tt.want {
			t.Errorf("Mask(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if len(got) != len(tt.in) || ContainsString(got) {
			t.Errorf("Mask(%q) = %q: length changed or a candidate left", tt.in, got)
		}
		if b := AppendMask([]byte("x"), []byte(tt.in)); string(b) != "x"+tt.want {
			t.Errorf("AppendMask(%q) = %q", tt.in, b)
		}
	}
}

// oracle finds the candidates of s by brute force: it reads the units of
// both readings into a list, splits the list into chains and groups, and
// tries every window. It shares only the unit reader with Find.
func oracle(s []byte) []Candidate {
	type grp struct {
		start, end int
		d          string
	}
	var all []Candidate
	esc := false
	for _, raw := range []bool{false, true} {
		if raw && !esc {
			break
		}
		var chains [][]grp
		var chain []grp
		inGroup, sep, hard := false, false, false
		end := func() {
			if len(chain) > 0 {
				chains = append(chains, chain)
			}
			chain, inGroup, sep = nil, false, false
		}
		for i := 0; i < len(s); {
			kind, d, next, e := unit(s, i, !raw)
			esc = esc || e
			switch kind {
			case kDigit:
				if !inGroup {
					chain = append(chain, grp{start: i})
					inGroup, sep = true, false
				}
				g := &chain[len(chain)-1]
				g.d += string('0' + d)
				g.end = next
			case kSep:
				if inGroup {
					inGroup, sep, hard = false, true, true
				} else if sep && hard {
					end()
				} else if sep {
					hard = true
				}
			case kSoft: // shown as nothing: a separator only between digits
				if inGroup {
					inGroup, sep, hard = false, true, false
				}
			default:
				end()
			}
			i = next
		}
		end()
		for _, ch := range chains {
			for a := range ch {
				ds := ""
				for b := a; b < len(ch); b++ {
					if len(ch[b].d) > MaxLen {
						break
					}
					ds += ch[b].d
					if len(ds) > MaxLen {
						break
					}
					if len(ds) >= MinLen && Valid(ds) {
						c := Candidate{Start: ch[a].start, End: ch[b].end, n: uint8(len(ds)), raw: raw}
						copy(c.digits[:], ds)
						all = append(all, c)
					}
				}
			}
		}
	}
	slices.SortStableFunc(all, func(x, y Candidate) int {
		if x.Start != y.Start {
			return x.Start - y.Start
		}
		return x.End - y.End
	})
	return slices.CompactFunc(all, func(x, y Candidate) bool { return x.Start == y.Start && x.End == y.End })
}

func checkCandidates(t *testing.T, b []byte, got []Candidate) {
	t.Helper()
	for i, c := range got {
		if c.Start < 0 || c.End > len(b) || c.Start >= c.End {
			t.Fatalf("candidate %d out of bounds: [%d,%d) of %d", i, c.Start, c.End, len(b))
		}
		if n := len(c.Digits()); n < MinLen || n > MaxLen || !Valid(c.Digits()) {
			t.Fatalf("candidate %d: %d digits, Luhn-valid %v", i, n, Valid(c.Digits()))
		}
		if i > 0 {
			p := got[i-1]
			if p.Start > c.Start || p.Start == c.Start && p.End >= c.End {
				t.Fatalf("candidates %d and %d out of order or repeated", i-1, i)
			}
		}
	}
}

func FuzzFind(f *testing.F) {
	f.Add([]byte("4111111111111111"))
	f.Add([]byte("x 378282246310005 y 12"))
	f.Add([]byte("4111 1111 1111 1111 5 12"))
	f.Add([]byte(`\u0034\u0031%31%31&#49;&#x31;１1 1111 1111`))
	f.Add([]byte("%378282246310005&#4111111111111111;"))
	f.Add([]byte("1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3"))
	// Escapes cut short at the end, and their neighbours (inbound review).
	f.Add([]byte("4111%u00201111%u00201111%u0020111%u12"))
	f.Add([]byte("4111&ndash;1111&ndash;1111&ndash;1111&emsp"))
	f.Add([]byte("4111&emsp13;1111&shy1111&nbsp1111&e"))
	f.Add([]byte(`%ud800%udc20\ud800%udc20%ud800\udc2%ud83d`))
	f.Add([]byte("4111\u20031111\u16801111\u205f1111\xe2\x80"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got := Find(b)
		checkCandidates(t, b, got)
		want := oracle(b)
		if len(got) != len(want) {
			t.Fatalf("Find: %d candidates, brute force: %d", len(got), len(want))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("candidate %d: [%d,%d), brute force [%d,%d)", i, got[i].Start, got[i].End, want[i].Start, want[i].End)
			}
		}
		if Contains(b) != (len(got) > 0) || ContainsString(string(b)) != (len(got) > 0) {
			t.Fatal("Contains disagrees with Find")
		}
		for _, max := range []int{0, 1, len(got) / 2, len(got)} {
			some, more := FindMax(b, max)
			checkCandidates(t, b, some)
			if len(some) > max || !more && !slices.Equal(some, got) {
				t.Fatalf("FindMax(%d) = %d candidates, more %v; Find: %d", max, len(some), more, len(got))
			}
			if len(got) > max && !more {
				t.Fatalf("FindMax(%d) hid %d candidates", max, len(got)-max)
			}
		}
		m := Mask(string(b))
		if len(m) != len(b) {
			t.Fatalf("Mask changed the length: %d, was %d", len(m), len(b))
		}
		if ContainsString(m) {
			t.Fatal("Mask left a candidate")
		}
	})
}

// Spellings of a digit d and of a separator, for FuzzFindHidden.
var (
	digitSpellings = []func(d byte) string{
		func(d byte) string { return string(d) },
		fullWidth, jsonEsc, jsonEscU, pctEsc, htmlDec, htmlHex,
		func(d byte) string { return fmt.Sprintf("&#X%X;", d) },
		func(d byte) string { return fmt.Sprintf("&#000%d;", d) },
		func(d byte) string { return fmt.Sprintf(`\u%04x`, 0xFF10+rune(d-'0')) },
		func(d byte) string { return fmt.Sprintf("&#%d;", 0xFF10+rune(d-'0')) },
		func(d byte) string { return fmt.Sprintf("%%EF%%BC%%%02X", 0x90+d-'0') },
		func(d byte) string { return fmt.Sprintf("%%u%04x", d) },
		func(d byte) string { return fmt.Sprintf("%%u%04X", 0xFF10+rune(d-'0')) },
	}
	sepSpellings = []string{
		" ", "-", ".", "+", "\u00a0", "\u202f", "\u2009", "\u2013", "\uff0d",
		"%20", "%2D", "%2e", "%C2%A0", "%E2%80%AF", `\u0020`, `\u002D`, `\u00a0`, `\u202F`,
		"&#32;", "&#x2d;", "&#46;", "&nbsp;", "&#160;", "&#x202f;",
		"\u200b", "\u00ad", "\u2060", "\ufeff", "%E2%80%8C", `\u200d`, "&#xfeff;",
		// The spaces of Unicode, ASP.NET's %u and HTML's named references
		// (inbound review).
		"\u2002", "\u2003", "\u200a", "\u205f", "\u1680", "%E2%80%83", "%u2003", "%u00A0", `\u2003`,
		"&ndash;", "&emsp;", "&emsp13;", "&thinsp;", "&hairsp;", "&shy;", "&shy", "&nbsp", "&ZeroWidthSpace;", "&NoBreak;",
	}
)

// FuzzFindHidden embeds a Luhn-valid number, each digit and separator in a
// random spelling, between random filler and checks that Find reports it.
// A 'Z' on each side keeps the filler from joining the number (it is a
// breaker whatever precedes it, and no escape starts "%Z", "\Z" or "&#Z").
func FuzzFindHidden(f *testing.F) {
	f.Add([]byte("abc"), []byte("def"), uint64(1), uint64(2))
	f.Add([]byte("4111 "), []byte(" 1111"), uint64(7), uint64(99))
	f.Add([]byte(`\u00`), []byte("%3"), uint64(42), uint64(0))
	f.Add([]byte("&#"), []byte("&#x"), uint64(3), uint64(12345))
	f.Fuzz(func(t *testing.T, pre, post []byte, seed1, seed2 uint64) {
		r := rand.New(rand.NewPCG(seed1, seed2))
		n := MinLen + r.IntN(MaxLen-MinLen+1)
		num := make([]byte, n-1, n)
		for i := range num {
			num[i] = byte('0' + r.IntN(10))
		}
		num = append(num, CheckDigit(num))
		var body []byte
		body = append(body, pre...)
		body = append(body, 'Z')
		start := len(body)
		grouped := r.IntN(2) == 0
		for i, d := range num {
			if i > 0 && grouped && r.IntN(4) == 0 {
				body = append(body, sepSpellings[r.IntN(len(sepSpellings))]...)
			}
			body = append(body, digitSpellings[r.IntN(len(digitSpellings))](d)...)
		}
		end := len(body)
		body = append(body, 'Z')
		body = append(body, post...)

		found := false
		for _, c := range Find(body) {
			if c.Start == start && c.End == end && c.Digits() == string(num) {
				found = true
			}
		}
		if !found {
			t.Fatalf("number at [%d,%d) of %d bytes not found (%d digits)", start, end, len(body), n)
		}
		if !Contains(body) {
			t.Fatal("Contains missed it")
		}
		m := Mask(string(body))
		for _, c := range FindString(m) {
			if c.Digits() == string(num) {
				t.Fatal("Mask left the number")
			}
		}
		if ContainsString(m[start:end]) {
			t.Fatal("Mask left a candidate in the number's span")
		}
	})
}

// FuzzMaskExcept: MaskExcept keeping nothing is Mask; keeping the digits
// of one candidate leaves every spelling of them as it was and masks the
// rest (the length is kept either way).
func FuzzMaskExcept(f *testing.F) {
	f.Add([]byte(`{"pan":"4111111111111111","b":"4111 1111 1111 1111"}`), "4111111111111111")
	f.Add([]byte("4111111111111111 5555555555554444"), "5555555555554444")
	f.Add([]byte(`\u0034111111111111111 4111-1111-1111-1111`), "")
	f.Fuzz(func(t *testing.T, b []byte, keep string) {
		if len(b) > 4096 {
			return
		}
		if got, want := string(MaskExcept(b, nil)), Mask(string(b)); got != want {
			t.Fatalf("MaskExcept(nil) = %q, Mask = %q", got, want)
		}
		out := MaskExcept(b, func(d string) bool { return d == keep })
		if len(out) != len(b) {
			t.Fatalf("length %d, want %d", len(out), len(b))
		}
		for _, c := range Find(out) {
			if c.Digits() != keep && !strings.Contains(Mask(string(b)), string(out[c.Start:c.End])) {
				// a candidate left that is not the kept one: it must be one
				// Mask leaves too (its contrived-input bound)
				t.Fatalf("candidate %q left in %q (from %q)", out[c.Start:c.End], out, b)
			}
		}
	})
}
