-- How many times a reconciler started re-processing an upload left in flight. An upload whose
-- processing stops the process every time (a poisoned file) is failed after a few attempts
-- instead of being retried at every start.
alter table uploads add column recovery_attempts bigint not null default 0;
