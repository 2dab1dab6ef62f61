package pan

import (
	"strings"
	"testing"
)

// TestMaskReadableMasksWhatAReaderSees: groups apart by any run of
// characters that are neither letters nor digits are masked as Mask masks
// a number in groups, keeping the length; text without such a number is
// returned as it is.
func TestMaskReadableMasksWhatAReaderSees(t *testing.T) {
	p := "4539578763621486"
	for _, sep := range []string{" \t", "  ", "\r\n\r\n", "-\t", "?", "\uFFFD", "\u200b", " / "} {
		in := "card " + p[:4] + sep + p[4:8] + sep + p[8:12] + sep + p[12:] + " end"
		got := MaskReadable(in)
		want := strings.NewReplacer(p[6:8], "**", p[8:12], "****").Replace(in)
		if got != want || len(got) != len(in) {
			t.Errorf("MaskReadable(%q) = %q, want %q", in, got, want)
		}
	}
	for _, s := range []string{"", "ok at 2026-12-06T15:40:28Z id=123456", `{"ids":[1,2,3]}`, "4539 5787 6362 1487"} {
		if got := MaskReadable(s); got != s {
			t.Errorf("MaskReadable(%q) = %q, want it unchanged", s, got)
		}
	}
}
