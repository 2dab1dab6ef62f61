-- The token alias index (cards.Store, vault.TokenAlias): one row per
-- (account, alias, card), the account's card having a network token whose
-- PAN the vault holds under alias (no number). The row with an empty
-- account marks the index built over every card.
CREATE TABLE IF NOT EXISTS token_aliases (
    account text COLLATE "C" NOT NULL,
    alias   text COLLATE "C" NOT NULL,
    card_id text COLLATE "C" NOT NULL,
    PRIMARY KEY (account, alias, card_id)
);
