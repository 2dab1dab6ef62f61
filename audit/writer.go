package audit

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aliasgate/aliasgate/internal/regfile"
	"github.com/aliasgate/aliasgate/vault"
)

// ErrClosed: the Writer has been closed.
var ErrClosed = errors.New("audit: log closed")

// Options tunes a Writer. Zero values take the defaults.
type Options struct {
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger gets recoveries and failures; nil logs nothing.
	Logger *slog.Logger
	// MaxBatch bounds the lines of one group commit; default 512.
	MaxBatch int
	// SyncInterval chooses when lines reach the disk. Zero (the default):
	// Log returns after its line is written and fsynced (group commit). A
	// positive interval: Log returns after its line is written to the file
	// (write(2): a crashed or killed process loses nothing), and the file
	// is fsynced at most this long after a write, so an operating-system
	// crash or power loss can lose the lines of the last interval. A failed
	// background fsync makes the next Log retry it and fail while it fails.
	SyncInterval time.Duration
	// MaxSize rotates the file before an append once it holds this many
	// bytes (so a file can exceed it by one batch); zero never rotates by
	// size. See Rotation in the package doc.
	MaxSize int64
	// MaxAge rotates the file before an append once its first line is this
	// old; zero never rotates by age.
	MaxAge time.Duration
	// Keep bounds the rotated files kept: a rotation removes the oldest
	// beyond Keep and names them in its audit_rotated line. Zero (the
	// default) removes none.
	Keep int
}

// Writer appends lines to one audit log file. It is safe for concurrent
// use; Log blocks until its line is durable (Options.SyncInterval zero) or
// written.
type Writer struct {
	path      string
	keys      Keys
	now       func() time.Time
	log       *slog.Logger
	max       int
	f         *os.File      // replaced (under syncMu) when the file at path changes
	every     time.Duration // Options.SyncInterval
	sync      func() error  // f.Sync, called under syncMu; replaced by tests
	maxSize   int64         // Options.MaxSize
	maxAge    time.Duration // Options.MaxAge
	keep      int           // Options.Keep
	syncs     atomic.Uint64 // fsyncs done
	dirty     atomic.Bool   // written since the last fsync (interval mode)
	syncMu    sync.Mutex    // one fsync at a time; guards syncErr
	syncErr   error         // the last background fsync's failure
	stopSync  chan struct{}
	syncsDone chan struct{}

	mu     sync.RWMutex // guards closed against sends on reqs and direct commits
	closed bool
	reqs   chan *request
	// requests are the requests of Logs that queue for the loop, with
	// their answer channels, reused once answered (putRequest).
	requests sync.Pool
	done     chan struct{}
	// commitMu is held by whoever commits: the loop, or a Log that found
	// no commit in progress and none queued and commits its line itself.
	commitMu sync.Mutex

	lines, failures, rotations atomic.Uint64
	// failing: the last commit failed, or a background fsync did since
	// (Check). checkMu is held while a Check's line is in flight, until
	// its append answers; the Checks meanwhile fail at once.
	failing    atomic.Bool
	checkMu    sync.Mutex
	pathChecks atomic.Uint64 // lookups of path (isCurrent)
	resyncs    atomic.Uint64 // reads of the file back (resync)

	// Guarded by commitMu.
	seq        uint64 // the chain head to continue from
	mac        string
	size       int64  // the file size after this Writer's last append; -1: unknown
	written    uint64 // the seq of the last line this Writer made durable
	writtenMac string
	// writtenIn is the file (its identity) that line was written to,
	// writtenEnd the offset its newline ends at, writtenLen its length
	// with the newline (chainHolds).
	writtenIn fs.FileInfo
	// writtenF is a handle on the file writtenIn when it is no longer
	// w.f (it was rotated, or replaced at path), kept until the Writer
	// writes a line to another file: the read back goes through it when
	// the file is no longer at its name (archived).
	writtenF   *os.File
	writtenEnd int64
	writtenLen int64
	fInfo      fs.FileInfo // w.f's identity, taken when it was opened
	born       time.Time   // the time of the file's first line; zero: unknown or empty
	finish     *line       // the audit_rotated line the file ends with: a rotation to finish
	created    bool        // the next write starts a file: fsync the directory after it
	// pathChecked is when isCurrent last found the open file at path;
	// pathEvery bounds the time between two such checks (pathCheckDue).
	pathChecked time.Time
	pathEvery   time.Duration
	buf         []byte // the lines of a commit, reused
	// lineOf's scratch, reused (the line it returns points into it and is
	// valid until its next call): the alias hashes of a line, and its
	// count and found (routes, records: of the events that have them).
	hashes       []byte
	count, found int
	routes       int
	records      uint64
	ln           line     // the line lineOf returns
	date         dateText // the date of the last line's time (encode)
	// The HMAC states of the lines this Writer makes (its alias hashes and
	// chain MACs): its own, not from the pools of Keys, since it uses them
	// under commitMu only (macs).
	aliasMAC, chainMAC *macState
	// The file lock kept between commits (see Several writers in the
	// package doc). locked: this Writer holds w.f's flock (outside a
	// commit: it kept it after its last append, so no other writer has
	// appended since). holdIdle is the tick of holdTimer (zero: release
	// after every commit); holdArmed says the timer runs, holdUsed that a
	// commit used the lock since the last tick, holdTicks counts the ticks
	// since the lock was kept; holdPaused: another writer waits or waited
	// for the lock (or holdMaxTicks passed), so it is released after every
	// commit until a tick finds nobody waiting.
	locked     bool
	holdIdle   time.Duration
	holdTimer  *time.Timer
	holdArmed  bool
	holdUsed   bool
	holdTicks  int
	holdPaused bool
}

