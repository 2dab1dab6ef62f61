package vault

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/aliasgate/aliasgate/internal/pan"
)

// Value size limits, in bytes.
const (
	// DefaultMaxValueLen is the longest persistent value by default
	// (Options.MaxValueLen).
	DefaultMaxValueLen = 1 << 20
	// MaxValueLimit is the largest Options.MaxValueLen: the 32 MB the VGS
	// vault API documents as its data limit (taken as 32 MiB).
	MaxValueLimit = 32 << 20
	// VolatileMaxValueLen is the longest volatile value. Volatile values are
	// card security codes and other short-lived secrets; the in-memory
	// volatile store is bounded by its number of records
	// (vault.volatile_max_records), so a large value there would multiply
	// its memory by that bound.
	VolatileMaxValueLen = 4096
)

// Classifier limits.
const (
	maxClassifiers   = 32
	maxClassifierLen = 64
	maxAliasLen      = 256
	maxPutRounds     = 16 // rounds of collision retries before giving up
)

// Options tunes a Service. Zero values take the defaults.
type Options struct {
	// Env is the environment in UUID-style aliases: tok_<env>_…; default "sandbox".
	Env string
	// VolatileTTL is how long volatile values live; default 1 h, at least 1 s.
	VolatileTTL time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Rand is the source of alias randomness; default crypto/rand.
	Rand io.Reader
	// MaxConcurrent bounds the calls of Redact, Reveal, Describe, Known,
	// Delete and UpdateClassifiers in flight at once; a call over the bound
	// waits up to MaxWait (default DefaultMaxWait) for one to finish, then
	// fails with ErrBusy. 0: no bound.
	MaxConcurrent int
	MaxWait       time.Duration
	// Auditor, when set, records every Reveal, Describe, Delete and
	// UpdateClassifiers, and
	// every Redact that returns the value of an existing alias
	// (RedactRequest.Detail with Alias) or is refused once it looked such
	// aliases up, before its result is returned; when
	// it fails the call fails (fail closed). Known is never audited: it
	// neither decrypts nor returns anything stored.
	Auditor Auditor
	// Observer, when set, is told of every store operation the Service
	// makes (for metrics), and of calls refused by MaxConcurrent.
	Observer Observer
	// MaxVolatilePerCall bounds the volatile values one Redact call may
	// create (limits.max_volatile_per_message: one message's redaction); a
	// call that would create more fails whole (a *BatchError of
	// ErrTooManyValues, naming the first item over the bound) before
	// anything is written, so that one request cannot flush the volatile
	// store's bound by itself. 0: no bound.
	MaxVolatilePerCall int
	// MaxValuesPerCall bounds the values one Redact call may tokenize,
	// new or existing, persistent or volatile
	// (limits.max_values_per_message); MaxNewPerCall bounds the new
	// persistent records it may create (limits.max_new_per_message). A
	// call over either fails whole with a *BatchError of
	// ErrTooManyValues, before anything is written. 0: no bound.
	MaxValuesPerCall int
	MaxNewPerCall    int
	// VolatileShare is the most volatile values one account may create in
	// any one VolatileTTL on this Service (limits.account_volatile_share of
	// vault.volatile_max_records): since each lives at most that long, the
	// most it holds in the volatile store. A Redact that would go over it
	// fails whole before anything is written with a *ThrottleError
	// (LimitVolatileShare, RetryAfter when enough of the account's values
	// have expired), so that one account's flood is refused instead of
	// evicting other accounts' values from a full store. Values are
	// counted from their Redact (deleted ones too) and given back only by a
	// Redact that fails. 0: no bound.
	VolatileShare int
	// Admission, when set, is asked before a Redact that holds persistent
	// or volatile values writes anything (see Admission), except by a call
	// with PurposeRestore.
	Admission Admission
	// MaxValueLen is the longest persistent value, in bytes: default
	// DefaultMaxValueLen, at most MaxValueLimit (vault.max_value_size).
	// Volatile values are at most VolatileMaxValueLen (or MaxValueLen if
	// smaller).
	MaxValueLen int
	// DefaultAccount is the account a call acts for when its context names
	// none (WithAccount), and the one that owns the records stored without
	// an owner (Record.Owner ""): every record written before accounts
	// existed, and every record of this account since. It must be the
	// vault's default account (ResolveDefaultAccount); default
	// DefaultAccountName.
	DefaultAccount string
	// InUse, when set, is asked by Delete whether a persistent alias the
	// caller owns backs something that would break without it (a card of
	// the Card Management API); Delete then fails with ErrInUse.
	InUse InUse
}

// Admission decides, for the caller named by the context's Actor, whether a
// Redact call may go on. The Service calls Admit once for each call that
// holds persistent or volatile values, after its index look-up (so it
// knows which values are new: they would create a record) and before it
// writes anything, with every persistent value of the call and, for each,
// whether it is new, and the number of volatile values the call would
// create (each volatile value is a new record). The values are the clear
// values: an Admission must never log,
// store or export them, nor keep them (they are wiped when the call
// ends). An error refuses the whole call and nothing is written; return a
// *ThrottleError to have callers answer 429. It must be safe for
// concurrent use.
type Admission interface {
	Admit(ctx context.Context, values [][]byte, isNew []bool, volatile int) error
}

// InUse reports whether an alias backs something that needs it.
type InUse interface {
	// AliasInUse reports whether alias, a persistent alias of value owned
	// by account, backs a record that would break without it. value is
	// cleared after the call: it must not be kept.
	AliasInUse(ctx context.Context, account, alias string, value []byte) (bool, error)
}

// InUseRecheck is an InUse that is asked again after Delete removed a
// persistent alias: between AliasInUse's answer and the delete, a record
// stored elsewhere (a card another gateway created) may have taken the
// alias. AliasDeleted then puts the value back for it (a new alias) and
// points the record at it. value is cleared after the call. An error
// fails the Delete (the alias is deleted all the same).
type InUseRecheck interface {
	InUse
	AliasDeleted(ctx context.Context, account, alias string, value []byte) error
}

// rollbackTimeout bounds the deletes that undo a failed Redact's writes.
const rollbackTimeout = 10 * time.Second

// Service turns values into aliases and back. Persistent values go to one
// store and volatile values to another (they may be the same store). It is
// safe for concurrent use.
type Service struct {
	persistent Store
	volatile   Store
	keys       *Keyring
	env        string
	ttl        time.Duration
	now        func() time.Time
	rand       io.Reader
	auditor    Auditor
	gate       *gate // nil: no concurrency bound
	observer   Observer
	maxVol     int // Options.MaxVolatilePerCall
	maxValues  int // Options.MaxValuesPerCall
	maxNew     int // Options.MaxNewPerCall
	admission  Admission
	share      *volatileShare // Options.VolatileShare; nil: no bound
	maxValue   int            // Options.MaxValueLen
	defAccount string
	inUse      InUse
	handed     handedCache // the young records this Service handed out (handout.go)
	accepted   acceptedClassifiers
	epoch      time.Time // when New made it, with a monotonic reading: the origin of since (observe.go)

	persistentName, volatileName string // for the Observer
}

