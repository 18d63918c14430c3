package bench

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/klauspost/compress/zip"

	"github.com/healthexport/libs/synth"
	"github.com/healthexport/tools/proving/internal/fleet"
	"github.com/healthexport/tools/proving/internal/proc"
)

// ImportResult is the import phase: the Health app's export, from the
// file's first byte sent to the last row committed.
type ImportResult struct {
	XMLBytes   int64   `json:"xml_bytes"`
	ZipBytes   int64   `json:"zip_bytes"`
	Records    int     `json:"records"`
	Points     int     `json:"points"` // rows it makes
	Seconds    float64 `json:"seconds"`
	AcceptS    float64 `json:"accept_s"` // until the 202
	PointsPerS float64 `json:"points_per_s"`
	// PeakRSSMB is every process's peak during the import; the importer
	// runs in the edge.
	PeakRSSMB map[string]float64 `json:"peak_rss_mb"`
	// CPUPerMPoints is the CPU seconds each component spent per million
	// points of the import.
	CPUPerMPoints map[string]float64 `json:"cpu_s_per_million_points"`
	// ReceiveBytes and ReceiveEdgeRSSMB: an edge that converts nothing
	// receiving a zip of that size.
	ReceiveBytes     int64   `json:"receive_bytes"`
	ReceiveS         float64 `json:"receive_s"`
	ReceiveEdgeRSSMB float64 `json:"receive_edge_rss_mb"`
}

