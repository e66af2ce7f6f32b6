-- The monitor (docs/operations.md, "Monitoring"): the alert log (at most one open alert per
-- subject and kind) and the telemetry it samples, raw and rolled up (5-minute, hourly).
CREATE TABLE alerts (
  id          bigserial PRIMARY KEY,
  subject     text NOT NULL,  -- "slice:7" or "server"
  kind        text NOT NULL,  -- slice_down, whatsapp_disconnected, server_disk, …
  severity    text NOT NULL CHECK (severity IN ('warning', 'critical')),
  message     text NOT NULL,
  opened_at   timestamptz NOT NULL,
  resolved_at timestamptz,
  notified_at timestamptz
);
CREATE UNIQUE INDEX alerts_open ON alerts (subject, kind) WHERE resolved_at IS NULL;
CREATE INDEX alerts_opened ON alerts (opened_at DESC);
CREATE INDEX alerts_notified ON alerts (subject, kind, notified_at DESC);

-- Per slice; the rollups hold averages (wa_state: the worst seen in the bucket) and maxima.
CREATE TABLE telemetry (
  ts            timestamptz NOT NULL,
  slice_id      bigint NOT NULL,
  rss_bytes     bigint,
  pss_bytes     bigint,
  swap_bytes    bigint,
  cpu_percent   double precision,
  wa_state      text,
  idle_seconds  bigint,
  storage_bytes bigint,
  PRIMARY KEY (slice_id, ts)
);
CREATE INDEX telemetry_ts ON telemetry (ts);
CREATE TABLE telemetry_5m (LIKE telemetry INCLUDING ALL);
ALTER TABLE telemetry_5m ADD COLUMN rss_max_bytes bigint, ADD COLUMN cpu_max_percent double precision;
CREATE TABLE telemetry_1h (LIKE telemetry_5m INCLUDING ALL);

CREATE TABLE server_telemetry (
  ts                 timestamptz PRIMARY KEY,
  ram_used_bytes     bigint,
  ram_total_bytes    bigint,
  swap_used_bytes    bigint,
  swap_total_bytes   bigint,
  swapin_pages_per_s double precision,
  cpu_percent        double precision,
  disk_used_bytes    bigint,
  disk_total_bytes   bigint,
  load1              double precision,
  slices_running     integer,
  slices_total       integer,
  pg_connections     integer
);
CREATE TABLE server_telemetry_5m (LIKE server_telemetry INCLUDING ALL);
ALTER TABLE server_telemetry_5m ADD COLUMN ram_used_max_bytes bigint,
  ADD COLUMN cpu_max_percent double precision, ADD COLUMN swapin_max_pages_per_s double precision;
CREATE TABLE server_telemetry_1h (LIKE server_telemetry_5m INCLUDING ALL);
