// Package audit keeps aliasgate's tamper-evident audit log: an append-only
// file of JSON lines, one per reveal, delete, client creation, key rotation,
// data key put back into a store that lost it, and route reload (and one
// when the log takes lines again after appends failed), each chained to
// the one before it by an HMAC.
//
// # Lines
//
// Lines are written by a hand-written encoder that produces exactly what
// encoding/json writes for them (TestLineEncodingMatchesMarshal); the
// verifier reads them with encoding/json.
//
//	{"seq":7,"time":"2026-03-01T12:00:00.123456789Z","event":"reveal","actor":"client:CLT…",
//	 "route":"internal:aliases","client":"CLT…","count":2,"found":1,"aliases":["Zk3…","p0Q…"],
//	 "outcome":"ok","prev":"<mac of line 6>","mac":"<mac of this line>"}
//
// seq counts lines from 1. prev is the mac of the line before ("genesis"
// for the first line of a log). mac is HMAC-SHA256, under a key derived from
// the master key (HKDF, "aliasgate/audit/chain/v1"), of the line's bytes up
// to and without the `,"mac":…` member: so a line cannot be edited, removed,
// moved or added without the master key, and Verify names the first line
// where the chain breaks. Aliases are never written: each is replaced by a
// keyed hash (HMAC-SHA256 under "aliasgate/audit/alias/v1", 16 bytes,
// base64url) that an investigator with the master key can compute for a
// given alias (Keys.AliasHash) to find its lines. The proxy's leak guard
// asks the vault with Known, which decrypts nothing and writes no line.
// Values, card data and secrets never reach the log; every other field comes from configuration or
// authentication (route ids, client ids) or is a fixed word.
//
// # Durability and failure
//
// Writer.Log returns once the line is written to the file; concurrent
// callers share one write (group commit), and a caller that finds no commit
// in progress or queued writes its own line, without a hand-off to the
// commit goroutine. Options.SyncInterval chooses when
// it reaches the disk: zero fsyncs before Log returns (concurrent callers
// share one fsync); a positive interval fsyncs in the background at most
// that long after a write, so a killed process loses nothing and an
// operating-system crash or power loss loses at most the last interval. The
// vault calls Log before a reveal's values are returned, and refuses the
// reveal when it fails (fail closed); a failed background fsync fails every
// Log until an fsync succeeds again. Writer.Check tells whether the log
// takes lines (a readiness check): nil while the last append succeeded;
// after a failure it appends an "audit_resumed" line and answers its
// error, so the log is found writable again without another caller's line
// (one check's line at a time, until its append answers, even when the
// check's context ends first: the checks meanwhile fail at once).
//
// # Several writers and crashes
//
// Every append takes an exclusive flock on the file and checks its size
// against the one this Writer left: when another process (a CLI command such
// as `aliasgate clients create`) appended meanwhile, the chain continues
// from the last line on disk. A Writer keeps the lock between its appends
// while they follow each other (released 2 to 4 ms after the last one) and
// skips the flock and its release while it keeps it; the size check (one
// fstat) is still made before every append, so what takes no lock (an
// operator cutting, removing or appending to the file) is seen at the next
// line, as when the lock is taken for each append. A writer that has to
// wait for the lock says so (an open-file-description lock on a byte far
// past the end of the file, on Linux), and the Writer keeping it releases
// it within 2 ms and lets it in, then takes and releases it for every
// append until nobody waits; elsewhere it releases it at least every 50 ms
// under a steady load. An operator's rename of the file is seen when the
// path is next checked (at least every 100 ms, as before the hold). A
// crash can leave a torn last line (a write
// that never returned, so no reveal was answered on it): the next Writer
// ends it with a newline and appends an "audit_recovered" line that records
// its length (torn_bytes) and chains from the last whole line, which Verify
// accepts. A tail shorter than what this Writer wrote (lines cut off while
// it ran) is recorded as an "audit_gap" line, which Verify reports as
// tampering; so is a tail further along that does not continue this
// Writer's last line (another log under the same master key, another
// gateway's, put in the file's place): when the file has lines after its
// last one, the Writer goes back to that line where it wrote it: it keeps
// the identity of the file it wrote it to (a rotation renames that file,
// keeping it) and the offset the line ends at, and goes from the file at
// path through the audit_continued line that starts each file into the
// rotated file it names, which must end with the line that continuation
// chains to, until that file, where the line must be at its offset. It
// reads the first and last lines of each file (at most 64), whatever the
// lines others wrote since. A file that continues no other, or starts at
// or before the Writer's line without being the file it wrote it to (a
// cut copy), is the gap; a rotated file that a rotation of the chain
// removed (Options.Keep: named in an audit_rotated line on the way) ends
// the read back without one: it cannot tell. The file holding the
// Writer's line, once rotated or replaced, stays open in the Writer until
// its next line goes to another file: when an operator archived it (moved
// it off the machine or removed it, the oldest of the set, as SECURITY.md
// says to), the read back checks it through that handle (its last line
// is the audit_rotated line naming it, and the next file's head chains to
// it), without a gap; a file missing while an older rotated file is left
// is the gap. A last whole line that does not verify makes Open (and every
// later append) fail: the file was edited or the master key is not the
// log's; move it aside after keeping it as evidence.
//
// The log is a regular file (a link to one is followed): Open, the reopen
// after a rename and the verifiers refuse a FIFO, a device or a socket at
// its path (internal/regfile), which would take lines without keeping them
// or block.
//
// Cutting whole lines off the end of a log while no gateway runs cannot be
// seen in the file alone: the gateway writes "gateway_started" and
// "gateway_stopped" lines, so a log that does not end with a stop while the
// gateway is down is suspect, and shipping lines off the machine gives the
// anchor a file cannot.
//
// # Rotation
//
// With Options.MaxSize or Options.MaxAge, the file is rotated before an
// append once it holds MaxSize bytes or its first line is MaxAge old: under
// its lock, the Writer ends it with an "audit_rotated" line whose file
// member is its new name, <path>.<seq of that line, 12 digits>.<UTC time>
// (RotatedName: the names sort in chain order), fsyncs it, renames it and
// fsyncs the directory. The next file at path starts with an
// "audit_continued" line naming the file before it, which continues the
// chain (seq and prev) from the audit_rotated line. Every append checks,
// under the lock, that its open file is still the one at path, and opens
// the new one when another process rotated it, so several writers keep one
// chain across rotations. The check costs one fstat of the open file
// (none while the Writer keeps the lock since its last append): a
// rotation appends its audit_rotated line before the rename, so a file
// with the size this Writer left it is not rotated; the path is looked up
// when the size changed, when the open file has no name left (removed, or
// replaced by a rename) and at least every 100 ms, so an operator's mv of
// the log is followed within that time (the lines in between go to the
// moved file, whole and chained). A crash between the audit_rotated line and the
// rename leaves a file ending with that line: the next append finishes the
// rename. A crash after the rename leaves no file (or one without a whole
// line) at path: the next append continues from the newest rotated file.
// Options.Keep removes the oldest rotated files beyond it, named in the
// audit_rotated line; zero keeps them all. VerifySet checks a rotated set:
// each file, and that each continues the one before it, so a missing,
// reordered, renamed or cut file is reported; its oldest file may start
// after seq 1, at an audit_continued line, when older files were removed.
//
// External rotation tools (logrotate) are not supported: copytruncate
// copies the file and cuts it under the gateway, which is what cutting
// lines looks like, and create renames it and starts a new file, an
// operator's mv; both make the gateway's next line an audit_gap, which
// Verify reports as tampering (TestLogrotateIsAGap). Rotate with
// Options.MaxSize, MaxAge and Keep, and archive the rotated files.
package audit

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"sync"
)

