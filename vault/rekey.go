package vault

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aliasgate/aliasgate/internal/sleep"
)

// Defaults of ReencryptOptions.
const (
	DefaultRekeyPageSize      = 256
	DefaultRekeyRate          = 500 // records re-encrypted per second
	DefaultRekeyCheckpointGap = 5 * time.Second
)

// ReencryptOptions tunes a Reencryptor. Zero values take the defaults.
type ReencryptOptions struct {
	// PageSize is how many records one scan returns and one Rekey call
	// writes; default DefaultRekeyPageSize.
	PageSize int
	// Rate bounds the records re-encrypted per second, so that the work
	// does not starve traffic; default DefaultRekeyRate, negative for no
	// bound.
	Rate float64
	// CheckpointEvery is how often the cursor is saved in the store's
	// metadata (and a progress line logged); default 5 s.
	CheckpointEvery time.Duration
	// Settle is how long other gateways sharing the store may keep sealing
	// new records with the previous version after a rotation (their key
	// refresh interval, with a margin). A pass over the records counts as
	// the last one only if it began at least Settle after Run did; 0 (one
	// gateway per store, as with bbolt): the first pass is the last. Writes
	// of this process are waited for either way: a pass begins once none
	// that sealed its records with an older version is still on its way to
	// the store.
	Settle time.Duration
	// Logger gets progress lines; nil logs nothing.
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
	// OnFinish, when set, is called once a version's re-encryption is
	// complete, with the version and the records this Run moved.
	OnFinish func(ctx context.Context, version uint32, rekeyed uint64)
}

// RekeyProgress is a snapshot of a Reencryptor's work.
type RekeyProgress struct {
	// Target is the version records are being moved to (0 before the
	// first Run).
	Target uint32
	// Running is true while Run works on Target.
	Running bool
	// Done is true when every persistent record is known to use Target.
	Done bool
	// Pass counts the passes over the records for Target (1, 2, …).
	Pass int
	// Scanned, Rekeyed and Failed count records since the process began
	// working on Target: looked at, moved to Target, and left as they were
	// because they did not decrypt (ErrTampered, ErrUnknownKeyVersion).
	Scanned, Rekeyed, Failed uint64
}

// Reencryptor moves persistent records to the keyring's current data-key
// version in the background, for key rotation. It reads the store in pages
// (Exporter.ScanRecords), decrypts each record sealed under an older
// version, seals it under the current one (the alias stays the additional
// data) and writes the page with Rekeyer.Rekey, a compare-and-swap on the
// old version, so records deleted or rewritten meanwhile are left alone and
// reveals keep working throughout (old and new versions both decrypt).
//
// Progress survives restarts: every CheckpointEvery the cursor (the last
// alias done, base64) is written to the store's metadata under a set-once
// key rekey/v<version>/<n>, n = 1, 2, …; the next Run resumes from the
// highest n. When a version is finished, rekey/v<version>/done is set and
// later Runs return at once. Several gateways sharing a store may run it
// at the same time: the compare-and-swap keeps them correct (they repeat
// some work).
type Reencryptor struct {
	keys  *Keyring
	store Store
	exp   Exporter
	rek   Rekeyer
	opts  ReencryptOptions
	log   *slog.Logger

	mu   sync.Mutex
	prog RekeyProgress
}

