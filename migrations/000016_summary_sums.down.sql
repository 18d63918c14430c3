ALTER TABLE daily_summaries DROP COLUMN vsum, DROP COLUMN origin;
