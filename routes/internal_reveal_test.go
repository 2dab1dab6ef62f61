package routes

import (
	"strings"
	"testing"
)

// TestRevealInTheAnswersOfTheInternalAPIsIsRefused: a response reveal on a
// route whose upstream is internal:cards or internal:aliases would show
// card data to clients the API withholds it from (a client without --pci,
// one without aliases:reveal): refused at load; a response redact there is
// fine.
func TestRevealInTheAnswersOfTheInternalAPIsIsRefused(t *testing.T) {
	for _, up := range []string{UpstreamCards, UpstreamAliases} {
		src := `- {id: a, direction: inbound, host: h, path_prefix: /x, upstream: ` + up +
			`, filters: [{phase: response, operation: reveal, on_error: pass, targets: [{json: data.attributes.pan_alias}]}]}`
		_, err := Parse([]byte(src), "", Options{})
		if err == nil || !strings.Contains(err.Error(), "reveal in the answers of "+up+" is refused") {
			t.Errorf("%s: Parse = %v", up, err)
		}
		src = `- {id: a, direction: inbound, host: h, path_prefix: /x, upstream: ` + up +
			`, filters: [{phase: response, operation: redact, targets: [{json: data.attributes.pan}]}]}`
		if _, err := Parse([]byte(src), "", Options{}); err != nil {
			t.Errorf("%s: a response redact: %v", up, err)
		}
	}
}