// New returns a Service over the given stores and keys.
func New(persistent, volatile Store, keys *Keyring, opts Options) (*Service, error) {
	if persistent == nil || volatile == nil || keys == nil {
		return nil, errors.New("vault: New needs two stores and a keyring")
	}
	s := &Service{persistent: persistent, volatile: volatile, keys: keys,
		env: opts.Env, ttl: opts.VolatileTTL, now: opts.Now, rand: opts.Rand, auditor: opts.Auditor,
		observer: opts.Observer, maxVol: max(opts.MaxVolatilePerCall, 0),
		maxValues: max(opts.MaxValuesPerCall, 0), maxNew: max(opts.MaxNewPerCall, 0), admission: opts.Admission, defAccount: opts.DefaultAccount, inUse: opts.InUse,
		persistentName: storeName(persistent), volatileName: storeName(volatile), epoch: time.Now()}
	if s.env == "" {
		s.env = "sandbox"
	}
	if s.defAccount == "" {
		s.defAccount = DefaultAccountName
	}
	if err := CheckAccount(s.defAccount); err != nil {
		return nil, fmt.Errorf("vault: default account: %w", err)
	}
	if s.ttl == 0 {
		s.ttl = time.Hour
	}
	switch s.maxValue = opts.MaxValueLen; {
	case s.maxValue == 0:
		s.maxValue = DefaultMaxValueLen
	case s.maxValue < 0 || s.maxValue > MaxValueLimit:
		return nil, fmt.Errorf("vault: MaxValueLen %d is outside 1 to %d bytes", s.maxValue, MaxValueLimit)
	}
	if s.ttl < time.Second {
		return nil, fmt.Errorf("vault: volatile TTL %s is under 1s", s.ttl)
	}
	s.share = newVolatileShare(opts.VolatileShare, s.ttl)
	if s.now == nil {
		s.now = time.Now
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	s.gate = newGate(opts.MaxConcurrent, opts.MaxWait)
	return s, nil
}

// MaxValueLen returns the longest persistent value the Service stores, in
// bytes (Options.MaxValueLen).
func (s *Service) MaxValueLen() int { return s.maxValue }

// maxValueLen is the longest value of storage class st.
func (s *Service) maxValueLen(st Storage) int {
	if st == StorageVolatile {
		return min(s.maxValue, VolatileMaxValueLen)
	}
	return s.maxValue
}

// RedactRequest asks for an alias of one value. Either Value is set, or
// Alias names an existing alias whose value gets an alias of Format too (it
// keeps that record's storage, classifiers and expiry).
type RedactRequest struct {
	Value   string
	Alias   string
	Format  Format  // default UUID
	Storage Storage // default PERSISTENT
	// Classifiers are kept on a new record; those an existing record (the
	// value's persistent alias of Format) lacks are added to it and to the
	// value's other persistent aliases (a value's classifiers only grow by
	// redaction; UpdateClassifiers replaces them). A request naming Alias
	// keeps that record's own.
	Classifiers []string
	// Detail asks for the Token's record fields (Value, Classifiers,
	// CreatedAt, ExpiresAt, Others), as the vault API answers a create. It
	// costs a read of the existing record when the value already had an
	// alias of this format and an index look-up for the value's other
	// aliases. With Alias set, the value returned is a reveal of that
	// alias, and is audited as one.
	Detail bool
	// Text refuses, with Alias set, an alias whose value is not UTF-8
	// text (an ItemError of ErrNotText, Field "alias"), before anything
	// is written: for callers that answer the value in a JSON string (the
	// vault API), which cannot hold it. A route's filter stores a value
	// whole, whatever its bytes.
	Text bool
}

// Token is the alias given for one RedactRequest.
type Token struct {
	Alias   string
	Format  Format
	Storage Storage
	// Created is true when a new record was made, false when the value
	// already had a persistent alias of this format.
	Created bool

	// The fields below are set only for a request with Detail.

	// Value is the value behind Alias: the request's Value, or the value of
	// the request's Alias.
	Value string
	// Classifiers, CreatedAt and ExpiresAt are those of the record behind
	// Alias (an existing record keeps its own).
	Classifiers []string
	CreatedAt   time.Time
	ExpiresAt   time.Time
	// Others are the value's other persistent aliases, one per format in
	// the order of Formats (none for a volatile value), as Describe lists
	// them after the alias asked for.
	Others []AliasInfo
}

// Redact returns an alias for each request, in order, owned by the
// context's account (an item naming an Alias finds it among that account's
// records only). Persistent aliases are deterministic per account: the same
// value and format always give the same alias in one account, and unrelated
// ones in two (found through the per-account HMAC index, never by
// decrypting). Volatile aliases are new
// each time and expire after the TTL. A request that is invalid fails the
// whole call with a *BatchError naming the items, and nothing is written.
// Requests with Detail get the Token's record fields; the values of
// existing aliases they return are audited (a reveal, with the context's
// Actor) once written.
//
// A call is all or nothing: when it fails (an invalid item, more volatile
// values than Options.MaxVolatilePerCall, a store that fails or is full,
// the audit failing, the concurrency bound, the context ending), no record
// it made is left in either store. Volatile values are written first, then
// persistent ones; a failure after a write deletes the records this call
// created (with a context of its own, so that a caller who gave up does not
// stop the clean-up). Persistent aliases that existed before the call are
// never deleted; classifiers it merged into them stay. The rollback
// releases (Store.Release): a persistent alias this call created that a
// concurrent call was given meanwhile (the same value and format, at the
// same instant) stays for it.
//
// A value found in the vault, or met in Put as a concurrent call's record,
// whose record is younger than HandOutWindow is handed out
// (Store.HandOut) before its alias is returned: the request that created
// it may still release it (Release), and keeps it then. A record found
// older is returned with no write.
func (s *Service) Redact(ctx context.Context, reqs []RedactRequest) (_ []Token, err error) {
	done, err := s.enter(ctx, opRedact)
	if err != nil {
		return nil, fmt.Errorf("vault: redact: %w", err)
	}
	defer done()
	items, keys, err := s.prepare(ctx, s.owner(ctx), reqs)
	if err != nil {
		return nil, err
	}
	defer wipeItems(items) // copies of the values, and values decrypted for items naming an alias
	if s.maxValues > 0 && len(items) > s.maxValues {
		return nil, tooMany(s.maxValues, s.maxValues, "values")
	}
	if s.maxVol > 0 {
		n := 0
		for i := range items {
			if items[i].storage == StorageVolatile {
				if n++; n > s.maxVol {
					return nil, tooMany(i, s.maxVol, "volatile values")
				}
			}
		}
	}
	// The account's share of the volatile store (Options.VolatileShare),
	// given back when the call stores nothing.
	release, err := s.reserveShare(ctx, items)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			release()
		}
	}()
	out := make([]Token, len(items))
	var merges []classifierMerge // existing records given new classifiers by this call

	// Known persistent values: one batched index look-up.
	var keyIdx []int
	for i := range items {
		if items[i].indexKey != nil {
			keys = append(keys, items[i].indexKey)
			keyIdx = append(keyIdx, i)
		}
	}
	if len(keys) > 0 {
		// The records come with the index (one read): their age says
		// which must be handed out (handOutFound).
		found, recs, err := s.lookupRecords(ctx, opRedact, s.persistent, keys)
		if err != nil {
			return nil, fmt.Errorf("vault: redact: %w", err)
		}
		for j, a := range found {
			// A record gone behind its index entry (an expired record
			// still indexed) is written again.
			if a != "" && recs[j] != nil {
				it := &items[keyIdx[j]]
				it.done = true
				out[keyIdx[j]] = Token{Alias: a, Format: it.format, Storage: StoragePersistent}
			}
		}
		// The Admission goes first: nothing whose outcome depends on which
		// values were found (a classifier merge overflowing, the cap on
		// new records) may answer before the caller's limits are applied,
		// or the difference would tell a right guess from a wrong one.
		if err := s.admit(ctx, items); err != nil {
			return nil, err
		}
		if err := s.handOutFound(ctx, items, out, keyIdx, recs); err != nil {
			return nil, fmt.Errorf("vault: redact: %w", err)
		}
		var hits []int        // items whose existing record is needed: Detail, or classifiers to merge
		var hitRecs []*Record // their records, as read with the index
		for j, i := range keyIdx {
			if it := &items[i]; it.done && (it.detail || len(it.classifiers) > 0) {
				hits = append(hits, i)
				hitRecs = append(hitRecs, recs[j])
			}
		}
		if merges, err = s.useExisting(items, out, hits, hitRecs); err != nil {
			return nil, fmt.Errorf("vault: redact: %w", err)
		}
	} else if err := s.admit(ctx, items); err != nil {
		return nil, err
	}
	// Volatile first: its store is the one that refuses (full, Redis
	// unreachable), and undoing volatile records races with nobody.
	// The records this call creates, on the stack for a call of a few
	// (a card number and a CVC): write appends to it.
	var madeBuf [4]madeRecord
	made := madeBuf[:0]
	if made, err = s.write(ctx, items, out, StorageVolatile, s.volatile, s.persistent, made, nil); err != nil {
		return nil, s.rollback(ctx, made, err)
	}
	if made, err = s.write(ctx, items, out, StoragePersistent, s.persistent, s.volatile, made, &merges); err != nil {
		return nil, s.rollback(ctx, made, err)
	}
	if err := s.mergeClassifiers(ctx, merges, items, out); err != nil {
		return nil, s.rollback(ctx, made, fmt.Errorf("vault: redact: %w", err))
	}
	if err := s.finishDetail(ctx, reqs, items, out); err != nil {
		return nil, s.rollback(ctx, made, fmt.Errorf("vault: redact: %w", err))
	}
	noteCreated(ctx, out)
	return out, nil
}

