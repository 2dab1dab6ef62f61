package main

import (
	"strings"
	"testing"
)

// A VGS export whose redact entry tags its aliases with a classifier the
// vault does not keep (routes/vgs/testdata/long-classifiers.yaml: a
// 69-character tag; VGS types a classifier as any string) was converted
// into routes that do not load: exit 3, "a bug in the importer", and no
// routes at all for a route VGS runs. The tag is dropped and reported
// (exit 1), and the card number is still aliased with the tags the vault
// keeps.
func TestImportVGSDropsClassifiersTheVaultDoesNotKeep(t *testing.T) {
	out, stderr, err := runCmd(t, testEnv(nil), "routes", "import-vgs", "../../routes/vgs/testdata/long-classifiers.yaml")
	var buf strings.Builder
	if code := exitCode(err, &buf); code != 1 {
		t.Fatalf("exit %d (%v), want 1\nstdout %q\nstderr %q", code, err, out, stderr)
	}
	if !strings.Contains(out, "{json: payment_method.card.number, format: FPE_SIX_T_FOUR, storage: persistent, classifiers: [card-number]}") {
		t.Errorf("routes:\n%s", out)
	}
	if !strings.Contains(stderr, `classifiers "customer-primary-payment-method-card-number-for-subscription-renewals" are not tags the vault keeps`) {
		t.Errorf("stderr does not report the dropped classifier:\n%s", stderr)
	}
}
