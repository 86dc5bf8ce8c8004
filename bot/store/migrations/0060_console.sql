-- The operator's console: every action an operator took, who took it and what came of it.
CREATE TABLE console_actions (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    operator TEXT NOT NULL,          -- npub1... of a NIP-98 operator, or token:<fingerprint>
    action TEXT NOT NULL,            -- stop, retry-refund, reset, unlock, availability, ...
    target TEXT NOT NULL,            -- a charger id or a session id
    params TEXT NOT NULL DEFAULT '{}',
    outcome TEXT NOT NULL,           -- done, refused, failed
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX console_actions_by_time ON console_actions(at);
CREATE INDEX sessions_by_created ON sessions(created_at);
