package hae

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// Sections of a workout split across parts.
const (
	SectionSummary = "summary" // the workout without its route and series arrays
	SectionRoute   = "route"   // route points
	SectionSeries  = "series"  // samples of the series arrays
)

// Chunk marks an item as one piece of a workout too big for a part. Every
// piece carries the workout's key, name, start and end, so it can be stored
// (and its times checked) without the rest.
type Chunk struct {
	Section string     `json:"section"`
	Series  string     `json:"-"` // the series key of a sample (set per group)
	Workout WorkoutRef `json:"workout"`
}

// WorkoutRef identifies a workout.
type WorkoutRef struct {
	Key    string `json:"key"`
	Name   string `json:"name"`
	Start  string `json:"start"`
	End    string `json:"end"`
	Tagged bool   `json:"tagged,omitempty"`
}

func decodeChunk(raw []byte) (*Chunk, error) {
	var c Chunk
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf(`"chunk": %w`, err)
	}
	switch c.Section {
	case SectionSummary, SectionRoute, SectionSeries:
	default:
		return nil, fmt.Errorf(`"chunk": unknown section %q`, c.Section)
	}
	return &c, nil
}

// AddSplit numbers a workout item that does not fit a part and publishes it
// as pieces instead: its summary (every member but the arrays named in
// sections), then its route points and series samples in parts of at most
// maxBytes. The parts' ids are "<kind>:<ordinal>:<section>:<first>-<last>",
// first and last counting the section's pieces. sections maps a member key
// to SectionRoute or SectionSeries; members that are not arrays stay in the
// summary. With summaryOnly (a workout the edge rejects) only the summary
// is published, so the rejection is still recorded, but nothing else.
func (c *Cutter) AddSplit(it *Item, ref WorkoutRef, sections map[string]string, summaryOnly bool) (int, error) {
	p := c.open[it.Kind]
	if p == nil {
		p = &openPart{kind: it.Kind}
		c.open[it.Kind] = p
		c.order = append(c.order, p)
	}
	// A part is a run of consecutive ordinals: the open one ends here.
	if p.buf != nil {
		if err := c.finish(p); err != nil {
			return 0, err
		}
	}
	c.last = p
	ord := p.next
	p.next++
	it.Ordinal = ord

	pieces, err := splitMembers(it.Raw, sections)
	if err != nil {
		return ord, err
	}
	chunkHead := func(section string) []byte {
		h, _ := json.Marshal(Chunk{Section: section, Workout: ref})
		return h
	}
	s := &splitter{c: c, kind: it.Kind, ord: ord, base: it.Pointer(), source: it.Source, tagged: it.Tagged}
	if err := s.emitGroups(SectionSummary, chunkHead(SectionSummary), 0, []piece{{array: it.Array, index: it.Index, raw: pieces.summary}}); err != nil {
		return ord, err
	}
	if summaryOnly {
		return ord, nil
	}
	if err := s.cut(SectionRoute, chunkHead(SectionRoute), pieces.route); err != nil {
		return ord, err
	}
	return ord, s.cut(SectionSeries, chunkHead(SectionSeries), pieces.series)
}

// piece is one route point or sample, or the summary.
type piece struct {
	array  string // JSON Pointer of its array
	series string
	index  int
	raw    []byte
}

type splitPieces struct {
	summary       []byte
	route, series []piece
}

