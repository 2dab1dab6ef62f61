package auth

import (
	"errors"
	"net/http"
	"time"

	"github.com/aliasgate/aliasgate/internal/lockout"
)

// guarded runs check, a check of r's credentials, through the Service's
// lockout (Options.Lockout) under r's source address: charged before it
// runs, unless the address is locked out, when check does not run and
// locked is set with the wait (the caller answers 429 with Retry-After
// in its API's shape). Otherwise err is check's. The failure that locks
// the address out is logged (warn: a guessing campaign's signal) with
// the address, never the credentials. Without a lockout check just runs.
func (s *Service) guarded(r *http.Request, check func() error) (locked bool, wait time.Duration, err error) {
	if s.lockout == nil {
		return false, 0, check()
	}
	src := ""
	if s.source != nil {
		src = s.source(r)
	}
	if src == "" {
		src = r.RemoteAddr
	}
	addr := lockout.Key(src)
	v, wait := s.lockout.Attempt(addr, func() lockout.Outcome {
		err = check()
		return guessOutcome(err)
	})
	switch {
	case v == lockout.LockedOut:
		return true, wait, nil
	case v == lockout.Denied && wait > 0:
		s.log.WarnContext(r.Context(), "auth: address locked out after failed client credentials",
			"remote", r.RemoteAddr, "address", addr, "for", wait.String())
	}
	return false, 0, err
}

// guessOutcome is what a credential check's error says of the credentials:
// Pass when they are right, Fail for a wrong secret or an invalid token,
// Void when nothing was judged: no credentials, an outbound client's right
// secret (not a guess, and not this API's credentials either: it does not
// reset its address), right credentials of a client over its rate
// (errOverLimit: a refused request does not reset it either), a failure of
// the client store.
func guessOutcome(err error) lockout.Outcome {
	switch {
	case err == nil:
		return lockout.Pass
	case errors.Is(err, ErrOutboundOnly), errors.Is(err, ErrNoCredentials), errors.Is(err, errOverLimit):
		return lockout.Void
	case errors.Is(err, ErrInvalidCredentials), errors.Is(err, ErrInvalidToken):
		return lockout.Fail
	default:
		return lockout.Void
	}
}

// errOverLimit: the credentials were right, and the client's Limit
// refused the request. Not a guess, and no success either: a request its
// client's rate limit refuses does not clear its address (Void), or a
// guesser holding credentials of its own would get its free failures
// again with every request over its rate.
var errOverLimit = errors.New("auth: client over its request rate")

// limitVerdict is what a Limit said of a request whose credentials were
// right (ask), for the answer's headers.
type limitVerdict struct {
	asked     bool
	wait      time.Duration
	remaining int
}

// ask asks limit (nil: no limit) about clientID's request and returns
// errOverLimit when it may not go on.
func (v *limitVerdict) ask(limit Limit, clientID string) error {
	if limit == nil {
		return nil
	}
	ok, wait, remaining := limit(clientID)
	*v = limitVerdict{asked: true, wait: wait, remaining: remaining}
	if !ok {
		return errOverLimit
	}
	return nil
}

// lockedOutDetail is the detail of a 429 answered to a locked-out address.
func lockedOutDetail(after string) string {
	return "too many failed client credentials from this address; retry after " + after + " s"
}
