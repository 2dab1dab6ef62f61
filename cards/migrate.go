package cards

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aliasgate/aliasgate/vault"
)

// The accounts migration (issue 18). Before accounts existed every vault
// record was written without an owner, so a vault upgraded while its
// clients were in several accounts gives every old record to the default
// account, and the cards of the other accounts could no longer reach their
// own PANs. MigrateAccounts gives each such card's account the records its
// card references, once per vault.

// AccountsMigratedMeta is the meta key MigrateAccounts sets when it has
// finished; while it is absent the migration runs (again) from the start.
const AccountsMigratedMeta = "accounts_migrated"

// MigrationStore is what MigrateAccounts needs of the persistent store.
type MigrationStore interface {
	vault.MetaStore
	ScanCards(ctx context.Context, after string, limit int) ([]vault.CardDump, error)
	GetCard(ctx context.Context, account, id string) (record []byte, ok bool, err error)
	// ReplaceCard is cards.Store's compare-and-swap write.
	ReplaceCard(ctx context.Context, account, id string, old, record []byte) error
}

// RecordMigrator gives an account the records it references
// (*vault.Service).
type RecordMigrator interface {
	MigrateRecord(ctx context.Context, alias, account string, reown bool) (string, error)
}

// MigrationResult counts what MigrateAccounts did (nothing when the vault
// was migrated before: Done false).
type MigrationResult struct {
	Done    bool // this call ran the migration to its end
	Cards   int  // cards of accounts other than the default one whose aliases were looked at
	Reowned int  // aliases whose record became their card's account's, in place
	Copied  int  // aliases the card now references a copy of, in its account
	Gone    int  // aliases the vault no longer holds (or holds for another account): left as they were
}

// scanPage is the number of cards MigrateAccounts reads at once.
const scanPage = 500

// shared marks, in MigrateAccounts' reference map, an alias that cards of
// several accounts reference (no account name holds a zero byte).
const shared = "\x00"

