package rewrite

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// noopTokenizer returns every value as its own alias.
type noopTokenizer struct{}

func (noopTokenizer) Redact(_ context.Context, items []RedactItem) ([]string, error) {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.Value
	}
	return out, nil
}

func (noopTokenizer) Reveal(_ context.Context, aliases []string) ([]string, error) {
	return aliases, nil
}

// body1K is a checkout request of about 1 KiB with a PAN and a CVC.
func body1K() []byte {
	var b strings.Builder
	b.WriteString(`{"order":{"id":"ord_8f1c2a","currency":"EUR","amount":12999,"items":[`)
	for i := 0; i < 6; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"sku":"SKU-%04d","name":"Item number %d","qty":%d,"price":%d}`, i, i, i+1, 1000+i)
	}
	b.WriteString(`]},"customer":{"email":"jane.doe@example.com","name":"Jane Doe","address":{"line1":"1 Main Street","city":"Springfield","zip":"12345","country":"US"}},`)
	b.WriteString(`"card":{"number":"4111111111111111","cvc":"123","exp_month":"12","exp_year":"2030","holder":"JANE DOE"},`)
	b.WriteString(`"meta":{"ip":"203.0.113.7","ua":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)","session":"s_0123456789abcdef"}}`)
	return []byte(b.String())
}

