// Package migrations holds the database schema as golang-migrate SQL files,
// embedded, and applies them the same way for services, healthctl and tests.
package migrations

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"

	"github.com/golang-migrate/migrate/v4"
	_ "github.com/golang-migrate/migrate/v4/database/pgx/v5" // registers the pgx5:// driver
	"github.com/golang-migrate/migrate/v4/source/iofs"
)

//go:embed *.sql
var files embed.FS

// Status is where a database stands.
type Status struct {
	Version uint // the last applied migration (0: none)
	Dirty   bool // a migration failed half-way and needs attention
	Latest  uint // the newest migration this build knows
}

// Up applies every migration not yet applied. golang-migrate takes an
// advisory lock, so services starting together apply them once.
func Up(databaseURL string) error {
	latest, err := latestVersion()
	if err != nil {
		return err
	}
	return withMigrate(databaseURL, func(m *migrate.Migrate) error {
		// A database already migrated further by a newer release (a rolling
		// upgrade) is left alone: migrations only add.
		if v, dirty, err := m.Version(); err == nil && !dirty && v > latest {
			return nil
		}
		if err := m.Up(); err != nil && !errors.Is(err, migrate.ErrNoChange) {
			return fmt.Errorf("migrate up: %w", err)
		}
		return nil
	})
}

// Down reverts the last `steps` migrations.
func Down(databaseURL string, steps int) error {
	return withMigrate(databaseURL, func(m *migrate.Migrate) error {
		if err := m.Steps(-steps); err != nil && !errors.Is(err, migrate.ErrNoChange) {
			return fmt.Errorf("migrate down: %w", err)
		}
		return nil
	})
}

// Current reports the applied and the latest known version.
func Current(databaseURL string) (Status, error) {
	var st Status
	latest, err := latestVersion()
	if err != nil {
		return st, err
	}
	st.Latest = latest
	err = withMigrate(databaseURL, func(m *migrate.Migrate) error {
		v, dirty, err := m.Version()
		if errors.Is(err, migrate.ErrNilVersion) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("migrate version: %w", err)
		}
		st.Version, st.Dirty = v, dirty
		return nil
	})
	return st, err
}

func latestVersion() (uint, error) {
	src, err := iofs.New(files, ".")
	if err != nil {
		return 0, fmt.Errorf("migrations source: %w", err)
	}
	defer src.Close()
	v, err := src.First()
	if err != nil {
		return 0, fmt.Errorf("first migration: %w", err)
	}
	for {
		next, err := src.Next(v)
		if err != nil {
			return v, nil //nolint:nilerr // no next migration: v is the latest
		}
		v = next
	}
}

func withMigrate(databaseURL string, fn func(*migrate.Migrate) error) (err error) {
	src, err := iofs.New(files, ".")
	if err != nil {
		return fmt.Errorf("migrations source: %w", err)
	}
	target, err := driverURL(databaseURL)
	if err != nil {
		return err
	}
	m, err := migrate.NewWithSourceInstance("iofs", src, target)
	if err != nil {
		return fmt.Errorf("open migrations: %w", err)
	}
	defer func() {
		srcErr, dbErr := m.Close()
		if err == nil {
			err = errors.Join(srcErr, dbErr)
		}
	}()
	return fn(m)
}

// driverURL turns a libpq URL into the pgx5:// form golang-migrate expects.
func driverURL(databaseURL string) (string, error) {
	u, err := url.Parse(databaseURL)
	if err != nil {
		// Not the *url.Error itself: it quotes the URL, password included.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", fmt.Errorf("DATABASE_URL is not a valid URL: %w", err)
	}
	switch u.Scheme {
	case "postgres", "postgresql", "pgx5":
	default:
		return "", fmt.Errorf("DATABASE_URL: scheme %q, want postgres://", u.Scheme)
	}
	u.Scheme = "pgx5"
	return u.String(), nil
}

// Files is the embedded migrations directory (tests hash it to name their
// template database).
func Files() fs.FS { return files }
