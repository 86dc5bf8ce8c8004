-- Reservations bought with a zap ("reserve"): one row per fee invoice, its lifecycle in
-- bot/reservations/machine.py. id is also the OCPP reservationId. Amounts are msat.
CREATE TABLE reservations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    charger_id TEXT NOT NULL REFERENCES chargers(id),
    connector_id INTEGER NOT NULL,
    state TEXT NOT NULL,
    token TEXT NOT NULL UNIQUE,             -- the reservation page's bearer secret
    id_tag TEXT NOT NULL,                   -- the idTag the charger holds the connector for
    payer_pubkey TEXT,                      -- NULL: a wallet-only driver (the page's token)
    payer_relays TEXT NOT NULL DEFAULT '[]',
    quote TEXT NOT NULL,                    -- the charging price when the fee was paid
    payment_hash TEXT NOT NULL UNIQUE,
    fee_msat INTEGER NOT NULL CHECK (fee_msat > 0),
    minutes REAL NOT NULL CHECK (minutes > 0),
    paid_msat INTEGER NOT NULL DEFAULT 0,
    kept_msat INTEGER NOT NULL DEFAULT 0,   -- the operator's share once it has ended
    refund_msat INTEGER,                    -- owed back (through a refund-only session)
    credited_session_id TEXT,               -- the charging session the fee was counted in
    refund_session_id TEXT,                 -- the refund-only session that pays it back
    end_reason TEXT,
    reserved_at REAL,
    expires_at REAL,
    release_pending INTEGER NOT NULL DEFAULT 0,  -- CancelReservation still owed to the charger
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX reservations_by_state ON reservations(state);
CREATE INDEX reservations_by_connector ON reservations(charger_id, connector_id, state);

-- Every state change, written in the same transaction as the change itself.
CREATE TABLE reservation_transitions (
    id INTEGER PRIMARY KEY,
    reservation_id INTEGER NOT NULL REFERENCES reservations(id),
    from_state TEXT NOT NULL,
    to_state TEXT NOT NULL,
    event TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX reservation_transitions_by_reservation
    ON reservation_transitions(reservation_id, id);

-- DMs about a reservation, claimed before they are queued: a restart repeats none.
CREATE TABLE reservation_notices (
    reservation_id INTEGER NOT NULL REFERENCES reservations(id),
    notice TEXT NOT NULL,
    at REAL NOT NULL,
    PRIMARY KEY (reservation_id, notice)
);
