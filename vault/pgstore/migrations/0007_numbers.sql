-- The numbers index (vault.NumberStore, vault/numbers.go): one row per
-- (key, alias), key an HMAC-SHA256 of a card number or token PAN under the
-- vault's number key, alias the record that holds it; no number, no
-- account. The row with an empty key marks the index built over every
-- card.
CREATE TABLE IF NOT EXISTS numbers (
    key   bytea NOT NULL,
    alias text COLLATE "C" NOT NULL,
    PRIMARY KEY (key, alias)
);
