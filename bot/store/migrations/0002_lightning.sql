-- Lightning bookkeeping: what the node reported for each invoice of ours.
-- The payment stream's cursor is the row 'lightning.pay_index' in table state.

ALTER TABLE invoices ADD COLUMN amount_received_msat INTEGER;
ALTER TABLE invoices ADD COLUMN updated_at REAL;
CREATE INDEX invoices_by_status ON invoices(status, expires_at);
