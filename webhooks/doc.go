// Package webhooks is the gateway's webhook outbox: the events, their
// envelope and signature (Sign, and Verify for receivers), the Outbox that
// records them, and the Store interface the persistent stores implement
// (vault/boltstore, vault/pgstore). It holds no HTTP code, so the stores
// can depend on it; package webhooks/dispatch delivers the deliveries
// (signed POSTs through the checked dialer, retries with backoff, the
// operator's view of the delivery log).
//
// Publish (the cards package's Events) wraps an event's data in the
// envelope
//
//	{"id":"evt_…","type":"card.updated","created_at":"2026-12-06T10:00:00Z","account_id":"…","data":{…}}
//
// and writes one Delivery per endpoint of the account whose patterns match
// the type, all in one write, before it returns: an event Publish accepted
// survives a crash. The dispatcher (one per gateway) claims due deliveries with a
// lease (Store.ClaimDeliveries: with PostgreSQL one UPDATE over SELECT …
// FOR UPDATE SKIP LOCKED), POSTs each with Timeout, and records the
// attempt: 2xx delivered; anything else (an error status, a redirect,
// which is never followed, a refused connection, a timeout, a certificate
// that does not verify) retried after BackoffBase·2^(n-1) up to
// BackoffMax, with jitter, until RetryFor after the event, then failed. A
// destination netguard refuses (loopback, private, metadata, … unless
// AllowPrivate) fails at once. A delivery the dispatcher's configuration
// has no endpoint for (the id is gone, another account's, or its events do
// not match the type) is not sent, and retried the same way: another
// gateway's configuration may be newer. Finished deliveries are pruned
// after Retention.
//
// Delivery is at least once: a gateway that dies holding a lease leaves
// it to run out (Timeout + 30 s), then another gateway delivers, and a
// receiver whose 2xx was lost gets the event again. In normal operation
// each delivery is made once, by one gateway. Receivers drop duplicates by
// the envelope's id, which the signature covers (Aliasgate-Event-Id
// repeats it, unsigned: a replay within the tolerance may change it).
// Deliveries are not ordered: an endpoint's due deliveries are POSTed at
// once and a failed one is retried later; ids sort by creation.
//
// Every POST carries Aliasgate-Signature: t=<unix seconds>,v1=<hex>, v1
// being HMAC-SHA256(secret, "<t>.<raw body>") (one v1 per secret while a
// secret is rotated), and Aliasgate-Event-Id, Aliasgate-Event-Type,
// Aliasgate-Delivery-Id. Receivers check it with Verify (constant-time
// compare, a timestamp tolerance against replays).
//
// The log keeps, per attempt, its time, the status or an error class, the
// next attempt and at most ExcerptLen printable bytes of the answer with
// card numbers masked; never a secret. The dispatcher's Handler serves it
// to the operator.
package webhooks
