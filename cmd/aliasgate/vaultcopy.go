package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/aliasgate/aliasgate/auth"
	"github.com/aliasgate/aliasgate/cards"
	"github.com/aliasgate/aliasgate/config"
	"github.com/aliasgate/aliasgate/internal/atomicfile"
	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/pgstore"
	"github.com/aliasgate/aliasgate/webhooks"
)

const vaultCopyUsage = `Copies every persistent record of one vault into another store — still
encrypted, under the same aliases — with the vault's data keys, API clients,
cards and webhook deliveries (the pending ones are sent by the destination's
gateways), so a single-node bbolt vault can move to PostgreSQL without
re-tokenizing anything or losing an event. Volatile values (CVCs) are not copied: they expire
within vault.volatile_ttl anyway.

Source and destination must be two stores: one PostgreSQL database (and
schema) under two URLs, or one bbolt file under two paths, is refused.

Both configurations must use the same master key (the destination's data
dir needs the same master.key, or set ALIASGATE_MASTER_KEY). Stop the
gateway on a bbolt source first (the file is locked while it runs).

Every page of records is written, then read back and compared. The copy can
be interrupted and run again: it resumes after the last page written (a
checkpoint file in the destination's data dir), and records already present
are recognised, never duplicated. A checkpoint of another source or
destination, or whose last record the destination does not hold (a database
dropped and made again since), is ignored and the copy starts over.

A source still in service (PostgreSQL) is gone over again until a pass
finds nothing new or changed: records written during the copy, re-encrypted
by a key rotation or given new classifiers, and API clients revoked or
given a new secret are copied or brought up to date. After 5 passes that
each found changes the copy fails: stop the source's gateways and run it
again.

Records and cards the destination holds and the source does not (deleted
from the source after they were copied, say while it stayed in service, or
written to the destination) would be revealed from the destination after
the migration: the copy then fails, naming their count. Run it again with
--delete-missing to delete them from the destination (only while no gateway
writes to it: a record a gateway made there is deleted too), or with
--keep-missing to keep them. The copy ends with a count of both sides.`

// copyCheckpointFile is the resume point of an interrupted vault copy, in
// the destination's data dir.
const copyCheckpointFile = "vault-copy.checkpoint"

// copyCheckpoint is what the checkpoint file holds.
type copyCheckpoint struct {
	Source      string `json:"source"`
	Destination string `json:"destination,omitempty"` // "" in checkpoints written before it was recorded
	After       string `json:"after"`                 // last alias written
	Copied      int    `json:"copied"`                // records written or found so far
}

func runVaultCopy(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("vault copy --from-config A --to-config B [--batch N] [--restart] [--delete-missing|--keep-missing]", vaultCopyUsage)
	from := fs.String("from-config", "", "configuration `file` of the source vault (required)")
	to := fs.String("to-config", "", "configuration `file` of the destination vault (required)")
	batch := fs.Int("batch", 500, "records per `page` (one write and one read-back each)")
	restart := fs.Bool("restart", false, "ignore a checkpoint and start from the first record")
	deleteMissing := fs.Bool("delete-missing", false, "delete from the destination the records and cards the source does not hold")
	keepMissing := fs.Bool("keep-missing", false, "keep in the destination the records and cards the source does not hold")
	if err := parseFlags(fs, e, args); err != nil {
		return helpOK(err)
	}
	if *from == "" || *to == "" {
		return usagef("vault copy: --from-config and --to-config are required (see --help)")
	}
	if *batch < 1 || *batch > 10000 {
		return usagef("vault copy: --batch must be 1..10000")
	}
	if *deleteMissing && *keepMissing {
		return usagef("vault copy: --delete-missing and --keep-missing contradict each other")
	}
	src, err := config.Load(*from, e.getenv)
	if err != nil {
		return err
	}
	dst, err := config.Load(*to, e.getenv)
	if err != nil {
		return err
	}
	if sameStore(src, dst) {
		return usagef("vault copy: source and destination are the same store")
	}
	c := &vaultCopier{out: e.stderr, batch: *batch, checkpoint: filepath.Join(dst.DataDir, copyCheckpointFile)}
	switch {
	case *deleteMissing:
		c.missing = missingDelete
	case *keepMissing:
		c.missing = missingKeep
	}
	if *restart {
		os.Remove(c.checkpoint)
	}
	return c.run(ctx, src, dst, e.getenv)
}