// MigrateAccounts gives every card of an account other than defaultAccount
// a record of its own of each value it references (its PAN, its CVC while
// it lives, the PAN of each network token), so that it works after the
// upgrade exactly as before. For each alias a card references:
//
//   - an alias that the cards of this one account reference, and no card of
//     another account (the default one included), becomes this account's in
//     place (vault.Service.MigrateRecord with reown): the alias the account's
//     clients hold keeps working, for the card and everywhere else;
//   - an alias that cards of several accounts reference stays the default
//     account's, and each other account gets its own alias of the value,
//     which its cards then reference (card records are rewritten; the
//     card's pan_alias changes);
//   - an alias the vault no longer holds is left as it is (the card answers
//     card_data_gone, an expired CVC stays expired).
//
// Only records of the default account are ever given, and only to an
// account whose card references them; a record of another account is
// never moved. The run is idempotent and resumable: an alias already the
// account's is left alone, so a migration stopped half way (a crash, the
// store failing) is run again whole at the next start, and
// AccountsMigratedMeta is set only at the end. An alias shared by the
// cards of two accounts whose first one was given its copy before a crash
// is referenced by the second one only on the next run, which then takes
// it in place: it still goes only to an account whose card references it.
// The migration runs before the gateway serves, but another gateway of the
// same database may serve meanwhile: a card record is rewritten with
// compare-and-swap (cas.go), so a change that gateway stored since the scan
// read the card is kept — the card is read again and its aliases mapped
// again (an alias already given is not given twice: the answer of
// MigrateRecord is kept per card), at most casTries times.
func MigrateAccounts(ctx context.Context, st MigrationStore, v RecordMigrator, defaultAccount string) (MigrationResult, error) {
	var res MigrationResult
	if _, err := st.GetMeta(ctx, AccountsMigratedMeta); err == nil {
		return res, nil
	} else if !errors.Is(err, vault.ErrNotFound) {
		return res, fmt.Errorf("cards: accounts migration: %w", err)
	}
	// Which accounts reference each alias.
	refs := map[string]string{}
	err := scanAllCards(ctx, st, func(c vault.CardDump, rec *migrationRecord) error {
		for _, a := range rec.aliases() {
			switch prev, ok := refs[a]; {
			case !ok:
				refs[a] = c.Account
			case prev != c.Account:
				refs[a] = shared
			}
		}
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("cards: accounts migration: %w", err)
	}
	err = scanAllCards(ctx, st, func(c vault.CardDump, rec *migrationRecord) error {
		if c.Account == defaultAccount {
			return nil
		}
		res.Cards++
		given := map[string]string{} // alias → the alias the card references now
		give := func(alias string) (string, error) {
			if alias == "" {
				return "", nil
			}
			if got, ok := given[alias]; ok {
				return got, nil
			}
			got, err := v.MigrateRecord(ctx, alias, c.Account, refs[alias] == c.Account)
			switch {
			case errors.Is(err, vault.ErrNotFound):
				res.Gone++
				got = alias
			case err != nil:
				return "", fmt.Errorf("card %s: %w", c.ID, err)
			case got != alias:
				res.Copied++
			case refs[alias] == c.Account:
				res.Reowned++
			}
			given[alias] = got
			return got, nil
		}
		raw := c.Record
		for try := 1; ; try++ {
			changed := false
			set := func(field *string) error {
				got, err := give(*field)
				if err != nil {
					return err
				}
				changed = changed || got != *field
				*field = got
				return nil
			}
			if err := set(&rec.PANAlias); err != nil {
				return err
			}
			if err := set(&rec.CVCAlias); err != nil {
				return err
			}
			for i := range rec.Tokens {
				if err := set(&rec.Tokens[i].TokenAlias); err != nil {
					return err
				}
			}
			if !changed {
				return nil
			}
			b, err := rec.marshal()
			if err != nil {
				return fmt.Errorf("card %s: %w", c.ID, err)
			}
			err = st.ReplaceCard(ctx, c.Account, c.ID, raw, b)
			if err == nil {
				return nil
			}
			if !errors.Is(err, vault.ErrCardChanged) || try == casTries {
				return fmt.Errorf("card %s: %w", c.ID, err)
			}
			var ok bool
			if raw, ok, err = st.GetCard(ctx, c.Account, c.ID); err != nil {
				return fmt.Errorf("card %s: %w", c.ID, err)
			}
			if !ok {
				return nil // deleted meanwhile
			}
			if rec, err = parseMigrationRecord(raw); err != nil {
				return fmt.Errorf("card %s: %w", c.ID, err)
			}
		}
	})
	if err != nil {
		return res, fmt.Errorf("cards: accounts migration: %w", err)
	}
	if _, err := st.PutMetaIfAbsent(ctx, AccountsMigratedMeta, []byte("1")); err != nil {
		return res, fmt.Errorf("cards: accounts migration: %w", err)
	}
	res.Done = true
	return res, nil
}

// scanAllCards calls fn with every card, in key order.
func scanAllCards(ctx context.Context, st CardScanner, fn func(vault.CardDump, *migrationRecord) error) error {
	after := ""
	for {
		page, err := st.ScanCards(ctx, after, scanPage)
		if err != nil {
			return fmt.Errorf("scan cards: %w", err)
		}
		for _, c := range page {
			rec, err := parseMigrationRecord(c.Record)
			if err != nil {
				return fmt.Errorf("card %s: %w", c.ID, err)
			}
			if err := fn(c, rec); err != nil {
				return err
			}
		}
		if len(page) < scanPage {
			return nil
		}
		after = page[len(page)-1].Key()
	}
}

// migrationRecord is a stored card seen by the migration: the alias fields
// of record and tokenRecord, with every other field kept as stored (also
// fields this version does not know).
type migrationRecord struct {
	raw      map[string]json.RawMessage
	tokens   []map[string]json.RawMessage
	PANAlias string
	CVCAlias string
	Tokens   []struct{ TokenAlias string }
}

func parseMigrationRecord(b []byte) (*migrationRecord, error) {
	r := &migrationRecord{}
	if err := json.Unmarshal(b, &r.raw); err != nil {
		return nil, fmt.Errorf("decode card record: %w", err)
	}
	if r.raw == nil {
		return nil, errors.New("decode card record: not an object")
	}
	str := func(m map[string]json.RawMessage, k string) (string, error) {
		var s string
		if v, ok := m[k]; ok {
			if err := json.Unmarshal(v, &s); err != nil {
				return "", fmt.Errorf("decode card record %s: %w", k, err)
			}
		}
		return s, nil
	}
	var err error
	if r.PANAlias, err = str(r.raw, "pan_alias"); err != nil {
		return nil, err
	}
	if r.CVCAlias, err = str(r.raw, "cvc_alias"); err != nil {
		return nil, err
	}
	if v, ok := r.raw["network_tokens"]; ok {
		if err := json.Unmarshal(v, &r.tokens); err != nil {
			return nil, fmt.Errorf("decode card record network_tokens: %w", err)
		}
	}
	r.Tokens = make([]struct{ TokenAlias string }, len(r.tokens))
	for i, t := range r.tokens {
		if t == nil {
			return nil, errors.New("decode card record network_tokens: an entry is not an object")
		}
		if r.Tokens[i].TokenAlias, err = str(t, "token_alias"); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// aliases lists the vault aliases the card references.
func (r *migrationRecord) aliases() []string {
	var out []string
	for _, a := range append([]string{r.PANAlias, r.CVCAlias}, r.tokenAliases()...) {
		if a != "" {
			out = append(out, a)
		}
	}
	return out
}

// tokenAliases lists the aliases the card's network tokens name (a
// retired token whose PAN a card has as its number names none: retireToken).
func (r *migrationRecord) tokenAliases() []string {
	out := make([]string, 0, len(r.Tokens))
	for _, t := range r.Tokens {
		if t.TokenAlias != "" {
			out = append(out, t.TokenAlias)
		}
	}
	return out
}

// marshal encodes the record with its alias fields as they are now.
func (r *migrationRecord) marshal() ([]byte, error) {
	set := func(m map[string]json.RawMessage, k, v string) {
		if v == "" {
			return
		}
		b, _ := json.Marshal(v) // a string always encodes
		m[k] = b
	}
	set(r.raw, "pan_alias", r.PANAlias)
	set(r.raw, "cvc_alias", r.CVCAlias)
	if len(r.tokens) > 0 {
		for i, t := range r.tokens {
			set(t, "token_alias", r.Tokens[i].TokenAlias)
		}
		b, err := json.Marshal(r.tokens)
		if err != nil {
			return nil, err
		}
		r.raw["network_tokens"] = b
	}
	return json.Marshal(r.raw)
}
