-- OCPP 2.0.1: the charger names its transactions (transactionId is a string it makes up),
-- reports them in numbered TransactionEvents, and echoes the remoteStartId we sent.
-- Our own transactions row (and its integer id, the one the session layer and the meter
-- log's chain use) is made the first time a charger's transactionId is seen.

CREATE TABLE ocpp201_transactions (
    transaction_id INTEGER PRIMARY KEY REFERENCES transactions(id),
    charger_id TEXT NOT NULL,
    charger_tx_id TEXT NOT NULL,
    evse_id INTEGER NOT NULL,
    connector_id INTEGER NOT NULL,  -- the connector within the EVSE, as the charger said
    remote_start_id INTEGER,
    -- The first and the latest energy register (Wh) seen in the transaction's events;
    -- NULL until one came: the session starts counting only from a real first reading.
    first_energy_wh REAL,
    last_energy_wh REAL,
    UNIQUE (charger_id, charger_tx_id)
);

-- Every TransactionEvent taken, by its seqNo: one sent again is answered, not applied
-- again; numbers missing below the highest are the gaps (kept as anomalies too).
CREATE TABLE ocpp201_events (
    transaction_id INTEGER NOT NULL REFERENCES transactions(id),
    seq_no INTEGER NOT NULL,
    event_type TEXT NOT NULL,
    trigger_reason TEXT NOT NULL,
    offline INTEGER NOT NULL,
    timestamp TEXT NOT NULL,
    received_at REAL NOT NULL,
    PRIMARY KEY (transaction_id, seq_no)
);

-- Each RequestStartTransaction we sent: its remoteStartId (AUTOINCREMENT: never reused)
-- names the session's idToken and EVSE, for events that carry the id but not the token.
CREATE TABLE ocpp201_remote_starts (
    remote_start_id INTEGER PRIMARY KEY AUTOINCREMENT,
    charger_id TEXT NOT NULL,
    id_token TEXT NOT NULL,
    evse_id INTEGER NOT NULL,
    sent_at REAL NOT NULL
);