// sameStore reports whether two configurations name one persistent store.
func sameStore(a, b config.Config) bool {
	if a.Vault.Store != b.Vault.Store {
		return false
	}
	if a.Vault.Store == "postgres" {
		return a.Vault.PostgresURL == b.Vault.PostgresURL
	}
	pa, errA := filepath.Abs(a.VaultPath())
	pb, errB := filepath.Abs(b.VaultPath())
	if errA == nil && errB == nil && pa == pb {
		return true
	}
	// One file under two paths (a link to the data dir, a bind mount).
	fa, errA := os.Stat(a.VaultPath())
	fb, errB := os.Stat(b.VaultPath())
	return errA == nil && errB == nil && os.SameFile(fa, fb)
}

// vaultCopier copies one vault into another store.
type vaultCopier struct {
	out        io.Writer
	batch      int
	checkpoint string
	missing    copyMissing
}

// copyMissing is what a copy does with the records and cards the
// destination holds and the source does not.
type copyMissing int

const (
	missingFail   copyMissing = iota // the copy fails, naming their count
	missingDelete                    // --delete-missing: deleted from the destination
	missingKeep                      // --keep-missing: kept, with a warning
)

func (m copyMissing) String() string {
	switch m {
	case missingDelete:
		return "delete"
	case missingKeep:
		return "keep"
	}
	return "fail"
}

// copyCounts is what a copy did.
type copyCounts struct {
	records, created, updated, clients, cards, deliveries, pending int
	restSum                                                        [sha256.Size]byte // digest of what copyRest read
}

// restRead is what a scan of the clients, cards and webhook deliveries
// read: how many of each and their digest (scanDigest).
type restRead struct {
	clients, cards, deliveries int
	sum                        [sha256.Size]byte
}

// rest is what copyRest read.
func (n copyCounts) rest() restRead {
	return restRead{clients: n.clients, cards: n.cards, deliveries: n.deliveries, sum: n.restSum}
}

// readRest reads the clients, cards and webhook deliveries of src as
// copyRest does, without copying them: a client revoked, a card changed,
// or one made as another went, after copyRest read them, makes it differ
// from copyCounts.rest (TestClientRevokedDuringTheCopyIsNotActiveInTheDestination).
func readRest(ctx context.Context, src persistentStore, batch int) (restRead, error) {
	var n restRead
	d := newScanDigest()
	for after := ""; ; {
		page, err := src.ScanClients(ctx, after, batch)
		if err != nil {
			return n, fmt.Errorf("vault copy: count clients: %w", err)
		}
		for _, cl := range page {
			d.addClient(cl)
		}
		n.clients += len(page)
		if len(page) < batch {
			break
		}
		after = page[len(page)-1].ID
	}
	for after := ""; ; {
		page, err := src.ScanCards(ctx, after, batch)
		if err != nil {
			return n, fmt.Errorf("vault copy: count cards: %w", err)
		}
		for _, cd := range page {
			d.addCard(cd)
		}
		n.cards += len(page)
		if len(page) < batch {
			break
		}
		after = page[len(page)-1].Key()
	}
	for before := ""; ; {
		page, err := src.ListDeliveries(ctx, webhooks.Filter{Before: before, Limit: batch})
		if err != nil {
			return n, fmt.Errorf("vault copy: count webhook deliveries: %w", err)
		}
		for _, dl := range page {
			d.field([]byte(dl.ID))
		}
		n.deliveries += len(page)
		if len(page) < batch {
			n.sum = d.sum()
			return n, nil
		}
		before = page[len(page)-1].ID
	}
}

func (c *vaultCopier) run(ctx context.Context, srcCfg, dstCfg config.Config, getenv func(string) string) error {
	src, err := openExistingVault(ctx, srcCfg, getenv)
	if err != nil {
		return fmt.Errorf("vault copy: source: %w", err)
	}
	defer src.store.Close()
	dstMaster, _, err := vault.LoadMasterKey(dstCfg.DataDir, getenv, false)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("vault copy: the destination has no master key: copy the source's %s into %s, or set %s",
			vault.MasterKeyFile, dstCfg.DataDir, vault.MasterKeyEnv)
	}
	if err != nil {
		return fmt.Errorf("vault copy: destination: %w", err)
	}
	if subtle.ConstantTimeCompare(dstMaster, src.master) != 1 {
		return errors.New("vault copy: the destination's master key is not the source's; both sides need the same key")
	}
	dst, where, err := openPersistent(ctx, dstCfg)
	if err != nil {
		return fmt.Errorf("vault copy: destination: %w", err)
	}
	defer dst.Close()
	if a, ok := src.store.(*pgstore.Store); ok {
		if b, ok := dst.(*pgstore.Store); ok {
			same, err := a.SameStore(ctx, b)
			if err != nil {
				fmt.Fprintf(c.out, "vault copy: could not tell whether source and destination are one store (%v); going on\n", err)
			}
			if same {
				return usagef("vault copy: source and destination are the same store (one PostgreSQL database under two URLs)")
			}
		}
	}
	return c.copyStores(ctx, src.store, src.where, dst, where, dstMaster)
}