// tooMany is the BatchError of a call over one of its bounds: a BatchError,
// so that every caller answers it as a refused request; the item is the
// first over the bound.
func tooMany(index, bound int, what string) error {
	return &BatchError{Items: []ItemError{{Index: index, Field: "value",
		Err: fmt.Errorf("%w (at most %d %s in one call)", ErrTooManyValues, bound, what)}}}
}

// admit applies Options.MaxNewPerCall and asks the Admission about the
// call's persistent values, once their index look-up has said which are
// new, and its volatile values (all new). Nothing has been written yet.
// A call with PurposeRestore is not asked of the Admission.
func (s *Service) admit(ctx context.Context, items []item) error {
	admission := s.admission
	if ActorFrom(ctx).Purpose == PurposeRestore {
		admission = nil
	}
	if s.maxNew == 0 && admission == nil {
		return nil
	}
	var values [][]byte
	var isNew []bool
	if admission != nil {
		// The lists in one allocation for a call of a few persistent
		// values (a checkout's card number), two appends' before.
		n := 0
		for i := range items {
			if items[i].storage == StoragePersistent {
				n++
			}
		}
		if n > 0 && n <= admitLists {
			l := new(admitListsBuf)
			values, isNew = l.values[:0], l.isNew[:0]
		}
	}
	n, over, volatile := 0, -1, 0
	for i := range items {
		if items[i].storage != StoragePersistent {
			if items[i].storage == StorageVolatile {
				volatile++
			}
			continue
		}
		fresh := !items[i].done
		if fresh {
			if n++; s.maxNew > 0 && n > s.maxNew && over < 0 {
				over = i
			}
		}
		if admission != nil { // the cap alone needs no list
			values = append(values, items[i].value)
			isNew = append(isNew, fresh)
		}
	}
	// The Admission sees (and charges) the call before the cap on new
	// records answers: whether a message is over that cap depends on which
	// of its values were known, so answering it first would let a caller
	// test guesses outside its limits.
	if admission != nil && (len(values) > 0 || volatile > 0) {
		if err := admission.Admit(ctx, values, isNew, volatile); err != nil {
			return fmt.Errorf("vault: redact: %w", err)
		}
	}
	if over >= 0 {
		return tooMany(over, s.maxNew, "new persistent values")
	}
	return nil
}

// admitLists is how many persistent values admit lists in one allocation
// (admitListsBuf); a call with more grows its lists by appends.
const admitLists = 4

// admitListsBuf holds the lists admit hands the Admission for a call of up
// to admitLists persistent values.
type admitListsBuf struct {
	values [admitLists][]byte
	isNew  [admitLists]bool
}

// madeRecord is a record a Redact call created, to delete if the call fails.
type madeRecord struct {
	store Store
	alias string
	owner string
}

// rollback deletes the records a failing Redact created and returns cause,
// noting how many could not be deleted. The deletes get a context of their
// own (the caller's values, not its cancellation), bounded by
// rollbackTimeout. A record already gone (expired, evicted) is fine.
func (s *Service) rollback(ctx context.Context, made []madeRecord, cause error) error {
	if len(made) == 0 {
		return cause
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
	defer cancel()
	failed := 0
	var first error
	for _, m := range made {
		// A record a concurrent call was handed meanwhile is its and stays.
		if err := s.releaseAlias(ctx, opRedact, m.store, m.alias, m.owner); err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrHandedOut) {
			failed++
			if first == nil {
				first = err
			}
		}
	}
	if failed > 0 {
		return fmt.Errorf("%w (%d of the %d records it wrote could not be removed: %v)", cause, failed, len(made), first)
	}
	return cause
}

// useExisting fills the record fields of the tokens at hits (items whose
// value already had a persistent alias of their format: Detail items, and
// items bringing classifiers) from recs, their records as read with the
// index; the records are not decrypted. It returns the records whose
// classifiers the items add to (the item's classifiers become the union,
// in the record's order first).
func (s *Service) useExisting(items []item, out []Token, hits []int, recs []*Record) ([]classifierMerge, error) {
	var merges []classifierMerge
	for j, i := range hits {
		union, merge, err := mergeOf(recs[j], &items[i], i)
		if err != nil {
			return nil, err
		}
		if merge != nil {
			merges = append(merges, *merge)
		}
		if items[i].detail {
			out[i].setRecord(recs[j])
			out[i].Classifiers = union
		}
	}
	return merges, nil
}

// mergeOf returns the classifiers of rec, the existing record of item it
// (the Redact's item i), once the item's own are added (the union, in the
// record's order first), and the merge that writes them (nil when the item
// adds none). A union over maxClassifiers is the item's BatchError.
func mergeOf(rec *Record, it *item, i int) ([]string, *classifierMerge, error) {
	union := slices.Clip(rec.Classifiers) // an append copies: the record keeps its own
	for _, c := range it.classifiers {
		if !slices.Contains(union, c) {
			union = append(union, c)
		}
	}
	if len(union) == len(rec.Classifiers) {
		return union, nil, nil
	}
	if len(union) > maxClassifiers {
		return nil, nil, &BatchError{Items: []ItemError{{Index: i, Field: "classifiers",
			Err: fmt.Errorf("%w: the value would have more than %d classifiers", ErrInvalidClassifier, maxClassifiers)}}}
	}
	return union, &classifierMerge{rec: rec, value: string(it.value), classifiers: union}, nil
}

// classifierMerge is an existing persistent record, its value and the
// classifiers a Redact call gives it.
type classifierMerge struct {
	rec         *Record
	value       string
	classifiers []string
}

// mergeClassifiers gives each merge's record and the value's other
// persistent aliases the merge's classifiers, as UpdateClassifiers does,
// and sets them on the Detail tokens of those aliases (one this call has
// just created included).
func (s *Service) mergeClassifiers(ctx context.Context, merges []classifierMerge, items []item, out []Token) error {
	for _, m := range merges {
		sib, err := s.siblings(ctx, opRedact, m.rec, m.value)
		if err != nil {
			return err
		}
		aliases := []string{m.rec.Alias}
		for _, a := range sib {
			aliases = append(aliases, a.Alias)
		}
		if err := s.setClassifiers(ctx, opRedact, s.persistent, aliases, m.classifiers); err != nil {
			return err
		}
		for i := range out {
			if items[i].detail && out[i].Storage == StoragePersistent && slices.Contains(aliases, out[i].Alias) {
				out[i].Classifiers = m.classifiers
			}
		}
	}
	return nil
}

// setRecord copies the record fields of a Detail token from r.
func (t *Token) setRecord(r *Record) {
	t.Classifiers, t.CreatedAt, t.ExpiresAt = r.Classifiers, r.CreatedAt, r.ExpiresAt
}

// finishDetail sets Value and Others of the Detail tokens (one batched
// index look-up for the other formats of all persistent values) and audits
// the values returned for existing aliases.
func (s *Service) finishDetail(ctx context.Context, reqs []RedactRequest, items []item, out []Token) error {
	var keys [][]byte
	type other struct {
		i int
		f Format
	}
	var others []other
	var revealed []string
	for i := range items {
		if !items[i].detail {
			continue
		}
		t := &out[i]
		t.Value = string(items[i].value)
		if reqs[i].Alias != "" {
			revealed = append(revealed, reqs[i].Alias)
		}
		if t.Storage != StoragePersistent {
			continue
		}
		for _, f := range formats {
			if f != t.Format && f.Check(t.Value) == nil {
				keys = append(keys, s.keys.indexKeyFor(items[i].owner, f, t.Value))
				others = append(others, other{i, f})
			}
		}
	}
	if len(keys) > 0 {
		found, err := s.lookupIndex(ctx, opRedact, s.persistent, keys)
		if err != nil {
			return err
		}
		for j, a := range found {
			if a != "" {
				o := others[j]
				out[o.i].Others = append(out[o.i].Others, AliasInfo{Alias: a, Format: o.f})
			}
		}
	}
	return s.audit(ctx, AuditReveal, revealed, len(revealed), OutcomeOK)
}

