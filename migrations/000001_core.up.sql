-- Core bookkeeping: who may upload, what arrived, what was written or rejected.

CREATE TABLE users (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email       text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Keys are "hx_<id>_<secret>"; only an Argon2id PHC string of the secret is
-- kept, and verification looks the key up by id (the primary key).
CREATE TABLE api_keys (
    id            text PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          text NOT NULL DEFAULT '',
    secret_hash   text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz
);
CREATE INDEX api_keys_user_id_idx ON api_keys (user_id);

-- Every part exactly as published: the backup any table is rebuilt from once
-- the stream has aged out. received_at comes from the Health-Received-At
-- header, so a redelivery lands on the same row.
CREATE TABLE raw_ingestions (
    received_at   timestamptz NOT NULL,
    ingestion_id  text NOT NULL,
    part_id       text NOT NULL,
    user_id       uuid NOT NULL,
    key_id        text NOT NULL,
    kind          text NOT NULL,
    stream_seq    bigint NOT NULL,
    headers       jsonb NOT NULL,
    payload       bytea NOT NULL,
    archived_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (received_at, ingestion_id, part_id)
) PARTITION BY RANGE (received_at);
CREATE INDEX raw_ingestions_user_idx ON raw_ingestions (user_id, received_at);
CREATE INDEX raw_ingestions_seq_idx ON raw_ingestions (stream_seq);

-- One row per upload manifest.
CREATE TABLE ingestions (
    ingestion_id  text PRIMARY KEY,
    user_id       uuid NOT NULL,
    key_id        text NOT NULL,
    received_at   timestamptz NOT NULL,
    parts         integer NOT NULL,
    accepted      jsonb NOT NULL,
    rejected      integer NOT NULL,
    headers       jsonb NOT NULL,
    manifest      jsonb NOT NULL,
    stream_seq    bigint NOT NULL,
    archived_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ingestions_user_idx ON ingestions (user_id, received_at);
CREATE INDEX ingestions_seq_idx ON ingestions (stream_seq);

-- A part a writer has committed, in the same transaction as its rows.
CREATE TABLE ingestion_parts (
    ingestion_id  text NOT NULL,
    part_id       text NOT NULL,
    user_id       uuid NOT NULL,
    kind          text NOT NULL,
    items         integer NOT NULL,
    written       integer NOT NULL,
    rejected      integer NOT NULL,
    stream_seq    bigint NOT NULL,
    written_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (ingestion_id, part_id)
);
CREATE INDEX ingestion_parts_seq_idx ON ingestion_parts (stream_seq);

-- One row per rejected item, keyed by its JSON Pointer in the original body.
-- The item is bytea: jsonb cannot hold U+0000.
CREATE TABLE rejected_points (
    user_id       uuid NOT NULL,
    ingestion_id  text NOT NULL,
    pointer       text NOT NULL,
    kind          text NOT NULL,
    part_id       text NOT NULL,
    reason        text NOT NULL,
    item          bytea,
    stream_seq    bigint NOT NULL,
    received_at   timestamptz NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, ingestion_id, pointer)
);
CREATE INDEX rejected_points_seq_idx ON rejected_points (stream_seq);
