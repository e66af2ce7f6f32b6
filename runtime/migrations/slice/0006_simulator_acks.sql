-- The simulator acknowledges a delivery's status once the slice has taken it in (simulator.cpp
-- EmitLoop): an update of acked_status alone, one per message sent. With no index naming
-- acked_status and room left on each page, that update is HOT (heap-only: no index entry written).
-- The look for unacknowledged deliveries at a slice's start reads the table instead of this index:
-- once per start, and only where the simulator is the channel.
DROP INDEX simulator_unacked;
ALTER TABLE simulator_deliveries SET (fillfactor = 80);
