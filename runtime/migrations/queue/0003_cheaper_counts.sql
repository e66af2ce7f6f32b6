-- The same as the slice schema's migration 0007_cheaper_counts.sql, for the queue in a database
-- of its own.
-- The queue's counters (the depth, 0003_queue_density.sql; each broadcast's progress,
-- 0005_broadcast_progress.sql) kept for less: the same counts, from one pass over a statement's
-- changed rows instead of three, in a statement planned once per connection, and none at all for
-- a claim (docs/benchmarks.md, "Outbound queue").
--
-- A claim (store.cpp Claim) only moves pending tasks to claimed or sending, all three counted as
-- queued in the depth and in their broadcast's counts: it changes no counter, and says so with
-- set_config('crm.claim', 'on', true) in its own transaction, which holds nothing else. Before,
-- each claim of 500 tasks paid for the transition tables' three scans and found nothing to write.
CREATE OR REPLACE FUNCTION queue_depth_count() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  delta bigint;
  moved jsonb;
BEGIN
  IF TG_OP = 'UPDATE' AND current_setting('crm.claim', true) = 'on' THEN
    RETURN NULL;
  END IF;
  -- How many tasks came to and went from each (broadcast, state); pairs that cancel out drop
  -- out. Static SQL (one plan per connection): transition tables need no schema.
  IF TG_OP = 'INSERT' THEN
    SELECT coalesce(sum(n) FILTER (WHERE state IN ('pending', 'claimed', 'sending', 'paused')), 0),
           jsonb_agg(jsonb_build_array(broadcast_id, state, n)) FILTER (WHERE broadcast_id IS NOT NULL)
      INTO delta, moved
      FROM (SELECT broadcast_id, state, count(*) AS n FROM new_rows GROUP BY 1, 2) g;
  ELSIF TG_OP = 'DELETE' THEN
    SELECT coalesce(sum(n) FILTER (WHERE state IN ('pending', 'claimed', 'sending', 'paused')), 0),
           jsonb_agg(jsonb_build_array(broadcast_id, state, n)) FILTER (WHERE broadcast_id IS NOT NULL)
      INTO delta, moved
      FROM (SELECT broadcast_id, state, -count(*) AS n FROM old_rows GROUP BY 1, 2) g;
  ELSE
    SELECT coalesce(sum(n) FILTER (WHERE state IN ('pending', 'claimed', 'sending', 'paused')), 0),
           jsonb_agg(jsonb_build_array(broadcast_id, state, n)) FILTER (WHERE broadcast_id IS NOT NULL)
      INTO delta, moved
      FROM (SELECT broadcast_id, state, sum(n) AS n
            FROM (SELECT broadcast_id, state, 1 AS n FROM new_rows
                  UNION ALL SELECT broadcast_id, state, -1 FROM old_rows) c
            GROUP BY 1, 2) g
      WHERE n <> 0;
  END IF;
  -- The depth first, then the broadcasts: the order every writer takes them in (store.cpp
  -- ControlBroadcast), so two writers never wait on each other in a circle.
  IF delta <> 0 THEN
    EXECUTE format('UPDATE %I.queue_depth SET depth = depth + $1', TG_TABLE_SCHEMA) USING delta;
  END IF;
  IF moved IS NOT NULL THEN
    EXECUTE format($sql$
      UPDATE %I.broadcasts b SET
        tasks_queued = tasks_queued + d.queued, tasks_sent = tasks_sent + d.sent,
        tasks_delivered = tasks_delivered + d.delivered, tasks_read = tasks_read + d.read,
        tasks_failed = tasks_failed + d.failed, tasks_cancelled = tasks_cancelled + d.cancelled
      FROM (SELECT (m ->> 0)::bigint AS broadcast_id,
              coalesce(sum((m ->> 2)::bigint) FILTER (WHERE m ->> 1 IN ('pending', 'claimed',
                'sending', 'paused')), 0) AS queued,
              coalesce(sum((m ->> 2)::bigint) FILTER (WHERE m ->> 1 = 'sent'), 0) AS sent,
              coalesce(sum((m ->> 2)::bigint) FILTER (WHERE m ->> 1 = 'delivered'), 0) AS delivered,
              coalesce(sum((m ->> 2)::bigint) FILTER (WHERE m ->> 1 = 'read'), 0) AS read,
              coalesce(sum((m ->> 2)::bigint) FILTER (WHERE m ->> 1 = 'failed'), 0) AS failed,
              coalesce(sum((m ->> 2)::bigint) FILTER (WHERE m ->> 1 = 'cancelled'), 0) AS cancelled
            FROM jsonb_array_elements($1) AS m GROUP BY 1) d
      WHERE b.id = d.broadcast_id AND (d.queued, d.sent, d.delivered, d.read, d.failed,
        d.cancelled) <> (0, 0, 0, 0, 0, 0)$sql$, TG_TABLE_SCHEMA) USING moved;
  END IF;
  RETURN NULL;
END $$;
