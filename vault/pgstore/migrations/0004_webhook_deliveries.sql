-- Issue 22: the webhook outbox (webhooks.Store). One row per event and
-- endpoint; record is the delivery's JSON (payload, attempts), the columns
-- are what claims, lists and pruning select on. due is the next attempt
-- of a pending delivery, or the end of the lease of the gateway holding
-- it (lease_owner); a claim takes due rows with FOR UPDATE SKIP LOCKED in
-- one statement, so two gateways never claim one delivery at once.
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id          text COLLATE "C" PRIMARY KEY,
    account     text COLLATE "C" NOT NULL,
    state       text NOT NULL,
    due         timestamptz NOT NULL,
    lease_owner text NOT NULL DEFAULT '',
    updated_at  timestamptz NOT NULL,
    record      bytea NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_due ON webhook_deliveries (due) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS webhook_deliveries_done ON webhook_deliveries (updated_at) WHERE state <> 'pending';