// Event names.
const (
	EventReveal = "reveal"
	EventDelete = "delete"
	// EventUpdate: an alias's classifiers replaced (vault.AuditUpdate).
	EventUpdate         = "update"
	EventClientCreated  = "client_created"
	EventKeyRotated     = "key_rotated"
	EventKeysReencrypt  = "keys_reencrypted"
	EventRoutesReloaded = "routes_reloaded"
	EventGatewayStarted = "gateway_started"
	EventGatewayStopped = "gateway_stopped"
	// EventAbuseAlert records that a caller was flagged by an abuse
	// detector (internal/abuse): its actor is the caller
	// ("client:<id>" or "source:<address>"), its reason the detector
	// ("enumeration" or "duplicates").
	EventAbuseAlert = "abuse_alert"
	// EventKeyRestored records that a gateway put back into the vault's
	// store a data-key version the store had lost (a failover to older
	// data: vault.Keyring.Restore); its key_version is the version.
	EventKeyRestored = "key_restored"
	// EventRecovered follows a torn line left by a crash.
	EventRecovered = "audit_recovered"
	// EventResumed records that the log takes lines again after appends
	// failed (Writer.Check: the readiness check of a gateway whose
	// reveals were refused meanwhile).
	EventResumed = "audit_resumed"
	// EventGap records that lines this Writer had written were missing
	// from the file when it next appended.
	EventGap = "audit_gap"
	// EventRotated is the last line of a file closed by rotation; its
	// file member is the name the file is renamed to.
	EventRotated = "audit_rotated"
	// EventContinued is the first line of the file that follows a
	// rotation; its file member names the file before it.
	EventContinued = "audit_continued"
)

