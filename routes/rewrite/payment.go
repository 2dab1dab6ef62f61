package rewrite

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Roles of the targets of a NetworkToken Program.
const (
	// RoleCard holds the card reference (a card id or an alias of the
	// card's PAN) and receives the network token PAN, or the PAN on
	// fallback. Exactly one target has it.
	RoleCard = "card"
	// RoleExpMonth receives the expiry month, two digits ("04"; 4 in a
	// JSON number).
	RoleExpMonth = "exp_month"
	// RoleExpYear receives the expiry year, four digits.
	RoleExpYear = "exp_year"
	// RoleCryptogram receives the cryptogram ("" on fallback).
	RoleCryptogram = "cryptogram"
	// RoleECI receives the ECI ("" on fallback).
	RoleECI = "eci"
	// RoleCVC receives the card's CVC on fallback when it has one, else "".
	RoleCVC = "cvc"
)

// Roles lists the roles a NetworkToken target may have.
var Roles = []string{RoleCard, RoleExpMonth, RoleExpYear, RoleCryptogram, RoleECI, RoleCVC}

// Payment is what a card reference resolves to: a value for each role.
type Payment map[string]string

// PaymentResolver is a Tokenizer that also resolves card references
// (*proxy's tokenizer in front of the Card Management API). A
// NetworkToken Program needs one.
type PaymentResolver interface {
	Payment(ctx context.Context, ref string) (Payment, error)
}

// ErrNoResolver: a NetworkToken Program was applied with a Tokenizer that
// resolves no card references.
var ErrNoResolver = errors.New("rewrite: the tokenizer resolves no card references")

// ErrCardReference: the card target is missing, empty or holds more than
// one reference.
var ErrCardReference = errors.New("rewrite: the message needs exactly one card reference")

func checkRoles(targets []TargetSpec) error {
	seen := map[string]bool{}
	for i, t := range targets {
		switch {
		case t.Kind == KindHeader:
			return fmt.Errorf("rewrite: target %d: network_token targets are body fields, not headers", i)
		case t.Role == "":
			return fmt.Errorf("rewrite: target %d: a network_token target needs a role (%s)", i, strings.Join(Roles, ", "))
		case !contains(Roles, t.Role):
			return fmt.Errorf("rewrite: target %d: role %q: want one of %s", i, t.Role, strings.Join(Roles, ", "))
		case seen[t.Role]:
			return fmt.Errorf("rewrite: target %d: role %q is given twice", i, t.Role)
		}
		seen[t.Role] = true
	}
	if !seen[RoleCard] {
		return fmt.Errorf("rewrite: a network_token filter needs a target with role %s", RoleCard)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// applyPayment resolves the card reference of the card target and writes
// each role's value into every located value of its target, empty values
// (placeholders) included. A message without the card target is left as
// it is.
func (p *Program) applyPayment(ctx context.Context, msg *Message, tok Tokenizer) ([]Change, error) {
	msg.Unknown, msg.UnknownValues = nil, 0
	if p.body == nil || len(msg.Body) == 0 {
		return nil, nil
	}
	spans, err := p.body.Locate(msg)
	if err != nil {
		return nil, err
	}
	ref, refs := "", 0
	for _, s := range spans {
		if p.targets[s.Target].Role == RoleCard {
			ref = s.Value
			refs++
		}
	}
	if refs == 0 {
		return nil, nil
	}
	if refs > 1 || ref == "" {
		return nil, ErrCardReference
	}
	res, ok := tok.(PaymentResolver)
	if !ok {
		return nil, ErrNoResolver
	}
	pay, err := res.Payment(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTokenizer, err)
	}
	repl := make([]string, len(spans))
	for i, s := range spans {
		v := pay[p.targets[s.Target].Role]
		if s.Encoding == JSONNumber {
			if t := strings.TrimLeft(v, "0"); t != "" && isJSONInteger(t) {
				v = t // 04 is not a JSON number; 4 is
			}
		}
		if p.targets[s.Target].Role == RoleCard && v == "" {
			return nil, fmt.Errorf("%w: no card number for the reference", ErrTokenizer)
		}
		if s.Forbid != "" && strings.Contains(v, s.Forbid) {
			return nil, fmt.Errorf("%w: target %d", ErrUnsafeValue, s.Target)
		}
		repl[i] = v
	}
	changes := make([]Change, len(p.targets))
	for i, t := range p.targets {
		changes[i] = Change{Target: i, Kind: t.Kind, Path: t.Path}
	}
	msg.Body = splice(msg.Body, spans, repl, changes, true)
	clear(repl)
	out := changes[:0]
	for _, c := range changes {
		if c.Count > 0 {
			out = append(out, c)
		}
	}
	return out, nil
}
