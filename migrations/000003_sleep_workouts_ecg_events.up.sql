-- The remaining kinds: sleep, workouts with their routes and series, ECG and
-- the event arrays. Same conventions as 000002: user_id first in every key,
-- source NOT NULL DEFAULT '', double precision values, the offset the time
-- was written in, and who wrote the row (ingestion, stream sequence).

-- Unaggregated sleep ("Summarize" off): one row per stage segment. InBed
-- segments overlap the stage segments, so stage is part of the key.
CREATE TABLE sleep_segments (
    user_id              uuid NOT NULL,
    started_at           timestamptz NOT NULL,
    ended_at             timestamptz NOT NULL,
    stage                text NOT NULL,
    source               text NOT NULL DEFAULT '',
    qty_hours            double precision,
    recorded_offset_min  smallint,
    ingestion_id         text NOT NULL,
    stream_seq           bigint NOT NULL,
    PRIMARY KEY (user_id, started_at, ended_at, stage, source)
) PARTITION BY RANGE (started_at);

-- Aggregated sleep: one row per session; naps make several a day.
CREATE TABLE sleep_sessions (
    user_id              uuid NOT NULL,
    source               text NOT NULL DEFAULT '',
    started_at           timestamptz NOT NULL,
    sleep_date           date NOT NULL,
    total_sleep_hours    double precision,
    asleep_hours         double precision,
    core_hours           double precision,
    deep_hours           double precision,
    rem_hours            double precision,
    awake_hours          double precision,
    in_bed_hours         double precision,
    sleep_start          timestamptz,
    sleep_end            timestamptz,
    in_bed_start         timestamptz,
    in_bed_end           timestamptz,
    details              jsonb,
    recorded_offset_min  smallint,
    ingestion_id         text NOT NULL,
    stream_seq           bigint NOT NULL,
    PRIMARY KEY (user_id, source, started_at)
);
CREATE INDEX sleep_sessions_date_idx ON sleep_sessions (user_id, sleep_date);

-- Workouts: the app's id when present, else a key derived from (name,
-- start, end). Summary values normalised to kcal, metres and bpm; every
-- other field kept as sent in details.
CREATE TABLE workouts (
    user_id              uuid NOT NULL,
    workout_key          text NOT NULL,
    name                 text NOT NULL,
    started_at           timestamptz NOT NULL,
    ended_at             timestamptz NOT NULL,
    duration_s           double precision,
    distance_m           double precision,
    active_energy_kcal   double precision,
    total_energy_kcal    double precision,
    avg_heart_rate       double precision,
    max_heart_rate       double precision,
    details              jsonb,
    recorded_offset_min  smallint,
    ingestion_id         text NOT NULL,
    stream_seq           bigint NOT NULL,
    PRIMARY KEY (user_id, workout_key)
);
CREATE INDEX workouts_started_idx ON workouts (user_id, started_at);

CREATE TABLE workout_route_points (
    user_id              uuid NOT NULL,
    workout_key          text NOT NULL,
    recorded_at          timestamptz NOT NULL,
    latitude             double precision NOT NULL,
    longitude            double precision NOT NULL,
    altitude_m           double precision,
    speed_mps            double precision,
    course               double precision,
    course_accuracy      double precision,
    horizontal_accuracy  double precision,
    vertical_accuracy    double precision,
    speed_accuracy       double precision,
    recorded_offset_min  smallint,
    ingestion_id         text NOT NULL,
    stream_seq           bigint NOT NULL,
    PRIMARY KEY (user_id, workout_key, recorded_at)
) PARTITION BY RANGE (recorded_at);

-- Series arrays (heartRateData, activeEnergy, ...), values as sent.
CREATE TABLE workout_samples (
    user_id              uuid NOT NULL,
    workout_key          text NOT NULL,
    series               text NOT NULL,
    recorded_at          timestamptz NOT NULL,
    qty                  double precision,
    min                  double precision,
    avg                  double precision,
    max                  double precision,
    units                text NOT NULL DEFAULT '',
    source               text NOT NULL DEFAULT '',
    recorded_offset_min  smallint,
    ingestion_id         text NOT NULL,
    stream_seq           bigint NOT NULL,
    PRIMARY KEY (user_id, workout_key, series, recorded_at)
) PARTITION BY RANGE (recorded_at);

CREATE TABLE ecg_recordings (
    user_id                 uuid NOT NULL,
    started_at              timestamptz NOT NULL,
    source                  text NOT NULL DEFAULT '',
    ended_at                timestamptz,
    classification          text,
    severity                text,
    average_heart_rate      double precision,
    sampling_hz             double precision,
    voltage_units           text,
    voltages                double precision[],
    voltage_offsets_ms      double precision[],
    details                 jsonb,
    recorded_offset_min     smallint,
    ingestion_id            text NOT NULL,
    stream_seq              bigint NOT NULL,
    PRIMARY KEY (user_id, started_at, source)
);

-- symptoms, stateOfMind, medications, cycleTracking, heartRateNotifications.
CREATE TABLE health_events (
    user_id              uuid NOT NULL,
    kind                 text NOT NULL,
    started_at           timestamptz NOT NULL,
    event_key            text NOT NULL,
    ended_at             timestamptz,
    name                 text,
    value                text,
    source               text NOT NULL DEFAULT '',
    details              jsonb,
    recorded_offset_min  smallint,
    ingestion_id         text NOT NULL,
    stream_seq           bigint NOT NULL,
    PRIMARY KEY (user_id, kind, started_at, event_key)
);
