package pgstore

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/aliasgate/aliasgate/vault"
)

// tokenAliasesIndexedAlias is the alias of the row (empty account) that
// marks the token alias index built (migrations/0009_token_aliases.sql).
const tokenAliasesIndexedAlias = "indexed"

// PutTokenAliases indexes entries with one INSERT (cards.Store).
func (s *Store) PutTokenAliases(ctx context.Context, entries []vault.TokenAlias) error {
	if len(entries) == 0 {
		return nil
	}
	accounts := make([]string, len(entries))
	aliases := make([]string, len(entries))
	ids := make([]string, len(entries))
	for i, e := range entries {
		if e.Account == "" || !isStorable(e.Account) || !isStorable(e.Alias) || !isStorable(e.Card) {
			return errors.New("pgstore: put token aliases: an entry is not storable")
		}
		accounts[i], aliases[i], ids[i] = e.Account, e.Alias, e.Card
	}
	return s.run(ctx, "put token aliases", true, func(ctx context.Context, _ int) error {
		_, err := s.pool.Exec(ctx, `INSERT INTO token_aliases (account, alias, card_id)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING`, accounts, aliases, ids)
		return err
	})
}

// CardsByTokenAlias returns the ids of the account's cards indexed under
// alias, in id order (cards.Store).
func (s *Store) CardsByTokenAlias(ctx context.Context, account, alias string) ([]string, error) {
	var ids []string
	err := s.run(ctx, "cards by token alias", true, func(ctx context.Context, _ int) error {
		ids = nil
		if account == "" || !isStorable(account) || !isStorable(alias) {
			return nil
		}
		var err error
		ids, err = s.queryStrings(ctx, `SELECT card_id FROM token_aliases WHERE account = $1 AND alias = $2 ORDER BY card_id`,
			account, alias)
		return err
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// RemoveTokenAlias removes every entry of the account's alias (cards.Store).
func (s *Store) RemoveTokenAlias(ctx context.Context, account, alias string) error {
	return s.run(ctx, "remove token alias", true, func(ctx context.Context, _ int) error {
		if account == "" || !isStorable(account) || !isStorable(alias) {
			return nil
		}
		_, err := s.pool.Exec(ctx, `DELETE FROM token_aliases WHERE account = $1 AND alias = $2`, account, alias)
		return err
	})
}

// TokenAliasesIndexed reports whether MarkTokenAliasesIndexed was called
// (cards.Store).
func (s *Store) TokenAliasesIndexed(ctx context.Context) (bool, error) {
	var ok bool
	err := s.run(ctx, "token aliases indexed", true, func(ctx context.Context, _ int) error {
		return s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM token_aliases WHERE account = '' AND alias = $1)`,
			tokenAliasesIndexedAlias).Scan(&ok)
	})
	return ok, err
}

// MarkTokenAliasesIndexed records that every card's token aliases are
// indexed (cards.Store).
func (s *Store) MarkTokenAliasesIndexed(ctx context.Context) error {
	return s.run(ctx, "mark token aliases indexed", true, func(ctx context.Context, _ int) error {
		_, err := s.pool.Exec(ctx, `INSERT INTO token_aliases (account, alias, card_id) VALUES ('', $1, '') ON CONFLICT DO NOTHING`,
			tokenAliasesIndexedAlias)
		return err
	})
}

// queryStrings runs query, whose rows have one text column, and returns
// their values.
func (s *Store) queryStrings(ctx context.Context, query string, args ...any) ([]string, error) {
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
