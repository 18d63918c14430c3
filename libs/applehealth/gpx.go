package applehealth

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/orisano/gosax"
)

// RoutePoint is one <trkpt> of a workout route's GPX file, its values as
// written (numbers are text; the importer checks them).
type RoutePoint struct {
	Lat, Lon, Ele, Time       []byte
	Speed, Course, HAcc, VAcc []byte
	SpeedAcc, CourseAcc       []byte
	buf                       []byte
	field                     *[]byte // the element whose text is being read
}

// maxGPXPoints bounds one route: a day at one point a second.
const maxGPXPoints = 200_000

// ReadGPX calls fn with every track point of a GPX 1.1 file, in order.
// The point is reused: it is valid only during the call. A file cut short
// ends with ErrTruncated after the points before the cut.
func ReadGPX(r io.Reader, fn func(p *RoutePoint) error) error {
	sax := gosax.NewReaderSize(&meter{r: r, consumed: new(int64)}, 64<<10)
	sax.EmitSelfClosingTag = true
	var (
		p      RoutePoint
		inPt   bool
		points int
		line   = 1
	)
	for {
		ev, err := sax.Event()
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return fmt.Errorf("%w: the route ends at line %d", ErrTruncated, line)
			}
			return err
		}
		switch ev.Type() {
		case gosax.EventEOF:
			return nil
		case gosax.EventStart:
			name, rest := gosax.Name(ev.Bytes)
			switch {
			case string(name) == "trkpt":
				if points++; points > maxGPXPoints {
					return fmt.Errorf("%w: a route of more than %d points (line %d)", ErrTooLarge, maxGPXPoints, line)
				}
				p = RoutePoint{buf: p.buf[:0]}
				inPt = true
				for {
					a, next, err := gosax.NextAttribute(rest)
					if err != nil || a.Key == nil || len(a.Value) < 2 {
						break
					}
					rest = next
					switch string(a.Key) {
					case "lat":
						p.Lat = p.keep(a.Value[1 : len(a.Value)-1])
					case "lon":
						p.Lon = p.keep(a.Value[1 : len(a.Value)-1])
					}
				}
			case inPt:
				p.field = p.fieldOf(string(name))
			}
		case gosax.EventText, gosax.EventCData:
			if inPt && p.field != nil {
				text := bytes.TrimSpace(ev.Bytes)
				if ev.Type() == gosax.EventCData {
					text = bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimPrefix(ev.Bytes, []byte("<![CDATA[")), []byte("]]>")))
				}
				*p.field = p.keep(text)
			}
		case gosax.EventEnd:
			name, _ := gosax.Name(ev.Bytes)
			p.field = nil
			if string(name) == "trkpt" && inPt {
				inPt = false
				if err := fn(&p); err != nil {
					return err
				}
			}
		}
		if ev.Type() != gosax.EventEnd || bytes.HasPrefix(ev.Bytes, []byte("</")) {
			line += bytes.Count(ev.Bytes, []byte{'\n'})
		}
	}
}

// fieldOf is where the text of a track point's child element goes.
func (p *RoutePoint) fieldOf(name string) *[]byte {
	switch name {
	case "ele":
		return &p.Ele
	case "time":
		return &p.Time
	case "speed":
		return &p.Speed
	case "course":
		return &p.Course
	case "hAcc":
		return &p.HAcc
	case "vAcc":
		return &p.VAcc
	case "speedAccuracy":
		return &p.SpeedAcc
	case "courseAccuracy":
		return &p.CourseAcc
	}
	return nil
}

// keep copies b into the point's buffer (the parser's window moves on).
// The buffer is pre-sized so earlier values are not moved.
func (p *RoutePoint) keep(b []byte) []byte {
	if cap(p.buf)-len(p.buf) < len(b) {
		// A fresh buffer: the values kept so far stay where they are.
		p.buf = make([]byte, 0, max(512, 2*len(b)))
	}
	start := len(p.buf)
	p.buf = append(p.buf, b...)
	if v, err := gosax.Unescape(p.buf[start:]); err == nil {
		p.buf = p.buf[:start+len(v)]
	}
	return p.buf[start:len(p.buf):len(p.buf)]
}