type request struct {
	ev  Event
	err chan error
}

// Open opens (creating it, mode 0600, and its directory, 0700) the audit
// log at path and continues its chain from the last line, after recovering
// a torn last line left by a crash. It fails when the last whole line does
// not verify under keys (an edited file, or another master key).
func Open(path string, keys Keys, opts Options) (*Writer, error) {
	if len(keys.chain) == 0 {
		return nil, errors.New("audit: Open needs keys (DeriveKeys)")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("audit: create directory of %s: %w", path, err)
	}
	f, fi, err := openLogFile(path)
	if err != nil {
		return nil, err
	}
	if opts.SyncInterval < 0 || opts.MaxSize < 0 || opts.MaxAge < 0 || opts.Keep < 0 {
		f.Close()
		return nil, errors.New("audit: SyncInterval, MaxSize, MaxAge and Keep must not be negative")
	}
	w := &Writer{path: path, keys: keys, now: opts.Now, log: opts.Logger, max: opts.MaxBatch, f: f, fInfo: fi,
		every: opts.SyncInterval, maxSize: opts.MaxSize, maxAge: opts.MaxAge, keep: opts.Keep,
		size: -1, pathEvery: pathCheckEvery, holdIdle: holdTick, reqs: make(chan *request, 256), done: make(chan struct{})}
	w.sync = func() error { return w.f.Sync() }
	w.requests.New = func() any { return &request{err: make(chan error, 1)} }
	if w.now == nil {
		w.now = time.Now
	}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	if w.max <= 0 {
		w.max = 512
	}
	// commitMu, although nothing else has the Writer yet: a commit that
	// waited for another writer's lock arms the hold timer (pauseHold),
	// whose releaseIdle may run before Open returns.
	w.commitMu.Lock()
	err = w.commit(nil) // reads the tail; recovers a torn line, finishes a rotation
	if err != nil && w.holdTimer != nil {
		w.holdTimer.Stop()
	}
	w.commitMu.Unlock()
	if err != nil {
		w.f.Close()
		return nil, err
	}
	go w.loop()
	if w.every > 0 {
		w.stopSync, w.syncsDone = make(chan struct{}), make(chan struct{})
		go w.syncLoop()
	}
	return w, nil
}

// openLogFile opens (creating it, mode 0600) the log at path to append
// to it. It must be a regular file (a link to one is followed): lines
// written to a device such as /dev/null, or a FIFO, would be lost while
// the reveals they record are answered.
func openLogFile(path string) (*os.File, fs.FileInfo, error) {
	f, fi, err := regfile.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("audit: open %s: %w", path, err)
	}
	return f, fi, nil
}

// Path returns the file the Writer appends to.
func (w *Writer) Path() string { return w.path }

// Lines returns how many lines this Writer appended (written, and fsynced
// unless Options.SyncInterval is set).
func (w *Writer) Lines() uint64 { return w.lines.Load() }

// Syncs returns how many fsyncs of the file this Writer did.
func (w *Writer) Syncs() uint64 { return w.syncs.Load() }

// Failures returns how many appends failed.
func (w *Writer) Failures() uint64 { return w.failures.Load() }

