package vault

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// DefaultKeyRefresh is how often a KeyWorker looks for data-key versions
// added by another process (`aliasgate keys rotate` on a shared store, or
// another gateway).
const DefaultKeyRefresh = 30 * time.Second

// KeyWorkerOptions configures a KeyWorker. Zero values take the defaults.
type KeyWorkerOptions struct {
	// Refresh is how often the worker reloads the keyring's versions and
	// retries a paused re-encryption; default DefaultKeyRefresh.
	Refresh time.Duration
	// Reencrypt configures the re-encryption (its Settle in particular:
	// how long gateways sharing the store may keep sealing with an older
	// version, about twice their Refresh; 0 when this process is the
	// store's only writer). Its Logger defaults to Logger.
	Reencrypt ReencryptOptions
	// Logger gets the worker's warnings and the new versions it loads; nil
	// logs nothing.
	Logger *slog.Logger
	// OnRestored, when set, is called with each data-key version the
	// worker put back into the store (Keyring.Restore), oldest first.
	OnRestored func(ctx context.Context, version uint32)
	// OnRotated, when set, is called with the version the worker rotated
	// to because the store holds another key under its current one
	// (Keyring.Restore).
	OnRotated func(ctx context.Context, version uint32)
}

// KeyWorker is the background key work of a serving gateway: every
// Refresh, or at once after Rotate or Kick, it loads data-key versions
// added elsewhere into the keyring, puts back the versions it holds that
// the store lost (Keyring.Restore: a failover to older data; each one
// reported to OnRestored, a rotation of Restore to OnRotated, for the
// audit log), and it re-encrypts the records still
// sealed with an older version (a Reencryptor; not when the store cannot
// re-encrypt, which is logged once). Run does the work; the other methods
// are safe to call from any goroutine, before, during and after Run.
type KeyWorker struct {
	store   Store
	keys    *Keyring
	rekey   *Reencryptor // nil when the store cannot re-encrypt
	refresh time.Duration
	log     *slog.Logger
	kick    chan struct{}
	// onRestored and onRotated are KeyWorkerOptions' (never nil).
	onRestored, onRotated func(ctx context.Context, version uint32)
}

// NewKeyWorker returns the key worker of store and its keyring.
func NewKeyWorker(store Store, keys *Keyring, opts KeyWorkerOptions) *KeyWorker {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Refresh <= 0 {
		opts.Refresh = DefaultKeyRefresh
	}
	ro := opts.Reencrypt
	if ro.Logger == nil {
		ro.Logger = opts.Logger
	}
	w := &KeyWorker{store: store, keys: keys, refresh: opts.Refresh, log: log, kick: make(chan struct{}, 1),
		onRestored: opts.OnRestored, onRotated: opts.OnRotated}
	if w.onRestored == nil {
		w.onRestored = func(context.Context, uint32) {}
	}
	if w.onRotated == nil {
		w.onRotated = func(context.Context, uint32) {}
	}
	r, err := NewReencryptor(store, keys, ro)
	if err != nil {
		log.Warn("keys: records of this store are not re-encrypted after a rotation", "error", err.Error())
	}
	w.rekey = r
	return w
}

// Run re-encrypts, then waits for the next refresh (or a Kick), reloads
// the keyring's versions, and starts over, until ctx ends. A failed
// re-encryption or refresh is logged and tried again at the next one; the
// re-encryption resumes from its checkpoint.
func (w *KeyWorker) Run(ctx context.Context) {
	t := time.NewTicker(w.refresh)
	defer t.Stop()
	for {
		if w.rekey != nil {
			if err := w.rekey.Run(ctx); err != nil && ctx.Err() == nil {
				w.log.Warn("keys: re-encryption paused; it resumes from its checkpoint", "error", err.Error(), "retry_in", w.refresh.String())
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-w.kick:
		}
		before := w.keys.Current()
		if v, err := w.keys.Refresh(ctx); err != nil {
			if ctx.Err() == nil {
				w.log.Warn("keys: could not look for new data-key versions", "error", err.Error())
			}
		} else if v != before {
			w.log.Info("keys: new data-key version in use", "version", v)
		}
		restored, rotated, err := w.keys.Restore(ctx)
		for _, v := range restored {
			w.onRestored(ctx, v)
		}
		if rotated != 0 {
			w.onRotated(ctx, rotated)
		}
		switch {
		case errors.Is(err, ErrKeyConflict):
			w.log.Error("keys: the store holds another data key under a version this gateway seals records with "+
				"(failed over to older data, then rotated?): records sealed here with it open only in this process", "error", err.Error())
		case errors.Is(err, ErrWrongMasterKey):
			w.log.Error("keys: the store holds data keys of another master key (another vault?): nothing was written to it", "error", err.Error())
		case err != nil && ctx.Err() == nil:
			w.log.Warn("keys: could not check that the store holds this gateway's data keys", "error", err.Error())
		}
		if len(restored) > 0 {
			w.log.Warn("keys: data-key versions missing from the store (failed over to older data?) were put back",
				"versions", fmt.Sprint(restored))
		}
	}
}

// Kick makes Run refresh the keyring and re-encrypt now rather than at the
// next tick. It never blocks; kicks while one is pending are one kick.
func (w *KeyWorker) Kick() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Rotate adds a data-key version (Keyring.Rotate) and kicks the worker, so
// that the re-encryption to it starts at once.
func (w *KeyWorker) Rotate(ctx context.Context) (version uint32, created bool, err error) {
	version, created, err = w.keys.Rotate(ctx)
	if err == nil {
		w.Kick()
	}
	return version, created, err
}

// Progress returns the re-encryption's progress; ok is false when the
// store cannot re-encrypt.
func (w *KeyWorker) Progress() (p RekeyProgress, ok bool) {
	if w.rekey == nil {
		return RekeyProgress{}, false
	}
	return w.rekey.Progress(), true
}

// KeyStatus is the state of a vault's data keys.
type KeyStatus struct {
	// Current is the version new records are sealed with.
	Current uint32
	// Versions lists every version, in ascending order.
	Versions []uint32
	// Reencryption is the state of the re-encryption to Current: the
	// worker's progress when it works on Current, otherwise Target and Done
	// alone, Done read from the store (ReencryptionDone).
	Reencryption RekeyProgress
}

// Status returns the state of the data keys and of the re-encryption to
// the current version. Its error is the store's, when Done has to be read
// from it.
func (w *KeyWorker) Status(ctx context.Context) (KeyStatus, error) {
	st := KeyStatus{Current: w.keys.Current(), Versions: w.keys.Versions()}
	st.Reencryption.Target = st.Current
	if p, ok := w.Progress(); ok && p.Target == st.Current {
		st.Reencryption = p
	}
	if !st.Reencryption.Done {
		done, err := ReencryptionDone(ctx, w.store, st.Current)
		if err != nil {
			return KeyStatus{}, err
		}
		st.Reencryption.Done = done
	}
	return st, nil
}
