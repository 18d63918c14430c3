#!/bin/sh
# compose's cluster profile, cluster-postgres-2: at its first start a base
# backup of the primary (PRIMARY_HOST) makes it a streaming hot standby
# named "standby" (the primary's synchronous_standby_names); then it runs.
# It never waits for a standby itself: after a promotion it must not.
set -eu
if [ ! -s "$PGDATA/PG_VERSION" ]; then
	until pg_isready -q -h "$PRIMARY_HOST" -U "$POSTGRES_USER"; do sleep 1; done
	mkdir -p "$PGDATA"
	chown postgres "$PGDATA"
	chmod 700 "$PGDATA"
	gosu postgres env PGPASSWORD="$POSTGRES_PASSWORD" pg_basebackup -D "$PGDATA" -X stream -c fast -R \
		-d "host=$PRIMARY_HOST user=$POSTGRES_USER application_name=standby"
fi
exec gosu postgres postgres -c hot_standby=on -c synchronous_standby_names=