// Check reports whether the log takes lines: nil while the last append
// succeeded. After an append failed (or a background fsync), the next
// Logs fail too until one succeeds, and nothing may come to make one (a
// gateway found not ready gets no reveals): so Check then appends an
// audit_resumed line itself and returns its error, nil once the log takes
// lines again. A log that works costs Check one atomic load and writes
// nothing.
//
// One check's line at a time is in flight, until it is written or
// refused, whatever ctx does: a Check whose ctx ends first returns ctx's
// error and leaves the line to its append, and the Checks after it fail at
// once (errCheckInProgress) until that append has answered. (A line
// handed to the commit loop stays queued when its caller's ctx ends, so
// a check that gave up with its line would let every probe of a hung
// disk queue one more audit_resumed line.)
func (w *Writer) Check(ctx context.Context) error {
	if !w.failing.Load() {
		return nil
	}
	if err := ctx.Err(); err != nil { // its asker is gone: no line for it
		return err
	}
	if !w.checkMu.TryLock() { // a check's line is in flight (a disk that hangs): no pile of them
		return errCheckInProgress
	}
	done := make(chan error, 1)
	go func() {
		var err error
		if w.failing.Load() { // else another Check or a Log succeeded meanwhile
			err = w.Log(context.WithoutCancel(ctx), Event{Event: EventResumed, Actor: ActorSystem})
		}
		w.checkMu.Unlock() // before the answer: the next Check after it may write
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// errCheckInProgress: Check found the line of another Check in flight.
var errCheckInProgress = errors.New("audit: appends failed, and the line of a check is still being written")

// Rotations returns how many times this Writer renamed the file in a
// rotation (its own, or one a crash cut short).
func (w *Writer) Rotations() uint64 { return w.rotations.Load() }

// Log appends e and returns once it is written and fsynced (written only,
// with Options.SyncInterval), or with the error that kept it from being so
// (ctx's, when ctx ends first: the line may still be written; a ctx that
// has already ended writes nothing). When no
// commit is in progress and none is queued, Log commits its line itself,
// without handing it to the commit loop and waiting for the answer (ctx
// is then not watched: the commit is the wait); otherwise the line joins
// the loop's next group commit.
func (w *Writer) Log(ctx context.Context, e Event) error {
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		w.mu.RUnlock()
		return err
	}
	if len(w.reqs) == 0 && w.commitMu.TryLock() {
		err := w.commitBatch([]Event{e})
		w.commitMu.Unlock()
		w.mu.RUnlock()
		return err
	}
	req := w.requests.Get().(*request)
	req.ev = e
	select {
	case w.reqs <- req:
		w.mu.RUnlock()
	case <-ctx.Done():
		w.mu.RUnlock()
		w.putRequest(req) // never sent: nothing answers it
		return ctx.Err()
	}
	select {
	case err := <-req.err:
		w.putRequest(req) // answered: the loop is done with it
		return err
	case <-ctx.Done():
		return ctx.Err() // req is left to the loop's answer, and dropped
	}
}

// putRequest puts a request nothing will answer again back into the pool,
// without its event (whose aliases are the caller's).
func (w *Writer) putRequest(req *request) {
	req.ev = Event{}
	w.requests.Put(req)
}

// AuditVault implements vault.Auditor: one reveal or delete line.
func (w *Writer) AuditVault(ctx context.Context, e vault.AuditEvent) error {
	return w.Log(ctx, eventOf(e))
}

// eventOf is the Event of a vault access. Its actor is kept as its kind
// and id (actorKind, Actor), which the line's encoder writes as one
// string, so that no string is made for it.
func eventOf(e vault.AuditEvent) Event {
	kind, id := actorOf(e.Actor)
	return Event{Event: e.Op, Actor: id, actorKind: kind, Route: e.Actor.Route, Client: e.Actor.Client,
		Account: e.Actor.Account, Purpose: e.Actor.Purpose, Aliases: e.Aliases, Found: e.Found, Outcome: e.Outcome}
}

// ActorOf names a vault actor: "client:<id>" when a client is known, else
// "route:<id>", else "unknown".
func ActorOf(a vault.Actor) string {
	kind, id := actorOf(a)
	return kind + id
}

// actorOf returns ActorOf(a) in two parts: "client:" or "route:" and the
// id, or "" and "unknown".
func actorOf(a vault.Actor) (kind, id string) {
	switch {
	case a.Client != "":
		return "client:", a.Client
	case a.Route != "":
		return "route:", a.Route
	}
	return "", "unknown"
}

// Close writes what was queued and closes the file. Later Logs fail with
// ErrClosed.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	close(w.reqs)
	w.mu.Unlock()
	<-w.done
	w.commitMu.Lock()
	w.unlock()
	w.dropWrittenFile()
	if w.holdTimer != nil {
		w.holdTimer.Stop()
		w.holdArmed, w.holdPaused = false, false
	}
	w.commitMu.Unlock()
	var syncErr error
	if w.every > 0 {
		close(w.stopSync)
		<-w.syncsDone
		if w.dirty.Swap(false) {
			syncErr = w.fsync()
		}
	}
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("audit: close %s: %w", w.path, err)
	}
	return syncErr
}

// fsync syncs the file, counting it, and wraps its error.
func (w *Writer) fsync() error {
	w.syncMu.Lock()
	defer w.syncMu.Unlock()
	if err := w.sync(); err != nil {
		w.syncErr = fmt.Errorf("audit: fsync %s: %w", w.path, err)
		return w.syncErr
	}
	w.syncErr = nil
	w.syncs.Add(1)
	return nil
}

