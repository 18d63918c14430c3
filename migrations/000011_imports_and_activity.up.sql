-- Two kinds that imports of the Health app's export bring.
--
-- activity_summaries: the Activity rings of one day as the Health app
-- closed them (ActivitySummary): move (active energy), exercise and stand,
-- each with its goal. One row per user and day; values as written, units
-- beside the energy (Cal or kJ).
CREATE TABLE activity_summaries (
    user_id                 uuid NOT NULL,
    summary_date            date NOT NULL,
    active_energy           double precision,
    active_energy_goal      double precision,
    active_energy_units     text,
    move_time_min           double precision,
    move_time_goal_min      double precision,
    exercise_time_min       double precision,
    exercise_time_goal_min  double precision,
    stand_hours             double precision,
    stand_hours_goal        double precision,
    details                 jsonb,
    origin                  smallint NOT NULL DEFAULT 1,
    ingestion_id            text NOT NULL,
    stream_seq              bigint NOT NULL,
    PRIMARY KEY (user_id, summary_date)
);

-- imports: where each import of an export stands (receiving, converting,
-- done, failed), as the importer records it: one row per user and import,
-- the later record winning like any row. Rows written and rejected come
-- from ingestion_parts (the import's id is its ingestion id).
CREATE TABLE imports (
    user_id          uuid NOT NULL,
    import_id        text NOT NULL,
    state            text NOT NULL,
    file_name        text NOT NULL DEFAULT '',
    file_bytes       bigint,
    records_read     bigint,
    parts_published  bigint,
    reason           text,
    received_at      timestamptz,
    updated_at       timestamptz,
    details          jsonb,
    origin           smallint NOT NULL DEFAULT 1,
    ingestion_id     text NOT NULL,
    stream_seq       bigint NOT NULL,
    PRIMARY KEY (user_id, import_id)
);
