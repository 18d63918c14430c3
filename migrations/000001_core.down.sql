DROP TABLE IF EXISTS rejected_points, ingestion_parts, ingestions, raw_ingestions, api_keys, users;