// syncLoop fsyncs the file every interval when lines were written since
// the last fsync (Options.SyncInterval). It runs beside the commit loop:
// appends go on while an fsync is in progress.
func (w *Writer) syncLoop() {
	defer close(w.syncsDone)
	t := time.NewTicker(w.every)
	defer t.Stop()
	for {
		select {
		case <-w.stopSync:
			return
		case <-t.C:
			if !w.dirty.Swap(false) {
				continue
			}
			if err := w.fsync(); err != nil {
				w.dirty.Store(true) // retried at the next tick and by the next append
				w.failing.Store(true)
				w.log.Error("audit: background fsync failed; appends fail until it succeeds", "file", w.path, "error", err.Error())
			}
		}
	}
}

// pendingSyncError retries a failed background fsync and returns its error
// while it still fails.
func (w *Writer) pendingSyncError() error {
	w.syncMu.Lock()
	failed := w.syncErr != nil
	w.syncMu.Unlock()
	if !failed {
		return nil
	}
	return w.fsync()
}

// loop group-commits queued requests: one write and one fsync for all the
// requests waiting when it takes a batch.
func (w *Writer) loop() {
	defer close(w.done)
	// The batch and its events, reused from batch to batch (cleared after
	// each: their events hold the callers' aliases).
	var batch []*request
	var evs []Event
	for req := range w.reqs {
		batch = append(batch[:0], req)
	drain:
		for len(batch) < w.max {
			select {
			case r, ok := <-w.reqs:
				if !ok {
					break drain
				}
				batch = append(batch, r)
			default:
				break drain
			}
		}
		evs = evs[:0]
		for _, r := range batch {
			evs = append(evs, r.ev)
		}
		w.commitMu.Lock()
		err := w.commitBatch(evs)
		w.commitMu.Unlock()
		for _, r := range batch {
			r.err <- err // the last use of r: its Log may put it back in the pool at once
		}
		clear(batch)
		clear(evs)
	}
}

// commitBatch commits evs, counting them as lines or failures. The caller
// holds commitMu.
func (w *Writer) commitBatch(evs []Event) error {
	err := w.commit(evs)
	w.failing.Store(err != nil)
	if err != nil {
		w.failures.Add(uint64(len(evs)))
		w.log.Error("audit: append failed", "file", w.path, "lines", len(evs), "error", err.Error())
	} else {
		w.lines.Add(uint64(len(evs)))
	}
	return err
}

// commit appends evs (possibly none) under the file lock, after checking
// that the file is still the one at path (another Writer may have rotated
// it) and as this Writer left it. It rotates the file first when it is due
// (at most once per commit), and finishes a rotation cut short by a crash.
// After appending lines it keeps the lock for the next commits (hold);
// after an error, a rotation or no lines it releases it.
func (w *Writer) commit(evs []Event) error {
	rotated := false
	for range 16 {
		size, err := w.lockCurrent()
		if err != nil {
			w.size = -1
			return err
		}
		again, err := w.append(evs, size, &rotated)
		if err != nil || again || len(evs) == 0 || w.holdIdle <= 0 || w.holdPaused {
			w.unlock()
			if err != nil || !again {
				return err
			}
			continue
		}
		w.hold()
		return nil
	}
	w.size = -1
	return fmt.Errorf("audit: %s keeps being replaced while appending; giving up", w.path)
}

// Holding the lock between commits. Under load, taking and releasing the
// flock and the fstat of every commit were three of a line's four
// syscalls; a Writer that keeps the lock skips them while nobody else can
// append. The lock is kept one to two holdTicks after the last commit
// (the tick after the commit that started the hold finds it used). A
// writer that has to wait for the lock says so (lockFile), and the Writer
// keeping it sees that at its next tick: it releases the lock, lets the
// waiter take it (waiting at most holdTick for it to), and releases it
// after every commit, as it did before it kept it, until a tick finds
// nobody waiting; a Writer that had to wait does the same. (flock does not
// queue its waiters: a Writer that took the lock back at once could win it
// again and again before the waiting process runs.) Where waiting cannot
// be seen (not Linux), the lock is released so after holdMaxTicks ticks
// under a steady load. Another writer (a CLI command, another gateway on
// the same file) so waits about as long as when every commit released the
// lock (TestKeptLockLetsAnotherWriterIn).
const (
	holdTick     = 2 * time.Millisecond
	holdMaxTicks = 25
)

// unlock releases w.f's flock when this Writer holds it. The caller holds
// commitMu (or owns the Writer).
func (w *Writer) unlock() {
	if w.locked {
		unlockFile(w.f)
		w.locked = false
	}
}

// hold keeps the lock after a commit, starting the timer that releases
// it (releaseIdle) when it was not already kept. The caller holds
// commitMu.
func (w *Writer) hold() {
	w.holdUsed = true
	if !w.holdArmed {
		w.holdArmed, w.holdTicks = true, 0
		w.armHoldTimer()
	}
}

// pauseHold releases the lock after every commit until a tick finds
// nobody waiting for it. The caller holds commitMu.
func (w *Writer) pauseHold() {
	if w.holdIdle <= 0 {
		return // never kept
	}
	w.holdPaused = true
	if !w.holdArmed {
		w.holdArmed, w.holdTicks = true, 0
		w.armHoldTimer()
	}
}