// NewReencryptor returns a Reencryptor of store, which must implement
// Exporter and Rekeyer.
func NewReencryptor(store Store, keys *Keyring, opts ReencryptOptions) (*Reencryptor, error) {
	exp, ok1 := store.(Exporter)
	rek, ok2 := store.(Rekeyer)
	if !ok1 || !ok2 {
		return nil, errors.New("vault: this store cannot re-encrypt its records (no Exporter and Rekeyer)")
	}
	if opts.PageSize <= 0 {
		opts.PageSize = DefaultRekeyPageSize
	}
	if opts.Rate == 0 {
		opts.Rate = DefaultRekeyRate
	}
	if opts.CheckpointEvery <= 0 {
		opts.CheckpointEvery = DefaultRekeyCheckpointGap
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Reencryptor{keys: keys, store: store, exp: exp, rek: rek, opts: opts, log: log}, nil
}

// Progress returns a snapshot of the work.
func (r *Reencryptor) Progress() RekeyProgress {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.prog
}

func (r *Reencryptor) update(fn func(p *RekeyProgress)) {
	r.mu.Lock()
	fn(&r.prog)
	r.mu.Unlock()
}

// errTargetMoved ends a pass when the keyring's current version changed
// under it; Run starts over for the new version.
var errTargetMoved = errors.New("vault: key version changed during re-encryption")

// Run moves every persistent record to the keyring's current version and
// returns nil when done (at once when that version is already done, or is
// the vault's first). A rotation while it runs makes it start over for the
// new version. It returns ctx's error when ctx ends and a store's error
// when one fails; calling it again resumes from the last checkpoint.
func (r *Reencryptor) Run(ctx context.Context) error {
	for {
		err := r.runVersion(ctx, r.keys.Current())
		if !errors.Is(err, errTargetMoved) {
			return err
		}
	}
}

func rekeyPrefix(target uint32) string {
	return "rekey/v" + strconv.FormatUint(uint64(target), 10) + "/"
}

func (r *Reencryptor) runVersion(ctx context.Context, target uint32) error {
	if p := r.Progress(); p.Target != target {
		r.update(func(p *RekeyProgress) { *p = RekeyProgress{Target: target} })
	}
	if target <= 1 {
		r.update(func(p *RekeyProgress) { p.Done = true })
		return nil
	}
	prefix := rekeyPrefix(target)
	if _, err := r.store.GetMeta(ctx, prefix+"done"); err == nil {
		r.update(func(p *RekeyProgress) { p.Done, p.Running = true, false })
		return nil
	} else if !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("vault: re-encryption: read state: %w", err)
	}
	// A write of this process that sealed its records with an older
	// version before the rotation may reach the store after a pass went
	// past them: the pass begins once no such write is in flight.
	if err := r.keys.waitWrites(ctx, target); err != nil {
		return err
	}
	n, pass, cursor, err := r.lastCheckpoint(ctx, prefix)
	if err != nil {
		return err
	}
	began := r.opts.Now()
	passBegan := began
	if n > 0 {
		r.log.Info("keys: re-encryption resumes", "version", target, "pass", pass, "checkpoint", n)
		if cursor == "" {
			passBegan = began // a pass that starts at the top now
		} else {
			passBegan = time.Time{} // began in an earlier run
		}
	} else {
		r.log.Info("keys: re-encryption starts", "version", target)
	}
	r.update(func(p *RekeyProgress) { p.Running, p.Pass = true, pass })
	defer r.update(func(p *RekeyProgress) { p.Running = false })

	var rekeyed uint64
	lastCheckpoint := r.opts.Now()
	rateStart, rateCount := r.opts.Now(), 0.0
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if r.keys.Current() != target {
			return errTargetMoved
		}
		page, err := r.exp.ScanRecords(ctx, cursor, r.opts.PageSize)
		if err != nil {
			return fmt.Errorf("vault: re-encryption: scan: %w", err)
		}
		items, failed, err := r.reseal(ctx, page, target)
		if err != nil {
			return err
		}
		moved := 0
		if len(items) > 0 {
			if moved, err = r.rek.Rekey(ctx, items); err != nil {
				return fmt.Errorf("vault: re-encryption: write: %w", err)
			}
		}
		rekeyed += uint64(moved)
		r.update(func(p *RekeyProgress) {
			p.Scanned += uint64(len(page))
			p.Rekeyed += uint64(moved)
			p.Failed += uint64(failed)
		})
		if len(page) > 0 {
			cursor = page[len(page)-1].Alias
		}
		if len(page) < r.opts.PageSize { // the end of a pass
			last := r.opts.Settle <= 0 || !passBegan.IsZero() && passBegan.Sub(began) >= r.opts.Settle
			if last {
				return r.finish(ctx, target, rekeyed)
			}
			// Another pass catches records that other gateways sealed with
			// the old version before they saw the new one.
			if wait := began.Add(r.opts.Settle).Sub(r.opts.Now()); wait > 0 {
				if err := sleep.For(ctx, wait); err != nil {
					return err
				}
			}
			pass++
			cursor, passBegan = "", r.opts.Now()
			r.update(func(p *RekeyProgress) { p.Pass = pass })
			if n, err = r.checkpoint(ctx, prefix, n, pass, cursor); err != nil {
				return err
			}
			lastCheckpoint = r.opts.Now()
			continue
		}
		if r.opts.Now().Sub(lastCheckpoint) >= r.opts.CheckpointEvery {
			if n, err = r.checkpoint(ctx, prefix, n, pass, cursor); err != nil {
				return err
			}
			lastCheckpoint = r.opts.Now()
			p := r.Progress()
			r.log.Info("keys: re-encryption progress", "version", target, "pass", pass,
				"scanned", p.Scanned, "rekeyed", p.Rekeyed, "failed", p.Failed)
		}
		if r.opts.Rate > 0 && moved > 0 {
			rateCount += float64(moved)
			due := rateStart.Add(time.Duration(rateCount / r.opts.Rate * float64(time.Second)))
			if wait := due.Sub(r.opts.Now()); wait > 0 {
				if err := sleep.For(ctx, wait); err != nil {
					return err
				}
			} else if wait < -time.Second { // idle or slow: do not bank a burst
				rateStart, rateCount = r.opts.Now(), 0
			}
		}
	}
}

