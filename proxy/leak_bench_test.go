package proxy

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/aliasgate/aliasgate/internal/pan"
)

// denseCardBody returns a JSON body of n distinct Luhn-valid 16-digit
// numbers, about 27 bytes each (2.7 MB for 100,000): the body that once
// cost the leak guard 38 s of CPU.
func denseCardBody(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"items":[`)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		p := fmt.Sprintf("411111%09d", i)
		fmt.Fprintf(&b, `{"n":"%s%c"}`, p, pan.CheckDigit([]byte(p)))
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// benchGuardedBodies posts dense bodies of each size through a gateway on
// the route document doc.
func benchGuardedBodies(b *testing.B, doc string, sizes []int) {
	up := newUpstream(b, nil)
	g := newGateway(b, parseRoutes(b, doc, up.URL), nil, gwOptions{maxBody: 64 << 20})
	for _, n := range sizes {
		body := denseCardBody(n)
		b.Run(fmt.Sprintf("numbers=%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for i := 0; i < b.N; i++ {
				resp, _ := g.do(b, "POST", "/x", "application/json", bytes.NewReader(body), nil)
				if resp.StatusCode != 200 {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
		})
	}
}

// BenchmarkLeakGuardDenseBody sends one body dense with card numbers
// through a route whose leak guard logs them: the guard's cost must grow
// linearly with the body (compare the sizes).
func BenchmarkLeakGuardDenseBody(b *testing.B) {
	benchGuardedBodies(b, `routes:
  - id: guarded
    direction: inbound
    host: "*"
    upstream: {{UP}}
    leak_guard: log
`, []int{1000, 10000, 100000})
}

// BenchmarkLeakGuardTargetedBody: every number of the body is a target the
// route redacts to an FPE alias (Luhn-valid, so the guard finds each alias
// again and must know it was just made): the case that was quadratic.
func BenchmarkLeakGuardTargetedBody(b *testing.B) {
	benchGuardedBodies(b, `routes:
  - id: guarded
    direction: inbound
    host: "*"
    upstream: {{UP}}
    leak_guard: log
    filters:
      - id: all
        operation: redact
        targets: [{json: "items.#.n", format: FPE_SIX_T_FOUR, storage: volatile}]
`, []int{1000, 10000, 30000, 100000})
}