// Actors that are not a client or a route.
const (
	ActorCLI    = "cli"
	ActorAdmin  = "admin"
	ActorSystem = "system"
)

// Outcomes.
const (
	OutcomeOK       = "ok"
	OutcomeNotFound = "not_found"
	OutcomeError    = "error"
	OutcomeInvalid  = "invalid"
)

// genesis is the prev of a log's first line.
const genesis = "genesis"

// maxAliasHashes bounds the alias hashes of one line; a call with more
// records the count and the first maxAliasHashes.
const maxAliasHashes = 1000

// Keys are the audit log's keys, derived from the master key.
type Keys struct {
	chain []byte
	alias []byte
	// Pools of keyed HMAC states (*macState), reset after each use: a
	// reveal hashes every alias and the line, and hmac.New allocates two
	// SHA-256 states each time.
	chainMACs, aliasMACs *sync.Pool
}

// macState is a keyed HMAC-SHA256 state with room for its input (an
// alias, copied: a string handed to hash.Hash.Write as a []byte is copied
// to the heap) and its output, so that a MAC allocates nothing.
type macState struct {
	h   hash.Hash
	in  []byte
	out [sha256.Size]byte
}

// macPool returns a pool of HMAC-SHA256 states under key.
func macPool(key []byte) *sync.Pool {
	return &sync.Pool{New: func() any { return newMACState(key) }}
}

// newMACState returns an HMAC-SHA256 state under key.
func newMACState(key []byte) *macState {
	return &macState{h: hmac.New(sha256.New, key)}
}

// appendMAC appends to dst the base64url form of the first n bytes of
// HMAC-SHA256(key, data), or of the MAC of s when data is nil, with a
// state from pool (nil: a new one).
func appendMAC(dst []byte, pool *sync.Pool, key, data []byte, s string, n int) []byte {
	if pool == nil {
		return newMACState(key).appendSum(dst, data, s, n)
	}
	st := pool.Get().(*macState)
	dst = st.appendSum(dst, data, s, n)
	pool.Put(st) // not deferred: a state a panic left mid-MAC is dropped
	return dst
}

// appendSum appends to dst the base64url form of the first n bytes of
// the MAC of data, or of s when data is nil, and resets the state for its
// next use.
func (st *macState) appendSum(dst, data []byte, s string, n int) []byte {
	if data == nil {
		st.in = append(st.in[:0], s...)
		data = st.in
	}
	st.h.Write(data)
	dst = base64.RawURLEncoding.AppendEncode(dst, st.h.Sum(st.out[:0])[:n])
	st.h.Reset()
	return dst
}

// aliasHashLen is the length of an alias hash: 16 bytes in base64url.
const aliasHashLen = 22

// DeriveKeys derives the audit keys from the 32-byte master key (HKDF-SHA256,
// labels "aliasgate/audit/chain/v1" and "aliasgate/audit/alias/v1").
func DeriveKeys(master []byte) (Keys, error) {
	if len(master) != 32 {
		return Keys{}, errors.New("audit: the master key must be 32 bytes")
	}
	chain, err := hkdf.Key(sha256.New, master, nil, "aliasgate/audit/chain/v1", 32)
	if err != nil {
		return Keys{}, fmt.Errorf("audit: derive key: %w", err)
	}
	alias, err := hkdf.Key(sha256.New, master, nil, "aliasgate/audit/alias/v1", 32)
	if err != nil {
		return Keys{}, fmt.Errorf("audit: derive key: %w", err)
	}
	return Keys{chain: chain, alias: alias, chainMACs: macPool(chain), aliasMACs: macPool(alias)}, nil
}

