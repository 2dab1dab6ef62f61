package vault

import "context"

// Actor says on whose behalf the vault is asked for something, for the
// audit log. Handlers put it into the request context (WithClient,
// WithRoute, WithPurpose); the Service hands it to its Auditor. Every field
// comes from configuration or authentication (route ids, client ids),
// never from a request body.
type Actor struct {
	// Client is the id of the authenticated API or outbound client, if any.
	Client string
	// Route is the id of the route (or built-in mount such as
	// "internal:cards") the request came through, if any.
	Route string
	// Source is the address the request came from (the peer, or the
	// client named by a trusted proxy's forwarding header), set by the
	// inbound proxy for the abuse limits of unauthenticated callers. Not
	// audited as the actor: routes and clients are.
	Source string
	// Account is the account the caller acts for (WithAccount): the
	// authenticated client's, or the route's for the inbound proxy. The
	// Service reaches only the records this account owns; "" is the
	// Service's default account (Options.DefaultAccount).
	Account string
	// Purpose qualifies a call that is not a plain reveal to a client, such
	// as "create" (the vault API answering a create with the value of an
	// existing alias). Empty for ordinary reveals. (The proxy's leak guard
	// uses Service.Known, which is not audited.)
	Purpose string
}

type actorKey struct{}

// WithActor returns a copy of ctx that carries a.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the Actor in ctx (the zero Actor when there is none).
func ActorFrom(ctx context.Context) Actor {
	a, _ := ctx.Value(actorKey{}).(Actor)
	return a
}

// WithClient returns a copy of ctx whose Actor has Client set to id and
// keeps the other fields.
func WithClient(ctx context.Context, id string) context.Context {
	a := ActorFrom(ctx)
	a.Client = id
	return WithActor(ctx, a)
}

// WithRoute returns a copy of ctx whose Actor has Route set to id and keeps
// the other fields.
func WithRoute(ctx context.Context, id string) context.Context {
	a := ActorFrom(ctx)
	a.Route = id
	return WithActor(ctx, a)
}

// WithSource returns a copy of ctx whose Actor has Source set to addr and
// keeps the other fields.
func WithSource(ctx context.Context, addr string) context.Context {
	a := ActorFrom(ctx)
	a.Source = addr
	return WithActor(ctx, a)
}

// WithAccount returns a copy of ctx whose Actor has Account set to account
// and keeps the other fields: the Service calls made with it act for that
// account (they create records it owns and reach no other account's).
func WithAccount(ctx context.Context, account string) context.Context {
	a := ActorFrom(ctx)
	a.Account = account
	return WithActor(ctx, a)
}

// PurposeRestore is the purpose of the calls that put back a value the
// vault held for the account moments ago: the Card Management API reads a
// card number before it deletes the card's pan_alias, and stores it again
// when a card another gateway stored meanwhile still uses that alias (a
// delete racing a create). Its reveals are audited with this purpose; a
// Redact with it is not asked of Options.Admission (the abuse limits): the
// value is the account's own, taken from the vault, and refusing its
// return would lose a card's number. Only code sets it, never a request.
const PurposeRestore = "restore"

// WithPurpose returns a copy of ctx whose Actor has Purpose set and keeps
// the other fields.
func WithPurpose(ctx context.Context, purpose string) context.Context {
	a := ActorFrom(ctx)
	a.Purpose = purpose
	return WithActor(ctx, a)
}

// Audit operations and outcomes.
const (
	AuditReveal = "reveal"
	AuditDelete = "delete"
	// AuditUpdate: UpdateClassifiers (the vault API's PUT /aliases/{alias}).
	AuditUpdate = "update"

	OutcomeOK       = "ok"
	OutcomeNotFound = "not_found"
	OutcomeError    = "error"
	// OutcomeRefused: a delete refused because the alias is in use
	// (ErrInUse); nothing was deleted. For a reveal: a Redact with Detail
	// naming aliases that was refused once they were found (a format
	// their value does not fit, another item refused); nothing was
	// returned.
	OutcomeRefused = "refused"
)

// AuditEvent is one vault access for the audit log.
type AuditEvent struct {
	// Op is AuditReveal (Reveal and Describe, which both return values,
	// and a Redact returning the values of existing aliases), AuditDelete
	// or AuditUpdate.
	Op string
	// Actor is taken from the call's context.
	Actor Actor
	// Aliases are the aliases asked for. An Auditor must never record them
	// in clear (it records a keyed hash of each).
	Aliases []string
	// Found is how many of them were live.
	Found int
	// Outcome is OutcomeOK (at least one found; for a delete, deleted),
	// OutcomeNotFound or OutcomeError (a store failure; nothing returned).
	Outcome string
}

// Auditor records vault accesses durably. The Service calls it for every
// Reveal, Describe, Delete and UpdateClassifiers, and every Redact that returns the value of
// an existing alias (RedactRequest.Detail), or is refused once such
// aliases were looked up (OutcomeNotFound, OutcomeRefused: the refusal
// tells which exist), after the store answered and
// before the result is returned: when Audit fails, the values are dropped
// and the call fails with ErrAuditUnavailable (fail closed). Known is
// never audited. It must be safe for concurrent use.
type Auditor interface {
	AuditVault(ctx context.Context, e AuditEvent) error
}

// ErrAuditUnavailable: the audit log could not be written, so the vault
// refused to reveal (or report a delete). It is also ErrUnavailable for
// errors.Is, which callers already map to 503.
var ErrAuditUnavailable error = auditUnavailable{}

type auditUnavailable struct{}

func (auditUnavailable) Error() string        { return "vault: audit log unavailable" }
func (auditUnavailable) Is(target error) bool { return target == ErrUnavailable }

// auditError wraps the Auditor's failure; it is ErrAuditUnavailable and
// ErrUnavailable.
type auditError struct{ err error }

func (e *auditError) Error() string { return ErrAuditUnavailable.Error() + ": " + e.err.Error() }
func (e *auditError) Unwrap() error { return e.err }
func (e *auditError) Is(target error) bool {
	return target == ErrAuditUnavailable || target == ErrUnavailable
}

// audit records e when the Service has an Auditor. A failure becomes an
// *auditError.
func (s *Service) audit(ctx context.Context, op string, aliases []string, found int, outcome string) error {
	if s.auditor == nil || len(aliases) == 0 {
		return nil
	}
	a := ActorFrom(ctx)
	a.Account = s.accountOf(a) // the account acted for, named even when it is the default
	err := s.auditor.AuditVault(ctx, AuditEvent{Op: op, Actor: a, Aliases: aliases, Found: found, Outcome: outcome})
	if err != nil {
		return &auditError{err: err}
	}
	return nil
}