// armHoldTimer starts holdTimer. The caller holds commitMu.
func (w *Writer) armHoldTimer() {
	if w.holdTimer == nil {
		w.holdTimer = time.AfterFunc(w.holdIdle, w.releaseIdle)
	} else {
		w.holdTimer.Reset(w.holdIdle)
	}
}

// releaseIdle runs every holdTick while the lock is kept, or released
// after every commit (holdPaused). It releases the lock when no commit used
// it since the last tick; when another writer waits, or after holdMaxTicks
// ticks, it releases it, hands it over (handOver) and pauses the holding
// until a tick finds nobody waiting.
func (w *Writer) releaseIdle() {
	w.commitMu.Lock()
	defer w.commitMu.Unlock()
	w.holdTicks++
	switch {
	case w.holdPaused && othersWaiting(w.f):
		w.holdTimer.Reset(w.holdIdle)
	case w.holdPaused:
		w.holdArmed, w.holdPaused = false, false
	case !w.locked || !w.holdUsed:
		w.unlock()
		w.holdArmed = false
	case w.holdTicks >= holdMaxTicks || othersWaiting(w.f):
		w.unlock()
		w.handOver()
		w.holdPaused = true
		w.holdTimer.Reset(w.holdIdle)
	default:
		w.holdUsed = false
		w.holdTimer.Reset(w.holdIdle)
	}
}

// handOver waits, after the lock was released and with commitMu held (so
// no commit of this Writer takes the lock back), until no other writer
// waits for the lock, at most holdTick.
func (w *Writer) handOver() {
	for deadline := time.Now().Add(w.holdIdle); othersWaiting(w.f) && time.Now().Before(deadline); {
		time.Sleep(50 * time.Microsecond)
	}
}

// append does commit's work under the lock, on the file of size bytes.
// again: the file was rotated, commit must lock the new one and call
// append again.
func (w *Writer) append(evs []Event, size int64, rotated *bool) (again bool, err error) {
	buf := w.buf[:0]
	defer func() {
		if cap(buf) <= maxKeptBuffer {
			w.buf = buf[:0]
		}
	}()
	if size != w.size {
		if buf, err = w.resync(buf, size); err != nil {
			w.size = -1
			return false, err
		}
	}
	if w.finish != nil { // the file ends with its audit_rotated line
		w.size = -1
		return true, w.finishRotation(*w.finish)
	}
	now := w.now().UTC()
	if len(evs) > 0 && !*rotated {
		if reason := w.rotationDue(size+int64(len(buf)), now); reason != "" {
			*rotated = true
			return true, w.rotate(buf, size, reason, now)
		}
	}
	seq, mac := w.seq, w.mac
	lastStart := -1 // where the last event's line starts in buf
	for i := range evs {
		seq++
		lastStart = len(buf)
		buf, mac = w.encode(buf, w.lineOf(&evs[i]), seq, mac, now)
	}
	if len(buf) == 0 {
		w.size = size
		return false, nil
	}
	if w.every > 0 {
		if err := w.pendingSyncError(); err != nil {
			return false, err
		}
	}
	if _, err := w.f.Write(buf); err != nil {
		w.size = -1 // a partial write is a torn line: the next append recovers it
		return false, fmt.Errorf("audit: write %s: %w", w.path, err)
	}
	if w.every > 0 {
		w.dirty.Store(true)
	} else if err := w.fsync(); err != nil {
		w.size = -1
		return false, err
	}
	w.seq, w.mac, w.size = seq, mac, size+int64(len(buf))
	w.written, w.writtenMac, w.writtenIn, w.writtenEnd = seq, mac, w.fInfo, w.size
	if lastStart >= 0 {
		// The last line is the last event's: its length is known
		// without scanning the buffer back for the newline before it
		// (bytes.LastIndexByte is a byte loop, over the whole line).
		w.writtenLen = int64(len(buf) - lastStart)
	} else {
		w.writtenLen = lastLineLen(buf)
	}
	w.dropWrittenFile()
	if w.born.IsZero() {
		w.born = now
	}
	if w.created { // the first line of a new file: make its name durable
		w.created = false
		if err := syncDir(filepath.Dir(w.path)); err != nil {
			w.log.Warn("audit: fsync of the log's directory failed", "file", w.path, "error", err.Error())
		}
	}
	return false, nil
}

