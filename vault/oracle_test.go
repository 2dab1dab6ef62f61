package vault_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/aliasgate/aliasgate/internal/abuse"
	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/vaulttest"
)

// TestCapOnNewRecordsIsNoOracle: a message of one guess plus exactly
// MaxNewPerCall new fillers is over the cap only when the guess is new (a
// miss). Were the cap answered before the Admission, the answer would tell a
// hit from a miss with nothing counted (found in review). The Admission goes
// first: the guesses are counted, the sender is flagged, and from then on the
// right guess gets the same answer as the wrong ones.
func TestCapOnNewRecordsIsNoOracle(t *testing.T) {
	noSource := abuse.DefaultLimits()
	noSource.SourceNew = 0 // the detector alone, without the per-source bucket
	for name, lim := range map[string]abuse.Limits{"default limits": abuse.DefaultLimits(), "detector only": noSource} {
		t.Run(name, func(t *testing.T) {
			g := abuse.New(lim, abuse.Options{})
			svc, _, _ := admissionFixture(t, vault.Options{Admission: g, MaxNewPerCall: 100})
			cands := vaulttest.Guesses("411111", "1111", 300)
			secret := cands[231]
			victim := vault.WithSource(vault.WithRoute(context.Background(), "checkout"), "203.0.113.9")
			if _, err := svc.Redact(victim, []vault.RedactRequest{{Value: secret, Format: vault.FormatFPESixTFour}}); err != nil {
				t.Fatal(err)
			}
			attacker := vault.WithSource(vault.WithRoute(context.Background(), "checkout"), "198.51.100.7")
			answers := map[string]int{}
			var secretAnswer string
			for n, c := range cands {
				reqs := []vault.RedactRequest{{Value: c, Format: vault.FormatFPESixTFour}}
				for i := 0; i < 100; i++ { // fillers: new digit values of distinct groups
					reqs = append(reqs, vault.RedactRequest{Value: fmt.Sprintf("5%05d%06d%04d", n, i, i), Format: vault.FormatFPESixTFour})
				}
				_, err := svc.Redact(attacker, reqs)
				a := "ok"
				switch {
				case errors.Is(err, vault.ErrThrottled):
					a = "throttled"
				case errors.Is(err, vault.ErrTooManyValues):
					a = "too_many"
				case err != nil:
					t.Fatalf("guess %d: %v", n, err)
				}
				answers[a]++
				if c == secret {
					secretAnswer = a
				}
			}
			if secretAnswer != "throttled" || answers["throttled"] < len(cands)-lim.Threshold-1 {
				t.Fatalf("answers %v, the right guess's %q: want at most %d answered before the rest, the right guess among the throttled",
					answers, secretAnswer, lim.Threshold+1)
			}
			if lim.SourceNew == 0 && !g.Flagged("source:198.51.100.7") {
				t.Fatal("the guesses over the cap were not counted: the sender is not flagged")
			}
		})
	}
}

// TestClassifierOverflowIsNoOracle: a flagged client sends each guess with
// 32 new classifiers; for a hit the merge into the record's classifiers would
// overflow (ErrInvalidClassifier) where a miss is throttled — were the merge
// checked before the Admission (found in review). Every guess, the right one
// included, is throttled.
func TestClassifierOverflowIsNoOracle(t *testing.T) {
	g := abuse.New(abuse.DefaultLimits(), abuse.Options{})
	svc, _, _ := admissionFixture(t, vault.Options{Admission: g, MaxNewPerCall: 100})
	cands := vaulttest.Guesses("411111", "1111", 300)
	secret := cands[271]
	client := vault.WithAccount(vault.WithClient(context.Background(), "support"), "acct_1")
	toks, err := svc.Redact(client, []vault.RedactRequest{{Value: secret, Format: vault.FormatFPESixTFour, Detail: true}})
	if err != nil {
		t.Fatal(err)
	}
	// The attacker holds the alias; PUT /aliases/{alias} gives it a classifier.
	if err := svc.UpdateClassifiers(client, toks[0].Alias, []string{"mine"}); err != nil {
		t.Fatal(err)
	}
	// Get flagged first (11 misses), as the detector intends.
	for _, c := range cands[:11] {
		svc.Redact(client, []vault.RedactRequest{{Value: c, Format: vault.FormatFPESixTFour, Detail: true}})
	}
	if !g.Flagged("client:support") {
		t.Fatal("not flagged")
	}
	cls := make([]string, 32)
	for i := range cls {
		cls[i] = fmt.Sprintf("c%d", i)
	}
	for _, c := range cands {
		_, err := svc.Redact(client, []vault.RedactRequest{{Value: c, Format: vault.FormatFPESixTFour, Detail: true, Classifiers: cls}})
		if !errors.Is(err, vault.ErrThrottled) {
			t.Fatalf("guess (the right one: %v) of a flagged client answered %v, want throttled like every other", c == secret, err)
		}
	}
}