// copyStores copies src into dst, whose master key is master. After the
// first pass (records, resumable from the checkpoint, then clients, cards
// and webhook deliveries) it makes catch-up passes over the whole source,
// for a source a gateway kept changing during the copy: records created
// behind the cursor are copied, records re-encrypted or whose owner or
// classifiers changed are brought up to date, and data keys added by a
// rotation are copied after the records that use them. It is done when a
// pass changed no record and a read of the source after the pass finds the
// records, clients, cards and webhook deliveries the pass saw (by digest,
// scanDigest); after maxCopyPasses passes it fails instead (the source
// keeps changing: stop its gateways and run the copy again). Then what the
// destination holds and the source does not fails the copy, or is deleted
// or kept (vaultCopier.missing).
func (c *vaultCopier) copyStores(ctx context.Context, src persistentStore, srcWhere string, dst persistentStore, where string, master []byte) error {
	fmt.Fprintf(c.out, "copying %s → %s\n", srcWhere, where)

	if err := c.copyMeta(ctx, src, dst); err != nil {
		return err
	}
	dstKeys, err := vault.OpenKeyring(ctx, dst, master)
	if err != nil {
		return fmt.Errorf("vault copy: destination keys: %w", err)
	}
	total, err := countRecords(ctx, src, c.batch)
	if err != nil {
		return fmt.Errorf("vault copy: count source records: %w", err)
	}
	n, err := c.copyRecords(ctx, src, dst, srcWhere, where, total)
	if err != nil {
		return err
	}
	if err := c.copyRest(ctx, src, dst, &n); err != nil {
		return err
	}
	for pass := 2; ; pass++ {
		// After the records: a record sealed under a new data key was
		// written after its key, so this copies the key of every record
		// copied so far.
		if err := c.copyMeta(ctx, src, dst); err != nil {
			return err
		}
		seen, seenSum, changed, err := syncRecords(ctx, src, dst, c.batch)
		if err != nil {
			return err
		}
		n.created += changed.created
		n.records += changed.created
		n.updated += changed.updated
		if err := c.copyRest(ctx, src, dst, &n); err != nil {
			return err
		}
		// Read again after the pass: what was made behind its cursors,
		// removed or changed meanwhile makes the source differ from what
		// it saw. The records are compared by digest, not count: a record
		// made behind the cursor as another was deleted left the count
		// as it was (TestVaultCopyLastPassSeesARecordMadeAsAnotherIsDeleted).
		var sum [sha256.Size]byte
		if total, sum, err = digestRecords(ctx, src, c.batch); err != nil {
			return fmt.Errorf("vault copy: count source records: %w", err)
		}
		rest, err := readRest(ctx, src, c.batch)
		if err != nil {
			return err
		}
		if changed.created+changed.updated == 0 && total == seen && sum == seenSum && rest == n.rest() {
			break
		}
		fmt.Fprintf(c.out, "the source changed during the copy: pass %d copied %d new and %d changed records\n", pass, changed.created, changed.updated)
		if pass == maxCopyPasses {
			return fmt.Errorf("vault copy: the source still changed during pass %d of %d (%d records new or changed, %d records then, %d seen): stop its gateways and run the copy again", pass, maxCopyPasses, changed.created+changed.updated, total, seen)
		}
	}
	if err := c.copyMeta(ctx, src, dst); err != nil {
		return err
	}
	extraRecs, extraCards, err := missingFromSource(ctx, src, dst, c.batch, c.missing == missingDelete)
	if err != nil {
		return err
	}
	deleted := 0
	if extraRecs+extraCards > 0 {
		switch c.missing {
		case missingDelete:
			deleted = extraRecs
			fmt.Fprintf(c.out, "deleted %d records and %d cards the source does not hold from the destination (--delete-missing)\n", extraRecs, extraCards)
		case missingKeep:
			fmt.Fprintf(c.out, "warning: the destination holds %d records and %d cards the source does not; kept (--keep-missing): their values can still be revealed from the destination\n", extraRecs, extraCards)
		default:
			return fmt.Errorf("vault copy: the destination holds %d records and %d cards the source does not (deleted from the source after they were copied, or written to the destination), whose values could be revealed from it: run the copy again with --delete-missing to delete them (only while no gateway writes to the destination), or with --keep-missing to keep them", extraRecs, extraCards)
		}
	}
	// The destination's numbers index, over every card it now holds (the
	// index itself is not copied: its keys are the source's entries, which
	// the copied cards' may not all be).
	if err := cards.IndexNumbers(ctx, dst, vault.NewNumbers(dst, dst, dstKeys)); err != nil {
		return fmt.Errorf("vault copy: %w", err)
	}
	// And its token alias index (not copied either): a destination
	// copied into before is marked indexed already, and the cards copied
	// since would have no entries.
	if err := cards.IndexTokenAliases(ctx, dst, dst); err != nil {
		return fmt.Errorf("vault copy: %w", err)
	}
	dstTotal, err := countRecords(ctx, dst, c.batch)
	if err != nil {
		return fmt.Errorf("vault copy: count destination records: %w", err)
	}
	os.Remove(c.checkpoint)
	fmt.Fprintf(c.out, "copied %d records (%d new, %d already there, %d brought up to date), %d clients, %d cards, %d webhook deliveries (%d pending)\n",
		n.records, n.created, n.records-n.created, n.updated, n.clients, n.cards, n.deliveries, n.pending)
	fmt.Fprintf(c.out, "source holds %d persistent records, destination %d\n", total, dstTotal)
	// A record deleted from both after the last pass counted the source
	// is no record missing.
	if dstTotal+deleted < total {
		return fmt.Errorf("vault copy: the destination holds %d records, fewer than the source's %d", dstTotal, total)
	}
	return nil
}