// item is a validated RedactRequest on its way to a store.
type item struct {
	value       []byte
	format      Format
	storage     Storage
	classifiers []string
	expiresAt   time.Time
	indexKey    []byte
	owner       string // Record.Owner of the calling account
	done        bool
	detail      bool // RedactRequest.Detail
	// sharedClassifiers says that classifiers is a list the Service
	// remembers (acceptedClassifiers.check): read only, copied into a
	// new record (newRecord).
	sharedClassifiers bool
}

// prepare validates reqs into items. The items' values are copies of the
// requests' values, or values decrypted for the requests that name an
// alias: the caller wipes them when it is done (wipeItems); prepare wipes
// them itself when it fails. The copies are made once every item is
// valid, in one buffer that also holds the index keys of the persistent
// items after their values (a key is no secret, and is never wiped).
// keys is an empty list with room for the items' index keys, or nil
// (newItems).
func (s *Service) prepare(ctx context.Context, owner string, reqs []RedactRequest) (_ []item, keys [][]byte, err error) {
	items, keys := newItems(len(reqs))
	defer func() {
		if err != nil {
			wipeItems(items)
		}
	}()
	size := 0 // the values to copy, once all are valid
	var bad []ItemError
	var fromAlias []int
	for i := range reqs {
		r, it := &reqs[i], &items[i] // not copied: a request is 14 words
		it.owner = owner
		f, err := ParseFormat(string(r.Format))
		if err != nil {
			bad = append(bad, ItemError{Index: i, Field: "format", Err: err})
			continue
		}
		it.format = f
		it.detail = r.Detail
		if r.Alias != "" {
			fromAlias = append(fromAlias, i)
			continue
		}
		st, err := ParseStorage(string(r.Storage))
		if err != nil {
			bad = append(bad, ItemError{Index: i, Field: "storage", Err: err})
		}
		it.storage = st
		cls, shared, err := s.accepted.check(r.Classifiers)
		if err != nil {
			bad = append(bad, ItemError{Index: i, Field: "classifiers", Err: err})
		}
		it.classifiers, it.sharedClassifiers = cls, shared
		switch {
		case r.Value == "":
			bad = append(bad, ItemError{Index: i, Field: "value", Err: fmt.Errorf("%w: empty", ErrInvalidValue)})
		case len(r.Value) > s.maxValueLen(st):
			bad = append(bad, ItemError{Index: i, Field: "value", Err: fmt.Errorf("%w: longer than %d bytes (the most a %s value may hold)", ErrInvalidValue, s.maxValueLen(st), st)})
		default:
			if err := f.Check(r.Value); err != nil {
				bad = append(bad, ItemError{Index: i, Field: "format", Err: err})
			}
			size += len(r.Value)
		}
	}
	if len(fromAlias) > 0 && len(bad) == 0 {
		aliases := make([]string, len(fromAlias))
		for j, i := range fromAlias {
			aliases[j] = reqs[i].Alias
		}
		recs, err := s.lookup(ctx, opRedact, aliases)
		if err != nil {
			return nil, nil, fmt.Errorf("vault: redact: %w", err)
		}
		for j, i := range fromAlias {
			it := &items[i]
			if recs[j].rec == nil {
				bad = append(bad, ItemError{Index: i, Field: "alias", Err: ErrNotFound})
				continue
			}
			v, err := s.keys.open(ctx, recs[j].rec)
			if err != nil {
				return nil, nil, fmt.Errorf("vault: redact: %w", err)
			}
			if reqs[i].Text && !utf8.Valid(v) {
				clear(v)
				bad = append(bad, ItemError{Index: i, Field: "alias", Err: ErrNotText})
				continue
			}
			if err := it.format.Check(string(v)); err != nil {
				clear(v)
				bad = append(bad, ItemError{Index: i, Field: "format", Err: err})
				continue
			}
			it.value, it.storage = v, recs[j].rec.Storage
			it.classifiers, it.expiresAt = recs[j].rec.Classifiers, recs[j].rec.ExpiresAt
		}
		if len(bad) > 0 {
			if err := s.auditRefusedDetail(ctx, reqs, fromAlias, recs); err != nil {
				return nil, nil, fmt.Errorf("vault: redact: %w", err)
			}
		}
	}
	if len(bad) > 0 {
		return nil, nil, &BatchError{Items: bad}
	}
	for i := range items {
		if items[i].storage == StoragePersistent {
			size += sha256.Size
		}
	}
	buf := make([]byte, 0, size)
	for i := range reqs {
		r, it := &reqs[i], &items[i]
		if r.Alias == "" { // valid: every such request's value is copied
			buf = append(buf, r.Value...)
			it.value = buf[len(buf)-len(r.Value) : len(buf) : len(buf)]
		}
		if it.storage == StoragePersistent {
			n := len(buf)
			buf = s.keys.appendIndexKey(buf, owner, it.format, string(it.value))
			it.indexKey = buf[n:len(buf):len(buf)]
		}
	}
	return items, keys, nil
}

// newItems returns n zeroed items and an empty list with room for their
// index keys, in one allocation for a call of up to two values (a
// message's card number and CVC); for more, the list is nil (appended to
// when a value is persistent).
func newItems(n int) ([]item, [][]byte) {
	if n <= 2 {
		b := new(struct {
			items [2]item
			keys  [2][]byte
		})
		return b.items[:n:n], b.keys[:0:n]
	}
	return make([]item, n), nil
}

// auditRefusedDetail records the reveal attempt of a Redact refused once
// its items naming an alias were looked up: the Detail ones (those whose
// value the call would have returned) are audited as a reveal that
// returned nothing, OutcomeNotFound when none of them was found, else
// OutcomeRefused, with the number found. The refusal tells the caller
// which aliases exist and which formats their values do not fit, as a
// Reveal's answer tells it which exist, so it is recorded as one is, and
// a failure to record it fails the call (ErrAuditUnavailable) instead of
// answering. recs[j] is the look-up of reqs[fromAlias[j]].
func (s *Service) auditRefusedDetail(ctx context.Context, reqs []RedactRequest, fromAlias []int, recs []found) error {
	var aliases []string
	n := 0
	for j, i := range fromAlias {
		if !reqs[i].Detail {
			continue
		}
		aliases = append(aliases, reqs[i].Alias)
		if recs[j].rec != nil {
			n++
		}
	}
	outcome := OutcomeRefused
	if n == 0 {
		outcome = OutcomeNotFound
	}
	return s.audit(ctx, AuditReveal, aliases, n, outcome)
}

// wipeItems clears the values of items.
func wipeItems(items []item) {
	for i := range items {
		clear(items[i].value)
	}
}

