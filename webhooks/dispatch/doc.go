// Package dispatch delivers the webhook outbox (package webhooks): a
// Dispatcher per gateway claims due deliveries from the Store with a lease,
// POSTs each, signed, to its endpoint through netguard's checked dialer
// (no loopback, private or metadata address unless allowed; TLS verified
// always, with the system roots and an optional bundle; redirects never
// followed), and records every attempt (the last webhooks.MaxAttempts of
// a delivery are kept, Delivery.AddAttempt): 2xx delivered, anything else
// retried with exponential backoff and jitter until RetryFor, then failed;
// a refused destination fails at once. Claims do not wait for the
// attempts of the claim before (at most 4 batches run at once; beyond, an
// endpoint with no attempt under way still gets one at a time), and an
// endpoint with a batch of attempts under way is left out of the claims
// (webhooks.EndpointSkipper), so slow receivers and their backlogs hold
// back no other endpoint's deliveries, of their account or another. A delivery whose
// attempt is under way is never attempted again by the same dispatcher,
// even when its lease ran out and a claim gave it back. Handler is the operator's view of
// the delivery log (list, one delivery, redeliver), and the metrics are
// aliasgate_webhook_deliveries_total{result} and
// aliasgate_webhook_outbox_backlog.
package dispatch
