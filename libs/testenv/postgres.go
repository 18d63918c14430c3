package testenv

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"sort"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/healthexport/libs/config"
	"github.com/healthexport/migrations"
)

// Database is a fresh, migrated database for one test (or one package).
type Database struct {
	URL  string
	Name string
	Pool *pgxpool.Pool
}

// NewDatabase creates a migrated database on the TEST_DATABASE_URL server
// and drops it when the test ends.
func NewDatabase(t testing.TB) *Database {
	t.Helper()
	admin := Require(t, "TEST_DATABASE_URL")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db, drop, err := CreateDatabase(ctx, admin)
	if err != nil {
		t.Fatalf("test database: %v", err)
	}
	t.Cleanup(func() {
		if err := drop(); err != nil {
			t.Logf("drop test database: %v", err)
		}
	})
	return db
}

// CreateDatabase makes a database from a migrated template (built once per
// schema version, under an advisory lock, so parallel test packages share
// it) and returns it with a function that drops it.
func CreateDatabase(ctx context.Context, adminURL string) (*Database, func() error, error) {
	admin, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return nil, nil, fmt.Errorf("connect %s (run `make deps`): %w", config.MaskURL(adminURL), err)
	}
	defer admin.Close(ctx)
	tmpl, err := ensureTemplate(ctx, admin, adminURL)
	if err != nil {
		return nil, nil, err
	}
	name := "ht_" + Token()
	if _, err := admin.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", name, tmpl)); err != nil {
		return nil, nil, fmt.Errorf("create database %s: %w", name, err)
	}
	dbURL := withDatabase(adminURL, name)
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		return nil, nil, fmt.Errorf("connect %s: %w", name, err)
	}
	drop := func() error {
		pool.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, adminURL)
		if err != nil {
			return err
		}
		defer c.Close(ctx)
		// FORCE cannot end a backend of another role (an autovacuum worker
		// of the superuser); those finish on their own, so try again.
		for {
			_, err = c.Exec(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name))
			if err == nil || ctx.Err() != nil {
				return err
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	return &Database{URL: dbURL, Name: name, Pool: pool}, drop, nil
}

func ensureTemplate(ctx context.Context, admin *pgx.Conn, adminURL string) (string, error) {
	tmpl := "ht_template_" + schemaHash()
	if _, err := admin.Exec(ctx, "SELECT pg_advisory_lock(hashtext('health-export test template'))"); err != nil {
		return "", fmt.Errorf("template lock: %w", err)
	}
	defer admin.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(hashtext('health-export test template'))") //nolint:errcheck
	var exists bool
	if err := admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", tmpl).Scan(&exists); err != nil {
		return "", fmt.Errorf("look up template: %w", err)
	}
	if exists {
		return tmpl, nil
	}
	building := tmpl + "_building"
	if _, err := admin.Exec(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", building)); err != nil {
		return "", err
	}
	if _, err := admin.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'", building)); err != nil {
		return "", fmt.Errorf("create template: %w", err)
	}
	if err := migrations.Up(withDatabase(adminURL, building)); err != nil {
		return "", fmt.Errorf("migrate template: %w", err)
	}
	// Renamed only once complete, so a crash never leaves a half-built template.
	if _, err := admin.Exec(ctx, fmt.Sprintf("ALTER DATABASE %s RENAME TO %s", building, tmpl)); err != nil {
		return "", fmt.Errorf("finish template: %w", err)
	}
	return tmpl, nil
}

// schemaHash names the template after the migrations' content, so a changed
// migration gets a new template instead of a stale one.
func schemaHash() string {
	h := sha256.New()
	fsys := migrations.Files()
	var names []string
	_ = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names = append(names, p)
		}
		return nil
	})
	sort.Strings(names)
	for _, n := range names {
		b, _ := fs.ReadFile(fsys, n)
		h.Write([]byte(n))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

func withDatabase(rawURL, name string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return rawURL
	}
	u.Path = "/" + name
	return u.String()
}

// NewUser adds a user to the database and returns its id: the consumers
// write nothing for users that do not exist.
func (d *Database) NewUser(t testing.TB, email string) uuid.UUID {
	t.Helper()
	var id uuid.UUID
	if err := d.Pool.QueryRow(context.Background(), `INSERT INTO users (email) VALUES ($1) RETURNING id`, email).Scan(&id); err != nil {
		t.Fatalf("user %s: %v", email, err)
	}
	return id
}
