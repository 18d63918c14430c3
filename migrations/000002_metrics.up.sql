-- The first three kinds. Every data table: user_id first in the key, source
-- NOT NULL DEFAULT '' (NULLs would defeat the unique key), numeric values as
-- double precision, the offset the time was written in, and the ingestion and
-- stream sequence that wrote the row (later messages win, replays decide the
-- same way). Monthly partitions are created on demand.

CREATE TABLE heart_rate_metrics (
    user_id              uuid NOT NULL,
    recorded_at          timestamptz NOT NULL,
    source               text NOT NULL DEFAULT '',
    min_bpm              double precision,
    avg_bpm              double precision,
    max_bpm              double precision,
    recorded_offset_min  smallint,
    ingestion_id         text NOT NULL,
    stream_seq           bigint NOT NULL,
    PRIMARY KEY (user_id, recorded_at, source)
) PARTITION BY RANGE (recorded_at);

CREATE TABLE blood_pressure_metrics (
    user_id              uuid NOT NULL,
    recorded_at          timestamptz NOT NULL,
    source               text NOT NULL DEFAULT '',
    systolic             double precision NOT NULL,
    diastolic            double precision NOT NULL,
    recorded_offset_min  smallint,
    ingestion_id         text NOT NULL,
    stream_seq           bigint NOT NULL,
    PRIMARY KEY (user_id, recorded_at, source)
) PARTITION BY RANGE (recorded_at);

CREATE TABLE quantity_metrics (
    user_id              uuid NOT NULL,
    metric               text NOT NULL,
    recorded_at          timestamptz NOT NULL,
    source               text NOT NULL DEFAULT '',
    qty                  double precision NOT NULL,
    units                text NOT NULL DEFAULT '',
    extra                jsonb,
    recorded_offset_min  smallint,
    ingestion_id         text NOT NULL,
    stream_seq           bigint NOT NULL,
    PRIMARY KEY (user_id, metric, recorded_at, source)
) PARTITION BY RANGE (recorded_at);