// body64K is an array of 100 cards padded to about 64 KiB.
func body64K() []byte {
	var b strings.Builder
	b.WriteString(`{"cards":[`)
	pad := strings.Repeat("x", 560)
	for i := 0; i < 100; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"pan":"4111111111%06d","note":"%s","n":%d}`, i, pad, i)
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

// BenchmarkRewriteJSON compares a whole rewrite (validate, locate every
// target, one Tokenizer call, splice) with the parse floor: gjson.Get of
// each path, which neither validates the body nor builds anything. Besides
// ns/op it reports cpu-ns/op, the process's CPU time per operation (GC
// included), which other load on the machine disturbs far less: compare
// the ratio rewrite ÷ gjson-floor of either, measured in one run.
func BenchmarkRewriteJSON(b *testing.B) {
	cases := []struct {
		name  string
		body  []byte
		paths []string
	}{
		{"1KiB-2targets", body1K(), []string{"card.number", "card.cvc"}},
		{"64KiB-100elements", body64K(), []string{"cards.#.pan"}},
	}
	for _, c := range cases {
		p := jsonProgram(b, Redact, c.paths...)
		ctx := context.Background()
		b.Run(c.name+"/rewrite", func(b *testing.B) {
			b.SetBytes(int64(len(c.body)))
			b.ReportAllocs()
			cpu := processCPU()
			for b.Loop() {
				msg := Message{Body: c.body}
				if _, err := p.Apply(ctx, &msg, noopTokenizer{}); err != nil {
					b.Fatal(err)
				}
			}
			reportCPU(b, cpu)
		})
		// The same rewrite with the hand-written walker gjson replaced
		// (json_oracle_test.go), measured in the same run: on a loaded
		// machine the ratio to the floor moves, the difference between the
		// two locators much less.
		po := jsonProgram(b, Redact, c.paths...)
		ol, err := newOracleLocator(jsonSpecs(c.paths))
		if err != nil {
			b.Fatal(err)
		}
		po.body = ol
		b.Run(c.name+"/rewrite-old-walker", func(b *testing.B) {
			b.SetBytes(int64(len(c.body)))
			b.ReportAllocs()
			cpu := processCPU()
			for b.Loop() {
				msg := Message{Body: c.body}
				if _, err := po.Apply(ctx, &msg, noopTokenizer{}); err != nil {
					b.Fatal(err)
				}
			}
			reportCPU(b, cpu)
		})
		b.Run(c.name+"/gjson-floor", func(b *testing.B) {
			b.SetBytes(int64(len(c.body)))
			b.ReportAllocs()
			cpu := processCPU()
			for b.Loop() {
				for _, path := range c.paths {
					if !gjson.GetBytes(c.body, path).Exists() {
						b.Fatal("path missing")
					}
				}
			}
			reportCPU(b, cpu)
		})
	}
}

// reportCPU reports the process CPU time per operation since start.
func reportCPU(b *testing.B, start time.Duration) {
	if end := processCPU(); end > 0 && b.N > 0 {
		b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
	}
}

// replaceCase is a body, its located spans, one replacement per span, and
// the concrete gjson path of each span (for sjson, which cannot set through
// '#' or a query).
type replaceCase struct {
	name  string
	body  []byte
	spans []Span
	repl  []string
	paths []string
}

func replaceCases(tb testing.TB) []replaceCase {
	tb.Helper()
	var out []replaceCase
	for _, c := range []struct {
		name  string
		body  []byte
		paths []string
	}{
		{"1KiB-2targets", body1K(), []string{"card.number", "card.cvc"}},
		{"64KiB-100elements", body64K(), []string{"cards.#.pan"}},
	} {
		p := jsonProgram(tb, Redact, c.paths...)
		spans, err := p.body.Locate(&Message{Body: c.body})
		if err != nil {
			tb.Fatal(err)
		}
		rc := replaceCase{name: c.name, body: c.body, spans: spans}
		for i, s := range spans {
			rc.repl = append(rc.repl, fmt.Sprintf("tok_sandbox_%08d", i))
			if len(c.paths) == 1 {
				rc.paths = append(rc.paths, fmt.Sprintf("cards.%d.pan", i))
			} else {
				rc.paths = append(rc.paths, c.paths[s.Target])
			}
		}
		out = append(out, rc)
	}
	return out
}

// sjsonReplace writes every replacement with sjson, one call per value.
func sjsonReplace(tb testing.TB, c replaceCase) []byte {
	out := c.body
	var err error
	for i, path := range c.paths {
		if out, err = sjson.SetBytes(out, path, c.repl[i]); err != nil {
			tb.Fatal(err)
		}
	}
	return out
}

// TestSpliceMatchesSJSON: splicing at the located offsets writes the bytes
// sjson writes.
func TestSpliceMatchesSJSON(t *testing.T) {
	for _, c := range replaceCases(t) {
		got := splice(c.body, c.spans, c.repl, make([]Change, 2), false)
		if want := sjsonReplace(t, c); string(got) != string(want) {
			t.Errorf("%s: splice and sjson differ\n%s\n%s", c.name, got, want)
		}
	}
}

// BenchmarkJSONReplace compares writing the replacements of located values
// by splicing at their offsets (what Apply does) with sjson.SetBytes of each
// value's concrete path (sjson finds each path again from the body's start).
func BenchmarkJSONReplace(b *testing.B) {
	for _, c := range replaceCases(b) {
		b.Run(c.name+"/splice", func(b *testing.B) {
			b.ReportAllocs()
			changes := make([]Change, 2)
			for b.Loop() {
				splice(c.body, c.spans, c.repl, changes, false)
			}
		})
		b.Run(c.name+"/sjson", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sjsonReplace(b, c)
			}
		})
	}
}

// fixedTokenizer answers every Redact with alias and every Reveal with
// value, like a vault whose answers cost nothing: what a benchmark of Apply
// with it measures is Apply's own work (locate, batch, splice).
type fixedTokenizer struct {
	aliases, values []string
}

func (f *fixedTokenizer) Redact(_ context.Context, items []RedactItem) ([]string, error) {
	return f.aliases[:len(items)], nil
}

func (f *fixedTokenizer) Reveal(_ context.Context, aliases []string) ([]string, error) {
	return f.values[:len(aliases)], nil
}

// BenchmarkApplyCheckout is Apply on the body and targets of the proxy
// bench (bench/scenarios.go: checkoutBody, routesYAML) with a Tokenizer
// that answers at once: redact of the PAN and CVC (scenario 1) and reveal
// of their aliases (scenario 3). cpu-ns/op is the process's CPU time per
// operation (see BenchmarkRewriteJSON).
func BenchmarkApplyCheckout(b *testing.B) {
	const pan, cvc = "4111111111111111", "123"
	const panAlias, cvcAlias = "4111119876541111", "tok_sandbox_8x1qF2pLm3NnWq7R5vZc9a"
	tok := &fixedTokenizer{aliases: []string{panAlias, cvcAlias}, values: []string{pan, cvc}}
	redact, err := Compile(Redact, []TargetSpec{
		{Kind: KindJSON, Path: "card.number", Format: "FPE_SIX_T_FOUR", Classifiers: []string{"pan"}},
		{Kind: KindJSON, Path: "card.cvc", Storage: "VOLATILE"},
	})
	if err != nil {
		b.Fatal(err)
	}
	reveal, err := Compile(Reveal, []TargetSpec{{Kind: KindJSON, Path: "card.number"}, {Kind: KindJSON, Path: "card.cvc"}})
	if err != nil {
		b.Fatal(err)
	}
	clear := body1K()
	aliased := []byte(strings.Replace(strings.Replace(string(clear), pan, panAlias, 1), `"`+cvc+`"`, `"`+cvcAlias+`"`, 1))
	for _, c := range []struct {
		name string
		p    *Program
		body []byte
	}{
		{"redact", redact, clear},
		{"reveal", reveal, aliased},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.body)))
			b.ReportAllocs()
			ctx := context.Background()
			cpu := processCPU()
			for b.Loop() {
				msg := Message{Body: c.body, MediaType: "application/json"}
				if _, err := c.p.Apply(ctx, &msg, tok); err != nil {
					b.Fatal(err)
				}
			}
			reportCPU(b, cpu)
		})
	}
}
