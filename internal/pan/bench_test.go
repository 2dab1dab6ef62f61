package pan

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
)

// realisticJSON returns about size bytes of API-like JSON: ids, amounts,
// timestamps, names with escapes, URLs with percent-encoding, and one card
// number in every 64 records.
func realisticJSON(size int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	var b strings.Builder
	b.WriteString(`{"data":[`)
	for i := 0; b.Len() < size; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"ord_%08x","created":"2026-11-%02dT12:%02d:%02d.%03dZ","amount":%d.%02d,"currency":"EUR",`+
			`"customer":{"name":"Ren\u00e9e M\u00fcller %d","email":"user%d@example.com","phone":"+49 30 %07d"},`+
			`"return_url":"https://shop.example.com/checkout/complete?order=%d&sig=a%%2Fb%%3D","items":[%d,%d,%d],`,
			r.Uint32(), 1+r.IntN(28), r.IntN(60), r.IntN(60), r.IntN(1000), r.IntN(100000), r.IntN(100), i, i, r.IntN(10000000),
			r.Uint64N(1e12), r.IntN(1000), r.IntN(1000), r.IntN(1000))
		if i%64 == 0 {
			fmt.Fprintf(&b, `"card":"%s",`, visa)
		}
		fmt.Fprintf(&b, `"ts":%d,"ok":true}`, 1700000000+r.Int64N(1e8))
	}
	b.WriteString("]}")
	return []byte(b.String())
}

// checkoutBody is the checkout request of the bench (bench/scenarios.go,
// checkoutBody) with number as the card number: about 1 KiB.
func checkoutBody(number string) []byte {
	var b strings.Builder
	b.WriteString(`{"order":{"id":"ord_8f1c2a","currency":"EUR","amount":12999,"items":[`)
	for i := range 6 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"sku":"SKU-%04d","name":"Item number %d","qty":%d,"price":%d}`, i, i, i+1, 1000+i)
	}
	b.WriteString(`]},"customer":{"email":"jane.doe@example.com","name":"Jane Doe","address":{"line1":"1 Main Street","city":"Springfield","zip":"12345","country":"US"}},`)
	b.WriteString(`"card":{"number":"` + number + `","cvc":"123","exp_month":"12","exp_year":"2030","holder":"JANE DOE"},`)
	b.WriteString(`"meta":{"ip":"203.0.113.7","ua":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)","session":"s_0123456789abcdef"}}`)
	return []byte(b.String())
}

// denseCards returns n Luhn-valid 16-digit numbers in groups of four, one
// per JSON string: 27 bytes each.
func denseCards(n int) []byte {
	r := rand.New(rand.NewPCG(3, 4))
	var b strings.Builder
	b.WriteByte('[')
	num := make([]byte, 15, 16)
	for i := 0; i < n; i++ {
		for k := range num {
			num[k] = byte('0' + r.IntN(10))
		}
		num[0] = '4'
		full := append(num, CheckDigit(num))
		fmt.Fprintf(&b, `"card %s %s %s %s",`, full[0:4], full[4:8], full[8:12], full[12:16])
	}
	b.WriteString(`""]`)
	return []byte(b.String())
}

func BenchmarkFind(b *testing.B) {
	json := realisticJSON(1 << 20)
	b.Run("json-1MiB", func(b *testing.B) {
		b.SetBytes(int64(len(json)))
		for b.Loop() {
			Find(json)
		}
	})
	b.Run("json-1MiB-old", func(b *testing.B) {
		b.SetBytes(int64(len(json)))
		for b.Loop() {
			oldFind(json)
		}
	})
	b.Run("contains-json-1MiB-no-card", func(b *testing.B) {
		clean := []byte(strings.ReplaceAll(string(json), visa, "4111-card"))
		if c := Find(clean); len(c) > 0 {
			b.Fatalf("%d candidates in the clean body", len(c))
		}
		b.SetBytes(int64(len(clean)))
		for b.Loop() {
			Contains(clean)
		}
	})
	// The bench's checkout body (bench/scenarios.go): about 1 KiB of JSON
	// with a few short digit runs, as the leak guard scans every request
	// and response; with the card number, and with it replaced by a token.
	for _, tc := range []struct {
		name, number string
	}{
		{"checkout-1KiB-card", visa},
		{"checkout-1KiB-no-card", "tok_4f1c2a9b8e7d"},
	} {
		body := checkoutBody(tc.number)
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				FindMax(body, 64)
			}
		})
	}
	b.Run("small-200B", func(b *testing.B) {
		body := []byte(`{"id":"ch_3Nq8f1c2a9b8e7d","status":"succeeded","amount":12999,"currency":"eur","created":1764979200,"card":{"brand":"visa","last4":"1111","exp_month":12,"exp_year":2030},"livemode":false}`)
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			FindMax(body, 64)
		}
	})
	// Worst cases: one-digit groups (every window checked), every digit
	// escaped (both readings), long character references.
	for _, w := range []struct {
		name string
		unit string
	}{
		{"one-digit-groups", "1 2 3 4 5 6 7 8 9 0 "},
		{"percent-digits", "%34%31%31%31 "},
		{"charrefs-zeros", "&#0000000000000000000052;"},
	} {
		b.Run(w.name+"-1MiB", func(b *testing.B) {
			body := []byte(strings.Repeat(w.unit, (1<<20)/len(w.unit)))
			runtime.GC()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				Find(body)
			}
		})
	}
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprintf("dense-%dk-cards-%.1fMB", n/1000, float64(27*n)/1e6), func(b *testing.B) {
			body := denseCards(n)
			runtime.GC()
			b.SetBytes(int64(len(body)))
			var got int
			for b.Loop() {
				got = len(Find(body))
			}
			if got < n {
				b.Fatalf("found %d of %d", got, n)
			}
		})
	}
}

