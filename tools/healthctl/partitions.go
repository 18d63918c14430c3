package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/healthexport/libs/kind"
	"github.com/healthexport/libs/pgstore"
)

type partitionsCmd struct {
	List   partitionsListCmd   `cmd:"" help:"List the partitions of every partitioned table: months of this year and last, a year each before, one for everything before 2010."`
	Ensure partitionsEnsureCmd `cmd:"" help:"Make the partitions of this month and the next ones ahead of time."`
}

// partitioned are the tables partitioned by time.
func partitioned() []*pgstore.Table {
	out := []*pgstore.Table{pgstore.NewBookkeeping().RawIngestions}
	for _, t := range kind.New().Tables() {
		if t.PartitionBy != "" {
			out = append(out, t)
		}
	}
	return out
}

type partitionsListCmd struct{}

func (partitionsListCmd) Run(e *env) error {
	pool, err := e.pool()
	if err != nil {
		return err
	}
	defer pool.Close()
	parts := pgstore.NewPartitions(pool)
	w := tabwriter.NewWriter(e.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "TABLE\tPARTITION\tFROM\tTO\tROWS (EST.)\tSIZE")
	for _, t := range partitioned() {
		list, err := parts.List(e.Ctx, t.Name)
		if err != nil {
			return err
		}
		for _, p := range list {
			from := "-" // MINVALUE: the far past
			if !p.From.IsZero() {
				from = p.From.Format(time.DateOnly)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\n", t.Name, p.Name, from, p.To.Format(time.DateOnly), p.Rows, bytesHuman(float64(p.Bytes)))
		}
	}
	return w.Flush()
}

type partitionsEnsureCmd struct {
	Months int `default:"2" help:"How many months ahead (besides this one)."`
}

func (c *partitionsEnsureCmd) Run(e *env) error {
	pool, err := e.pool()
	if err != nil {
		return err
	}
	defer pool.Close()
	parts := pgstore.NewPartitions(pool)
	start := pgstore.MonthStart(time.Now())
	for _, t := range partitioned() {
		for i := 0; i <= c.Months; i++ {
			m := start.AddDate(0, i, 0)
			if err := parts.Ensure(e.Ctx, t.Name, m); err != nil {
				return err
			}
			fmt.Fprintln(e.Stdout, pgstore.PartitionName(t.Name, m))
		}
	}
	return nil
}