// missingFromSource counts the persistent records and the cards dst holds
// and src does not, and with del deletes them from dst (a record or card
// gone from dst meanwhile is not counted). Nothing of them is printed: an
// alias or card id is not for the copy's output.
func missingFromSource(ctx context.Context, src, dst persistentStore, batch int, del bool) (records, cards int, err error) {
	for after := ""; ; {
		page, err := dst.ScanRecords(ctx, after, batch)
		if err != nil {
			return records, cards, fmt.Errorf("vault copy: read destination records: %w", err)
		}
		aliases := make([]string, len(page))
		for i, r := range page {
			aliases[i] = r.Alias
		}
		have, err := src.Get(ctx, aliases)
		if err != nil {
			return records, cards, fmt.Errorf("vault copy: read source records: %w", err)
		}
		for i, r := range page {
			if have[i] != nil {
				continue
			}
			if del {
				err := dst.Delete(ctx, r.Alias, r.Owner)
				if errors.Is(err, vault.ErrNotFound) {
					continue
				}
				if err != nil {
					return records, cards, fmt.Errorf("vault copy: delete a record the source does not hold: %w", err)
				}
			}
			records++
		}
		if len(page) < batch {
			break
		}
		after = page[len(page)-1].Alias
	}
	for after := ""; ; {
		page, err := dst.ScanCards(ctx, after, batch)
		if err != nil {
			return records, cards, fmt.Errorf("vault copy: read destination cards: %w", err)
		}
		for _, cd := range page {
			_, ok, err := src.GetCard(ctx, cd.Account, cd.ID)
			if err != nil {
				return records, cards, fmt.Errorf("vault copy: read source cards: %w", err)
			}
			if ok {
				continue
			}
			if del {
				ok, err := dst.DeleteCard(ctx, cd.Account, cd.ID, cd.Fingerprint)
				if err != nil {
					return records, cards, fmt.Errorf("vault copy: delete a card the source does not hold: %w", err)
				}
				if !ok {
					continue
				}
			}
			cards++
		}
		if len(page) < batch {
			return records, cards, nil
		}
		after = page[len(page)-1].Key()
	}
}

// maxCopyPasses bounds the passes of a copy of a source that keeps changing.
const maxCopyPasses = 5

