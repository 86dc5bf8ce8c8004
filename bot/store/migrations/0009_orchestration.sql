-- Session orchestration: which driver notices (DMs) a session has sent, so a restart
-- never sends the "started" message or the receipt twice. A row is claimed before the DM
-- is queued in the (persistent) outbox.
CREATE TABLE session_notices (
    session_id TEXT NOT NULL REFERENCES sessions(id),
    notice TEXT NOT NULL,
    at REAL NOT NULL,
    PRIMARY KEY (session_id, notice)
);
