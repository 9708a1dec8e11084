-- 009: an exchange ban stops the day's ingestion; an operator can accept a coin's price level shift
-- (issue 20 §4, §5).
-- * exchange_bans: one row per IP ban (HTTP 418) ingestion met, with its end from the server's
--   Retry-After (NULL: not said; it then holds until the end of the UTC day it was recorded). While one
--   is in force, no ingest task asks the exchange. Wall-clock times: a ban is a fact of the present, not
--   of a data interval.
-- * candle_level_shifts: part of the candle history. A level shift (a redenomination, a relisting) that
--   an operator accepted for a coin (`cryptolstm accept-level-shift`): from `day` on, the coin's closes are
--   checked for plausibility against each other, not against the close before the break, and the candle
--   history the model reads starts at the break, so no return is read across it.

CREATE TABLE IF NOT EXISTS exchange_bans (
    ban_id         bigserial PRIMARY KEY,
    exchange       text NOT NULL,
    coin           text NOT NULL,              -- whose request was answered with the ban
    interval_start timestamptz NOT NULL,       -- the data interval being ingested then
    interval_end   timestamptz NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    banned_until   timestamptz,                -- recorded_at + Retry-After; NULL: the server did not say
    in_force_until timestamptz NOT NULL,       -- banned_until, else the end of the UTC day it was recorded
    message        text NOT NULL               -- what the exchange answered
);
CREATE INDEX IF NOT EXISTS exchange_bans_exchange_until ON exchange_bans (exchange, in_force_until);

CREATE TABLE IF NOT EXISTS candle_level_shifts (
    coin        text NOT NULL,
    day         date NOT NULL,                 -- the first day on the new level (the break)
    ratio       double precision NOT NULL CHECK (ratio > 0),  -- first close on the new level / last close before
    reason      text NOT NULL,                 -- the operator's why (e.g. "redenomination 1:20")
    accepted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (coin, day)
);