// copyRest copies clients, cards and webhook deliveries, counted in n
// with the digest of what it read (readRest reads the same).
func (c *vaultCopier) copyRest(ctx context.Context, src persistentStore, dst persistentStore, n *copyCounts) error {
	var err error
	d := newScanDigest()
	if n.clients, err = copyClients(ctx, src, dst, c.batch, d); err != nil {
		return err
	}
	if n.cards, err = copyCards(ctx, src, dst, c.batch, d); err != nil {
		return err
	}
	if n.deliveries, n.pending, err = copyDeliveries(ctx, src, dst, c.batch, d); err != nil {
		return err
	}
	n.restSum = d.sum()
	return nil
}

// syncRecords is a catch-up pass: every persistent record of src is made
// the same in dst (syncPage). It returns how many records it saw, their
// digest (scanDigest) and what it changed.
func syncRecords(ctx context.Context, src vault.Exporter, dst copyDest, batch int) (seen int, sum [sha256.Size]byte, changed pageChanges, err error) {
	d := newScanDigest()
	for after := ""; ; {
		page, err := src.ScanRecords(ctx, after, batch)
		if err != nil {
			return seen, sum, changed, fmt.Errorf("vault copy: read source records: %w", err)
		}
		ch, err := syncPage(ctx, dst, page)
		if err != nil {
			return seen, sum, changed, err
		}
		for _, r := range page {
			d.add(r)
		}
		seen += len(page)
		changed.created += ch.created
		changed.updated += ch.updated
		if len(page) < batch {
			return seen, d.sum(), changed, nil
		}
		after = page[len(page)-1].Alias
	}
}

// digestRecords counts the persistent records of s and returns their
// digest (scanDigest), in one scan.
func digestRecords(ctx context.Context, s vault.Exporter, batch int) (int, [sha256.Size]byte, error) {
	d := newScanDigest()
	n := 0
	for after := ""; ; {
		page, err := s.ScanRecords(ctx, after, batch)
		if err != nil {
			return 0, [sha256.Size]byte{}, err
		}
		for _, r := range page {
			d.add(r)
		}
		n += len(page)
		if len(page) < batch {
			return n, d.sum(), nil
		}
		after = page[len(page)-1].Alias
	}
}

// scanDigest is a SHA-256 of what a scan read, in its order, every field
// prefixed by its length: of a record what syncPage makes the same in the
// destination (alias, key version, ciphertext, owner, classifiers); of a
// client and a card its key and stored bytes (a card's updates too); of a
// webhook delivery its id. Two scans of a store have one digest only when
// they read the same.
type scanDigest struct{ h hash.Hash }

func newScanDigest() scanDigest { return scanDigest{h: sha256.New()} }

func (d scanDigest) field(b []byte) {
	d.h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(b))))
	d.h.Write(b)
}

func (d scanDigest) add(r *vault.Record) {
	d.field([]byte(r.Alias))
	d.field(binary.BigEndian.AppendUint32(nil, r.KeyVersion))
	d.field(r.Ciphertext)
	d.field([]byte(r.Owner))
	d.field(binary.BigEndian.AppendUint64(nil, uint64(len(r.Classifiers))))
	for _, c := range r.Classifiers {
		d.field([]byte(c))
	}
}

func (d scanDigest) addClient(cl vault.ClientDump) {
	d.field([]byte(cl.ID))
	d.field(cl.Record)
}

func (d scanDigest) addCard(cd vault.CardDump) {
	d.field([]byte(cd.Key()))
	d.field([]byte(cd.Fingerprint))
	d.field(cd.Record)
	d.field(binary.BigEndian.AppendUint64(nil, uint64(len(cd.Updates))))
	for _, u := range cd.Updates {
		d.field(u)
	}
}

func (d scanDigest) sum() (out [sha256.Size]byte) {
	d.h.Sum(out[:0])
	return out
}

// copyMeta copies the vault settings (wrapped data keys) first: a
// destination that already holds other keys is another vault, and nothing
// is copied into it.
func (c *vaultCopier) copyMeta(ctx context.Context, src vault.Exporter, dst vault.Store) error {
	meta, err := src.ScanMeta(ctx)
	if err != nil {
		return fmt.Errorf("vault copy: read source settings: %w", err)
	}
	for k, v := range meta {
		got, err := dst.PutMetaIfAbsent(ctx, k, v)
		if err != nil {
			return fmt.Errorf("vault copy: write settings: %w", err)
		}
		if !bytes.Equal(got, v) {
			return fmt.Errorf("vault copy: the destination is another vault (its setting %q differs); copy into an empty store", k)
		}
	}
	return nil
}

