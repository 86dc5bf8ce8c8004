-- Charging sessions: what resumption after a restart and exact settlement need.
-- Amounts are integer millisatoshi; times are unix seconds.

-- The invoice that paid for the session (the invoices row points back with session_id).
ALTER TABLE sessions ADD COLUMN payment_hash TEXT;
CREATE UNIQUE INDEX sessions_by_payment_hash ON sessions(payment_hash);
CREATE INDEX sessions_by_transaction ON sessions(charger_id, transaction_id);

-- Running consumption, final once the session is settling (settling again gives the same).
ALTER TABLE sessions ADD COLUMN energy_wh INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN minutes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN idle_minutes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN last_meter_at REAL;
ALTER TABLE sessions ADD COLUMN refund_msat INTEGER;
ALTER TABLE sessions ADD COLUMN waived_msat INTEGER NOT NULL DEFAULT 0;

-- Facts recorded between transitions, so a restart knows what may already have happened.
ALTER TABLE sessions ADD COLUMN start_deadline REAL;
ALTER TABLE sessions ADD COLUMN start_accepted_at REAL;
ALTER TABLE sessions ADD COLUMN stop_requested_at REAL;
ALTER TABLE sessions ADD COLUMN progress_wh INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN progress_at REAL;

-- Follow-up payments that raised a session's paid_msat; one row per invoice, so a replayed
-- payment notification cannot add twice.
CREATE TABLE session_topups (
    payment_hash TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions(id),
    amount_msat INTEGER NOT NULL CHECK (amount_msat > 0),
    payer_pubkey TEXT,
    created_at REAL NOT NULL
);
CREATE INDEX session_topups_by_session ON session_topups(session_id);

-- Every state change, written in the same transaction as the change itself.
CREATE TABLE session_transitions (
    id INTEGER PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions(id),
    from_state TEXT NOT NULL,
    to_state TEXT NOT NULL,
    event TEXT,
    at REAL NOT NULL
);
CREATE INDEX session_transitions_by_session ON session_transitions(session_id, id);

-- LNURL-withdraw: when the k1 was spent, and how many times the refund was claimed.
ALTER TABLE refunds ADD COLUMN k1_claimed_at REAL;
ALTER TABLE refunds ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