// write stores every pending item of the given storage class in dst,
// retrying the ones whose fresh alias collided, and returns made with the
// records it created appended (whatever else it returns: made is given
// and returned, not pointed to, so that a caller's buffer for it can stay
// on the stack). other is the store of the other
// class: a new alias of a format that is not wide (Format.wide) is also checked against
// it, since reveal looks in both. When merges is not nil (Redact), an item
// whose value's record a concurrent call made since the look-up
// (PutExisting) adds its classifiers to it as a found one does
// (useExisting): its merge is appended to merges.
func (s *Service) write(ctx context.Context, items []item, out []Token, storage Storage, dst, other Store, made []madeRecord, merges *[]classifierMerge) ([]madeRecord, error) {
	var pending []int
	for i := range items {
		if !items[i].done && items[i].storage == storage {
			pending = append(pending, i)
		}
	}
	if len(pending) == 0 {
		return made, nil // nothing of this class to write: not even the clock is read
	}
	if storage == StoragePersistent {
		// Until the store answers, the records' key version is in flight:
		// a re-encryption that starts meanwhile waits for it (waitWrites).
		pin := s.keys.pinWrites()
		defer s.keys.unpinWrites(pin)
	}
	now := s.now().UTC()
	for round := 0; len(pending) > 0; round++ {
		if round == maxPutRounds {
			return made, fmt.Errorf("vault: redact: %w", ErrAliasSpaceExhausted)
		}
		puts := newPuts(len(pending))
		for j, i := range pending {
			if err := s.newRecord(puts[j].Record, &items[i], now); err != nil {
				return made, err
			}
		}
		taken, err := s.takenElsewhere(ctx, opRedact, other, puts)
		if err != nil {
			return made, fmt.Errorf("vault: redact: %w", err)
		}
		if err := s.takenByValues(ctx, items, pending, puts, taken); err != nil {
			return made, fmt.Errorf("vault: redact: %w", err)
		}
		var retry []int
		send, sendIdx := puts, pending // the common case: no alias taken, no copies
		if slices.Contains(taken, true) {
			send, sendIdx = nil, nil
			for j, i := range pending {
				if taken[j] {
					retry = append(retry, i)
					continue
				}
				send = append(send, puts[j])
				sendIdx = append(sendIdx, i)
			}
		}
		if len(send) > 0 {
			res, err := s.put(ctx, opRedact, dst, send)
			if err != nil {
				return made, fmt.Errorf("vault: redact: %w", writeFailed(err))
			}
			gone, err := s.handOutExisting(ctx, res, now)
			if err != nil {
				return made, fmt.Errorf("vault: redact: %w", err)
			}
			var bad PutStatus
			for j, r := range res {
				i := sendIdx[j]
				if gone != nil && gone[j] {
					retry = append(retry, i) // released since the put: written again
					continue
				}
				switch r.Status {
				case PutCreated, PutExisting:
					if r.Status == PutCreated {
						made = append(made, madeRecord{store: dst, alias: r.Record.Alias, owner: items[i].owner})
					}
					out[i] = Token{Alias: r.Record.Alias, Format: items[i].format, Storage: storage, Created: r.Status == PutCreated}
					if items[i].detail {
						out[i].setRecord(r.Record)
					}
					if r.Status == PutExisting && merges != nil {
						// Made by a concurrent call since the look-up: the
						// item's classifiers are added as if it had been found.
						union, merge, err := mergeOf(r.Record, &items[i], i)
						if err != nil {
							return made, err
						}
						if merge != nil {
							*merges = append(*merges, *merge)
						}
						if items[i].detail {
							out[i].Classifiers = union
						}
					}
				case PutCollision:
					retry = append(retry, i)
				default:
					bad = r.Status // the items after it are still recorded in made
				}
			}
			if bad != 0 {
				return made, fmt.Errorf("vault: redact: store returned status %d", bad)
			}
		}
		pending = retry
	}
	return made, nil
}

// newPuts returns n PutItems, each naming a zeroed Record of its own: for
// one item (a message's CVC, or its card number), the record and the list
// in one allocation.
func newPuts(n int) []PutItem {
	if n == 1 {
		one := new(struct {
			rec  Record
			puts [1]PutItem
		})
		one.puts[0].Record = &one.rec
		return one.puts[:]
	}
	puts := make([]PutItem, n)
	recs := make([]Record, n)
	for j := range puts {
		puts[j].Record = &recs[j]
	}
	return puts
}

// newRecord fills rec, a zeroed Record, with a new record of it made at
// now.
func (s *Service) newRecord(rec *Record, it *item, now time.Time) error {
	alias, err := it.format.generate(string(it.value), s.env, s.rand)
	if err != nil {
		return err
	}
	ver, ct, err := s.keys.seal(alias, it.value)
	if err != nil {
		return err
	}
	cls := it.classifiers
	if it.sharedClassifiers {
		cls = ownClassifiers(cls)
	}
	*rec = Record{Alias: alias, Format: it.format, Storage: it.storage, KeyVersion: ver, Ciphertext: ct,
		Classifiers: cls, CreatedAt: now, IndexKey: it.indexKey, Owner: it.owner}
	if it.storage == StorageVolatile {
		rec.ExpiresAt = it.expiresAt
		if rec.ExpiresAt.IsZero() {
			rec.ExpiresAt = now.Add(s.ttl)
		}
	}
	return nil
}

// takenElsewhere reports which new aliases already exist in other. Aliases
// of a wide format carry 128 random bits or more and are not checked.
func (s *Service) takenElsewhere(ctx context.Context, op string, other Store, puts []PutItem) ([]bool, error) {
	taken := make([]bool, len(puts))
	var aliases []string
	var idx []int
	for j, p := range puts {
		if !p.Record.Format.wide() {
			aliases = append(aliases, p.Record.Alias)
			idx = append(idx, j)
		}
	}
	if len(aliases) == 0 || other == nil {
		return taken, nil
	}
	recs, err := s.get(ctx, op, other, aliases)
	if err != nil {
		return nil, err
	}
	for k, r := range recs {
		taken[idx[k]] = r != nil
	}
	return taken, nil
}

// takenByValues marks as taken the new aliases that are card numbers the
// owner holds as persistent values (Known would call them card data). A
// format-preserving alias is Luhn-valid and keeps digits of the value
// (FPE_SIX_T_FOUR: the first 6 and last 4, leaving 5 free digits of a
// 16-digit card, 2 of a 13-digit one), so the draw can give another card
// the account stores; that alias would leave as an alias (the leak guard
// lets the aliases its filters made through) while being card data. Only
// card-like aliases (cardLike) are looked up: one batched index look-up per
// owner for a call that makes some, none for the other formats or lengths
// (a CVC's digits).
func (s *Service) takenByValues(ctx context.Context, items []item, pending []int, puts []PutItem, taken []bool) error {
	var owners []string
	for j, i := range pending {
		if !taken[j] && cardLike(puts[j].Record.Alias) && !slices.Contains(owners, items[i].owner) {
			owners = append(owners, items[i].owner)
		}
	}
	for _, owner := range owners {
		var aliases []string
		var idx []int
		for j, i := range pending {
			if !taken[j] && items[i].owner == owner && cardLike(puts[j].Record.Alias) {
				aliases = append(aliases, puts[j].Record.Alias)
				idx = append(idx, j)
			}
		}
		keys, keyIdx := s.valueKeys(owner, aliases)
		if len(keys) == 0 {
			continue
		}
		found, err := s.lookupIndex(ctx, opRedact, s.persistent, keys)
		if err != nil {
			return err
		}
		for k, a := range found {
			if a != "" {
				taken[idx[keyIdx[k]]] = true
			}
		}
	}
	return nil
}

// cardLike reports whether a is a card number as the leak guard finds them
// (13 to 19 digits, Luhn-valid).
func cardLike(a string) bool {
	return len(a) >= pan.MinLen && len(a) <= pan.MaxLen && pan.Valid(a)
}

// Revealed is the value of one alias, or Err (ErrNotFound) when the alias is
// unknown, deleted, expired or another account's.
type Revealed struct {
	Value       string
	Format      Format
	Storage     Storage
	Classifiers []string
	CreatedAt   time.Time
	ExpiresAt   time.Time
	Err         error
}

// Reveal returns the values of the context's account's aliases, in order,
// with a per-item ErrNotFound (also for another account's alias, answered
// and audited exactly as an absent one). The call fails as a whole only when a store fails, a record
// does not decrypt (ErrTampered) or the audit log cannot record the call
// (ErrAuditUnavailable, which is also ErrUnavailable).
func (s *Service) Reveal(ctx context.Context, aliases []string) ([]Revealed, error) {
	return reveal(ctx, s, aliases, func(r found) Revealed {
		if r.rec == nil {
			return Revealed{Err: ErrNotFound}
		}
		return Revealed{Value: string(r.value), Format: r.rec.Format, Storage: r.rec.Storage,
			Classifiers: r.rec.Classifiers, CreatedAt: r.rec.CreatedAt, ExpiresAt: r.rec.ExpiresAt}
	})
}

