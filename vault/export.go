package vault

import "context"

// Exporter is implemented by persistent stores whose content can be listed,
// for `aliasgate vault copy` (moving a vault between stores without
// re-tokenizing) and for background work over every record. Everything it
// returns is as stored: ciphertexts stay encrypted, aliases stay the same.
//
// Scans are paged by a cursor: pass "" for the first page, then the last
// key of the previous page. A page shorter than limit is the last one.
type Exporter interface {
	// ScanRecords returns up to limit live persistent records whose alias
	// sorts after after (byte order), in alias order. Volatile and expired
	// records are left out.
	ScanRecords(ctx context.Context, after string, limit int) ([]*Record, error)
	// ScanMeta returns every meta key set with PutMetaIfAbsent, with its
	// value (not the store's own bookkeeping, such as its schema version).
	ScanMeta(ctx context.Context) (map[string][]byte, error)
	// ScanClients returns up to limit API clients whose id sorts after
	// after, in id order.
	ScanClients(ctx context.Context, after string, limit int) ([]ClientDump, error)
	// ScanCards returns up to limit cards whose CardDump.Key sorts after
	// after, in that order, each with its card updates in order.
	ScanCards(ctx context.Context, after string, limit int) ([]CardDump, error)
}

// Importer is implemented by stores that can take what an Exporter gave.
// Every method is idempotent, so an interrupted copy can be run again.
// Records are imported with Store.Put (PutExisting for a record copied
// before) and meta with Store.PutMetaIfAbsent.
type Importer interface {
	// ImportClient stores the client unless its id exists; an existing id
	// with the same record is not an error, one with another record is
	// ErrConflict.
	ImportClient(ctx context.Context, c ClientDump) error
	// ImportCard stores the card with its updates unless (account, id)
	// exists with the same record; an existing card with another record,
	// or another card with the same (account, fingerprint), is ErrConflict.
	// Updates of an existing identical card are replaced by c.Updates.
	ImportCard(ctx context.Context, c CardDump) error
}

// ClientDump is one stored API client.
type ClientDump struct {
	ID     string
	Record []byte
}

// CardDump is one stored card with its updates.
type CardDump struct {
	Account     string
	ID          string
	Fingerprint string
	Record      []byte
	Updates     [][]byte
}

// CardIndexSep separates a card fingerprint from a card id in the
// fingerprint index key of a card made with duplicate detection off
// ("<fingerprint>/<card id>", package cards): fingerprints and card ids are
// base58, which has no '/'. The stores' CardsByFingerprint finds the cards
// whose index key is a fingerprint or starts with it and CardIndexSep.
const CardIndexSep = "/"

// Key is the card's scan cursor: account, a zero byte, id.
func (c CardDump) Key() string { return c.Account + "\x00" + c.ID }

// Rekeyer is implemented by persistent stores whose records can be
// re-encrypted in place, for key rotation.
type Rekeyer interface {
	// Rekey replaces the key version and ciphertext of each item's alias
	// when the stored record still has OldVersion (compare and swap, so a
	// record deleted or rekeyed meanwhile is left alone), atomically and
	// durably. It returns how many records it changed.
	Rekey(ctx context.Context, items []RekeyItem) (int, error)
}

// RekeyItem is one record to re-encrypt.
type RekeyItem struct {
	Alias      string
	OldVersion uint32
	NewVersion uint32
	Ciphertext []byte // nonce ‖ sealed value under NewVersion's data key
}