// copyRecords copies the persistent records page by page from the
// checkpoint on (resumeFrom), reading every page back.
func (c *vaultCopier) copyRecords(ctx context.Context, src vault.Exporter, dst copyDest, source, dest string, total int) (copyCounts, error) {
	var n copyCounts
	cp, err := c.resumeFrom(ctx, dst, source, dest)
	if err != nil {
		return n, err
	}
	after := cp.After
	n.records = cp.Copied
	last := time.Now()
	for {
		page, err := src.ScanRecords(ctx, after, c.batch)
		if err != nil {
			return n, fmt.Errorf("vault copy: read source records: %w", err)
		}
		if len(page) > 0 {
			ch, err := syncPage(ctx, dst, page)
			if err != nil {
				return n, err
			}
			n.records += len(page)
			n.created += ch.created
			n.updated += ch.updated
			after = page[len(page)-1].Alias
			if err := c.saveCheckpoint(copyCheckpoint{Source: source, Destination: dest, After: after, Copied: n.records}); err != nil {
				return n, err
			}
		}
		if time.Since(last) >= time.Second || len(page) < c.batch {
			fmt.Fprintf(c.out, "records: %d/%d (%d%%)\n", n.records, total, percent(n.records, total))
			last = time.Now()
		}
		if len(page) < c.batch {
			return n, nil
		}
	}
}

func percent(n, total int) int {
	if total == 0 {
		return 100
	}
	return min(100, n*100/total)
}

// copyDest is what a copy writes to.
type copyDest interface {
	vault.Store
	vault.Rekeyer
}

// pageChanges is what syncPage changed in the destination.
type pageChanges struct {
	created, updated int
}

// syncPage makes every record of page the same in dst: a record dst lacks
// is written; one dst holds otherwise (the source's gateway re-encrypted
// it, changed its owner or its classifiers since it was copied) is brought
// up to date. Then the page is read back: every record must be in dst under
// its alias with its key version, ciphertext, owner and classifiers.
func syncPage(ctx context.Context, dst copyDest, page []*vault.Record) (pageChanges, error) {
	var ch pageChanges
	if len(page) == 0 {
		return ch, nil
	}
	aliases := make([]string, len(page))
	for i, r := range page {
		aliases[i] = r.Alias
	}
	have, err := dst.Get(ctx, aliases)
	if err != nil {
		return ch, fmt.Errorf("vault copy: read destination records: %w", err)
	}
	var items []vault.PutItem
	var rekey []vault.RekeyItem
	for i, r := range page {
		h := have[i]
		if h == nil {
			items = append(items, vault.PutItem{Record: r})
			continue
		}
		if sameCopy(h, r) {
			continue
		}
		if !laterOf(r, h) {
			return ch, fmt.Errorf("vault copy: record %d of the page conflicts with another record under its alias in the destination: %w", i+1, vault.ErrConflict)
		}
		ch.updated++
		if h.KeyVersion != r.KeyVersion {
			rekey = append(rekey, vault.RekeyItem{Alias: r.Alias, OldVersion: h.KeyVersion, NewVersion: r.KeyVersion, Ciphertext: r.Ciphertext})
		}
		if h.Owner != r.Owner {
			if err := dst.SetOwner(ctx, r.Alias, h.Owner, r.Owner, r.IndexKey); err != nil {
				return ch, fmt.Errorf("vault copy: update the owner of a record: %w", err)
			}
		}
		if !slices.Equal(h.Classifiers, r.Classifiers) {
			if err := dst.SetClassifiers(ctx, []string{r.Alias}, r.Classifiers); err != nil {
				return ch, fmt.Errorf("vault copy: update the classifiers of a record: %w", err)
			}
		}
	}
	if len(rekey) > 0 {
		if _, err := dst.Rekey(ctx, rekey); err != nil {
			return ch, fmt.Errorf("vault copy: update re-encrypted records: %w", err)
		}
	}
	if len(items) > 0 {
		res, err := dst.Put(ctx, items)
		if err != nil {
			return ch, fmt.Errorf("vault copy: write records: %w", err)
		}
		for i, r := range res {
			switch {
			case r.Status == vault.PutCreated:
				ch.created++
			case r.Status == vault.PutExisting && r.Record != nil && r.Record.Alias == items[i].Record.Alias:
			default:
				return ch, fmt.Errorf("vault copy: a record of the page conflicts with another record in the destination: %w", vault.ErrConflict)
			}
		}
	}
	back, err := dst.Get(ctx, aliases)
	if err != nil {
		return ch, fmt.Errorf("vault copy: read back records: %w", err)
	}
	for i, r := range back {
		if r == nil || !sameCopy(r, page[i]) {
			return ch, fmt.Errorf("vault copy: record %d of the page reads back differently from the destination", i+1)
		}
	}
	return ch, nil
}