// resync reads the chain head from the file's tail (from the newest
// rotated file when the file holds no whole line yet) and appends to out
// the lines to write before the next ones: a newline and an audit_recovered line
// after a torn last line, an audit_continued line starting a file after a
// rotation, an audit_gap line when lines this Writer wrote are gone. When
// the file ends with an audit_rotated line it sets w.finish instead.
func (w *Writer) resync(out []byte, size int64) ([]byte, error) {
	w.resyncs.Add(1)
	last, torn, err := readTail(w.f, size)
	if err != nil {
		return nil, fmt.Errorf("audit: read the end of %s: %w", w.path, err)
	}
	w.seq, w.mac, w.finish, w.created, w.born = 0, genesis, nil, false, time.Time{}
	from := "" // the rotated file this one continues
	if last != nil {
		l, err := w.keys.parse(last)
		if err != nil {
			return nil, fmt.Errorf("audit: the last line of %s does not verify (%v): the file was edited, or the master key is not this log's; "+
				"check it with `aliasgate audit verify`, keep it as evidence and move it aside to start a new log", w.path, err)
		}
		w.seq, w.mac = l.Seq, l.Mac
		if l.Event == EventRotated && torn == 0 {
			w.finish = &l
			return out, nil
		}
		if w.maxAge > 0 {
			w.born = firstLineTime(w.f, size)
		}
	} else {
		name, l, err := w.rotatedHead()
		if err != nil {
			return nil, err
		}
		if name != "" {
			w.seq, w.mac, from = l.Seq, l.Mac, name
		}
	}
	gap := w.written > 0 && (w.seq < w.written || w.seq == w.written && !hmac.Equal([]byte(w.mac), []byte(w.writtenMac)))
	if w.written > 0 && w.seq > w.written {
		// Lines after this Writer's last one: they must continue it (other
		// writers append to the tail they read), not another chain under
		// the same key put in the file's place.
		holds, err := w.chainHolds(w.f, size, from)
		if err != nil {
			return nil, fmt.Errorf("audit: read back %s: %w", w.path, err)
		}
		gap = !holds
	}
	now := w.now().UTC()
	add := func(l line) {
		w.seq++
		out, w.mac = w.encode(out, &l, w.seq, w.mac, now)
	}
	if torn > 0 {
		out = append(out, '\n')
		add(line{Event: EventRecovered, Actor: ActorSystem, TornBytes: torn + 1, Outcome: OutcomeOK})
		w.log.Warn("audit: the log ended in a torn line (a write cut short by a crash or a full disk); recorded and continued",
			"file", w.path, "torn_bytes", torn)
	}
	if from != "" {
		add(line{Event: EventContinued, Actor: ActorSystem, File: from, Outcome: OutcomeOK})
		w.created = true
	}
	if gap {
		add(line{Event: EventGap, Actor: ActorSystem, ExpectedSeq: w.written, Outcome: OutcomeError})
		w.log.Error("audit: lines this gateway wrote are missing from the audit log (it was cut or replaced); recorded",
			"file", w.path, "last_written_seq", w.written)
	}
	return out, nil
}

// maxChainFiles bounds the files chainHolds goes back through (reading
// the first and last lines of each).
const maxChainFiles = 64

// chainHolds reports whether the chain that ends at the end of f (its
// first size bytes; from names the rotated file to start in when f holds
// no whole line) passes through the line this Writer wrote last (seq
// w.written, mac w.writtenMac), which it wrote to the file w.writtenIn
// (its identity: a rotation renames it, keeping it) ending at offset
// w.writtenEnd. It goes back file by file, from the audit_continued line
// that starts each (after an audit_recovered line, when a crash tore its
// first write) into the rotated file it names, which must end with the
// line the continuation chains to (its prev, one seq before), until the
// file that is w.writtenIn: there the line that ends at w.writtenEnd must
// be the Writer's, and the file's last line must chain to the file after
// it. It reads the first and last lines of each file, whatever their
// sizes. A file that does not continue another, or continues one that is
// not there, or does not chain to it, is another chain (another log put
// in place, under the same key); a file that starts at or before the
// Writer's line and is not w.writtenIn is a copy of its file, cut (the
// Writer's line is always in the file it wrote it to: rotations rename
// files); a file the chain's rotation removed (an
// audit_rotated line on the way back names it among its removed files:
// another writer rotated past Options.Keep, as configured), or more than
// maxChainFiles files, it cannot tell, and says yes. A file that is not
// there and is the Writer's own (an operator archived it: copied it off
// the machine and removed it, as the oldest rotated files are) is read
// through the handle the Writer kept on it (w.writtenF).
func (w *Writer) chainHolds(f *os.File, size int64, from string) (bool, error) {
	removed := map[string]bool{}
	dir := filepath.Dir(w.path)
	var after *line // the first line of the file after f in the chain: f's last line is its prev
	for files := 0; ; files++ {
		named := "" // the name f had: w.writtenF, no longer there
		if from != "" {
			if files > maxChainFiles {
				return true, nil
			}
			rf, err := openRead(filepath.Join(dir, from))
			if errors.Is(err, fs.ErrNotExist) {
				if removed[from] || w.writtenF == nil || after == nil {
					return removed[from], nil
				}
				// Moved away or removed since: when it was among the
				// oldest (archived: no older rotated file is left) and is
				// the Writer's own file, which it still holds open, the
				// chain is checked through that handle (its last line must
				// be the audit_rotated line naming it, and chain to after).
				if oldest, err := w.oldestGone(from); err != nil || !oldest {
					return false, err
				}
				rf, named = w.writtenF, from
			} else if err != nil {
				return false, err
			} else {
				defer rf.Close()
			}
			fi, err := rf.Stat()
			if err != nil {
				return false, err
			}
			f, size = rf, fi.Size()
		}
		fi, err := f.Stat()
		if err != nil {
			return false, err
		}
		if after != nil {
			last, torn, err := readTail(f, size)
			if err != nil {
				return false, err
			}
			l, perr := w.keys.parse(last)
			if last == nil || torn > 0 || perr != nil || after.Seq != l.Seq+1 || !hmac.Equal([]byte(after.Prev), []byte(l.Mac)) ||
				named != "" && (l.Event != EventRotated || l.File != named) {
				return false, nil
			}
			if l.Event == EventRotated {
				for _, name := range l.Removed {
					removed[name] = true
				}
			}
		}
		if w.writtenIn != nil && os.SameFile(fi, w.writtenIn) {
			if size < w.writtenEnd {
				return false, nil
			}
			return w.writtenEndsAt(f)
		}
		first, cont, err := w.fileHead(f, size)
		if err != nil || cont == nil || first.Seq <= w.written {
			// Another chain, or a file that should hold the Writer's line
			// and is not the one it wrote it to (a copy, cut).
			return false, err
		}
		if _, ok := parseRotatedName(filepath.Base(w.path), cont.File); !ok || filepath.Base(cont.File) != cont.File {
			return false, nil
		}
		after, from = first, cont.File
	}
}

