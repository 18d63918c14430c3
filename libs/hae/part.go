package hae

import (
	"errors"
	"fmt"
	"strconv"
)

// Part is a run of consecutive items of one kind (consecutive ordinals),
// encoded as a JSON document that stands alone:
//
//	{"kind":"heart_rate","groups":[{"source":"metrics","array":"/data/metrics/0/data",
//	 "index":0,"ordinal":0,"name":"heart_rate","has_name":true,"units":"count/min",
//	 "items":[<raw item>,<raw item>]}]}
//
// A group holds items that share source, array, tagged, name and units, with
// consecutive indexes and ordinals: item j has index+j and ordinal+j. An item
// that is a member value (Item.Key set) is a group of one with "key" instead
// of "index". name, has_name, units and tagged are omitted when empty or false.
type Part struct {
	Label   string // the part's id without the ingestion id; set for workout chunks
	Kind    string
	First   int    // first ordinal
	Last    int    // last ordinal
	Items   int    // Last-First+1
	Pointer string // JSON Pointer of the first item (to reject an undecodable part)
	Payload []byte // the encoded part, owned by the Part
}

// Key is "<kind>:<first>-<last>"; the edge prefixes "<ingestion_id>:" to
// make the Nats-Msg-Id.
func (p *Part) Key() string {
	if p.Label != "" {
		return p.Label
	}
	return p.Kind + ":" + strconv.Itoa(p.First) + "-" + strconv.Itoa(p.Last)
}

// Cutter numbers items per kind and cuts them into parts of at most maxBytes.
// The cut depends only on the items and maxBytes, so a retry of the same
// body produces the same parts (and the same Msg-Ids).
type Cutter struct {
	max   int
	emit  func(*Part) error
	open  map[string]*openPart
	order []*openPart // kinds in the order first seen, for Flush
	last  *openPart   // the kind of the previous item: items come in runs

	scratch []byte // a group head being measured
}

// openPart is one kind's numbering and its part being filled.
type openPart struct {
	kind     string
	next     int    // the next ordinal
	buf      []byte // the part so far, without its closing "]}]}"; nil when none open
	first    int
	items    int
	pointer  string
	wasFull  bool // the previous part was cut for size: the next will likely be full too
	grp      groupHead
	grpNext  int  // the index that continues the open group
	grpKeyed bool // the open group is a keyed item (never continued)
}

// groupHead is what the items of a group share.
type groupHead struct {
	source, array, name, units string
	tagged, hasName            bool
}

// closing is what ends a part whose last group is open.
const closing = "]}]}"

// DefaultPartMaxBytes is the default of INGEST_PART_MAX_BYTES.
const DefaultPartMaxBytes = 512 << 10

// NewCutter makes a Cutter; emit is called with every finished part, in the
// order they are finished. maxBytes is INGEST_PART_MAX_BYTES
// (DefaultPartMaxBytes when not positive).
func NewCutter(maxBytes int, emit func(*Part) error) *Cutter {
	if maxBytes <= 0 {
		maxBytes = DefaultPartMaxBytes
	}
	return &Cutter{max: maxBytes, emit: emit, open: make(map[string]*openPart)}
}

