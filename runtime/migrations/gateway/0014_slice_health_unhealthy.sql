-- A slice that stops answering GET /health is recorded `unhealthy` with the reason before it is
-- killed and restarted (docs/architecture.md, "Orchestrator"; docs/api.md lists the value), but
-- the check of 0001 did not allow that value: the write failed, was logged as "cannot record
-- health", and the admin API kept saying healthy until the restart.
ALTER TABLE slices DROP CONSTRAINT slices_health_check,
                   ADD CONSTRAINT slices_health_check
                     CHECK (health IN ('unknown', 'healthy', 'unhealthy', 'restarting', 'crashloop',
                                       'stopped'));