// laterOf reports whether the source's record s can be the destination's
// d changed by a gateway since d was copied: made at the same time in the
// same format, holding the same ciphertext or one sealed under a later key
// version (re-encryption only moves a record to a later version), and of
// the same owner or of an account where d is the default account's (the
// accounts migration only ever takes a record from the default account,
// vault.MigrateRecord). A d of another account than s's is never moved:
// handed back to the default account or to another account, its value
// would be revealed to that account's clients
// (TestVaultCopyRunAgainNeverMovesARecordToAnotherAccount).
func laterOf(s, d *vault.Record) bool {
	return s.Format == d.Format && s.Storage == d.Storage && sameMicrosecond(s.CreatedAt, d.CreatedAt) && sameMicrosecond(s.ExpiresAt, d.ExpiresAt) &&
		(s.Owner == d.Owner || d.Owner == "") &&
		(s.KeyVersion > d.KeyVersion || s.KeyVersion == d.KeyVersion && bytes.Equal(s.Ciphertext, d.Ciphertext))
}

// sameMicrosecond reports whether a and b are one time to the
// microsecond: PostgreSQL keeps times to the microsecond, bbolt to the
// nanosecond, so a record copied from bbolt to PostgreSQL has its creation
// time cut (a bbolt source copied again after a key rotation was a
// conflict on every record, TestVaultCopyFromBoltAgainAfterARotationUpdatesPostgres).
func sameMicrosecond(a, b time.Time) bool {
	return a.Truncate(time.Microsecond).Equal(b.Truncate(time.Microsecond))
}

// sameCopy reports whether the destination's record d is the source's s
// in everything a gateway can change after creating it.
func sameCopy(d, s *vault.Record) bool {
	return d.KeyVersion == s.KeyVersion && bytes.Equal(d.Ciphertext, s.Ciphertext) && d.Owner == s.Owner &&
		slices.Equal(d.Classifiers, s.Classifiers)
}

func countRecords(ctx context.Context, s vault.Exporter, batch int) (int, error) {
	n := 0
	for after := ""; ; {
		page, err := s.ScanRecords(ctx, after, batch)
		if err != nil {
			return 0, err
		}
		n += len(page)
		if len(page) < batch {
			return n, nil
		}
		after = page[len(page)-1].Alias
	}
}

// clientCopyDest is what copyClients writes to.
type clientCopyDest interface {
	vault.Importer
	auth.ClientStore
	auth.ClientUpdater
}

// copyClients copies the API clients. A client the destination holds as
// it was before the source revoked it or gave it a new secret
// (auth.RecordSupersedes) is brought up to date; any other difference is
// a conflict (a revocation is never undone).
func copyClients(ctx context.Context, src vault.Exporter, dst clientCopyDest, batch int, d scanDigest) (int, error) {
	n := 0
	for after := ""; ; {
		page, err := src.ScanClients(ctx, after, batch)
		if err != nil {
			return n, fmt.Errorf("vault copy: read clients: %w", err)
		}
		for _, cl := range page {
			d.addClient(cl)
			err := dst.ImportClient(ctx, cl)
			if errors.Is(err, vault.ErrConflict) {
				err = updateClient(ctx, dst, cl)
			}
			if err != nil {
				return n, fmt.Errorf("vault copy: client %s: %w", cl.ID, err)
			}
			n++
			after = cl.ID
		}
		if len(page) < batch {
			return n, nil
		}
	}
}

// updateClient replaces the destination's record of cl with cl's when
// cl's supersedes it (auth.RecordSupersedes), else it is vault.ErrConflict.
func updateClient(ctx context.Context, dst clientCopyDest, cl vault.ClientDump) error {
	have, ok, err := dst.GetClient(ctx, cl.ID)
	if err != nil {
		return err
	}
	if !ok || !auth.RecordSupersedes(cl.Record, have) {
		return vault.ErrConflict
	}
	swapped, err := dst.UpdateClient(ctx, cl.ID, have, cl.Record)
	if err != nil {
		return err
	}
	if !swapped {
		return fmt.Errorf("changed in the destination during the copy: %w", vault.ErrConflict)
	}
	return nil
}

