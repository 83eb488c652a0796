-- A raw object is recorded by one upload only: S3 events for files dropped into raw/ arrive at
-- least once, and the Lambda handler finds the first upload of a key by this index.
create unique index uploads_raw_key on uploads (raw_key);
