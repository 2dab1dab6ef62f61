-- A pending Idempotency-Key claim's lease runs on the database's clock, as
-- a webhook delivery's does (0005). lease_until is when the claim of the
-- gateway still answering the first request ends: the database's
-- clock_timestamp() plus the pending claim's length; '-infinity' once the
-- claim is finished (then only expires_at keeps the record). A claim takes
-- a key only when its expires_at has passed on the claimer's clock AND its
-- lease_until on the database's, so a gateway whose clock runs ahead
-- cannot take a key another gateway is still answering (and create the
-- card twice).
ALTER TABLE idempotency_keys ADD COLUMN IF NOT EXISTS lease_until timestamptz NOT NULL DEFAULT '-infinity';
