-- Which running instance (replica or CLI run) handles an upload while it is in flight, so a
-- reconciler only finishes uploads whose instance is gone (see src/db/coordination.rs).
alter table uploads add column instance_id text;
