-- 012: a placeholder, so that this branch (issue 25, whose migration is 013) migrates on its own: the migrations
-- must be numbered without gaps. Number 012 belongs to another change being made in parallel; when that lands,
-- this file is deleted (it does nothing).
SELECT 1;
