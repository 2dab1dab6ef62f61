package vault

import (
	"context"
	"fmt"
)

// RevealBefore is Service.Reveal as it was before it shared its work with
// RevealValues (reveal): the oracle of TestRevealValuesAgainstBefore. Do
// not change it.
func RevealBefore(ctx context.Context, s *Service, aliases []string) ([]Revealed, error) {
	done, err := s.enter(ctx, opReveal)
	if err != nil {
		return nil, fmt.Errorf("vault: reveal: %w", err)
	}
	defer done()
	recs, err := s.openAudited(ctx, opReveal, aliases)
	if err != nil {
		return nil, fmt.Errorf("vault: reveal: %w", err)
	}
	defer wipeValues(recs) // the decrypted bytes: the results have their copies
	out := make([]Revealed, len(aliases))
	for i, r := range recs {
		if r.rec == nil {
			out[i].Err = ErrNotFound
			continue
		}
		out[i] = Revealed{Value: string(r.value), Format: r.rec.Format, Storage: r.rec.Storage,
			Classifiers: r.rec.Classifiers, CreatedAt: r.rec.CreatedAt, ExpiresAt: r.rec.ExpiresAt}
	}
	return out, nil
}
