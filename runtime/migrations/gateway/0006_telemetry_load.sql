-- The load beside each slice sample (docs/operations.md, "Telemetry"): open event streams and
-- queued tasks, as the slice's GET /api/status reports them; `crmctl calibrate --from-db` fits
-- the per-unit memory rules on them. Rollups hold averages.
ALTER TABLE telemetry ADD COLUMN streams integer, ADD COLUMN pending_tasks bigint;
ALTER TABLE telemetry_5m ADD COLUMN streams integer, ADD COLUMN pending_tasks bigint;
ALTER TABLE telemetry_1h ADD COLUMN streams integer, ADD COLUMN pending_tasks bigint;
