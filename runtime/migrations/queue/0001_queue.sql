-- A slice's outbound queue in the queue database (QUEUE_DATABASE_URL; docs/architecture.md,
-- "The queue database"): the same tables as in the slice's own schema (slice migrations 0002,
-- 0003 and 0004, where each table, index and trigger says why it is there), in a schema of the
-- slice's name owned by the slice's role. Inbox messages stay in the slice's database, so a task
-- names its message (message_id) without a foreign key and carries its text (body).

CREATE TABLE broadcasts (
  id          bigserial PRIMARY KEY,
  name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  body        text NOT NULL CHECK (length(body) BETWEEN 1 AND 4096),
  template    jsonb,
  status      text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'paused', 'cancelled', 'completed')),
  total       integer NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz
);

CREATE TABLE outbound_tasks (
  id           bigserial,
  broadcast_id bigint,
  message_id   bigint,
  recipient    text NOT NULL,
  body         text,
  state        text NOT NULL DEFAULT 'pending'
               CHECK (state IN ('pending', 'claimed', 'sending', 'sent', 'delivered', 'read', 'failed', 'paused',
                                'cancelled')),
  attempts     smallint NOT NULL DEFAULT 0,
  not_before   timestamptz NOT NULL DEFAULT now(),
  lease_epoch  bigint,
  provider_id  text,
  last_error   text,
  CHECK ((broadcast_id IS NULL) <> (message_id IS NULL))
);
CREATE INDEX outbound_due ON outbound_tasks (not_before) WHERE state = 'pending';
CREATE INDEX outbound_sending ON outbound_tasks (id) WHERE state IN ('claimed', 'sending');
CREATE INDEX outbound_broadcast ON outbound_tasks (broadcast_id, state) WHERE broadcast_id IS NOT NULL;
CREATE INDEX outbound_paused ON outbound_tasks (broadcast_id) WHERE state = 'paused';
CREATE UNIQUE INDEX outbound_provider ON outbound_tasks (provider_id) WHERE provider_id IS NOT NULL;
CREATE UNIQUE INDEX outbound_message ON outbound_tasks (message_id) WHERE message_id IS NOT NULL;

CREATE FUNCTION status_rank(status text) RETURNS integer IMMUTABLE LANGUAGE sql AS $$
  SELECT CASE status WHEN 'queued' THEN 0 WHEN 'pending' THEN 0 WHEN 'claimed' THEN 1 WHEN 'sending' THEN 1 WHEN 'sent' THEN 2
                     WHEN 'delivered' THEN 3 WHEN 'read' THEN 4 ELSE 9 END
$$;

CREATE TABLE early_statuses (
  provider_id text PRIMARY KEY,
  status      text NOT NULL,
  error       text,
  at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE dispatcher_lease (
  id         boolean PRIMARY KEY DEFAULT true CHECK (id),
  holder     text NOT NULL,
  epoch      bigint NOT NULL,
  expires_at timestamptz NOT NULL
);

CREATE TABLE queue_depth (
  id    boolean PRIMARY KEY DEFAULT true CHECK (id),
  depth bigint NOT NULL CHECK (depth >= 0)
);
INSERT INTO queue_depth (depth) VALUES (0);

CREATE FUNCTION queue_depth_count() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  delta bigint := 0;
BEGIN
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    delta := delta + (SELECT count(*) FROM new_rows
                      WHERE state IN ('pending', 'claimed', 'sending', 'paused'));
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    delta := delta - (SELECT count(*) FROM old_rows
                      WHERE state IN ('pending', 'claimed', 'sending', 'paused'));
  END IF;
  IF delta <> 0 THEN
    EXECUTE format('UPDATE %I.queue_depth SET depth = depth + $1', TG_TABLE_SCHEMA) USING delta;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER queue_depth_insert AFTER INSERT ON outbound_tasks
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION queue_depth_count();
CREATE TRIGGER queue_depth_update AFTER UPDATE ON outbound_tasks
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION queue_depth_count();
CREATE TRIGGER queue_depth_delete AFTER DELETE ON outbound_tasks
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION queue_depth_count();
CREATE FUNCTION queue_depth_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('UPDATE %I.queue_depth SET depth = 0', TG_TABLE_SCHEMA);
  RETURN NULL;
END $$;
CREATE TRIGGER queue_depth_truncate AFTER TRUNCATE ON outbound_tasks
  FOR EACH STATEMENT EXECUTE FUNCTION queue_depth_truncated();
