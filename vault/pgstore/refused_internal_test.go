package pgstore

import (
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/aliasgate/aliasgate/vault"
)

// TestServerErrorsPermanentOrTransient: which SQLSTATEs wrap answers as
// vault.ErrStoreRefused (500, no retry helps) and which as
// vault.ErrUnavailable (503 with Retry-After). Failed before for XX001,
// XX002, 58P01 and 58P02 (answered 503: retry forever on corrupted data or
// a missing file); the class 28, 42501 and 3D000 rows were 500 already but
// not marked for the metric (regression cover of their status).
func TestServerErrorsPermanentOrTransient(t *testing.T) {
	s := &Store{}
	for code, want := range map[string]string{
		"42501": "refused", "28000": "refused", "28P01": "refused", "3D000": "refused",
		"XX001": "refused", "XX002": "refused", "58P01": "refused", "58P02": "refused",
		"08006": "unavailable", "40001": "unavailable", "53300": "unavailable", "53100": "unavailable",
		"57P01": "unavailable", "58030": "unavailable", "XX000": "unavailable", "25006": "unavailable", "55P03": "unavailable",
		"23505": "other", "42P01": "other", "22001": "other",
	} {
		err := s.wrap("op", fmt.Errorf("query: %w", &pgconn.PgError{Code: code, Message: "m"}))
		got := "other"
		switch {
		case errors.Is(err, vault.ErrStoreRefused) && !vault.Unavailable(err):
			got = "refused"
		case vault.Unavailable(err) && !errors.Is(err, vault.ErrStoreRefused):
			got = "unavailable"
		case errors.Is(err, vault.ErrStoreRefused) || vault.Unavailable(err):
			got = "both"
		}
		if got != want {
			t.Errorf("SQLSTATE %s: %s, want %s (%v)", code, got, want, err)
		}
	}
}