// Add assigns the item its ordinal among its kind (also stored in
// it.Ordinal) and appends it to its kind's open part, first finishing that
// part when the item would not fit. An item bigger than maxBytes alone gets a
// part of its own: items are never split. Add copies what it keeps.
func (c *Cutter) Add(it *Item) (int, error) {
	p := c.last
	if p == nil || p.kind != it.Kind {
		if p = c.open[it.Kind]; p == nil {
			p = &openPart{kind: it.Kind}
			c.open[it.Kind] = p
			c.order = append(c.order, p)
		}
		c.last = p
	}
	ord := p.next
	p.next++
	it.Ordinal = ord

	// Measure before appending: growing a full buffer only to truncate it
	// would double every part's allocation.
	head := groupHead{source: it.Source, array: it.Array, name: it.Name, units: it.Units, tagged: it.Tagged, hasName: it.HasName}
	cont := p.buf != nil && !p.grpKeyed && it.Key == "" && it.Index == p.grpNext && head == p.grp
	if !cont {
		c.scratch = appendGroupHead(c.scratch[:0], it, ord)
	}
	if p.buf != nil {
		add := 1 + len(it.Raw)
		if !cont {
			add = len("]},") + len(c.scratch) + len(it.Raw)
		}
		if len(p.buf)+add+len(closing) <= c.max {
			p.append(it, head, cont, c.scratch)
			return ord, c.finishIfFull(p)
		}
		// Too big with this item: finish the part without it.
		if err := c.finish(p); err != nil {
			return ord, err
		}
		if cont {
			c.scratch = appendGroupHead(c.scratch[:0], it, ord)
		}
	}
	p.start(it, ord, c.max, len(c.scratch))
	p.append(it, head, false, c.scratch)
	return ord, c.finishIfFull(p)
}

// start opens a new part whose first item is it, with a group head of
// headLen bytes.
func (p *openPart) start(it *Item, ord, maxBytes, headLen int) {
	prefix := len(`{"kind":,"groups":[`) + len(p.kind) + 8 // room for a few escapes
	size := 1024
	if p.wasFull {
		size = maxBytes + 1
	}
	if need := prefix + headLen + len(it.Raw) + len(closing); need > size {
		size = need
	}
	p.buf = make([]byte, 0, size)
	p.buf = append(p.buf, `{"kind":`...)
	p.buf = appendString(p.buf, p.kind)
	p.buf = append(p.buf, `,"groups":[`...)
	p.first, p.items, p.pointer = ord, 0, it.Pointer()
}

// append adds the item to the open part: to the open group when cont, else
// as a new group with the encoded head.
func (p *openPart) append(it *Item, head groupHead, cont bool, encodedHead []byte) {
	if cont {
		p.buf = append(p.buf, ',')
	} else {
		if p.items > 0 {
			p.buf = append(p.buf, "]},"...)
		}
		p.buf = append(p.buf, encodedHead...)
		p.grp, p.grpKeyed = head, it.Key != ""
	}
	p.buf = append(p.buf, it.Raw...)
	p.items++
	p.grpNext = it.Index + 1
}

func appendGroupHead(b []byte, it *Item, ord int) []byte {
	b = append(b, `{"source":`...)
	b = appendString(b, it.Source)
	b = append(b, `,"array":`...)
	b = appendString(b, it.Array)
	if it.Key != "" {
		b = append(b, `,"key":`...)
		b = appendString(b, it.Key)
	} else {
		b = append(b, `,"index":`...)
		b = strconv.AppendInt(b, int64(it.Index), 10)
	}
	b = append(b, `,"ordinal":`...)
	b = strconv.AppendInt(b, int64(ord), 10)
	if it.Tagged {
		b = append(b, `,"tagged":true`...)
	}
	if it.Name != "" {
		b = append(b, `,"name":`...)
		b = appendString(b, it.Name)
	}
	if it.HasName {
		b = append(b, `,"has_name":true`...)
	}
	if it.Units != "" {
		b = append(b, `,"units":`...)
		b = appendString(b, it.Units)
	}
	return append(b, `,"items":[`...)
}

// finishIfFull finishes the part now when no further item could fit (the
// smallest continuation is ",0"), so a big part does not wait for Flush.
func (c *Cutter) finishIfFull(p *openPart) error {
	if len(p.buf)+2+len(closing) > c.max {
		return c.finish(p)
	}
	return nil
}

func (c *Cutter) finish(p *openPart) error {
	p.buf = append(p.buf, closing...)
	part := &Part{
		Kind:    p.kind,
		First:   p.first,
		Last:    p.first + p.items - 1,
		Items:   p.items,
		Pointer: p.pointer,
		Payload: p.buf,
	}
	p.wasFull = len(p.buf) > c.max/2
	p.buf, p.items, p.pointer = nil, 0, ""
	return c.emit(part)
}

