-- The CPU limit beside the memory limit (docs/architecture.md, "Isolation"): cores per slice
-- (0 = none) and how the host enforces it ("cgroup-v2", "cgroup-v1", "unavailable", "none").
ALTER TABLE slices ADD COLUMN cpu_limit_cores double precision NOT NULL DEFAULT 0,
                   ADD COLUMN cpu_limit_mechanism text NOT NULL DEFAULT 'none';
