DROP TABLE IF EXISTS quantity_metrics, blood_pressure_metrics, heart_rate_metrics;