// Flush finishes every open part, kinds in the order they were first seen.
func (c *Cutter) Flush() error {
	for _, p := range c.order {
		if p.buf != nil {
			if err := c.finish(p); err != nil {
				return err
			}
		}
	}
	return nil
}

// Counts returns the number of items per kind so far.
func (c *Cutter) Counts() map[string]int {
	m := make(map[string]int, len(c.order))
	for _, p := range c.order {
		m[p.kind] = p.next
	}
	return m
}

// ErrNotPart means a payload is not a part.
var ErrNotPart = errors.New("not a part")

// DecodePart parses a part's payload into its items (Kind = the part's kind;
// Raw aliases payload). It fails only when the payload is not a part at all;
// the items themselves are not checked. It is hand-written, not
// encoding/json, because an item may nest deeper than encoding/json allows.
func DecodePart(payload []byte) (kind string, items []Item, err error) {
	b := payload
	fail := func(off int, what string) (string, []Item, error) {
		return "", nil, fmt.Errorf("%w: %s (near byte %d)", ErrNotPart, what, off)
	}
	pos := skipWS(b, 0)
	if pos >= len(b) || b[pos] != '{' {
		return fail(pos, "not a JSON object")
	}
	var haveKind, haveGroups bool
	var gs, ge int // the groups array, decoded once kind is known
	var chunk *Chunk
	pos++
	for first := true; ; first = false {
		ks, ke, vs, st := objStep(b, pos, first)
		if st == stepErr {
			return fail(vs, "malformed JSON")
		}
		if st == stepEnd {
			pos = vs
			break
		}
		if pos = skipValue(b, vs); pos < 0 {
			return fail(vs, "malformed JSON")
		}
		switch {
		case keyIs(b[ks:ke], "kind"):
			var ok bool
			if kind, ok = decodeString(b[vs:pos]); !ok || kind == "" {
				return fail(vs, `"kind" is not a non-empty string`)
			}
			haveKind = true
		case keyIs(b[ks:ke], "groups"):
			if b[vs] != '[' {
				return fail(vs, `"groups" is not an array`)
			}
			haveGroups, gs, ge = true, vs, pos
		case keyIs(b[ks:ke], "chunk"):
			var err error
			if chunk, err = decodeChunk(b[vs:pos]); err != nil {
				return fail(vs, err.Error())
			}
		}
	}
	if skipWS(b, pos) != len(b) {
		return fail(pos, "unexpected data after the part")
	}
	if !haveKind || !haveGroups {
		return fail(0, `missing "kind" or "groups"`)
	}
	// Two passes: the first reads the groups and finds their items'
	// bounds, so the items slice is allocated once (growing it dominated
	// the cost) and no item is scanned twice.
	var (
		groups []decodedGroup
		bounds []int // each item's start and end, in document order
	)
	total := 0
	pos = gs + 1
	for first := true; ; first = false {
		p, st := arrayStep(b[:ge], pos, first)
		if st == stepErr {
			return fail(p, "malformed groups")
		}
		if st == stepEnd {
			break
		}
		if b[p] != '{' {
			return fail(p, "a group is not an object")
		}
		g, err := decodeGroup(b[:ge], p, kind, &bounds)
		if err != nil {
			return "", nil, err
		}
		if chunk != nil {
			c := *chunk
			c.Series = g.series
			g.head.Chunk = &c
		}
		groups = append(groups, g)
		total += g.n
		pos = g.end
	}
	items = make([]Item, 0, total)
	for _, g := range groups {
		for j := range g.n {
			s, p := bounds[2*(g.first+j)], bounds[2*(g.first+j)+1]
			it := g.head
			if !g.keyed {
				it.Index += j
			}
			if it.Chunk == nil { // every piece of a split workout has the workout's ordinal
				it.Ordinal += j
			}
			it.Raw = b[s:p:p]
			items = append(items, it)
		}
	}
	return kind, items, nil
}

