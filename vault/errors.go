package vault

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aliasgate/aliasgate/internal/account"
)

// Sentinel errors. Callers test them with errors.Is; messages never contain
// a value or an alias.
var (
	// ErrNotFound: no such alias, or it expired, or it was deleted.
	ErrNotFound = errors.New("vault: alias not found")
	// ErrInvalidValue: the value is empty or too long.
	ErrInvalidValue = errors.New("vault: invalid value")
	// ErrInvalidFormat: an unknown alias format.
	ErrInvalidFormat = errors.New("vault: invalid alias format")
	// ErrInvalidStorage: an unknown storage class.
	ErrInvalidStorage = errors.New("vault: invalid storage")
	// ErrInvalidClassifier: a classifier that is empty, too long, has a
	// character that is not printable or holds a card number; or too many.
	ErrInvalidClassifier = errors.New("vault: invalid classifier")
	// ErrFormatUnsupported: an alias format of the VGS vault API that
	// aliasgate does not make (CUSTOM, JS); it is also ErrInvalidFormat.
	ErrFormatUnsupported = fmt.Errorf("%w: format not supported by aliasgate", ErrInvalidFormat)
	// ErrFormatNotApplicable: the value does not fit the format (for example
	// FPE_SIX_T_FOUR of a value that is not 12–19 digits).
	ErrFormatNotApplicable = errors.New("vault: format does not apply to this value")
	// ErrNotText: the value of an alias is not UTF-8 text, and the caller
	// asked for text (RedactRequest.Text).
	ErrNotText = errors.New("vault: the value is not UTF-8 text")
	// ErrAliasSpaceExhausted: no free alias was found after many tries.
	ErrAliasSpaceExhausted = errors.New("vault: no free alias found")
	// ErrWrongMasterKey: the master key is not the one the vault was created with.
	ErrWrongMasterKey = errors.New("vault: the master key does not match this vault (it was created with another key)")
	// ErrUnavailable: the store cannot be reached or failed; the operation
	// may succeed later.
	ErrUnavailable = errors.New("vault: store unavailable")
	// ErrStoreRefused: the store refused the gateway for a reason no retry
	// changes until an operator acts: it lacks a permission (Redis NOPERM,
	// PostgreSQL 42501), cannot authenticate (NOAUTH, WRONGPASS, SQLSTATE
	// class 28), or holds data it cannot use (a key of another type,
	// WRONGTYPE; data or an index the server reports corrupted, XX001,
	// XX002; a file of the database missing, 58P01, 58P02; the database
	// gone, 3D000). It is not
	// ErrUnavailable: answered 500 without Retry-After, counted as result
	// "refused" in aliasgate_vault_operations_total.
	ErrStoreRefused = errors.New("vault: store refused the gateway (permission, authentication or unusable data: no retry helps, an operator must act)")
	// ErrTampered: a record failed to decrypt: its ciphertext was altered or
	// moved to another alias.
	ErrTampered = errors.New("vault: record failed authentication")
	// ErrUnknownKeyVersion: the record is sealed under a data-key version
	// the vault holds no key for (even after looking for new versions).
	ErrUnknownKeyVersion = errors.New("vault: record uses an unknown key version")
	// ErrConflict: an import met an existing entry with other content (the
	// destination is not a copy of the same vault).
	ErrConflict = errors.New("vault: conflicting entry")
	// ErrClosed: the store has been closed.
	ErrClosed = errors.New("vault: store closed")
	// ErrCardChanged: a compare-and-swap write of a card record
	// (cards.Store UpdateCard, ReplaceCard, ReissueCard) found the stored
	// record changed since it was read; nothing was written. The caller
	// reads the record again and re-applies its change.
	ErrCardChanged = errors.New("vault: the card record changed since it was read")
	// ErrInUse: Delete refused an alias that backs something that needs it
	// (a card of the Card Management API); nothing was deleted.
	ErrInUse = errors.New("vault: the alias backs a card and cannot be deleted")
	// ErrHandedOut: Release kept an alias another caller was given since
	// it was created (Store.HandOut), or too old to be the releasing
	// request's own (Service.Release); nothing was deleted.
	ErrHandedOut = errors.New("vault: the alias was handed out and is not released")
	// ErrInvalidAccount: an account name outside 1–128 characters of
	// A–Z a–z 0–9 _ . - (or holding a card number).
	ErrInvalidAccount = account.ErrInvalid
	// ErrTooManyValues: a Redact call holds more values than one call may
	// (Options.MaxValuesPerCall), or would create more volatile values
	// (Options.MaxVolatilePerCall) or new persistent records
	// (Options.MaxNewPerCall) than one call may; nothing was written. It
	// is an ErrInvalidValue (the request is refused, not the vault
	// unavailable).
	ErrTooManyValues = fmt.Errorf("%w: too many values in one call", ErrInvalidValue)
	// ErrRevealTooLarge: the values one Reveal call would return are
	// longer than the bound its context carries (WithRevealLimit); nothing
	// was decrypted.
	ErrRevealTooLarge = errors.New("vault: the values to reveal are longer than the caller may hold")
	// ErrThrottled: the caller (the context's Actor) is over a limit of
	// the Service's Admission; nothing was written. The error is a
	// *ThrottleError, which says when to try again.
	ErrThrottled = errors.New("vault: caller throttled")
)

