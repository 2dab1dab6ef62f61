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
// have an index entry HMAC-SHA256(index key, format ‖ 0 ‖ value) → alias,
// which makes persistent aliases deterministic per (value, format) without
// keeping the value in clear or decrypting to search. A value may have one
// persistent alias of each format; they are separate records found through
// the index. Volatile records (CVCs) have no index entry: every redaction
// makes a new alias, so that equal CVCs cannot be told apart, and they
// expire after the volatile TTL.
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
// never deleted. The one race left: a concurrent call given, at the same
// instant, the persistent alias this call created loses it when this call
// rolls back.
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
// # Who may tokenize how much: Admission
//
// Options.Admission (internal/abuse in the gateway) is asked once per
// Redact that holds persistent values, after the index look-up has said
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
//     aliases could make a real card number pass the guard.
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
// # Audit and metrics
//
// Reveal, Describe and Delete are audited through Options.Auditor (see
// Auditor), and so is a Redact that returns the value of an existing alias
// (RedactRequest.Detail with Alias, as the vault API's POST /aliases
// does); Redact of values the caller sent and Known are not. Every store
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
//
// # Alias formats
//
//	UUID                   tok_<env>_ + 22 base58 characters (128 random bits)
//	RAW_UUID               a random UUID v4
//	FPE_SIX_T_FOUR         same length, first 6 and last 4 digits kept, Luhn-valid (13–19 digits)
//	FPE_T_FOUR             same length, last 4 kept, Luhn-valid, no leading 0 (12–19 digits)
//	PFPT                   19 digits: 991 (never a real BIN) + random + last 4, Luhn-valid
//	NUM_LENGTH_PRESERVING  random digits of the same length, no leading 0 (4–64 digits)
//	GENERIC_T_FOUR         tok_<env>_ + 22 base58 characters + the value's last 4 digits
//
// Format-preserving aliases are random, not a cipher of the value, and never
// equal to it; collisions with existing aliases are retried.
package vault