// decodedGroup is a group's head and where its items are.
type decodedGroup struct {
	head   Item
	series string
	keyed  bool
	first  int // its first item's place in the part's item bounds
	n      int // number of items
	end    int // just past the group
}

// decodeGroup reads the group object at b[i] and appends its items'
// bounds to bounds.
func decodeGroup(b []byte, i int, kind string, bounds *[]int) (decodedGroup, error) {
	fail := func(off int, what string) (decodedGroup, error) {
		return decodedGroup{}, fmt.Errorf("%w: %s (near byte %d)", ErrNotPart, what, off)
	}
	g := decodedGroup{head: Item{Kind: kind}}
	head := &g.head
	var haveArray, haveIndex, haveKey, haveOrdinal, haveItems bool
	pos := i + 1
	for first := true; ; first = false {
		ks, ke, vs, st := objStep(b, pos, first)
		if st == stepErr {
			return fail(vs, "malformed group")
		}
		if st == stepEnd {
			g.end = vs
			break
		}
		key := b[ks:ke]
		if keyIs(key, "items") {
			if b[vs] != '[' {
				return fail(vs, `group member "items" is not an array`)
			}
			g.first = len(*bounds) / 2
			end := elemBounds(b, vs, bounds)
			if end < 0 {
				return fail(vs, "malformed items")
			}
			haveItems, g.n, pos = true, len(*bounds)/2-g.first, end
			continue
		}
		if pos = skipValue(b, vs); pos < 0 {
			return fail(vs, "malformed group")
		}
		val := b[vs:pos]
		var ok bool
		switch {
		case keyIs(key, "source"):
			head.Source, ok = decodeString(val)
		case keyIs(key, "array"):
			head.Array, ok = decodeString(val)
			haveArray = ok
		case keyIs(key, "key"):
			head.Key, ok = decodeString(val)
			haveKey = ok && head.Key != ""
		case keyIs(key, "index"):
			head.Index, ok = decodeCount(val)
			haveIndex = ok
		case keyIs(key, "ordinal"):
			head.Ordinal, ok = decodeCount(val)
			haveOrdinal = ok
		case keyIs(key, "tagged"):
			head.Tagged, ok = decodeBool(val)
		case keyIs(key, "name"):
			head.Name, ok = decodeString(val)
		case keyIs(key, "has_name"):
			head.HasName, ok = decodeBool(val)
		case keyIs(key, "units"):
			head.Units, ok = decodeString(val)
		case keyIs(key, "series"):
			g.series, ok = decodeString(val)
		default:
			ok = true // unknown members are for later versions
		}
		if !ok {
			return fail(vs, "group member "+string(key)+" has the wrong type")
		}
	}
	if !haveArray || !haveOrdinal || !haveItems || haveIndex == haveKey {
		return fail(i, `a group needs "array", "ordinal", "items" and one of "index" or "key"`)
	}
	g.keyed = haveKey
	if haveKey {
		head.Index = 0
	}
	return g, nil
}

// elemBounds appends the start and end of every element of the array at
// b[i] to bounds; it returns the index just past the array, or -1.
func elemBounds(b []byte, i int, bounds *[]int) (end int) {
	pos := i + 1
	for first := true; ; first = false {
		p, st := arrayStep(b, pos, first)
		switch st {
		case stepErr:
			return -1
		case stepEnd:
			return p
		}
		if pos = skipValue(b, p); pos < 0 {
			return -1
		}
		*bounds = append(*bounds, p, pos)
	}
}

// decodeCount reads a non-negative JSON integer.
func decodeCount(val []byte) (int, bool) {
	n, err := strconv.Atoi(string(val))
	return n, err == nil && n >= 0 && val[0] != '+'
}

func decodeBool(val []byte) (bool, bool) {
	switch string(val) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}
