-- A message a consumer gave up on: its write failed for a reason that is
-- neither an outage nor the data's fault, WRITE_MAX_ATTEMPTS deliveries in
-- a row. It is terminated in the stream; this row is how it is found and
-- replayed (healthctl replay --from-seq <stream_seq> [--from-archive]) once
-- the cause is fixed. Never the body: that is in raw_ingestions and the
-- stream.
CREATE TABLE failed_parts (
    consumer      text NOT NULL,
    stream_seq    bigint NOT NULL,
    ingestion_id  text NOT NULL,
    part_id       text NOT NULL,
    user_id       uuid,
    kind          text NOT NULL,
    deliveries    integer NOT NULL,
    class         text NOT NULL,
    error         text NOT NULL,
    failed_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, stream_seq)
);
CREATE INDEX failed_parts_part_idx ON failed_parts (ingestion_id, part_id);
CREATE INDEX failed_parts_user_idx ON failed_parts (user_id);
