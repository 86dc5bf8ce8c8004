-- Zap receipts from an operator's external zapper (bot/receipts).

-- One row per payment hash: claimed (after our node confirmed the payment) before a
-- session is created, so a receipt delivered twice, by two relays or after a restart,
-- starts at most one session. state: claimed -> done.
CREATE TABLE zap_receipts (
    payment_hash TEXT PRIMARY KEY,
    receipt_id TEXT NOT NULL,
    charger_id TEXT NOT NULL,
    connector_id INTEGER NOT NULL,
    zapper_pubkey TEXT NOT NULL,
    payer_pubkey TEXT NOT NULL,
    payer_relays TEXT NOT NULL,
    amount_msat INTEGER NOT NULL CHECK (amount_msat > 0),
    paid_at INTEGER NOT NULL,
    receipt_created_at INTEGER NOT NULL,
    state TEXT NOT NULL,
    session_id TEXT,
    claimed_at REAL NOT NULL
);
CREATE INDEX zap_receipts_by_state ON zap_receipts(state);

-- Receipts that failed a check, for operators; one row per receipt and reason.
CREATE TABLE zap_receipt_rejects (
    id INTEGER PRIMARY KEY,
    receipt_id TEXT NOT NULL,
    charger_id TEXT,
    payment_hash TEXT,
    code TEXT NOT NULL,
    reason TEXT NOT NULL,
    seen_at REAL NOT NULL,
    UNIQUE (receipt_id, code)
);

-- Where the subscription resumes: the newest created_at of a receipt that became a session.
CREATE TABLE zap_receipt_cursor (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    last_created_at INTEGER NOT NULL
);

-- A zapper key looked up from a charger's lightning address and pinned (pin_from_address).
CREATE TABLE zapper_pins (
    charger_id TEXT PRIMARY KEY,
    lightning_address TEXT NOT NULL,
    pubkey TEXT NOT NULL,
    pinned_at REAL NOT NULL
);
