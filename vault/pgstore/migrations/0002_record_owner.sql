-- Issue 18: every record has an owner account. '' is the vault's default
-- account (meta default_account), which owns every record written before
-- this migration: adding the column with a constant default rewrites no row.
ALTER TABLE records ADD COLUMN IF NOT EXISTS owner text COLLATE "C" NOT NULL DEFAULT '';