// oldestGone reports whether no rotated file of the log older than the
// one named name (by the seq in the names) is left: name was among the
// oldest files, as archiving removes them (a file missing from the
// middle of the set is what `audit verify` reports as missing_file).
func (w *Writer) oldestGone(name string) (bool, error) {
	seq, ok := parseRotatedName(filepath.Base(w.path), name)
	if !ok {
		return false, nil
	}
	files, err := rotatedFiles(w.path)
	if err != nil {
		return false, err
	}
	return len(files) == 0 || files[0].seq > seq, nil
}

// dropWrittenFile closes w.writtenF once the Writer's last line is in
// w.f. The caller holds commitMu.
func (w *Writer) dropWrittenFile() {
	if w.writtenF != nil {
		w.writtenF.Close()
		w.writtenF = nil
	}
}

// lastLineLen returns the length, with its newline, of the last line of
// buf (which ends with a newline): the line a commit wrote last, whether
// an event's or one resync added (an audit_recovered or audit_continued
// line written at Open, with no event after it). Lines hold no newline
// but their last byte (JSON escapes it).
func lastLineLen(buf []byte) int64 {
	return int64(len(buf) - (bytes.LastIndexByte(buf[:len(buf)-1], '\n') + 1))
}

// writtenEndsAt reports whether the line of f that ends at w.writtenEnd is
// the one this Writer wrote last (w.writtenLen bytes, a newline the last).
func (w *Writer) writtenEndsAt(f io.ReaderAt) (bool, error) {
	start := w.writtenEnd - w.writtenLen
	if w.writtenLen < 1 || start < 0 {
		return false, nil
	}
	b := make([]byte, w.writtenLen)
	if _, err := f.ReadAt(b, start); err != nil && !errors.Is(err, io.EOF) {
		return false, err
	}
	if b[len(b)-1] != '\n' {
		return false, nil
	}
	l, err := w.keys.parse(b[:len(b)-1])
	return err == nil && l.Seq == w.written && hmac.Equal([]byte(l.Mac), []byte(w.writtenMac)), nil
}

// maxHeadLines bounds the lines fileHead reads: an audit_recovered line
// (a torn first write), then the audit_continued line.
const maxHeadLines = 3

// fileHead returns the first line of f that verifies and the
// audit_continued line among its first lines (nil when it has none: the
// file continues no other).
func (w *Writer) fileHead(f io.ReaderAt, size int64) (first, cont *line, err error) {
	br := bufio.NewReaderSize(io.NewSectionReader(f, 0, size), 16<<10)
	for range maxHeadLines {
		b, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
			if err == nil {
				continue // a long line, not the short system lines a head holds
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = nil
			}
			return first, nil, err
		}
		l, perr := w.keys.parse(b[:len(b)-1])
		if perr != nil {
			continue // a torn line, which the recovery after it closes
		}
		if first == nil {
			first = &l
		}
		if l.Event == EventContinued {
			return first, &l, nil
		}
	}
	return first, nil, nil
}