// RevealValues is Reveal for a caller that needs the values only (the
// proxies' reveal filters, through internal/vaulttok): the same call,
// audited and bounded alike, failing alike, answering the value of each
// alias in order and "" where Reveal answers ErrNotFound, without a
// Revealed for each.
func (s *Service) RevealValues(ctx context.Context, aliases []string) ([]string, error) {
	return reveal(ctx, s, aliases, func(r found) string {
		if r.rec == nil {
			return ""
		}
		return string(r.value)
	})
}

// reveal is Reveal and RevealValues: it takes a slot of the concurrency
// bound, opens the records of aliases, audited, and answers what of
// makes of each record found (r.rec nil where none is), which must copy
// the value it keeps: the decrypted bytes are wiped before the slot is
// given back.
func reveal[T any](ctx context.Context, s *Service, aliases []string, of func(r found) T) ([]T, error) {
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
	out := make([]T, len(aliases))
	for i, r := range recs {
		out[i] = of(r)
	}
	return out, nil
}

// openAudited is open followed by the audit record of the reveal: values
// are returned only once the Auditor has recorded the call.
func (s *Service) openAudited(ctx context.Context, op string, aliases []string) ([]found, error) {
	recs, err := s.open(ctx, op, aliases)
	if err != nil {
		_ = s.audit(ctx, AuditReveal, aliases, 0, OutcomeError) // best effort: nothing is returned
		return nil, err
	}
	n := 0
	for _, r := range recs {
		if r.rec != nil {
			n++
		}
	}
	outcome := OutcomeOK
	if n == 0 {
		outcome = OutcomeNotFound
	}
	if err := s.audit(ctx, AuditReveal, aliases, n, outcome); err != nil {
		wipeValues(recs)
		return nil, err
	}
	return recs, nil
}

// open looks up aliases and decrypts the records found (decrypt):
// recs[i].value is the value of recs[i].rec, nil where the record is.
func (s *Service) open(ctx context.Context, op string, aliases []string) ([]found, error) {
	recs, err := s.lookup(ctx, op, aliases)
	if err != nil {
		return nil, err
	}
	if err := s.decrypt(ctx, recs); err != nil {
		return nil, err
	}
	return recs, nil
}

// decrypt sets the value of each record of recs. The values share one
// buffer; the caller wipes each once it has copied it (wipeValues). When a
// record does not decrypt, the values decrypted before it are wiped.
func (s *Service) decrypt(ctx context.Context, recs []found) error {
	size, values := 0, int64(0)
	for _, r := range recs {
		if r.rec != nil {
			size += openLen(r.rec)
			values += int64(max(len(r.rec.Ciphertext)-sealOverhead, 0))
		}
	}
	if limit, ok := ctx.Value(revealLimitKey{}).(int64); ok && values > limit {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrRevealTooLarge, values, limit)
	}
	if size == 0 {
		return nil
	}
	buf := make([]byte, 0, size)
	for i := range recs {
		r := &recs[i]
		if r.rec == nil {
			continue
		}
		var err error
		if buf, r.value, err = s.keys.openAppend(ctx, buf, r.rec); err != nil {
			wipeValues(recs)
			return err
		}
	}
	return nil
}

// sealOverhead is what a record's ciphertext has over its value: the
// AES-GCM nonce and tag (Keyring.sealWith).
const sealOverhead = 12 + 16

type revealLimitKey struct{}

// WithRevealLimit returns ctx carrying a bound of n bytes on the values one
// Reveal (or any call that decrypts records for its caller) under it
// returns together, a value counted once for each alias naming it: over it
// the call fails with ErrRevealTooLarge before anything is decrypted. The
// proxies bound a reveal filter's call by limits.max_body: every value
// revealed into a body is written into it whole, so values longer than
// max_body together make a body the proxy refuses anyway, and decrypting
// them first made one short body of a repeated alias cost its value's
// length times the repeats in memory, outside limits.max_buffered_bytes.
func WithRevealLimit(ctx context.Context, n int64) context.Context {
	return context.WithValue(ctx, revealLimitKey{}, n)
}

// wipeValues clears the decrypted values of recs.
func wipeValues(recs []found) {
	for _, r := range recs {
		clear(r.value)
	}
}

type found struct {
	rec   *Record
	store Store
	value []byte // the decrypted value of rec (open), until the caller wipes it
}

// lookup finds each alias in the volatile store, then the persistent one,
// among the records of the context's account. A record of another account
// is not found: it is passed over exactly as an absent alias is (the next
// store is asked too, nothing is decrypted), so that the caller cannot tell
// the two apart by the answer or by the work done. A store that fails
// (Redis away) does not stop the next one from being asked: the call
// fails with its error only when an alias is left that no store answered
// (it may be that store's), so an alias the persistent store holds is
// found while the volatile store cannot be reached (an alias is in one
// store only: Redact checks the other).
func (s *Service) lookup(ctx context.Context, op string, aliases []string) ([]found, error) {
	return s.lookupOwned(ctx, op, aliases, s.owner(ctx), true)
}

// lookupAnyOwner is lookup over the records of every account (for the
// accounts migration, which must find a record whoever owns it).
func (s *Service) lookupAnyOwner(ctx context.Context, op string, aliases []string) ([]found, error) {
	return s.lookupOwned(ctx, op, aliases, "", false)
}

func (s *Service) lookupOwned(ctx context.Context, op string, aliases []string, owner string, checkOwner bool) ([]found, error) {
	out := make([]found, len(aliases))
	query := make([]string, 0, len(aliases))
	idx := make([]int, 0, len(aliases))
	// An alias named again is asked once and answered with the record of
	// its first place (first[i]; nil while none repeats): a store answers
	// each key with a copy of its record, so a short message naming one
	// alias of a long value many times made as many copies of its
	// ciphertext.
	var first []int
	var seen map[string]int
	for i, a := range aliases {
		if a == "" || len(a) > maxAliasLen {
			continue
		}
		if len(aliases) > 1 {
			j, ok := -1, false
			if len(aliases) <= 16 {
				// Few: looked for among those asked, with no map.
				if k := slices.Index(query, a); k >= 0 {
					j, ok = idx[k], true
				}
			} else {
				if seen == nil {
					seen = make(map[string]int, len(aliases))
				}
				j, ok = seen[a]
			}
			if ok {
				if first == nil {
					first = make([]int, len(aliases))
					for k := range first {
						first[k] = k
					}
				}
				first[i] = j
				continue
			}
			if seen != nil {
				seen[a] = i
			}
		}
		query = append(query, a)
		idx = append(idx, i)
	}
	var failed error // the first store's failure, while aliases are left
	for _, st := range s.stores() {
		if len(query) == 0 {
			break
		}
		recs, err := s.get(ctx, op, st, query)
		if err != nil {
			if failed == nil {
				failed = err
			}
			continue
		}
		// What this store did not answer is asked of the next one: query
		// and idx keep it, compacted in place (left <= k: nothing unread is
		// overwritten).
		left := 0
		for k, r := range recs {
			if r != nil && (!checkOwner || s.owns(owner, r)) {
				out[idx[k]] = found{rec: r, store: st}
			} else {
				query[left], idx[left] = query[k], idx[k]
				left++
			}
		}
		query, idx = query[:left], idx[:left]
	}
	if failed != nil && len(query) > 0 {
		return nil, failed
	}
	for i, j := range first {
		if j != i && out[j].rec != nil {
			// A record of its own for each place, sharing only the
			// ciphertext, which nothing writes to: the caller may change
			// what it is given of one place (a value, its classifiers)
			// without changing another's. The value is decrypted for
			// each place (decrypt), as the reveal limit counts it.
			rec := *out[j].rec
			rec.Classifiers = slices.Clone(rec.Classifiers)
			rec.IndexKey = slices.Clone(rec.IndexKey)
			out[i] = found{rec: &rec, store: out[j].store}
		}
	}
	return out, nil
}

func (s *Service) stores() []Store {
	if s.volatile == s.persistent {
		return []Store{s.persistent}
	}
	return []Store{s.volatile, s.persistent}
}

