-- Issue 22: Idempotency-Key records of the Card Management API, per
-- account. key is the API's keyed hash of the client's key, never the key
-- itself; record holds no card data. Expired rows are removed a few at a
-- time by later claims.
CREATE TABLE IF NOT EXISTS idempotency_keys (
    account    text COLLATE "C" NOT NULL,
    key        text COLLATE "C" NOT NULL,
    record     bytea NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (account, key)
);
CREATE INDEX IF NOT EXISTS idempotency_keys_expires_at ON idempotency_keys (expires_at);
