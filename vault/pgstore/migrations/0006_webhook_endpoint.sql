-- A claim leaves out the deliveries to endpoints that have a claim's worth
-- of attempts under way (webhooks.EndpointSkipper): the delivery's endpoint
-- id is a column, filled from the record for the deliveries written before.
ALTER TABLE webhook_deliveries ADD COLUMN IF NOT EXISTS endpoint text COLLATE "C" NOT NULL DEFAULT '';
UPDATE webhook_deliveries SET endpoint = convert_from(record, 'UTF8')::jsonb->>'endpoint_id'
    WHERE endpoint = '' AND state = 'pending' AND convert_from(record, 'UTF8')::jsonb ? 'endpoint_id';