// Entry is everything the vault holds about a value: its aliases of every
// format (for a persistent value), classifiers and times.
type Entry struct {
	Value       string
	Aliases     []AliasInfo
	Classifiers []string
	Storage     Storage
	CreatedAt   time.Time
	ExpiresAt   time.Time
	Err         error // ErrNotFound for an unknown alias
}

// AliasInfo is one alias of a value.
type AliasInfo struct {
	Alias  string
	Format Format
}

// Describe returns the entry of each of the context's account's aliases, in
// order, with a per-item ErrNotFound (as Reveal). The entry lists the alias asked for first, then the value's
// other persistent aliases.
func (s *Service) Describe(ctx context.Context, aliases []string) ([]Entry, error) {
	done, err := s.enter(ctx, opDescribe)
	if err != nil {
		return nil, fmt.Errorf("vault: describe: %w", err)
	}
	defer done()
	recs, err := s.openAudited(ctx, opDescribe, aliases)
	if err != nil {
		return nil, fmt.Errorf("vault: describe: %w", err)
	}
	defer wipeValues(recs) // the decrypted bytes: the entries have their copies
	out := make([]Entry, len(aliases))
	for i, r := range recs {
		if r.rec == nil {
			out[i].Err = ErrNotFound
			continue
		}
		e := Entry{Value: string(r.value), Classifiers: r.rec.Classifiers, Storage: r.rec.Storage,
			CreatedAt: r.rec.CreatedAt, ExpiresAt: r.rec.ExpiresAt,
			Aliases: []AliasInfo{{Alias: r.rec.Alias, Format: r.rec.Format}}}
		if r.rec.Storage == StoragePersistent {
			sib, err := s.siblings(ctx, opDescribe, r.rec, e.Value)
			if err != nil {
				return nil, fmt.Errorf("vault: describe: %w", err)
			}
			e.Aliases = append(e.Aliases, sib...)
		}
		out[i] = e
	}
	return out, nil
}

// siblings returns the other persistent aliases of value, one per format.
func (s *Service) siblings(ctx context.Context, op string, rec *Record, value string) ([]AliasInfo, error) {
	var keys [][]byte
	var fs []Format
	for _, f := range formats {
		if f != rec.Format && f.Check(value) == nil {
			keys = append(keys, s.keys.indexKeyFor(rec.Owner, f, value))
			fs = append(fs, f)
		}
	}
	found, err := s.lookupIndex(ctx, op, s.persistent, keys)
	if err != nil {
		return nil, err
	}
	var out []AliasInfo
	for i, a := range found {
		if a != "" {
			out = append(out, AliasInfo{Alias: a, Format: fs[i]})
		}
	}
	return out, nil
}

// Delete removes one alias of the context's account (the value's other
// aliases stay, as in the VGS vault API). ErrNotFound when it does not
// exist or belongs to another account (the same answer, after the same
// work); ErrInUse when Options.InUse says it backs something (a card). The
// outcome is audited; when the audit log cannot record it the call fails
// with ErrAuditUnavailable (the alias may be gone by then).
func (s *Service) Delete(ctx context.Context, alias string) error {
	return s.deleteAudited(ctx, alias, false)
}

// Release deletes alias as Delete does, for the request that created it
// (a Redact under WithCreations whose request then stored nothing: the
// Card Management API's releases, cards.Handler.ReleaseRouteAliases),
// unless another caller may hold it: a Redact that found the value's
// alias since the record was written recorded it (Store.HandOut, within
// HandOutWindow of its creation), or the record is older than
// ReleaseMaxAge (too old to be the releasing request's own, and so past
// what a Redact records). Such an alias stays and the call returns
// ErrHandedOut, audited as a refused delete. The check and the delete are
// one atomic step of the store, so a Redact racing the release either
// hands out an alias that stays or finds it gone and makes another.
func (s *Service) Release(ctx context.Context, alias string) error {
	return s.deleteAudited(ctx, alias, true)
}

// deleteAudited is Delete, and with release Release.
func (s *Service) deleteAudited(ctx context.Context, alias string, release bool) error {
	done, gerr := s.enter(ctx, opDelete)
	if gerr != nil {
		return fmt.Errorf("vault: delete: %w", gerr)
	}
	defer done()
	err := s.delete(ctx, alias, release)
	outcome, found := OutcomeOK, 1
	switch {
	case errors.Is(err, ErrNotFound):
		outcome, found = OutcomeNotFound, 0
	case errors.Is(err, ErrInUse), errors.Is(err, ErrHandedOut):
		outcome, found = OutcomeRefused, 1
	case err != nil:
		outcome, found = OutcomeError, 0
	}
	if aerr := s.audit(ctx, AuditDelete, []string{alias}, found, outcome); aerr != nil && err == nil {
		return fmt.Errorf("vault: delete: %w", aerr)
	}
	return err
}

// DeleteMany deletes aliases of the context's account as Delete does, and
// refuses before it deletes any: every alias is looked up first and a
// persistent one asked Options.InUse, and when any backs a card the call
// fails with a *BatchError of ErrInUse items (Field "alias", the indexes of
// those aliases), deletes nothing and audits the refusal. Then each alias is
// deleted in order with Delete (and audited so); one that does not exist
// (absent, expired, another account's, or listed twice) is skipped. deleted
// counts the aliases this call removed. A failure part way (the store, the
// audit log, or a card that took an alias after the check, a *BatchError of
// ErrInUse again) returns the error with the count of aliases deleted by
// then: sending the same aliases again finishes the batch.
func (s *Service) DeleteMany(ctx context.Context, aliases []string) (deleted int, err error) {
	if err := s.checkBatchInUse(ctx, aliases); err != nil {
		return 0, err
	}
	for i, a := range aliases {
		switch err := s.Delete(ctx, a); {
		case err == nil:
			deleted++
		case errors.Is(err, ErrNotFound):
		case errors.Is(err, ErrInUse):
			return deleted, &BatchError{Items: []ItemError{{Index: i, Field: "alias", Err: ErrInUse}}}
		default:
			return deleted, err
		}
	}
	return deleted, nil
}

// checkBatchInUse is DeleteMany's check before any delete: a *BatchError
// naming every alias of the context's account that Options.InUse says backs
// something (audited as refused deletes), else nil.
func (s *Service) checkBatchInUse(ctx context.Context, aliases []string) error {
	if s.inUse == nil {
		return nil
	}
	done, gerr := s.enter(ctx, opDelete)
	if gerr != nil {
		return fmt.Errorf("vault: delete: %w", gerr)
	}
	defer done()
	recs, err := s.lookup(ctx, opDelete, aliases)
	if err != nil {
		return fmt.Errorf("vault: delete: %w", err)
	}
	var be BatchError
	var refused []string
	for i, r := range recs {
		if r.rec == nil || r.rec.Storage != StoragePersistent {
			continue
		}
		v, err := s.keys.open(ctx, r.rec)
		if err != nil {
			return fmt.Errorf("vault: delete: %w", err)
		}
		err = s.checkInUse(ctx, aliases[i], v)
		clear(v)
		switch {
		case errors.Is(err, ErrInUse):
			be.Items = append(be.Items, ItemError{Index: i, Field: "alias", Err: ErrInUse})
			refused = append(refused, aliases[i])
		case err != nil:
			return err
		}
	}
	if len(be.Items) == 0 {
		return nil
	}
	if aerr := s.audit(ctx, AuditDelete, refused, len(refused), OutcomeRefused); aerr != nil {
		return fmt.Errorf("vault: delete: %w", aerr)
	}
	return &be
}

// checkInUse returns ErrInUse when Options.InUse says the persistent alias,
// whose value is v, backs something.
func (s *Service) checkInUse(ctx context.Context, alias string, v []byte) error {
	used, err := s.inUse.AliasInUse(ctx, s.account(ctx), alias, v)
	if err != nil {
		return fmt.Errorf("vault: delete: %w", err)
	}
	if used {
		return ErrInUse
	}
	return nil
}

