-- 0001: the vault's tables. Every statement is idempotent (IF NOT EXISTS),
-- so a migration interrupted on a database whose DDL is not transactional
-- can simply run again.
--
-- Text keys use COLLATE "C" so that ORDER BY and > compare bytes, which is
-- the order vault.Exporter promises (CockroachDB and YugabyteDB compare
-- strings by bytes anyway and accept the "C" collation).

-- alias → encrypted value. index_key is the HMAC index entry of a persistent
-- record (NULL for volatile ones); its UNIQUE constraint is what makes
-- aliases deterministic across gateway instances.
CREATE TABLE IF NOT EXISTS records (
    alias       text COLLATE "C" PRIMARY KEY,
    index_key   bytea UNIQUE,
    format      text NOT NULL,
    storage     text NOT NULL,
    key_version bigint NOT NULL,
    ciphertext  bytea NOT NULL,
    classifiers jsonb NOT NULL DEFAULT '[]',
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz
);

CREATE INDEX IF NOT EXISTS records_expires_at ON records (expires_at) WHERE expires_at IS NOT NULL;

-- Vault-wide settings (wrapped data keys, the JWT signing key…), set once.
CREATE TABLE IF NOT EXISTS meta (
    key   text PRIMARY KEY,
    value bytea NOT NULL
);

-- API clients: auth's opaque record (it holds a secret hash, never a secret).
CREATE TABLE IF NOT EXISTS clients (
    id     text COLLATE "C" PRIMARY KEY,
    record bytea NOT NULL
);

-- Cards of the Card Management API, scoped to an account and deduplicated
-- by the account's card fingerprint.
CREATE TABLE IF NOT EXISTS cards (
    account     text COLLATE "C" NOT NULL,
    id          text COLLATE "C" NOT NULL,
    fingerprint text COLLATE "C",
    record      bytea NOT NULL,
    PRIMARY KEY (account, id),
    UNIQUE (account, fingerprint)
);

-- Card updates in the order they were made (seq counts from 1 per card).
CREATE TABLE IF NOT EXISTS card_updates (
    account text COLLATE "C" NOT NULL,
    id      text COLLATE "C" NOT NULL,
    seq     bigint NOT NULL,
    record  bytea NOT NULL,
    PRIMARY KEY (account, id, seq),
    FOREIGN KEY (account, id) REFERENCES cards (account, id) ON DELETE CASCADE
);
