-- Dynamic pricing: the last good document of every price feed (day-ahead spot prices, fiat
-- exchange rates, signed green power forecasts), so that a restart during a feed outage
-- still prices from real data. The body is kept verbatim and re-checked when loaded.

CREATE TABLE price_feeds (
    kind TEXT NOT NULL,
    url TEXT NOT NULL,
    body TEXT NOT NULL,
    fetched_at REAL NOT NULL,
    PRIMARY KEY (kind, url)
);