// splitMembers separates a workout object's arrays from the rest.
func splitMembers(raw []byte, sections map[string]string) (splitPieces, error) {
	var out splitPieces
	pos := skipWS(raw, 0)
	if pos >= len(raw) || raw[pos] != '{' {
		return out, fmt.Errorf("%w: a split workout must be an object", ErrMalformed)
	}
	summary := []byte{'{'}
	pos++
	for first := true; ; first = false {
		ks, ke, vs, st := objStep(raw, pos, first)
		if st == stepErr {
			return out, ErrMalformed
		}
		if st == stepEnd {
			break
		}
		if pos = skipValue(raw, vs); pos < 0 {
			return out, ErrMalformed
		}
		key, ok := decodeString(raw[ks:ke])
		section := sections[key]
		if !ok || section == "" || raw[vs] != '[' {
			if len(summary) > 1 {
				summary = append(summary, ',')
			}
			summary = append(summary, raw[ks:pos]...)
			continue
		}
		var elems []piece
		p := vs + 1
		for i, firstElem := 0, true; ; i, firstElem = i+1, false {
			s, st := arrayStep(raw, p, firstElem)
			if st == stepErr {
				return out, ErrMalformed
			}
			if st == stepEnd {
				break
			}
			if p = skipValue(raw, s); p < 0 {
				return out, ErrMalformed
			}
			elems = append(elems, piece{series: key, index: i, raw: raw[s:p:p]})
		}
		if section == SectionRoute {
			out.route = append(out.route, elems...)
		} else {
			out.series = append(out.series, elems...)
		}
	}
	out.summary = append(summary, '}')
	return out, nil
}

type splitter struct {
	c      *Cutter
	kind   string
	ord    int
	base   string // the workout's pointer
	source string
	tagged bool
}

// cut publishes pieces in parts of at most maxBytes (a single piece bigger
// than that gets a part of its own).
func (s *splitter) cut(section string, head []byte, pieces []piece) error {
	for i := range pieces {
		pieces[i].array = s.base + "/" + string(appendPointerToken(nil, pieces[i].series))
	}
	start, size := 0, 0
	overhead := len(`{"kind":"","chunk":,"groups":[]}`) + len(s.kind) + len(head)
	for i, pc := range pieces {
		add := len(pc.raw) + 1 + groupHeadSize(pc, s)
		if i > start && overhead+size+add > s.c.max {
			if err := s.emitGroups(section, head, start, pieces[start:i]); err != nil {
				return err
			}
			start, size = i, 0
		}
		size += add
	}
	if start < len(pieces) {
		return s.emitGroups(section, head, start, pieces[start:])
	}
	return nil
}

// groupHeadSize bounds the bytes a group head adds (counted as if every
// piece started a group, which keeps parts under the limit).
func groupHeadSize(pc piece, s *splitter) int {
	return len(`{"source":"","array":"","index":,"ordinal":,"tagged":true,"series":"","items":[]},`) +
		len(s.source) + 2*len(pc.array) + 2*len(pc.series) + 40
}

// emitGroups encodes one chunk part: consecutive pieces of one array share
// a group.
func (s *splitter) emitGroups(section string, head []byte, first int, pieces []piece) error {
	b := append([]byte(`{"kind":`), appendString(nil, s.kind)...)
	b = append(b, `,"chunk":`...)
	b = append(b, head...)
	b = append(b, `,"groups":[`...)
	for i, pc := range pieces {
		if i > 0 && pc.array == pieces[i-1].array && pc.index == pieces[i-1].index+1 {
			b = append(b, ',')
			b = append(b, pc.raw...)
			continue
		}
		if i > 0 {
			b = append(b, "]},"...)
		}
		b = append(b, `{"source":`...)
		b = appendString(b, s.source)
		b = append(b, `,"array":`...)
		b = appendString(b, pc.array)
		b = append(b, `,"index":`...)
		b = strconv.AppendInt(b, int64(pc.index), 10)
		b = append(b, `,"ordinal":`...)
		b = strconv.AppendInt(b, int64(s.ord), 10)
		if s.tagged {
			b = append(b, `,"tagged":true`...)
		}
		if pc.series != "" && section == SectionSeries {
			b = append(b, `,"series":`...)
			b = appendString(b, pc.series)
		}
		b = append(b, `,"items":[`...)
		b = append(b, pc.raw...)
	}
	b = append(b, closing...)
	last := first + len(pieces) - 1
	p := &Part{
		Label:   s.kind + ":" + strconv.Itoa(s.ord) + ":" + section + ":" + strconv.Itoa(first) + "-" + strconv.Itoa(last),
		Kind:    s.kind,
		First:   s.ord,
		Last:    s.ord,
		Items:   len(pieces),
		Pointer: pieces[0].array + "/" + strconv.Itoa(pieces[0].index),
		Payload: b,
	}
	if section == SectionSummary {
		p.Pointer = s.base
	}
	return s.c.emit(p)
}