// reseal builds the Rekey items of the page's records that are not on
// target yet. Records that do not decrypt are counted and left alone.
func (r *Reencryptor) reseal(ctx context.Context, page []*Record, target uint32) ([]RekeyItem, int, error) {
	var items []RekeyItem
	failed := 0
	for _, rec := range page {
		if rec.KeyVersion == target {
			continue
		}
		if rec.KeyVersion > target {
			// Another gateway rotated further: catch up and start over.
			// A version no key exists for even then is an unreadable
			// record (open fails below), not a rotation.
			cur, err := r.keys.Refresh(ctx)
			if err != nil {
				return nil, 0, fmt.Errorf("vault: re-encryption: %w", err)
			}
			if cur != target {
				return nil, 0, errTargetMoved
			}
		}
		v, err := r.keys.open(ctx, rec)
		if err != nil {
			if errors.Is(err, ErrTampered) || errors.Is(err, ErrUnknownKeyVersion) {
				failed++
				r.log.Warn("keys: re-encryption skipped a record that does not decrypt", "key_version", rec.KeyVersion, "error", err.Error())
				continue
			}
			return nil, 0, fmt.Errorf("vault: re-encryption: %w", err)
		}
		ct, err := r.keys.sealVersion(target, rec.Alias, v)
		clear(v)
		if err != nil {
			return nil, 0, err
		}
		items = append(items, RekeyItem{Alias: rec.Alias, OldVersion: rec.KeyVersion, NewVersion: target, Ciphertext: ct})
	}
	return items, failed, nil
}

func (r *Reencryptor) finish(ctx context.Context, target uint32, rekeyed uint64) error {
	stamp := []byte(r.opts.Now().UTC().Format(time.RFC3339))
	if _, err := r.store.PutMetaIfAbsent(ctx, rekeyPrefix(target)+"done", stamp); err != nil {
		return fmt.Errorf("vault: re-encryption: save state: %w", err)
	}
	p := r.Progress()
	r.update(func(p *RekeyProgress) { p.Done = true })
	r.log.Info("keys: re-encryption finished", "version", target, "scanned", p.Scanned, "rekeyed", p.Rekeyed, "failed", p.Failed)
	if r.opts.OnFinish != nil {
		r.opts.OnFinish(ctx, target, rekeyed)
	}
	return nil
}

