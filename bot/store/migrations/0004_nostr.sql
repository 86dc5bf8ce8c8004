-- Nostr presence: outbox states and superseding, the per-address clock, DM de-duplication.

-- pending | delivered | superseded | expired | failed
ALTER TABLE outbox ADD COLUMN state TEXT NOT NULL DEFAULT 'pending';
-- "<kind>:<pubkey>:<d>" for replaceable and addressable events: a newer one supersedes
ALTER TABLE outbox ADD COLUMN address TEXT;
-- NIP-40 expiration of the event: sending it later is pointless
ALTER TABLE outbox ADD COLUMN expires_at REAL;
ALTER TABLE outbox ADD COLUMN last_error TEXT NOT NULL DEFAULT '';
UPDATE outbox SET state = 'delivered' WHERE delivered_at IS NOT NULL;
CREATE INDEX outbox_due ON outbox(state, next_attempt_at);
CREATE INDEX outbox_by_address ON outbox(address, state);

-- Last created_at per replaceable/addressable address, so a restart never goes backwards,
-- and what was last published there (fingerprint of content and tags, expiry).
CREATE TABLE nostr_addresses (
    address TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL,
    fingerprint TEXT NOT NULL DEFAULT '',
    expires_at REAL,
    published_at REAL NOT NULL
);

-- Incoming DM events already handled (gift wrap ids and rumor ids), pruned after a few days.
CREATE TABLE dm_seen (
    event_id TEXT PRIMARY KEY,
    seen_at REAL NOT NULL
);
CREATE INDEX dm_seen_by_time ON dm_seen(seen_at);
