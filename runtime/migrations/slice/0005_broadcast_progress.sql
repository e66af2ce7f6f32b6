-- A broadcast's progress as counters on its row, kept by the same statement triggers as the queue
-- depth (0003_queue_density.sql), so reading it costs the same at any size (docs/architecture.md,
-- "Messaging"). Counting the tasks (the query this replaces) visited every index entry of the
-- broadcast, dead versions included: ~100 ms for 50,000 tasks mid-send, each time the web app or
-- the API asked.
--   tasks_queued     pending, claimed, sending or paused
--   tasks_sent, tasks_delivered, tasks_read, tasks_failed, tasks_cancelled: in exactly that state
-- The progress reports sent = sent + delivered + read and delivered = delivered + read
-- (store.cpp kProgressSql).
ALTER TABLE broadcasts
  ADD COLUMN tasks_queued    bigint NOT NULL DEFAULT 0,
  ADD COLUMN tasks_sent      bigint NOT NULL DEFAULT 0,
  ADD COLUMN tasks_delivered bigint NOT NULL DEFAULT 0,
  ADD COLUMN tasks_read      bigint NOT NULL DEFAULT 0,
  ADD COLUMN tasks_failed    bigint NOT NULL DEFAULT 0,
  ADD COLUMN tasks_cancelled bigint NOT NULL DEFAULT 0;
UPDATE broadcasts b SET
  tasks_queued = c.queued, tasks_sent = c.sent, tasks_delivered = c.delivered, tasks_read = c.read,
  tasks_failed = c.failed, tasks_cancelled = c.cancelled
FROM (SELECT broadcast_id,
        count(*) FILTER (WHERE state IN ('pending', 'claimed', 'sending', 'paused')) AS queued,
        count(*) FILTER (WHERE state = 'sent') AS sent,
        count(*) FILTER (WHERE state = 'delivered') AS delivered,
        count(*) FILTER (WHERE state = 'read') AS read,
        count(*) FILTER (WHERE state = 'failed') AS failed,
        count(*) FILTER (WHERE state = 'cancelled') AS cancelled
      FROM outbound_tasks WHERE broadcast_id IS NOT NULL GROUP BY broadcast_id) c
WHERE b.id = c.broadcast_id;

-- The depth first, then the broadcasts: the order every writer takes them in (store.cpp
-- ControlBroadcast locks queue_depth before its broadcast), so two writers never wait on each
-- other in a circle. A statement that moves no task between those states (a claim: pending →
-- sending are all queued) writes neither.
CREATE OR REPLACE FUNCTION queue_depth_count() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  delta bigint := 0;
  changes text;
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
  changes := CASE TG_OP
    WHEN 'INSERT' THEN 'SELECT broadcast_id, state, 1 AS n FROM new_rows'
    WHEN 'DELETE' THEN 'SELECT broadcast_id, state, -1 AS n FROM old_rows'
    ELSE 'SELECT broadcast_id, state, 1 AS n FROM new_rows '
         'UNION ALL SELECT broadcast_id, state, -1 FROM old_rows' END;
  EXECUTE format($sql$
    UPDATE %I.broadcasts b SET
      tasks_queued = tasks_queued + d.queued, tasks_sent = tasks_sent + d.sent,
      tasks_delivered = tasks_delivered + d.delivered, tasks_read = tasks_read + d.read,
      tasks_failed = tasks_failed + d.failed, tasks_cancelled = tasks_cancelled + d.cancelled
    FROM (SELECT broadcast_id,
            sum(CASE WHEN state IN ('pending', 'claimed', 'sending', 'paused') THEN n ELSE 0 END)
              AS queued,
            sum(CASE WHEN state = 'sent' THEN n ELSE 0 END) AS sent,
            sum(CASE WHEN state = 'delivered' THEN n ELSE 0 END) AS delivered,
            sum(CASE WHEN state = 'read' THEN n ELSE 0 END) AS read,
            sum(CASE WHEN state = 'failed' THEN n ELSE 0 END) AS failed,
            sum(CASE WHEN state = 'cancelled' THEN n ELSE 0 END) AS cancelled
          FROM (%s) c WHERE broadcast_id IS NOT NULL GROUP BY broadcast_id) d
    WHERE b.id = d.broadcast_id AND (d.queued, d.sent, d.delivered, d.read, d.failed,
      d.cancelled) <> (0, 0, 0, 0, 0, 0)$sql$, TG_TABLE_SCHEMA, changes);
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION queue_depth_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('UPDATE %I.queue_depth SET depth = 0', TG_TABLE_SCHEMA);
  EXECUTE format('UPDATE %I.broadcasts SET tasks_queued = 0, tasks_sent = 0, tasks_delivered = 0, '
                 'tasks_read = 0, tasks_failed = 0, tasks_cancelled = 0', TG_TABLE_SCHEMA);
  RETURN NULL;
END $$;
