-- OCPP 1.6-J central system: transactions, the meter log's hash chains, refused input.
-- Charger timestamps are kept as the charger sent them (TEXT); our own times are unix seconds.

-- One row per StartTransaction we answered. The id is the OCPP transactionId we hand out:
-- AUTOINCREMENT so that an id is never reused, even after rows are deleted or a restart.
CREATE TABLE transactions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    charger_id TEXT NOT NULL REFERENCES chargers(id),
    connector_id INTEGER NOT NULL,
    id_tag TEXT NOT NULL,
    authorized INTEGER NOT NULL,
    meter_start_wh INTEGER NOT NULL,
    start_timestamp TEXT NOT NULL,
    started_at REAL NOT NULL,
    meter_stop_wh INTEGER,
    stop_timestamp TEXT,
    stopped_at REAL,
    stop_reason TEXT,
    stop_id_tag TEXT
);
-- A StartTransaction sent again (the charger never saw our answer) gets the same id back.
CREATE UNIQUE INDEX transactions_same_start
    ON transactions(charger_id, connector_id, id_tag, start_timestamp, meter_start_wh);
CREATE INDEX transactions_by_connector ON transactions(charger_id, connector_id, id);
CREATE INDEX transactions_by_tag ON transactions(id_tag, stopped_at);

-- Which hash chain a meter_log row belongs to: "tx:<transaction id>" or
-- "cp:<charger id>:<connector id>" (see bot/store/meter_log.py).
ALTER TABLE meter_log ADD COLUMN chain TEXT NOT NULL DEFAULT '';
CREATE INDEX meter_log_by_chain ON meter_log(chain, id);
CREATE INDEX meter_log_by_transaction ON meter_log(transaction_id, id);

-- Length and last hash of every chain, written with its rows, so a cut-off tail shows.
CREATE TABLE meter_chain_heads (
    chain TEXT PRIMARY KEY,
    length INTEGER NOT NULL,
    head TEXT NOT NULL
);

-- What a charger sent that we refused or could not apply: kept for the operator and audit.
-- raw holds at most the first 64 KiB; raw_length and raw_sha256 describe the whole frame.
CREATE TABLE ocpp_anomalies (
    id INTEGER PRIMARY KEY,
    charger_id TEXT NOT NULL,
    received_at REAL NOT NULL,
    action TEXT,
    unique_id TEXT,
    kind TEXT NOT NULL,
    code TEXT,
    detail TEXT NOT NULL,
    raw TEXT NOT NULL,
    raw_length INTEGER NOT NULL,
    raw_sha256 TEXT NOT NULL
);
CREATE INDEX ocpp_anomalies_by_charger ON ocpp_anomalies(charger_id, id);