func BenchmarkMask(b *testing.B) {
	b.Run("json-1MiB", func(b *testing.B) {
		s := string(realisticJSON(1 << 20))
		b.SetBytes(int64(len(s)))
		for b.Loop() {
			Mask(s)
		}
	})
	// Memory stays a small multiple of the input: candidates are masked as
	// they are found, never listed.
	b.Run("one-digit-groups-1MiB", func(b *testing.B) {
		s := strings.Repeat("1 2 3 4 5 6 7 8 9 0 ", (1<<20)/20)
		b.SetBytes(int64(len(s)))
		for b.Loop() {
			Mask(s)
		}
	})
}

// oldFind is Find as it was before it knew groups and escapes (digit runs
// only), kept for the comparison in BenchmarkFind.
func oldFind(b []byte) []Candidate {
	var out []Candidate
	for i := 0; i < len(b); {
		if b[i] < '0' || b[i] > '9' {
			i++
			continue
		}
		j := i
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		if n := j - i; n >= MinLen && n <= MaxLen && Valid(string(b[i:j])) {
			out = append(out, Candidate{Start: i, End: j})
		}
		i = j
	}
	return out
}

// BenchmarkFindExponentDistinct reads texts of 10,000 and 40,000 distinct
// numbers found by both readings (TestFindExponentDistinctNumbers): the
// cost per number (ns/number) stays flat when the merge of the readings is
// linear in their count.
func BenchmarkFindExponentDistinct(b *testing.B) {
	for _, n := range []int{10000, 40000} {
		s, _ := distinctNumbersText(n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.SetBytes(int64(len(s)))
			for b.Loop() {
				FindExponentString(s)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/number")
		})
	}
}

// BenchmarkFindExponent reads the bench's checkout body (as the leak guard
// reads every request and response body for numbers in exponent notation
// besides Find's reading) and the realistic JSON.
func BenchmarkFindExponent(b *testing.B) {
	body := checkoutBody(visa)
	b.Run("checkout-1KiB", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			FindExponent(body)
		}
	})
	json := realisticJSON(1 << 20)
	b.Run("json-1MiB", func(b *testing.B) {
		b.SetBytes(int64(len(json)))
		for b.Loop() {
			FindExponent(json)
		}
	})
}

// BenchmarkLeakGuardSearch reads the bench's checkout body (with the card
// number, and with it replaced by a token) and the realistic JSON as the
// proxies' leak guard reads every body: card numbers and numbers in
// exponent notation, with the two calls it made (FindMax, FindExponent)
// and with FindAll's one pass.
func BenchmarkLeakGuardSearch(b *testing.B) {
	for _, tc := range []struct {
		name string
		body []byte
	}{
		{"checkout-1KiB-card", checkoutBody(visa)},
		{"checkout-1KiB-no-card", checkoutBody("tok_4f1c2a9b8e7d")},
		{"json-64KiB", realisticJSON(64 << 10)},
	} {
		b.Run(tc.name+"/two-calls", func(b *testing.B) {
			b.SetBytes(int64(len(tc.body)))
			for b.Loop() {
				FindMax(tc.body, 64)
				FindExponent(tc.body)
			}
		})
		b.Run(tc.name+"/FindAll", func(b *testing.B) {
			b.SetBytes(int64(len(tc.body)))
			for b.Loop() {
				FindAll(tc.body, 64)
			}
		})
	}
}

// checkoutAlias is a 16-digit FPE alias of visa as the vault makes one
// (FormatFPESixTFour: the first 6 and last 4 digits kept, Luhn-valid),
// which the gateway's redacted checkout body holds in place of the card
// number.
const checkoutAlias = "4111114839241111"

// BenchmarkFindAllCheckout reads with FindAll (the leak guard's bound) the
// bodies the gateway scans in the bench's scenario 1: the checkout body
// with the alias in place of the card number (the redacted request, and
// the upstream's echo of it), and about 1 KiB of the realistic JSON.
func BenchmarkFindAllCheckout(b *testing.B) {
	for _, tc := range []struct {
		name string
		body []byte
	}{
		{"checkout-alias", checkoutBody(checkoutAlias)},
		{"json-1KiB", realisticJSON(1024)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(tc.body)))
			for b.Loop() {
				FindAll(tc.body, maxFoundOfTheLeakGuard)
			}
		})
	}
}
