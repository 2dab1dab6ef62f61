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
