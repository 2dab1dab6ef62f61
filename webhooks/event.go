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

	"github.com/aliasgate/aliasgate/internal/pan"
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
// bytes. An id is sent to receivers, logged and shown in the delivery log,
// so one holding a card-like run (13–19 digits in a row passing the Luhn
// check, which about one random id in 550 does) is never used: PCI
// scans of logs and payloads would flag it, and the gateway's log scrubber
// would mask it, leaving an id the operator cannot search for. The next
// try draws new random bytes and moves the time on by a nanosecond per try,
// which also leaves a run lying in the time's digits (the order by
// creation holds: the time only moves forward).
func newID(prefix string, now time.Time) string {
	var b [16]byte
	for i := int64(0); ; i++ {
		binary.BigEndian.PutUint64(b[:8], uint64(now.UnixNano()+i))
		_, _ = rand.Read(b[8:]) // crypto/rand.Read never fails
		if id := prefix + hex.EncodeToString(b[:]); !pan.ContainsString(id) {
			return id
		}
	}
}
