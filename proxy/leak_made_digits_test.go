package proxy

import (
	"testing"
	"unsafe"
)

// TestLeakScanTakesTheMadeAliasString: a body's number that is one of the
// aliases the exchange's filters made (the usual hit of a redacted
// message) is that alias's string, not a new copy of its digits (an
// allocation each time a body was read); any other number keeps its own
// digits, and both are found as before.
func TestLeakScanTakesTheMadeAliasString(t *testing.T) {
	made := []string{"tok_x", "4111111111111111"}
	body := []byte(`{"card":{"number":"4111111111111111"},"other":"4242424242424242"}`)
	sc := leakScan{made: made}.body(body, nil, nil)
	if len(sc.hits) != 2 || sc.hits[0].digits != made[1] || sc.hits[1].digits != "4242424242424242" {
		t.Fatalf("hits = %+v", sc.hits)
	}
	if unsafe.StringData(sc.hits[0].digits) != unsafe.StringData(made[1]) {
		t.Error("the alias's digits were copied")
	}
	alone := []byte(`{"card":{"number":"4111111111111111"}}`)
	without := testing.AllocsPerRun(50, func() { leakScan{}.body(alone, nil, nil) })
	with := testing.AllocsPerRun(50, func() { leakScan{made: made}.body(alone, nil, nil) })
	if with != without-1 {
		t.Errorf("body scan: %v allocations with the made aliases, %v without; want one fewer", with, without)
	}
}
