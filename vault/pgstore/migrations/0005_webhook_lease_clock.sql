-- Review of issue 22: a claim's lease runs on the database's clock.
-- lease_until is when the lease of the gateway holding a pending delivery
-- ends, set by the claim as the database's clock_timestamp() plus the
-- lease's length; '-infinity' when no gateway holds it. A claim takes a
-- row only when its due has passed on the claimer's clock AND its
-- lease_until on the database's, so a gateway whose clock runs ahead
-- cannot take a delivery another gateway is still sending.
ALTER TABLE webhook_deliveries ADD COLUMN IF NOT EXISTS lease_until timestamptz NOT NULL DEFAULT '-infinity';
