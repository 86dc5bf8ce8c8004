-- "Tell me when it is free": a driver's pending notice for one charger (DM "notify").
CREATE TABLE notify_requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,   -- also the fair order: first asked, first told
    charger_id TEXT NOT NULL REFERENCES chargers(id),
    driver_pubkey TEXT NOT NULL,
    state TEXT NOT NULL,                    -- waiting, told, given_up, cancelled
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    ended_at REAL
);
-- At most one pending notice per driver per charger.
CREATE UNIQUE INDEX notify_requests_one_waiting
    ON notify_requests(charger_id, driver_pubkey) WHERE state = 'waiting';
CREATE INDEX notify_requests_by_state ON notify_requests(state, charger_id, id);
CREATE INDEX notify_requests_by_driver ON notify_requests(driver_pubkey, state);