// checkpoint saves (pass, cursor) as the checkpoint after n and returns its
// number. Another gateway may have taken that number: its checkpoint stays
// and this one is dropped (both are valid places to resume).
func (r *Reencryptor) checkpoint(ctx context.Context, prefix string, n, pass int, cursor string) (int, error) {
	v := strconv.Itoa(pass) + ":" + base64.RawURLEncoding.EncodeToString([]byte(cursor))
	if _, err := r.store.PutMetaIfAbsent(ctx, prefix+strconv.Itoa(n+1), []byte(v)); err != nil {
		return n, fmt.Errorf("vault: re-encryption: save checkpoint: %w", err)
	}
	return n + 1, nil
}

// lastCheckpoint finds the highest checkpoint number n (they are
// contiguous from 1) with an exponential then a binary search, and returns
// it with its pass and cursor; n = 0, pass 1 and "" when there is none.
func (r *Reencryptor) lastCheckpoint(ctx context.Context, prefix string) (n, pass int, cursor string, err error) {
	exists := func(k int) (bool, error) {
		_, err := r.store.GetMeta(ctx, prefix+strconv.Itoa(k))
		if errors.Is(err, ErrNotFound) {
			return false, nil
		}
		return err == nil, err
	}
	lo, hi := 0, 1 // lo exists (0: virtually), hi is the next probe
	for {
		ok, err := exists(hi)
		if err != nil {
			return 0, 0, "", fmt.Errorf("vault: re-encryption: read checkpoint: %w", err)
		}
		if !ok {
			break
		}
		lo, hi = hi, hi*2
	}
	for hi-lo > 1 { // lo exists, hi does not
		mid := lo + (hi-lo)/2
		ok, err := exists(mid)
		if err != nil {
			return 0, 0, "", fmt.Errorf("vault: re-encryption: read checkpoint: %w", err)
		}
		if ok {
			lo = mid
		} else {
			hi = mid
		}
	}
	if lo == 0 {
		return 0, 1, "", nil
	}
	b, err := r.store.GetMeta(ctx, prefix+strconv.Itoa(lo))
	if err != nil {
		return 0, 0, "", fmt.Errorf("vault: re-encryption: read checkpoint: %w", err)
	}
	ps, enc, ok := strings.Cut(string(b), ":")
	pass, perr := strconv.Atoi(ps)
	c, cerr := base64.RawURLEncoding.DecodeString(enc)
	if !ok || perr != nil || cerr != nil || pass < 1 {
		return 0, 0, "", fmt.Errorf("vault: re-encryption: checkpoint %d is corrupt", lo)
	}
	return lo, pass, string(c), nil
}

// ReencryptionDone reports whether the re-encryption to version has
// finished (every persistent record of store uses it). Version 1, the
// first, needs none.
func ReencryptionDone(ctx context.Context, store Store, version uint32) (bool, error) {
	if version <= 1 {
		return true, nil
	}
	return hasMeta(ctx, store, rekeyPrefix(version)+"done", "re-encryption state")
}

// RecordsByKeyVersion counts the live persistent records of store by the
// data-key version they are sealed with, reading it in pages of 1,000
// (for `aliasgate keys status` on a vault it opened itself).
func RecordsByKeyVersion(ctx context.Context, store Exporter) (map[uint32]uint64, error) {
	const page = 1000
	out := map[uint32]uint64{}
	for after := ""; ; {
		recs, err := store.ScanRecords(ctx, after, page)
		if err != nil {
			return nil, fmt.Errorf("vault: count records by key version: %w", err)
		}
		for _, r := range recs {
			out[r.KeyVersion]++
		}
		if len(recs) < page {
			return out, nil
		}
		after = recs[len(recs)-1].Alias
	}
}
