package main

import (
	"slices"
	"testing"

	"github.com/aliasgate/aliasgate/routes/vgs"
	"github.com/aliasgate/aliasgate/vault"
)

// The VGS route converter (which imports no vault code) emits exactly the
// vault's alias formats.
func TestVGSConverterKnowsTheVaultFormats(t *testing.T) {
	var want []string
	for _, f := range vault.Formats() {
		want = append(want, string(f))
	}
	got := vgs.NativeFormats()
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("routes/vgs formats %v, vault formats %v", got, want)
	}
}
