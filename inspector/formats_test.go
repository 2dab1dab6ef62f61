package inspector

import (
	"regexp"
	"slices"
	"testing"

	"github.com/aliasgate/aliasgate/vault"
)

// The route builder's format list offers every alias format of the vault.
func TestBuilderOffersEveryAliasFormat(t *testing.T) {
	b, err := assets.ReadFile("assets/index.html")
	if err != nil {
		t.Fatal(err)
	}
	sel := regexp.MustCompile(`(?s)<select id="b-format">(.*?)</select>`).FindSubmatch(b)
	if sel == nil {
		t.Fatal("index.html has no b-format select")
	}
	var offered []string
	for _, m := range regexp.MustCompile(`<option(?: value="default")?>([A-Z_]+)`).FindAllSubmatch(sel[1], -1) {
		offered = append(offered, string(m[1]))
	}
	for _, f := range vault.Formats() {
		if !slices.Contains(offered, string(f)) {
			t.Errorf("the builder does not offer %s (offers %v)", f, offered)
		}
	}
}
