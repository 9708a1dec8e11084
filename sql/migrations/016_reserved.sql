-- Placeholder: number 016 belongs to another branch's migration (issue 26's confidence tiers), written beside
-- this one. Migrations must be numbered 1..N without gaps (storage.migrate), so this branch keeps the number
-- with a no-op; when both branches meet, this file is dropped in favour of the real 016.
SELECT 1;
