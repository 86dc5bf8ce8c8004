-- Energy a charger delivered beyond what the session's payment bought (the bot was down,
-- the charger unreachable or late near the end of the budget). The driver is never billed
-- for it: it is the operator's loss, kept per session so audits and totals show it.
CREATE TABLE session_overshoot (
    session_id TEXT PRIMARY KEY,
    charger_id TEXT NOT NULL,
    energy_wh INTEGER NOT NULL CHECK (energy_wh >= 0),
    budget_wh INTEGER NOT NULL CHECK (budget_wh >= 0),
    over_wh INTEGER NOT NULL CHECK (over_wh > 0),
    waived_msat INTEGER NOT NULL CHECK (waived_msat >= 0),
    recorded_at REAL NOT NULL
);
