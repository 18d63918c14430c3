-- The archive stores every part as sent: 30 MB uploads, JSON that
-- compresses well. lz4 compresses it several times faster than the default
-- pglz, which was a large share of PostgreSQL's CPU per point archived.
-- Partitions made later copy the setting (LIKE ... INCLUDING ALL).
ALTER TABLE raw_ingestions ALTER COLUMN payload SET COMPRESSION lz4;
ALTER TABLE ingestions ALTER COLUMN manifest SET COMPRESSION lz4;
ALTER TABLE rejected_points ALTER COLUMN item SET COMPRESSION lz4;
