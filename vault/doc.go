// Package vault turns sensitive values (card numbers, CVCs) into aliases and
// back. It holds the alias formats, the envelope encryption and the HMAC
// index, and works over a Store (vault/boltstore for persistent values by
// default, vault/memstore for volatile ones); it imports no HTTP code.
//
// # Records and the index
//
// A record is kept under its alias: the value encrypted with AES-256-GCM
// under a data-encryption key, with the alias as additional data (a
// ciphertext moved to another alias fails to decrypt), the key version, the
// format, the storage class, classifiers and times. Persistent records also
// have an index entry HMAC-SHA256(index key, format ‖ 0 ‖ value) → alias
// (for the default account; other accounts' inputs start with the account,
// see Accounts), which makes persistent aliases deterministic per (account,
// value, format) without
// keeping the value in clear or decrypting to search. A value may have one
// persistent alias of each format; they are separate records found through
// the index. Volatile records (CVCs) have no index entry: every redaction
// makes a new alias, so that equal CVCs cannot be told apart, and they
// expire after the volatile TTL.
//
// # Accounts
//
// Every record has an owner account (Record.Owner) and every Service call
// acts for one account: the Account of the vault.Actor in its context
// (WithAccount), or Options.DefaultAccount when the context names none.
// A call reaches only its account's records: another account's record is
// passed over exactly as an absent alias (the next store is asked too,
// nothing is decrypted, the audit line counts it not found), so ownership
// is not an existence oracle; Store.Delete takes the owner and deletes only
// the owner's record. The index is per account: a non-default account's
// HMAC input is 0x01 ‖ uvarint(len) ‖ account ‖ format ‖ 0 ‖ value, so
// the same value in two accounts has unrelated aliases, while within an
// account aliases stay deterministic.
//
// The vault's default account (ResolveDefaultAccount, meta key
// default_account) owns the records stored without an owner: every record
// written before accounts existed, and the default account's since, which
// keep the version 1 encoding and the earlier index input, byte for byte.
// Options.InUse lets Delete refuse (ErrInUse) an alias that backs a card;
// an InUse that is an InUseRecheck is told after the delete, so that a
// card stored with the alias in between gets the value back. A call with
// PurposeRestore (that value going back) is not asked of the Admission.
// The accounts migration (MigrateRecord, run by cards.MigrateAccounts)
// gives another account a default-account record its card references, in
// place (Store.SetOwner) or as that account's own copy of the value.
//
// # Releases and deduplication
//
// A persistent value has one alias per format and account, so a Redact
// that finds the value in the vault returns the alias another request
// made, possibly a moment ago, and that request may still release it
// (Release: an inbound route in front of the gateway's APIs whose request
// the API refused, cards.Handler.ReleaseRouteAliases; a Redact rolling
// back). A Redact that finds a record younger than HandOutWindow, or meets
// one in Put (PutExisting), records a hand-out (Store.HandOut) before it
// returns the alias, and Release deletes only what was not handed out
// (Store.Release, a compare-and-delete in every store) and nothing older
// than ReleaseMaxAge; a record released between the look-up and the
// hand-out is reported not live, and the Redact makes a new alias. A
// record found older than HandOutWindow is returned with no write.
// Volatile values are never found (each redaction makes a new record), so
// nothing is handed out for them.
//
// # Reveals while a store is away
//
// An alias is looked up in the volatile store, then the persistent one. A
// store that fails (Redis away) does not end the look-up: the other store
// is asked for every alias left, and the call fails with the error only
// when an alias is left unanswered (it may be in the store that failed).
// An alias is in one store only (Redact checks the other), so a stored
// card's PAN or network token is revealed while Redis is away, and a
// message naming a CVC alias still fails (ErrUnavailable).
//
// # Batches are all or nothing
//
// A Redact call that fails leaves no record of it in either store: an
// invalid item, more values, volatile values or new persistent records
// than Options.MaxValuesPerCall, MaxVolatilePerCall or MaxNewPerCall, or a
// refusal of Options.Admission fail it before any write; volatile values are written first (each store
// writes a batch atomically: memstore under one lock, Redis in one Lua
// script, bbolt and PostgreSQL in one transaction), then persistent ones;
// when a later step fails (a store write or read, a collision retry, the
// audit, the caller's context), the records this call created are deleted
// before it returns. A persistent alias the value had before the call is
// never deleted; classifiers the call added to it (see Classifiers) stay. The one race left: a concurrent call given, at the same
// instant, the persistent alias this call created loses it when this call
// rolls back.
//
// # Classifiers
//
// Classifiers are tags of a stored value: 1 to 64 printable characters
// (unicode.IsGraphic: spaces and punctuation included; control and
// invisible formatting characters refused), at most 32 a value, never a
// card number. UpdateClassifiers replaces them on every alias of the
// value. A Redact that finds the value's persistent alias of its format
// adds the classifiers it brings that the record lacks, to that alias and
// to the value's other persistent aliases (read, then written: two
// concurrent redactions adding different tags can lose one's addition).
// A value's first alias of a new format starts with its request's tags.
// The existing record is read with the index, in one store read
// (Store.LookupRecords: one bbolt transaction, or none when bbolt's read
// cache holds the entry and the record; one PostgreSQL query; one lock),
// when a request brings classifiers or asks for Detail; otherwise only the
// index is read. A list equal to one of the last few accepted (a route
// sends the same with every value) is not checked again: the Service's
// copy is shared, read only, with the call, and a new record gets a copy
// of its own.
//
// # The volatile store cannot be starved
//
// The in-memory volatile store (vault/memstore, Options.MaxRecords from
// vault.volatile_max_records) evicts the values closest to expiry, oldest
// first, when a new batch would not fit, instead of refusing it: a CVC is
// needed for the seconds of a checkout, so a flood only shortens how long
// values live and never stops other callers' CVCs from being tokenized.
// Evictions are counted (aliasgate_vault_volatile_evictions_total). Only a
// batch larger than the whole store is refused (ErrUnavailable, 503), and
// Options.MaxVolatilePerCall (limits.max_volatile_per_message, default
// 1000) keeps one message from flushing the store by itself. Redis is
// bounded by its own maxmemory; with maxmemory-policy volatile-ttl it
// evicts the same way.
//
// Across accounts, Options.VolatileShare (limits.account_volatile_share of
// vault.volatile_max_records) bounds what one account holds: the volatile
// values it may create in one VolatileTTL on this Service, each living at
// most that long. A Redact that would take its account past it fails whole
// with a *ThrottleError (LimitVolatileShare; observed as result
// "share_full", store "-") before anything is written, so that one
// account's flood (an API client's, or its routes' senders from many
// addresses) is refused rather than evicting another account's CVCs.
// Eviction is left to the accounts together holding more than the store:
// with shares of half the store, two accounts at their shares. Values are
// counted from their Redact until their TTL is over, deleted or not, and
// per Service: n gateways sharing a store let an account hold n shares.
//
// # Who may tokenize how much: Admission
//
// Options.Admission (internal/abuse in the gateway) is asked once per
// Redact that holds persistent or volatile values (with how many volatile
// values it would create: each is a new record, and a flood of them evicts
// other callers' CVCs), after the index look-up has said
// which values are new and before any write, with the caller from the
// context's Actor (Client, else Source). A *ThrottleError refuses the call
// (ErrThrottled; callers answer 429 with its RetryAfter). The vault is the
// oracle a guessing caller uses, so its guard sits here, in front of every
// API and route at once.
//
// # Aliases or card data: Known
//
// Service.Known tells the proxy's leak guard whether a card-like number it
// found is an alias or card data, without decrypting anything and without
// an audit line. The rule, for each candidate:
//
//   - PresenceValue when the HMAC index has an entry for the candidate
//     under any format it fits: the vault holds it as a persistent value,
//     so it is card data, even when an alias with the same characters also
//     exists. Format-preserving aliases (FPE_SIX_T_FOUR, FPE_T_FOUR, PFPT)
//     are Luhn-valid, so a number can be both; without this rule a flood of
//     aliases could make a real card number pass the guard. (Redact never
//     makes a new card-like alias that the account holds as a persistent
//     value: it draws again. A number becomes both only when it is stored
//     as a value after it was made an alias.)
//   - else PresenceAlias when it is a live alias in either store (the
//     records are read, never opened);
//   - else PresenceUnknown.
//
// The value check is done through the index only, so a value kept only as
// VOLATILE (which has no index entry) is not seen as a value. Known costs
// one index look-up (every format's key of every candidate in one call)
// and one read per store, or one round trip to a persistent store that is
// a Prober (pgstore).
//
// # What one call decrypts
//
// An alias named more than once in one call is looked up once (a store
// answers each key with a copy of its record). A caller that can hold
// only so much of what it reveals says so with WithRevealLimit: values
// longer together than the bound (each alias counted as often as it is
// named) fail the call with ErrRevealTooLarge before anything is
// decrypted (the proxies pass limits.max_body).
//
// # Audit and metrics
//
// Reveal (and RevealValues, its values only), Describe and Delete are
// audited through Options.Auditor (see Auditor), and so is a Redact that returns the value of an existing alias
// (RedactRequest.Detail with Alias, as the vault API's POST /aliases
// does), or is refused once those aliases were looked up (a format their
// values do not fit, an alias not found: the refusal tells which exist);
// Redact of values the caller sent and Known are not. Every store
// operation the Service makes is reported to Options.Observer with the
// Service call, the store's name (StoreNamer) and a result word, never an
// alias or a value.
//
// # Keys
//
// A 32-byte master key (ALIASGATE_MASTER_KEY, else <data dir>/master.key)
// derives, with HKDF-SHA256, a key-encryption key that wraps the random data
// keys kept in the store's metadata, and the index key. Opening a vault with
// another master key fails with ErrWrongMasterKey before anything is served.
// It also derives the card fingerprint key and the number key of the
// numbers index.
//
// # The numbers index
//
// Numbers (numbers.go) records, for every account at once, which aliases
// hold the card numbers and token PANs of cards (an HMAC under the number
// key, never the number), so that the cards API can refuse a token PAN a
// card or token of another account holds without telling whose. It is
// kept in the persistent store (NumberStore) and answers only from live
// records: an entry whose alias is gone counts for nothing.
// The data keys are set once per version and never removed, but a store
// failed over to older data lacks the versions added since its copy while
// the gateways go on sealing with them: Keyring.Restore, run by the
// KeyWorker at every refresh, puts back the versions the process holds and
// the store lacks (ErrKeyConflict when the store holds another key under
// one of them: a fork; the versions above it are put back all the same,
// and a fork at the current version makes the process rotate, so that it
// seals no more records that only it can open, once for every gateway: one
// that finds the store past the forked version adopts that version; a
// store holding the keys
// of another master key gets nothing, ErrWrongMasterKey).
//
// # Alias formats
//
// The formats are those of the VGS vault API (api.yaml, AliasFormat) but
// CUSTOM and JS, which name generators defined outside the API and are
// refused with ErrFormatUnsupported. README.md "Vault API" has the same
// table with an example per format.
//
//	UUID                             tok_<env>_ + 22 base58 characters (128 random bits); any value
//	RAW_UUID                         a random UUID v4; any value
//	FPE_SIX_T_FOUR                   same length, first 6 and last 4 digits kept, Luhn-valid (13–19 digits)
//	FPE_T_FOUR                       same length, last 4 kept, Luhn-valid, no leading 0 (12–19 digits)
//	PFPT                             19 digits: 991 (never a real BIN) + random + last 4, Luhn-valid (12–19 digits)
//	NUM_LENGTH_PRESERVING            random digits of the same length, no leading 0 (4–64 digits)
//	GENERIC_T_FOUR                   tok_<env>_ + 22 base58 characters + _ + the last 4 (6 or more characters
//	                                 ending in 4 digits)
//	FPE_ACC_NUM_T_FOUR               same length, last 4 kept, random digits, no leading 0 (6–64 digits)
//	FPE_ALPHANUMERIC_ACC_NUM_T_FOUR  same length, last 4 kept, random letters and digits (6–64 letters and digits)
//	FPE_SSN_T_FOUR                   the value's layout (ddd-dd-dddd or 9 digits), last 4 kept, a random
//	                                 area (001–899 but 666) and group (01–99) (an SSN)
//	NON_LUHN_FPE_ALPHANUMERIC        same length and character classes (digit, upper, lower), nothing kept,
//	                                 never Luhn-valid, no leading 0 (12–19 letters and digits)
//	ALPHANUMERIC_SIX_T_FOUR          19 characters: first 6 + 9 random letters and digits (at least one
//	                                 letter, so never a card number) + last 4 (13–19 digits)
//	VGS_FIXED_LEN_GENERIC            29 characters: vgs + 26 base58 characters (152 random bits); any value
//
// A format that keeps characters of the value leaves at least 2 of them
// out (FPE_SIX_T_FOUR and ALPHANUMERIC_SIX_T_FOUR 3, Luhn fixing one of a
// card number's): a shorter value would be spelled out in its alias, or
// all but one character of it (GENERIC_T_FOUR of a 4-digit CID), and is
// refused with ErrFormatNotApplicable.
//
// Format-preserving aliases are random, not a cipher of the value, and never
// equal to it; collisions with existing aliases are retried (aliases with
// under 128 random bits are also checked against the other store).
package vault