func copyCards(ctx context.Context, src vault.Exporter, dst vault.Importer, batch int, d scanDigest) (int, error) {
	n := 0
	for after := ""; ; {
		page, err := src.ScanCards(ctx, after, batch)
		if err != nil {
			return n, fmt.Errorf("vault copy: read cards: %w", err)
		}
		for _, cd := range page {
			d.addCard(cd)
			if err := dst.ImportCard(ctx, cd); err != nil {
				return n, fmt.Errorf("vault copy: card %s: %w", cd.ID, err)
			}
			n++
			after = cd.Key()
		}
		if len(page) < batch {
			return n, nil
		}
	}
}

// copyDeliveries copies the webhook outbox: every delivery with its
// attempts, newest first, page by page. The pending ones (events the
// source's gateway had not delivered yet) are sent by the destination's
// gateways, due when they were; the lease of the source's gateway, which
// is stopped, is dropped. A delivery already in the destination (a copy
// run again) is not duplicated. It returns how many it copied and how
// many of them were pending.
func copyDeliveries(ctx context.Context, src, dst webhooks.Store, batch int, d scanDigest) (total, pending int, err error) {
	for before := ""; ; {
		page, err := src.ListDeliveries(ctx, webhooks.Filter{Before: before, Limit: batch})
		if err != nil {
			return total, pending, fmt.Errorf("vault copy: read webhook deliveries: %w", err)
		}
		for i := range page {
			d.field([]byte(page[i].ID))
			if page[i].State == webhooks.StatePending {
				page[i].LeaseOwner = ""
				pending++
			}
		}
		if len(page) > 0 {
			if err := dst.AddDeliveries(ctx, page); err != nil {
				return total, pending, fmt.Errorf("vault copy: write webhook deliveries: %w", err)
			}
			before = page[len(page)-1].ID
		}
		total += len(page)
		if len(page) < batch {
			return total, pending, nil
		}
	}
}

// resumeFrom returns where an earlier, interrupted copy from source to
// dest stopped (its checkpoint), or the start (a zero copyCheckpoint). A
// checkpoint is trusted only when it names both stores and dst holds the
// last record it says was written: the pages before it are then in dst
// (each was read back before the checkpoint moved past it). Otherwise,
// say when the destination database was dropped and made again, or
// vault.postgres_url changed, since, resuming would leave every record
// before it out of dst: the copy starts over, and says why.
func (c *vaultCopier) resumeFrom(ctx context.Context, dst vault.Store, source, dest string) (copyCheckpoint, error) {
	b, err := os.ReadFile(c.checkpoint)
	if err != nil {
		return copyCheckpoint{}, nil
	}
	var cp copyCheckpoint
	if json.Unmarshal(b, &cp) != nil || cp.Source != source {
		return copyCheckpoint{}, nil
	}
	if cp.Destination != "" && cp.Destination != dest {
		fmt.Fprintf(c.out, "ignoring the checkpoint %s: it is of a copy to %s; copying from the first record\n", c.checkpoint, cp.Destination)
		return copyCheckpoint{}, nil
	}
	if cp.After != "" {
		recs, err := dst.Get(ctx, []string{cp.After})
		if err != nil {
			return copyCheckpoint{}, fmt.Errorf("vault copy: check the checkpoint against the destination: %w", err)
		}
		if recs[0] == nil {
			fmt.Fprintf(c.out, "ignoring the checkpoint %s: the destination does not hold the last record it says was copied; copying from the first record\n", c.checkpoint)
			return copyCheckpoint{}, nil
		}
	}
	fmt.Fprintf(c.out, "resuming after %d records (checkpoint %s)\n", cp.Copied, c.checkpoint)
	return cp, nil
}

func (c *vaultCopier) saveCheckpoint(cp copyCheckpoint) error {
	b, _ := json.Marshal(cp)
	if err := os.MkdirAll(filepath.Dir(c.checkpoint), 0o700); err != nil {
		return fmt.Errorf("vault copy: checkpoint: %w", err)
	}
	if err := atomicfile.Write(c.checkpoint, b, 0o600); err != nil {
		return fmt.Errorf("vault copy: checkpoint: %w", err)
	}
	return nil
}
