package main

import (
	"fmt"

	"github.com/healthexport/migrations"
)

type migrateCmd struct {
	Up     migrateUpCmd     `cmd:"" help:"Apply every pending migration."`
	Down   migrateDownCmd   `cmd:"" help:"Revert migrations."`
	Status migrateStatusCmd `cmd:"" help:"Show the applied and the latest version."`
}

type migrateUpCmd struct{}

func (migrateUpCmd) Run(e *env) error {
	if err := migrations.Up(e.cfg.Database.URL); err != nil {
		return err
	}
	st, err := migrations.Current(e.cfg.Database.URL)
	if err != nil {
		return err
	}
	e.Log.Info("migrations applied", "version", st.Version)
	return nil
}

type migrateDownCmd struct {
	Steps int `default:"1" help:"How many migrations to revert."`
}

func (c migrateDownCmd) Run(e *env) error {
	return migrations.Down(e.cfg.Database.URL, c.Steps)
}

type migrateStatusCmd struct{}

func (migrateStatusCmd) Run(e *env) error {
	st, err := migrations.Current(e.cfg.Database.URL)
	if err != nil {
		return err
	}
	state := "up to date"
	switch {
	case st.Dirty:
		state = "DIRTY: a migration failed half-way; fix it, then force the version"
	case st.Version < st.Latest:
		state = fmt.Sprintf("%d pending", st.Latest-st.Version)
	}
	_, err = fmt.Fprintf(e.Stdout, "version %d of %d: %s\n", st.Version, st.Latest, state)
	return err
}
