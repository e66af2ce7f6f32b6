-- A broadcast's enqueue (store.cpp EnqueueBroadcast) counts its own tasks: it knows them all
-- (every one pending, of its broadcast), so it writes the depth and the broadcast's tasks_queued
-- itself and tells the counting trigger, for that COPY only, with set_config('crm.enqueue', 'on',
-- true). The trigger's pass over the COPY's transition table (grouping 100,000 rows by broadcast
-- and state) is work the enqueue need not do: 10-20 % of a psql COPY's time into this table,
-- a few percent of the enqueue's in the bench (docs/benchmarks.md, "Outbound queue").
-- Every other insert (a message typed in the inbox, a restore, SQL by hand) is still counted here.
DROP TRIGGER queue_depth_insert ON outbound_tasks;
CREATE TRIGGER queue_depth_insert AFTER INSERT ON outbound_tasks
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
  WHEN (current_setting('crm.enqueue', true) IS DISTINCT FROM 'on')
  EXECUTE FUNCTION queue_depth_count();