// importPhase measures the import of the Health app's export: first an
// edge that only receives, taking a zip of sc.receiveBytes (its memory);
// then an export.xml of sc.importXMLBytes, zipped, end to end.
func importPhase(ctx context.Context, cfg Config, st *stack, smp *sampler, pool *pgxpool.Pool, dev fleet.Device, sc scale) (*ImportResult, error) {
	ir := &ImportResult{ReceiveBytes: sc.receiveBytes}
	dir, err := os.MkdirTemp("", "health-bench-import-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	fmt.Fprintf(cfg.Out, "import: an edge receiving a %d MB zip…\n", sc.receiveBytes>>20)
	junk := filepath.Join(dir, "photos.zip")
	if err := writeStoredZip(junk, sc.receiveBytes); err != nil {
		return nil, err
	}
	if ir.ReceiveS, ir.ReceiveEdgeRSSMB, err = receiveOnly(ctx, cfg, st, dev, junk); err != nil {
		return nil, err
	}
	fmt.Fprintf(cfg.Out, "  202 in %.1f s; the receiving edge's peak RSS %.0f MiB\n", ir.ReceiveS, ir.ReceiveEdgeRSSMB)
	// The main edge takes its job, finds no export in it and fails it;
	// wait for that, so the measurement below is the import alone.
	if err := smp.drained(ctx, 5*time.Minute); err != nil {
		return nil, err
	}

	spec := synth.ExportForSize(sc.importXMLBytes)
	// Days up to the day before yesterday: nothing in the future.
	today := time.Now().In(time.FixedZone("", 3600))
	spec.Start = time.Date(today.Year(), today.Month(), today.Day()-spec.Days-2, 0, 0, 0, 0, today.Location())
	path := filepath.Join(dir, "export.zip")
	fmt.Fprintf(cfg.Out, "import: writing a %d MB export.xml (%d days), zipped…\n", sc.importXMLBytes>>20, spec.Days)
	counts, err := writeExportZip(path, spec)
	if err != nil {
		return nil, err
	}
	ir.XMLBytes, ir.ZipBytes, ir.Records, ir.Points = counts.XMLBytes, counts.ZipBytes, counts.Records, counts.Rows()
	fmt.Fprintf(cfg.Out, "import: %d MB zip (%d records, %d points) end to end…\n", ir.ZipBytes>>20, ir.Records, ir.Points)

	smp.resetPeaks()
	smp.markPhase()
	cpu0 := st.cpuNow()
	t0 := time.Now()
	status, reply, err := postImport(st.edgeURL, dev.Key, path)
	ir.AcceptS = time.Since(t0).Seconds()
	if err != nil || status != 202 {
		return nil, fmt.Errorf("import: %d %s %v", status, reply, err)
	}
	done, err := smp.waitPhaseRows(ctx, int64(ir.Points), 30*time.Minute, "import")
	if err != nil {
		return nil, err
	}
	cpu1 := st.cpuNow()
	// The rows are there, every one.
	var stored int64
	if err := pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM heart_rate_metrics WHERE user_id = $1) + (SELECT count(*) FROM quantity_metrics WHERE user_id = $1) +
		(SELECT count(*) FROM blood_pressure_metrics WHERE user_id = $1) + (SELECT count(*) FROM sleep_segments WHERE user_id = $1) +
		(SELECT count(*) FROM health_events WHERE user_id = $1) + (SELECT count(*) FROM workouts WHERE user_id = $1) +
		(SELECT count(*) FROM workout_route_points WHERE user_id = $1) + (SELECT count(*) FROM activity_summaries WHERE user_id = $1) +
		(SELECT count(*) FROM ecg_recordings WHERE user_id = $1)`, dev.UserID).Scan(&stored); err != nil {
		return nil, err
	}
	if stored != int64(ir.Points) {
		return nil, fmt.Errorf("import: %d rows stored, the export holds %d", stored, ir.Points)
	}
	ir.Seconds = done.Sub(t0).Seconds()
	ir.PointsPerS = float64(ir.Points) / ir.Seconds
	ir.PeakRSSMB = smp.peaks()
	ir.CPUPerMPoints = map[string]float64{}
	for k, v := range cpu1 {
		ir.CPUPerMPoints[k] = (v - cpu0[k]) / (float64(ir.Points) / 1e6)
	}
	fmt.Fprintf(cfg.Out, "  %d points in %.1f s (202 after %.1f s): %.0f points/s; peak RSS %v MiB\n",
		ir.Points, ir.Seconds, ir.AcceptS, ir.PointsPerS, rounded(ir.PeakRSSMB))
	fmt.Fprintf(cfg.Out, "  CPU seconds per million points: %v\n", rounded2(ir.CPUPerMPoints))
	return ir, nil
}

// receiveOnly starts a second edge that converts nothing (IMPORT_WORKERS=0),
// posts the file to it and samples its memory meanwhile.
func receiveOnly(ctx context.Context, cfg Config, st *stack, dev fleet.Device, file string) (seconds, peakMiB float64, err error) {
	addr, err := proc.FreeAddr()
	if err != nil {
		return 0, 0, err
	}
	env := append(append([]string{}, st.env...), "EDGE_ADDR="+addr, "IMPORT_WORKERS=0")
	p, err := proc.Start(proc.Spec{Name: "edge-receiver", Path: filepath.Join(st.binDir, "edge"), Env: env, Dir: st.logDir})
	if err != nil {
		return 0, 0, err
	}
	defer func() { _ = p.Stop(syscall.SIGTERM, 20*time.Second) }()
	if err := proc.WaitHTTP(ctx, "http://"+addr+"/readyz", time.Minute); err != nil {
		return 0, 0, fmt.Errorf("receiving edge: %w", err)
	}
	var (
		mu   sync.Mutex
		peak float64
		stop = make(chan struct{})
		wg   sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			mu.Lock()
			peak = max(peak, proc.RSSMiB(p.Pid()))
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	t0 := time.Now()
	status, reply, err := postImport("http://"+addr, dev.Key, file)
	seconds = time.Since(t0).Seconds()
	close(stop)
	wg.Wait()
	if err != nil || status != 202 {
		return 0, 0, fmt.Errorf("receive: %d %s %v", status, reply, err)
	}
	return seconds, peak, nil
}

// postImport streams a file to POST /v1/imports.
func postImport(edge, key, path string) (int, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, "", err
	}
	req, err := http.NewRequest(http.MethodPost, edge+"/v1/imports", bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return 0, "", err
	}
	req.ContentLength = st.Size()
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/zip")
	resp, err := (&http.Client{Timeout: 30 * time.Minute}).Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// writeExportZip writes a synthetic export to path.
func writeExportZip(path string, spec synth.ExportSpec) (synth.ExportCounts, error) {
	f, err := os.Create(path)
	if err != nil {
		return synth.ExportCounts{}, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	counts, err := synth.WriteExportZip(w, spec)
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return counts, err
}

// writeStoredZip writes a zip of n random bytes, stored uncompressed: as
// big on the wire as on disk.
func writeStoredZip(path string, n int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "IMG_0001.jpg", Method: zip.Store})
	if err != nil {
		return err
	}
	if _, err := io.CopyN(w, rand.Reader, n); err != nil {
		return err
	}
	return zw.Close()
}
