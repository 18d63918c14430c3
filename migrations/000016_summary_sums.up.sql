-- What a day's summary needs to take new rows without reading the day's
-- rows again: the unrounded sum of the values it counts (vsum; total and
-- avg are it rounded) and the one origin of its rows (origin). Both are
-- NULL where a day mixes origins, units or, for a total, sources: such a
-- day is recomputed from its rows whenever it changes. Existing rows
-- start NULL and get both at their next recompute.
ALTER TABLE daily_summaries ADD COLUMN vsum double precision, ADD COLUMN origin smallint;
