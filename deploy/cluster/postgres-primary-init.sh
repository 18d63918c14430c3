#!/bin/sh
# compose's cluster profile, cluster-postgres-1's first start (the postgres
# image runs /docker-entrypoint-initdb.d/*.sh once, on an empty volume):
# the standby (cluster-postgres-2) may replicate, with the database user's
# password, and once it is there every COMMIT waits for its flush, so a
# failover loses nothing acknowledged. Written with ALTER SYSTEM now and
# applied at the real start: a COMMIT waiting here would never end.
set -eu
echo "host replication all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
	-c "ALTER SYSTEM SET synchronous_standby_names = 'standby'"
