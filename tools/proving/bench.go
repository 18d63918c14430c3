package main

import (
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/healthexport/libs/cli"
	"github.com/healthexport/libs/config"
	"github.com/healthexport/tools/proving/internal/bench"
)

type benchCmd struct {
	Quick    bool     `env:"BENCH_QUICK" help:"A run of under two minutes with the same outputs (also BENCH_QUICK=1)."`
	Bin      string   `default:"bin" help:"Where the built edge, raw-archiver and metric-writer are."`
	Out      string   `default:"bench/results" help:"Where results (JSON, SVG chart) go; the newest also as latest.json and latest.svg."`
	Settings []string `name:"set" help:"Settings for the services under test, e.g. --set BATCH_MAX_ROWS=20000."`
	Profile  string   `help:"Take CPU profiles of the services during the end-to-end phase into this directory."`
	Writers  int      `default:"1" help:"Metric-writers and raw-archivers to run, sharing their durable consumers as in a cluster (the scaling figures)."`
}

// Help says what is measured.
func (benchCmd) Help() string {
	return `Measures the whole pipeline on this machine and, in the same run, the machine's ceiling: one
pgx.CopyFrom of 1 M heart-rate rows into the same partitioned table. It starts its own edge,
raw-archiver and metric-writer (from --bin) against a fresh database health_bench and its own
stream, with a raised rate limit (every simulated device has its own user and key), on the
PostgreSQL, Redis and NATS of .env.`
}

func (c *benchCmd) Run(e *cli.Env) error {
	var cfg struct {
		DatabaseURL string `env:"DATABASE_URL,required" mask:"url"`
		NATSURL     string `env:"NATS_URL,required" mask:"url"`
		RedisURL    string `env:"REDIS_URL,required" mask:"url"`
	}
	if err := config.Load(e.Getenv, &cfg); err != nil {
		return err
	}
	quick := c.Quick || e.Getenv("BENCH_QUICK") == "1"
	bin, err := filepath.Abs(c.Bin)
	if err != nil {
		return err
	}
	res, err := bench.Run(e.Ctx, bench.Config{
		Quick: quick, BinDir: bin, AdminURL: cfg.DatabaseURL, NATSURL: cfg.NATSURL, RedisURL: cfg.RedisURL,
		OutDir: c.Out, ExtraEnv: c.Settings, ProfileDir: c.Profile, Writers: c.Writers, Log: e.Log, Out: e.Stderr,
	})
	if err != nil {
		return err
	}
	path, err := bench.Write(res, c.Out)
	if err != nil {
		return err
	}
	report(e.Stdout, res)
	fmt.Fprintf(e.Stdout, "\nresults: %s (and %s)\n", path, filepath.Join(c.Out, "latest.json"))
	for _, t := range res.Targets {
		if !t.Passed {
			fmt.Fprintln(e.Stdout, "some targets were missed: see above")
			break
		}
	}
	return nil
}

func report(w io.Writer, r *bench.Result) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "MEASURE\tVALUE\tTARGET\t\n")
	fmt.Fprintf(tw, "COPY ceiling (1 M heart-rate rows, one transaction)\t%.0f rows/s\t\t\n", r.CopyCeilingPerS)
	fmt.Fprintf(tw, "end to end, heart rate (first request to last row)\t%.0f points/s\t\t\n", r.E2EPointsPerS)
	t := r.Targets["e2e_vs_copy"]
	fmt.Fprintf(tw, "  ratio end to end / COPY\t%.2f\t%s %s\t\n", t.Value, t.Goal, mark(t.Passed))
	t = r.Targets["e2e_cpu_s_per_million"]
	fmt.Fprintf(tw, "  CPU s per million points, all processes\t%.2f\t%s %s\t\n", t.Value, t.Goal, mark(t.Passed))
	for _, n := range []string{"heart_rate", "quantity"} {
		t = r.Targets["bytes_per_point_"+n]
		fmt.Fprintf(tw, "bytes per stored point, %s\t%.0f\t%s %s\t\n", n, t.Value, t.Goal, mark(t.Passed))
	}
	t = r.Targets["accept_30mb_s"]
	fmt.Fprintf(tw, "202 for a %.1f MB body\t%.2f s\t%s %s\t\n", r.Accept30MBMB, t.Value, t.Goal, mark(t.Passed))
	t = r.Targets["accept_p99_ms_100kb"]
	fmt.Fprintf(tw, "p99 accept, 100 KB, 32 devices\t%.1f ms\t%s %s\t\n", t.Value, t.Goal, mark(t.Passed))
	t = r.Targets["peak_rss_30mb_mb"]
	fmt.Fprintf(tw, "peak RSS during the 30 MB upload\t%s\t%s MiB %s\t\n", rss(r.PeakRSS30MBMB), t.Goal, mark(t.Passed))
	fmt.Fprintf(tw, "peak RSS, whole run\t%s\t\t\n", rss(r.PeakRSSMB))
	if im := r.Import; im != nil {
		fmt.Fprintf(tw, "import, %.0f MB export.xml (file to last row)\t%.0f points/s (%d points in %.1f s)\t\t\n", float64(im.XMLBytes)/1e6, r.ImportPointsPerS, im.Points, im.Seconds)
		t = r.Targets["import_vs_e2e"]
		fmt.Fprintf(tw, "  ratio import / end to end\t%.2f\t%s %s\t\n", t.Value, t.Goal, mark(t.Passed))
		t = r.Targets["import_peak_rss_mb"]
		fmt.Fprintf(tw, "  importer (edge) peak RSS\t%.0f MiB\t%s MiB %s\t\n", t.Value, t.Goal, mark(t.Passed))
		t = r.Targets["import_receive_edge_rss_mb"]
		fmt.Fprintf(tw, "  an edge receiving a %d MB zip, peak RSS\t%.0f MiB\t%s MiB %s\t\n", im.ReceiveBytes>>20, t.Value, t.Goal, mark(t.Passed))
	}
	names := make([]string, 0, len(r.Accept))
	for n := range r.Accept {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		a := r.Accept[n]
		fmt.Fprintf(tw, "accept %s (%d devices)\tp50 %.1f / p95 %.1f / p99 %.1f ms, %.0f payloads/s, %.0f points/s\t\t\n", n, a.Devices, a.P50Ms, a.P95Ms, a.P99Ms, a.PayloadsPerS, a.PointsPerS)
	}
	for k, v := range r.WriterRowsPerS {
		fmt.Fprintf(tw, "writer rows/s, %s\t%.0f\t\t\n", k, v)
	}
	_ = tw.Flush()
}

func mark(ok bool) string {
	if ok {
		return "ok"
	}
	return "MISSED"
}

func rss(m map[string]float64) string {
	var parts []string
	for _, n := range []string{"edge", "raw-archiver", "metric-writer", "nats-server"} {
		if v, ok := m[n]; ok {
			parts = append(parts, fmt.Sprintf("%s %.0f", n, v))
		}
	}
	return strings.Join(parts, ", ") + " MiB"
}