// lineOf turns an event into a line (without seq, time, prev). The line
// is w's scratch, and points into more of it: it is valid until the next
// call. The caller holds commitMu.
func (w *Writer) lineOf(ev *Event) *line {
	l := &w.ln
	*l = line{Event: ev.Event, Actor: ev.Actor, actorKind: ev.actorKind, Route: ev.Route, Client: ev.Client, Account: ev.Account, Purpose: ev.Purpose,
		KeyVersion: ev.KeyVersion, Reason: ev.Reason, Outcome: ev.Outcome}
	if l.Actor == "" && l.actorKind == "" {
		l.Actor = "unknown"
	}
	if l.Outcome == "" {
		l.Outcome = OutcomeOK
	}
	if hasAliases(ev.Event) {
		w.count, w.found = len(ev.Aliases), ev.Found
		l.Count, l.Found = &w.count, &w.found
		n := min(len(ev.Aliases), maxAliasHashes)
		if ev.CountOnly {
			n = 0
		}
		// The hashes are made in one buffer the line points into: no
		// allocation per line.
		w.hashes = w.hashes[:0]
		aliasMAC, _ := w.macs()
		for _, a := range ev.Aliases[:n] {
			w.hashes = aliasMAC.appendSum(w.hashes, nil, a, 16)
		}
		l.aliasHashes = w.hashes
		if cap(w.hashes) > maxKeptBuffer {
			w.hashes = nil // the line keeps its own
		}
		if !ev.CountOnly {
			l.Omitted = len(ev.Aliases) - n
		}
	}
	switch ev.Event {
	case EventRoutesReloaded:
		if ev.Outcome == "" || ev.Outcome == OutcomeOK {
			w.routes = ev.Routes
			l.Routes = &w.routes
		}
	case EventKeysReencrypt:
		w.records = ev.Records
		l.Records = &w.records
	}
	return l
}

// macs returns the Writer's HMAC states for alias hashes and chain MACs,
// made at their first use. The caller holds commitMu.
func (w *Writer) macs() (alias, chain *macState) {
	if w.aliasMAC == nil {
		w.aliasMAC, w.chainMAC = newMACState(w.keys.alias), newMACState(w.keys.chain)
	}
	return w.aliasMAC, w.chainMAC
}

// encode sets l's seq and prev, and appends its bytes (with its mac and a
// newline) to dst and returns them with its mac. The caller holds
// commitMu.
func (w *Writer) encode(dst []byte, l *line, seq uint64, prev string, now time.Time) ([]byte, string) {
	l.Seq, l.Time, l.Prev, l.Mac = seq, "", prev, ""
	start := len(dst)
	dst = appendLineAt(dst, l, now, &w.date)
	end := len(dst)
	_, chainMAC := w.macs()
	dst = chainMAC.appendSum(dst, dst[start:end], "", sha256.Size) // after the body, for the string
	mac := string(dst[end:])
	dst = append(dst[:end-1], macMember...)
	dst = append(dst, mac...)
	dst = append(dst, "\"}\n"...)
	return dst, mac
}

// maxKeptBuffer bounds the commit buffer a Writer keeps for the next one.
const maxKeptBuffer = 1 << 20

// macMember starts the mac member, the last of every line.
var macMember = []byte(`,"mac":"`)

// parse checks one line (without its newline) and returns it with its mac.
func (k Keys) parse(b []byte) (line, error) {
	i := bytes.LastIndex(b, macMember)
	if i < 0 || !bytes.HasSuffix(b, []byte(`"}`)) || len(b)-2 < i+len(macMember) {
		return line{}, errMalformed
	}
	mac := b[i+len(macMember) : len(b)-2]
	body := make([]byte, 0, i+1)
	body = append(append(body, b[:i]...), '}')
	if !hmac.Equal([]byte(k.mac(body)), mac) {
		return line{}, errBadMAC
	}
	var l line
	if err := json.Unmarshal(b, &l); err != nil || l.Seq == 0 {
		return line{}, errMalformed
	}
	return l, nil
}

var (
	errMalformed = errors.New("not an audit line")
	errBadMAC    = errors.New("its HMAC does not match")
)

// maxTail bounds how far back readTail looks for the last line.
const maxTail = 32 << 20

// readTail returns the last whole line of the file's first size bytes
// (without its newline; nil when there is none) and the length of what
// follows it: a torn line that has no newline.
func readTail(f io.ReaderAt, size int64) (last []byte, torn int64, err error) {
	if size == 0 {
		return nil, 0, nil
	}
	for window := int64(64 << 10); ; window *= 2 {
		start := max(size-window, 0)
		buf := make([]byte, size-start)
		if _, err := f.ReadAt(buf, start); err != nil && !errors.Is(err, io.EOF) {
			return nil, 0, err
		}
		end := bytes.LastIndexByte(buf, '\n')
		if end < 0 {
			if start == 0 {
				return nil, size, nil // no whole line: all torn
			}
		} else {
			begin := bytes.LastIndexByte(buf[:end], '\n') + 1
			if begin > 0 || start == 0 {
				return buf[begin:end], int64(len(buf) - end - 1), nil
			}
		}
		if window >= maxTail {
			return nil, 0, fmt.Errorf("the last line is longer than %d bytes", maxTail)
		}
	}
}
