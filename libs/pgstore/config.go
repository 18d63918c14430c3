package pgstore

import (
	"errors"
	"time"

	validation "github.com/go-ozzo/ozzo-validation/v4"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/healthexport/libs/config"
)

// Config is the database every binary uses.
type Config struct {
	URL string `env:"DATABASE_URL,required" mask:"url" help:"PostgreSQL, a plain libpq URL (postgres://user:password@host:5432/health?sslmode=disable)."`
}

// Validate checks the URL parses; its error never repeats the URL, which
// holds the password.
func (c Config) Validate() error {
	return validation.ValidateStruct(&c, validation.Field(&c.URL, validation.Required, validation.By(func(any) error {
		if _, err := pgxpool.ParseConfig(c.URL); err != nil {
			return errors.New("must be a PostgreSQL URL (postgres://user:password@host:5432/database) or key=value string")
		}
		return nil
	})))
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