// delete finds the alias among the caller's records first (a foreign or
// absent alias costs the same look-up and nothing more), asks InUse about
// a persistent one, then deletes it from the store it is in, for its owner
// (the store checks the owner again, atomically with the delete). With
// release (Release) a persistent record older than ReleaseMaxAge is kept,
// and the store keeps a record handed out (Store.Release).
func (s *Service) delete(ctx context.Context, alias string, release bool) error {
	if alias == "" || len(alias) > maxAliasLen {
		return ErrNotFound
	}
	recs, err := s.lookup(ctx, opDelete, []string{alias})
	if err != nil {
		return fmt.Errorf("vault: delete: %w", err)
	}
	r := recs[0]
	if r.rec == nil {
		return ErrNotFound
	}
	if release && r.rec.Storage == StoragePersistent && s.now().Sub(r.rec.CreatedAt) >= ReleaseMaxAge {
		return ErrHandedOut
	}
	remove := s.deleteAlias
	if release {
		remove = s.releaseAlias
	}
	if s.inUse != nil && r.rec.Storage == StoragePersistent {
		v, err := s.keys.open(ctx, r.rec)
		if err != nil {
			return fmt.Errorf("vault: delete: %w", err)
		}
		defer clear(v)
		if err := s.checkInUse(ctx, alias, v); err != nil {
			return err
		}
		if err := remove(ctx, opDelete, r.store, alias, r.rec.Owner); err != nil {
			if errors.Is(err, ErrNotFound) || errors.Is(err, ErrHandedOut) {
				return err // deleted or expired meanwhile; handed out
			}
			return fmt.Errorf("vault: delete: %w", err)
		}
		if rc, ok := s.inUse.(InUseRecheck); ok {
			if err := rc.AliasDeleted(ctx, s.account(ctx), alias, v); err != nil {
				return fmt.Errorf("vault: delete: the alias was deleted; putting its value back for a record that took it meanwhile failed: %w", err)
			}
		}
		return nil
	}
	if err := remove(ctx, opDelete, r.store, alias, r.rec.Owner); err != nil {
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrHandedOut) {
			return err // deleted or expired meanwhile; handed out
		}
		return fmt.Errorf("vault: delete: %w", err)
	}
	return nil
}

// UpdateClassifiers replaces the classifiers of the value behind alias, on
// every alias the value has in the context's account. ErrNotFound when the
// alias does not exist or is another account's. The call is audited
// (AuditUpdate, the alias named, its outcome): it changes what the vault
// holds and decrypts a persistent value to find its other aliases; when
// the audit log cannot record it the call fails with ErrAuditUnavailable
// (the classifiers may be set by then, as a Delete's alias may be gone).
func (s *Service) UpdateClassifiers(ctx context.Context, alias string, classifiers []string) error {
	done, err := s.enter(ctx, opUpdate)
	if err != nil {
		return fmt.Errorf("vault: update classifiers: %w", err)
	}
	defer done()
	cls, err := checkClassifiers(classifiers)
	if err != nil {
		return &BatchError{Items: []ItemError{{Field: "classifiers", Err: err}}}
	}
	err = s.updateClassifiers(ctx, alias, cls)
	outcome, found := OutcomeOK, 1
	switch {
	case errors.Is(err, ErrNotFound):
		outcome, found = OutcomeNotFound, 0
	case err != nil:
		outcome, found = OutcomeError, 0
	}
	if aerr := s.audit(ctx, AuditUpdate, []string{alias}, found, outcome); aerr != nil && err == nil {
		return fmt.Errorf("vault: update classifiers: %w", aerr)
	}
	return err
}

// updateClassifiers sets cls on alias and on the other aliases of its
// value (a persistent value's are found by decrypting it).
func (s *Service) updateClassifiers(ctx context.Context, alias string, cls []string) error {
	recs, err := s.lookup(ctx, opUpdate, []string{alias})
	if err != nil {
		return fmt.Errorf("vault: update classifiers: %w", err)
	}
	r := recs[0]
	if r.rec == nil {
		return ErrNotFound
	}
	aliases := []string{alias}
	if r.rec.Storage == StoragePersistent {
		v, err := s.keys.open(ctx, r.rec)
		if err != nil {
			return fmt.Errorf("vault: update classifiers: %w", err)
		}
		defer clear(v)
		sib, err := s.siblings(ctx, opUpdate, r.rec, string(v))
		if err != nil {
			return fmt.Errorf("vault: update classifiers: %w", err)
		}
		for _, a := range sib {
			aliases = append(aliases, a.Alias)
		}
	}
	if err := s.setClassifiers(ctx, opUpdate, r.store, aliases, cls); err != nil {
		return fmt.Errorf("vault: update classifiers: %w", err)
	}
	return nil
}

// CheckClassifiers reports whether the vault takes classifiers (see
// checkClassifiers): the routes loader asks it for a redact target's, so
// a routes file whose classifiers every redaction would refuse does not
// load. The error never holds a classifier.
func CheckClassifiers(in []string) error {
	_, err := checkClassifiers(in)
	return err
}

// acceptedClassifiers remembers the last few classifier lists
// checkClassifiers accepted as they were (valid, no duplicates): a route's
// filter sends the same list with every value it redacts, and checking it
// (printable, no card number in any spelling) was most of preparing a
// value. The zero value is ready; it is safe for concurrent use.
type acceptedClassifiers struct {
	lists [acceptedLists]atomic.Pointer[[]string] // each immutable once stored
	next  atomic.Uint32                           // the slot the next list replaces
}

// acceptedLists is how many lists acceptedClassifiers remembers: the
// redacting filters of a few routes.
const acceptedLists = 4

// check is checkClassifiers(in), but a list equal to one accepted before
// gets that remembered list itself, without being checked again, and
// shared true: it must never be changed, and is copied (ownClassifiers)
// only where it leaves the call, in a new record. Most redactions of a
// route's values find their record and never need the copy.
func (a *acceptedClassifiers) check(in []string) (_ []string, shared bool, _ error) {
	if len(in) == 0 {
		out, err := checkClassifiers(in)
		return out, false, err
	}
	for i := range a.lists {
		if l := a.lists[i].Load(); l != nil && slices.Equal(*l, in) {
			return *l, true, nil
		}
	}
	out, err := checkClassifiers(in)
	if err == nil && len(out) == len(in) {
		l := slices.Clone(in)
		a.lists[a.next.Add(1)%acceptedLists].Store(&l)
	}
	return out, false, err
}

// ownClassifiers returns a copy of a list acceptedClassifiers remembers,
// as checkClassifiers would have made it (of its length and capacity).
func ownClassifiers(l []string) []string {
	out := make([]string, len(l))
	copy(out, l)
	return out
}

// checkClassifiers validates classifiers and returns them without
// duplicates, in their first order. nil becomes an empty list. The VGS
// vault API types a classifier as any string; aliasgate takes 1 to
// maxClassifierLen characters of printable Unicode (letters, marks,
// digits, punctuation, symbols and spaces, as unicode.IsGraphic): no
// control or invisible formatting characters, which would let a stored tag
// forge log lines or hide its text. A classifier must not hold a card
// number in any spelling a reader sees: classifiers are stored in clear and
// shown in every answer, so the rule is that of API client names
// (pan.ContainsLooseString: also grouped by '_' or ':'; pan.MaskShown: any
// other separator, '/', '|', ',', two spaces, and any script's digits).
func checkClassifiers(in []string) ([]string, error) {
	if len(in) > maxClassifiers {
		return nil, fmt.Errorf("%w: more than %d classifiers", ErrInvalidClassifier, maxClassifiers)
	}
	out := make([]string, 0, len(in))
	for _, c := range in {
		if c == "" || utf8.RuneCountInString(c) > maxClassifierLen {
			return nil, fmt.Errorf("%w: a classifier must be 1 to %d characters", ErrInvalidClassifier, maxClassifierLen)
		}
		if !utf8.ValidString(c) || strings.IndexFunc(c, func(r rune) bool { return !unicode.IsGraphic(r) }) >= 0 {
			return nil, fmt.Errorf("%w: only printable characters (letters, digits, punctuation, symbols, spaces) are allowed", ErrInvalidClassifier)
		}
		if pan.ContainsShownString(c) {
			return nil, fmt.Errorf("%w: a classifier must not hold a card number", ErrInvalidClassifier)
		}
		// At most maxClassifiers: a scan of out costs less than a set.
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out, nil
}
