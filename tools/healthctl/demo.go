package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/healthexport/libs/synth"
	"github.com/healthexport/libs/users"
)

type demoCmd struct {
	Email   string        `required:"" help:"The user to fill (make run's demo user)."`
	Days    int           `default:"30" help:"Days of data, the last one today."`
	Force   bool          `help:"Import even when the user has uploads already."`
	WaitFor time.Duration `default:"5m" help:"Give up waiting for the writers after this long."`
}

// Help says what the command does.
func (demoCmd) Help() string {
	return `Fills a user with a synthetic Health app export of the last days (minute-level heart rate
and energy, steps, sleep, workouts with routes, events), imported like healthctl import --wait:
something to look at in the web page. A user who has uploads already is left alone (--force
imports anyway). Not for real users: the data is made up.`
}

func (c *demoCmd) Run(e *env) error {
	if c.Days < 1 {
		return fmt.Errorf("--days must be at least 1")
	}
	pool, err := e.pool()
	if err != nil {
		return err
	}
	uid, err := users.NewStore(pool).ByEmail(e.Ctx, c.Email)
	if err != nil {
		pool.Close()
		return err
	}
	var has bool
	err = pool.QueryRow(e.Ctx, `SELECT EXISTS (SELECT 1 FROM ingestions WHERE user_id = $1)`, uid).Scan(&has)
	pool.Close()
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if has && !c.Force {
		_, err := fmt.Fprintf(e.Stdout, "%s has uploads already: nothing imported (--force imports anyway)\n", c.Email)
		return err
	}
	now := time.Now()
	first := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, now.Location()).AddDate(0, 0, 1-c.Days)
	dir, err := os.MkdirTemp("", "healthctl-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "export.zip")
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	// A fixed zone: the export writes one offset into every time.
	_, off := first.Zone()
	_, err = synth.WriteExportZip(f, synth.ExportSpec{Start: first.In(time.FixedZone("", off)), Days: c.Days, RoutePoints: 600, Seed: 1})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	imp := importCmd{Email: c.Email, File: path, Wait: true, WaitFor: c.WaitFor, PartBytes: 512 << 10}
	return imp.Run(e)
}
