-- The first schema: every table the service needs, ready for the later features.
-- Amounts are integer millisatoshi; times are unix seconds (REAL where sub-second matters).

CREATE TABLE state (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE chargers (
    id TEXT PRIMARY KEY,
    pubkey TEXT NOT NULL,
    vendor TEXT,
    model TEXT,
    serial_number TEXT,
    firmware_version TEXT,
    online INTEGER NOT NULL DEFAULT 0,
    last_seen REAL,
    booted_at REAL
);

CREATE TABLE connector_status (
    charger_id TEXT NOT NULL REFERENCES chargers(id),
    connector_id INTEGER NOT NULL,
    status TEXT NOT NULL,
    error_code TEXT NOT NULL DEFAULT 'NoError',
    info TEXT,
    reported_at REAL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (charger_id, connector_id)
);

CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    charger_id TEXT NOT NULL,
    connector_id INTEGER NOT NULL,
    state TEXT NOT NULL,
    token TEXT NOT NULL UNIQUE,
    id_tag TEXT NOT NULL UNIQUE,
    payer_pubkey TEXT,
    payer_relays TEXT NOT NULL DEFAULT '[]',
    quote TEXT NOT NULL,
    paid_msat INTEGER NOT NULL DEFAULT 0,
    consumed_msat INTEGER NOT NULL DEFAULT 0,
    fees_msat INTEGER NOT NULL DEFAULT 0,
    transaction_id INTEGER,
    meter_start_wh INTEGER,
    meter_stop_wh INTEGER,
    stop_reason TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    started_at REAL,
    stopped_at REAL
);
CREATE INDEX sessions_by_state ON sessions(state);
CREATE INDEX sessions_by_charger ON sessions(charger_id, connector_id);

CREATE TABLE invoices (
    payment_hash TEXT PRIMARY KEY,
    label TEXT NOT NULL UNIQUE,
    session_id TEXT REFERENCES sessions(id),
    bolt11 TEXT NOT NULL,
    amount_msat INTEGER NOT NULL,
    description TEXT NOT NULL,
    zap_request TEXT,
    status TEXT NOT NULL,
    pay_index INTEGER UNIQUE,
    preimage TEXT,
    paid_at REAL,
    expires_at REAL NOT NULL,
    created_at REAL NOT NULL
);

CREATE TABLE refunds (
    id INTEGER PRIMARY KEY,
    session_id TEXT NOT NULL UNIQUE REFERENCES sessions(id),
    amount_msat INTEGER NOT NULL,
    method TEXT NOT NULL,
    status TEXT NOT NULL,
    k1 TEXT UNIQUE,
    k1_expires_at REAL,
    bolt11 TEXT,
    payment_hash TEXT,
    error TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);

CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    kind INTEGER NOT NULL,
    pubkey TEXT NOT NULL,
    event_json TEXT NOT NULL,
    relays TEXT NOT NULL DEFAULT '[]',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    delivered_at REAL,
    created_at REAL NOT NULL
);
CREATE INDEX outbox_pending ON outbox(delivered_at, next_attempt_at);

CREATE TABLE outbox_results (
    outbox_id INTEGER NOT NULL REFERENCES outbox(id),
    relay_url TEXT NOT NULL,
    ok INTEGER NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    at REAL NOT NULL,
    PRIMARY KEY (outbox_id, relay_url)
);

CREATE TABLE meter_log (
    id INTEGER PRIMARY KEY,
    session_id TEXT,
    charger_id TEXT NOT NULL,
    connector_id INTEGER NOT NULL,
    transaction_id INTEGER,
    sampled_at TEXT NOT NULL,
    received_at REAL NOT NULL,
    context TEXT,
    energy_wh REAL,
    power_w REAL,
    soc_percent REAL,
    raw TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE
);
CREATE INDEX meter_log_by_session ON meter_log(session_id, id);
