-- The outbox keeps only a window of rows in memory; the rest wait here and are claimed
-- lane by lane (bot.nostr.outbox: 0 what a person waits for, 1 kind 33600, 2 the rest).
ALTER TABLE outbox ADD COLUMN lane INTEGER NOT NULL DEFAULT 0;
-- Rows pending at the upgrade get the lanes their kinds had then.
UPDATE outbox SET lane = CASE
    WHEN kind = 33600 THEN 1
    WHEN kind IN (30315, 0, 10002, 10050, 33000) THEN 2
    ELSE 0
END WHERE state = 'pending';
CREATE INDEX outbox_due_by_lane ON outbox(state, lane, next_attempt_at);
