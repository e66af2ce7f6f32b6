-- The same as the slice schema's migration 0008_enqueue_counts_itself.sql (why: there), for the
-- queue in a database of its own: a broadcast's enqueue counts its own tasks, and the counting
-- trigger leaves its COPY alone.
DROP TRIGGER queue_depth_insert ON outbound_tasks;
CREATE TRIGGER queue_depth_insert AFTER INSERT ON outbound_tasks
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
  WHEN (current_setting('crm.enqueue', true) IS DISTINCT FROM 'on')
  EXECUTE FUNCTION queue_depth_count();
