package vault_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/internal/pan"
	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/memstore"
)

// cardSpellings are one test card number in the spellings pan.Find knows
// (issue 17): stored free text must refuse every one of them.
var cardSpellings = map[string]string{
	"plain":         "4111111111111111",
	"grouped":       "4111 1111 1111 1111",
	"dashed":        "4111-1111-1111-1111",
	"dotted":        "4111.1111.1111.1111",
	"mixed":         "tag:4111-1111.1111-1111",
	"no-break":      "4111\u00a01111\u202f1111\u00a01111",
	"full-width":    "４１１１１１１１１１１１１１１１",
	"json escapes":  `\u0034\u0031\u0031\u0031111111111111`,
	"percent":       "%34%31%31%31+1111%201111-1111",
	"html escapes":  "&#52;&#x31;&#49;1&nbsp;1111 1111 1111",
	"escaped amex":  "%378282246310005",
	"escaped plain": "&#4111111111111111;",
}

// TestClassifiersRefuseCardNumbersInEverySpelling: a classifier holding a
// card number, in any spelling, is refused on create and on update, and
// the error does not repeat it.
func TestClassifiersRefuseCardNumbersInEverySpelling(t *testing.T) {
	svc, _ := newService(t, memstore.New(memstore.Options{SweepInterval: -1}))
	ctx := context.Background()
	toks, err := svc.Redact(ctx, []vault.RedactRequest{{Value: "v", Classifiers: []string{"ok-1.2:3"}}})
	if err != nil {
		t.Fatal(err)
	}
	for name, sp := range cardSpellings {
		t.Run(name, func(t *testing.T) {
			_, err := svc.Redact(ctx, []vault.RedactRequest{{Value: "w", Classifiers: []string{"ok", sp}}})
			checkRefused(t, err, sp)
			err = svc.UpdateClassifiers(ctx, toks[0].Alias, []string{sp})
			checkRefused(t, err, sp)
		})
	}
}

func checkRefused(t *testing.T, err error, sp string) {
	t.Helper()
	if !errors.Is(err, vault.ErrInvalidClassifier) {
		t.Fatalf("err = %v, want ErrInvalidClassifier", err)
	}
	if msg := err.Error(); strings.Contains(msg, sp) || pan.ContainsString(msg) {
		t.Errorf("the error repeats the classifier")
	}
}
