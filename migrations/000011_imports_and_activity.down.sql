DROP TABLE imports;
DROP TABLE activity_summaries;
