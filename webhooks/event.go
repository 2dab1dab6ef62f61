package webhooks

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// EventTypes are the events the gateway publishes (the cards package's
// lifecycle events), in the order the README lists them.
var EventTypes = []string{
	"card.created", "card.updated", "card.deleted",
	"network_token.created", "network_token.updated", "network_token.suspended",
	"network_token.resumed", "network_token.deleted",
}

// ErrBadPattern is wrapped by CheckPattern's refusals.
var ErrBadPattern = errors.New("webhooks: bad event pattern")

// CheckPattern checks one entry of an endpoint's events list: an event
// type (card.updated), a family (card.*, network_token.*) or * for every
// event. A pattern that matches no known event is refused, so that a typo
// does not silently subscribe to nothing.
func CheckPattern(p string) error {
	for _, t := range EventTypes {
		if Match(p, t) {
			return nil
		}
	}
	return fmt.Errorf("%w %q: use an event type (%s), a family (card.*, network_token.*) or *", ErrBadPattern, p, strings.Join(EventTypes, ", "))
}

// Match reports whether the event type t matches pattern p: equal, p is
// "*", or p is "family.*" and t starts with "family.".
func Match(p, t string) bool {
	switch {
	case p == "*" || p == t:
		return true
	case strings.HasSuffix(p, ".*"):
		fam := strings.TrimSuffix(p, "*")
		return len(fam) > 1 && strings.HasPrefix(t, fam)
	}
	return false
}

// matchAny reports whether t matches one of patterns.
func matchAny(patterns []string, t string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool { return Match(p, t) })
}

// newID returns prefix followed by 32 hex digits: 8 bytes of the time in
// Unix nanoseconds (big endian, so ids sort by creation) and 8 random
// bytes.
func newID(prefix string, now time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixNano()))
	_, _ = rand.Read(b[8:]) // crypto/rand.Read never fails
	return prefix + hex.EncodeToString(b[:])
}
