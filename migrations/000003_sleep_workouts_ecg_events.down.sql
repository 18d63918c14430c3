DROP TABLE IF EXISTS health_events, ecg_recordings, workout_samples, workout_route_points, workouts, sleep_sessions, sleep_segments;
