-- A finer tenant hash space (docs/architecture.md, "Scale-out: gateways and slice hosts"): 10,000
-- buckets of a basis point (0.01 %) instead of 100 of a percent, so more than 100 slice hosts can
-- each own a range. A tenant's new bucket divided by 100 is its old one: a stored percent range
-- times 100 owns exactly the tenants it owned before.
--
-- The columns are renamed with their unit. A slice host still running the previous binary during
-- a rolling upgrade would otherwise read basis points as percents (a converted 0-2500 covers all
-- 100 of its buckets: it would start every tenant's slice) and insert its percent range beside
-- the converted one (0-25 read as 0-0.25 %). With the old names gone, its every heartbeat fails
-- instead: it logs "cannot renew", keeps serving what it held for one lease time
-- (shard_lease_ttl, 15 s by default), then stops every slice it runs. Its leases expire and
-- a host on the new binary adopts them (slice_host_adopt) until that host comes back upgraded
-- and claims its own range again; nothing else reads this table.
ALTER TABLE shard_leases DROP CONSTRAINT shard_leases_pkey,
                         DROP CONSTRAINT shard_leases_range_from_check,
                         DROP CONSTRAINT shard_leases_check;
ALTER TABLE shard_leases RENAME COLUMN range_from TO from_bp;
ALTER TABLE shard_leases RENAME COLUMN range_to TO to_bp;
-- Leases are renewed every few seconds: converting in place loses at most one renewal.
UPDATE shard_leases SET from_bp = from_bp * 100, to_bp = to_bp * 100;
ALTER TABLE shard_leases
  ADD CONSTRAINT shard_leases_from_bp_check CHECK (from_bp >= 0 AND from_bp < 10000),
  ADD CONSTRAINT shard_leases_to_bp_check CHECK (to_bp > from_bp AND to_bp <= 10000),
  ADD PRIMARY KEY (from_bp, to_bp);
