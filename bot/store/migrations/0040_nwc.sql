-- Nostr Wallet Connect (issue 15): the invoices the bot made on an NWC wallet.
-- NIP-47 has no pay_index: the bot numbers settled invoices itself. pay_index is assigned
-- once, when the wallet first confirms the invoice settled (lookup_invoice), and never
-- changes, so the payment watcher's cursor (state 'lightning.pay_index') keeps its meaning
-- across restarts. Rows without one are the open invoices the backend still polls.
CREATE TABLE nwc_invoices (
    payment_hash TEXT PRIMARY KEY,
    label TEXT NOT NULL,
    bolt11 TEXT NOT NULL,
    amount_msat INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    pay_index INTEGER UNIQUE,
    paid_at INTEGER,
    preimage TEXT,
    amount_received_msat INTEGER,
    closed INTEGER NOT NULL DEFAULT 0   -- 1: expired long ago, no longer polled
);
CREATE INDEX nwc_invoices_open ON nwc_invoices(closed, pay_index, created_at);
