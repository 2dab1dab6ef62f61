-- vault.Store.HandOut: a record whose alias a Redact gave to a caller
-- other than the request that created it (the value was found in the
-- vault) is marked, so that the creating request's release
-- (vault.Store.Release, a compare-and-delete) keeps it. Adding the column
-- with a constant default rewrites no row; every record written before it
-- counts as not handed out, and is older than any release it could race.
ALTER TABLE records ADD COLUMN IF NOT EXISTS handed_out boolean NOT NULL DEFAULT false;
