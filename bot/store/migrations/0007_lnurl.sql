-- LNURL-pay and zaps: replay protection, and paid invoices that belong to no session.

-- Every zap request id a callback accepted. A request is single-use: its id is public once
-- the receipt is on the relays, and a replay must not mint a second invoice or session.
CREATE TABLE zap_requests (
    id TEXT PRIMARY KEY,
    sender_pubkey TEXT NOT NULL,
    received_at REAL NOT NULL
);

-- Money our node received that no session can account for: kept for the operator to refund.
CREATE TABLE unclaimed_payments (
    payment_hash TEXT PRIMARY KEY,
    label TEXT NOT NULL,
    amount_msat INTEGER NOT NULL,
    paid_at REAL,
    reason TEXT NOT NULL,
    recorded_at REAL NOT NULL
);
