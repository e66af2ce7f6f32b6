-- The outbound queue, denser and with its depth kept as a counter (docs/architecture.md,
-- "Messaging"; the figures in docs/benchmarks.md, "Outbound queue"): each index below says which
-- query it serves, and a pending task costs its row plus two deduplicated index entries.

-- No primary key: it cost 22.5 B per task for every task ever sent, and no query looks a task up by
-- id outside the claimed/sending ones (outbound_sending below). Ids still come only from the
-- bigserial's sequence, so they stay unique; the claim finds its rows by ctid (store.cpp Claim).
ALTER TABLE outbound_tasks DROP CONSTRAINT outbound_tasks_pkey;

-- The indexes, and the queries each serves (store.cpp unless named):
--   outbound_due        Claim (due pending tasks, oldest not_before first) and the dispatcher's
--                       sleep until the next retry (dispatcher.cpp, min(not_before)). Keyed on
--                       not_before alone, not (not_before, id): the tasks of one broadcast share
--                       their not_before (the enqueue's now()), so B-tree deduplication stores
--                       one key and a posting list for them, ~6.5 B a task instead of 31.6 B.
--                       Within one not_before, tasks come out in table (ctid) order: for a
--                       fresh COPY, the order inserted.
--   outbound_sending    MarkSending, RecordResults (by id, among claimed/sending only), InDoubt.
--   outbound_broadcast  the progress counts of GET /api/broadcasts/{id} and the list, pause/resume/
--                       cancel, the "nothing left to send" check that completes a broadcast
--                       (deduplicated too: one entry per broadcast and state).
--   outbound_paused     resume (a paused broadcast's tasks).
--   outbound_provider   delivery statuses (ApplyStatuses) by WhatsApp's message id; unique.
DROP INDEX outbound_due;
CREATE INDEX outbound_due ON outbound_tasks (not_before) WHERE state = 'pending';

-- The queue depth (tasks pending, claimed, sending or paused: store.cpp PendingDepth) as one row,
-- kept by statement triggers in the same transaction as the change, so reading it costs the same
-- at any depth; count(*) over the tasks took 112 ms at 700,000 pending. Statement triggers, not row
-- triggers: a 100,000-row COPY adds to the counter once. The row is only written when the depth
-- changes: claiming (pending → claimed → sending), pausing and resuming leave it alone, so the
-- dispatcher writes it once per batch it records, and an enqueue once.
CREATE TABLE queue_depth (
  id    boolean PRIMARY KEY DEFAULT true CHECK (id),
  depth bigint NOT NULL CHECK (depth >= 0)
);
INSERT INTO queue_depth (depth)
  SELECT count(*) FROM outbound_tasks WHERE state IN ('pending', 'claimed', 'sending', 'paused');

-- Schema-qualified through TG_TABLE_SCHEMA: a trigger runs under the caller's search_path.
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
-- TRUNCATE fires none of these; the counter follows it.
CREATE FUNCTION queue_depth_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('UPDATE %I.queue_depth SET depth = 0', TG_TABLE_SCHEMA);
  RETURN NULL;
END $$;
CREATE TRIGGER queue_depth_truncate AFTER TRUNCATE ON outbound_tasks
  FOR EACH STATEMENT EXECUTE FUNCTION queue_depth_truncated();