// ThrottleError refuses a call whose caller is over a limit. Callers answer
// it 429 with a Retry-After of RetryAfter. It is ErrThrottled for errors.Is.
type ThrottleError struct {
	// RetryAfter is how long until the caller may try again (at least 1s).
	RetryAfter time.Duration
	// Limit names the limit, for logs and metrics: a fixed word such as
	// "new_values_rate" or "enumeration"; never a value.
	Limit string
}

func (e *ThrottleError) Error() string {
	return fmt.Sprintf("vault: caller throttled (%s); retry after %s", e.Limit, e.RetryAfter.Round(time.Second))
}

// Is reports whether target is ErrThrottled.
func (e *ThrottleError) Is(target error) bool { return target == ErrThrottled }

// ItemError is the error of one item of a batch call, by its index.
type ItemError struct {
	Index int
	Field string // "value", "format", "storage", "classifiers" or "alias"
	Err   error
}

func (e *ItemError) Error() string { return e.Err.Error() }
func (e *ItemError) Unwrap() error { return e.Err }

// ItemIndex is the item's index in its batch (for callers that cannot name
// this type, such as the rewriters: rewrite.TargetError).
func (e *ItemError) ItemIndex() int { return e.Index }

// BatchError lists the items of a batch that were refused. Nothing of the
// batch was written.
type BatchError struct {
	Items []ItemError
}

func (e *BatchError) Error() string {
	if len(e.Items) == 1 {
		return e.Items[0].Error()
	}
	return e.Items[0].Error() + " (and more items)"
}

// Unwrap returns the items' errors, so errors.Is finds any of them.
func (e *BatchError) Unwrap() []error {
	out := make([]error, len(e.Items))
	for i := range e.Items {
		out[i] = &e.Items[i]
	}
	return out
}

// UnavailableRetryAfter is the Retry-After every API and proxy sends with
// a 503 vault_unavailable (Unavailable): one second, the time a pool takes
// to reconnect to a store that restarted.
const UnavailableRetryAfter = time.Second

// Unavailable reports whether err is a failure that the same call may not
// meet again (ErrUnavailable, ErrClosed, a deadline that passed): the one
// rule by which every API and the proxies answer 503 vault_unavailable with
// UnavailableRetryAfter. Any other vault error — a record that does not
// decrypt (ErrTampered), a key version the vault has no key for
// (ErrUnknownKeyVersion), a store that refuses the gateway's permissions,
// credentials or data (ErrStoreRefused) — fails at every retry and is
// answered 500 without Retry-After. The stores decide which of their
// errors are ErrUnavailable (docs/DECISIONS.md, "permanent store errors").
func Unavailable(err error) bool {
	return errors.Is(err, ErrUnavailable) || errors.Is(err, ErrClosed) || errors.Is(err, context.DeadlineExceeded)
}
