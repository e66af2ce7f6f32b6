-- The runtime's own memory beside each server sample (docs/operations.md, "Telemetry"): PSS of
-- the gateway process and of PostgreSQL's processes when they run on the monitor's host (null
-- otherwise), so `crmctl calibrate --from-db` fits what a tenant costs the database too.
ALTER TABLE server_telemetry ADD COLUMN gateway_pss_bytes bigint, ADD COLUMN postgres_pss_bytes bigint;
ALTER TABLE server_telemetry_5m ADD COLUMN gateway_pss_bytes bigint, ADD COLUMN postgres_pss_bytes bigint;
ALTER TABLE server_telemetry_1h ADD COLUMN gateway_pss_bytes bigint, ADD COLUMN postgres_pss_bytes bigint;
