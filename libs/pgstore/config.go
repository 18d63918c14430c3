package pgstore

import (
	"errors"
	"time"

	validation "github.com/go-ozzo/ozzo-validation/v4"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/healthexport/libs/config"
)

// Config is the database every binary uses: the primary, where every write
// goes. Several hosts with target_session_attrs=read-write follow a
// failover: a new connection goes to whichever host accepts writes.
type Config struct {
	URL string `env:"DATABASE_URL,required" mask:"url" help:"PostgreSQL, a libpq URL (postgres://user:password@host:5432/health?sslmode=disable); with a standby, every host and target_session_attrs=read-write (postgres://u:p@db1:5432,db2:5432/health?target_session_attrs=read-write)."`
}

// Validate checks the URL parses; its error never repeats the URL, which
// holds the password.
func (c Config) Validate() error {
	return validation.ValidateStruct(&c, validation.Field(&c.URL, validation.Required, validation.By(parses)))
}

// ReadConfig is where the edge reads users' data back from (the read API,
// daily summaries, exports): a hot standby, so that readers do not load
// the primary the writers need. A standby replays the primary's WAL a moment later, so a
// read may miss what was written that moment ago; what an upload's status
// says comes from the primary.
type ReadConfig struct {
	URL string `env:"READ_DATABASE_URL" mask:"url" zero:"DATABASE_URL" help:"PostgreSQL for reading data back (read API, daily summaries, exports), e.g. a hot standby; upload statuses and key checks stay on DATABASE_URL; with several hosts, target_session_attrs=prefer-standby keeps reads going to the primary while the standby is away."`
}

// Validate checks the URL parses, when one is set.
func (c ReadConfig) Validate() error {
	return validation.ValidateStruct(&c, validation.Field(&c.URL, validation.By(parses)))
}

func parses(v any) error {
	if s, _ := v.(string); s != "" {
		if _, err := pgxpool.ParseConfig(s); err != nil {
			return errors.New("must be a PostgreSQL URL (postgres://user:password@host:5432/database) or key=value string")
		}
	}
	return nil
}

// MaintenanceConfig is how often the consumers make partitions ahead.
type MaintenanceConfig struct {
	Every time.Duration `env:"PARTITION_MAINTENANCE_EVERY" envDefault:"1h" help:"How often this month's and next month's partitions are made ahead of time (any other month is made on demand)."`
}

// MinMaintenanceEvery keeps partition DDL from running in a tight loop.
const MinMaintenanceEvery = time.Minute

// Validate checks the interval.
func (c MaintenanceConfig) Validate() error {
	return validation.ValidateStruct(&c, validation.Field(&c.Every, config.NonZero(), validation.Min(MinMaintenanceEvery)))
}
