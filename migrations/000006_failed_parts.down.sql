DROP TABLE failed_parts;