// AliasHash returns the keyed hash that stands for alias in the log
// (base64url of the first 16 bytes of HMAC-SHA256).
func (k Keys) AliasHash(alias string) string {
	var b [aliasHashLen]byte
	return string(k.appendAliasHash(b[:0], alias))
}

// appendAliasHash appends AliasHash(alias) to dst.
func (k Keys) appendAliasHash(dst []byte, alias string) []byte {
	return appendMAC(dst, k.aliasMACs, k.alias, nil, alias, 16)
}

// mac returns the chain MAC of a line body (base64url, 43 characters).
func (k Keys) mac(body []byte) string {
	var b [43]byte
	return string(k.appendMAC(b[:0], body))
}

// appendMAC appends the chain MAC of a line body to dst.
func (k Keys) appendMAC(dst, body []byte) []byte {
	return appendMAC(dst, k.chainMACs, k.chain, body, "", sha256.Size)
}

// Event is one thing to record. Aliases are hashed by the Writer and never
// written.
type Event struct {
	// Event is one of the Event* names.
	Event string
	// Actor is "client:<id>", "route:<id>", ActorCLI, ActorAdmin or
	// ActorSystem; empty means "unknown".
	Actor string
	// actorKind, when set ("client:" or "route:", by AuditVault), is
	// the start of the actor and Actor its id.
	actorKind string
	// Route and Client are the route and client the event concerns.
	Route  string
	Client string
	// Account is the account a reveal or delete acted for (issue 18):
	// whose aliases it could reach. Lines written before accounts have
	// none (and verify unchanged).
	Account string
	// Purpose qualifies a reveal that is not one to a client ("create":
	// the vault API answering a create with an existing alias's value).
	Purpose string
	// Aliases are the aliases of a reveal or delete; Found how many were
	// live. A reveal or delete line always has count and found.
	Aliases []string
	Found   int
	// CountOnly records count and found without the alias hashes.
	CountOnly bool
	// KeyVersion is the data-key version of key events.
	KeyVersion uint32
	// Records counts the records of a keys_reencrypted event.
	Records uint64
	// Routes is the number of routes of a successful reload.
	Routes int
	// Reason is a fixed word qualifying the event (the detector of an
	// abuse_alert).
	Reason string
	// Outcome is one of the Outcome* words; default OutcomeOK.
	Outcome string
}

// line is the JSON form of a line without its mac; the field order is the
// order on disk.
type line struct {
	Seq   uint64 `json:"seq"`
	Time  string `json:"time"`
	Event string `json:"event"`
	Actor string `json:"actor"`
	// actorKind, when set, is written before Actor, in the same string
	// (Event.actorKind).
	actorKind string
	Route     string   `json:"route,omitempty"`
	Client    string   `json:"client,omitempty"`
	Account   string   `json:"account,omitempty"`
	Purpose   string   `json:"purpose,omitempty"`
	Count     *int     `json:"count,omitempty"`
	Found     *int     `json:"found,omitempty"`
	Aliases   []string `json:"aliases,omitempty"`
	// aliasHashes are the alias hashes of a line the Writer makes
	// (lineOf), aliasHashLen bytes each, written as Aliases holding them
	// would be, when Aliases is empty: not a string each.
	aliasHashes []byte
	Omitted     int      `json:"aliases_omitted,omitempty"`
	KeyVersion  uint32   `json:"key_version,omitempty"`
	Records     *uint64  `json:"records,omitempty"`
	Routes      *int     `json:"routes,omitempty"`
	TornBytes   int64    `json:"torn_bytes,omitempty"`
	ExpectedSeq uint64   `json:"expected_seq,omitempty"`
	File        string   `json:"file,omitempty"`
	Reason      string   `json:"reason,omitempty"`
	Removed     []string `json:"removed_files,omitempty"`
	Outcome     string   `json:"outcome"`
	Prev        string   `json:"prev"`
	// Mac is set when a line is read back; it is not part of the body.
	Mac string `json:"mac,omitempty"`
}

// hasAliases reports whether the event is an alias access (count/found).
func hasAliases(event string) bool {
	return event == EventReveal || event == EventDelete || event == EventUpdate
}
