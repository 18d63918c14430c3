package bench

import (
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// chart draws throughput (rows committed per second) and consumer lag
// over the run, one above the other, as SVG.
func chart(res *Result, path string) error {
	var rate, lag plotter.XYs
	for i := 1; i < len(res.Series); i++ {
		a, b := res.Series[i-1], res.Series[i]
		dt := b.T - a.T
		if dt <= 0 {
			continue
		}
		rows := 0.0
		for k, v := range b.RowsByKind {
			rows += v - a.RowsByKind[k]
		}
		rate = append(rate, plotter.XY{X: b.T, Y: rows / dt})
		lag = append(lag, plotter.XY{X: b.T, Y: b.Pending + b.AckPending})
	}
	top := plot.New()
	top.Title.Text = "Rows committed per second (all kinds)"
	top.Y.Label.Text = "rows/s"
	bottom := plot.New()
	bottom.Title.Text = "Consumer backlog (pending + ack pending, messages)"
	bottom.X.Label.Text = "seconds since the pipeline started"
	bottom.Y.Label.Text = "messages"
	for _, p := range []struct {
		plot *plot.Plot
		xy   plotter.XYs
	}{{top, rate}, {bottom, lag}} {
		if len(p.xy) == 0 {
			p.xy = plotter.XYs{{X: 0, Y: 0}}
		}
		line, err := plotter.NewLine(p.xy)
		if err != nil {
			return err
		}
		p.plot.Add(line, plotter.NewGrid())
	}
	const w, h = 10 * vg.Inch, 7 * vg.Inch
	c := vgsvg.New(w, h)
	dc := draw.New(c)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadY: vg.Points(10), PadX: vg.Points(10), PadTop: vg.Points(10), PadBottom: vg.Points(10), PadLeft: vg.Points(10), PadRight: vg.Points(10)}
	canvases := plot.Align([][]*plot.Plot{{top}, {bottom}}, tiles, dc)
	top.Draw(canvases[0][0])
	bottom.Draw(canvases[1][0])
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := c.WriteTo(f); err != nil {
		return err
	}
	return f.Close()
}
