-- At most one current (`succeeded`) upload per shop-day, enforced by the database: the commit
-- of a shop-day is fenced by it (src/db/uploads.rs, `commit_succeeded`), so two commits racing
-- after a lost shop-day lock cannot both become current.
--
-- Rows written before this fence may break the rule (two replicas that committed one shop-day
-- at once); the newest such upload is the one the service already treats as current, so the
-- older ones become superseded by it. (The max id row never changes here, so the subquery
-- reads the same value whichever row it runs for.)
update uploads
set status = 'superseded',
    superseded_by = (
        select max(newest.id) from uploads as newest
        where newest.shop_id = uploads.shop_id and newest.sales_date = uploads.sales_date
          and newest.status = 'succeeded'
    )
where status = 'succeeded'
  and id < (
        select max(newest.id) from uploads as newest
        where newest.shop_id = uploads.shop_id and newest.sales_date = uploads.sales_date
          and newest.status = 'succeeded'
  );

create unique index uploads_one_current on uploads (shop_id, sales_date) where status = 'succeeded';
