package hae

import (
	"errors"
	"fmt"
	"strconv"
)

// Router assigns kinds; the kind registry (another package) implements it.
// It is the only place kinds are named.
type Router interface {
	// MetricKind is the kind of a Health Auto Export metric element, by its
	// name as sent ("" when the element has no string name, and for the
	// malformed values the registry must reject).
	MetricKind(name string) string
	// TaggedKind is the kind of a tagged metrics[] element (one with a
	// "type" key), by its type value as sent ("" when not a string).
	TaggedKind(typ string) string
	// ArrayKind is the kind of the items of data.<key> for keys other than
	// "metrics"; "" means the key is not a data array and is ignored.
	ArrayKind(key string) string
}

// Item is one unit of data: a metric point, a tagged element, a workout, an
// event, an ECG.
type Item struct {
	Kind    string
	Source  string // the data key it came from: "metrics", "workouts", "symptoms", ...
	Tagged  bool   // a metrics[] element with "type", or a workouts[] element with "workout_type"
	Name    string // HAE metric elements: the element's "name" as sent (decoded); "" otherwise
	HasName bool   // the element had a string "name"
	Units   string // HAE metric elements: "units" if a string
	Array   string // JSON Pointer of the array (or object) holding the item, e.g. "/data/metrics/3/data"
	Index   int    // the item's index in that array (0 when Key is set)
	Key     string // set when the item is a member value rather than an array element: "data", "metrics", ...
	Ordinal int    // the item's position among its kind's items (set by Cutter.Add and DecodePart)
	Raw     []byte // the item's original JSON, unchanged (a sub-slice of the body or payload)
	// Chunk is set on the pieces of a workout too big for one part (see
	// Cutter.AddSplit): the item is its summary, a route point or a sample.
	Chunk *Chunk
}

// Pointer is the JSON Pointer of the item in the original body, e.g.
// "/data/metrics/3/data/17".
func (it *Item) Pointer() string {
	b := make([]byte, 0, len(it.Array)+len(it.Key)+12)
	b = append(b, it.Array...)
	b = append(b, '/')
	if it.Key != "" {
		b = appendPointerToken(b, it.Key)
	} else {
		b = strconv.AppendInt(b, int64(it.Index), 10)
	}
	return string(b)
}

// ErrNoData means the body has no "data" object; the edge answers 400.
var ErrNoData = errors.New(`body has no "data" object`)

// ErrMalformed means the body is not JSON. The edge validates first, so
// Walk reports it only when called on unchecked input.
var ErrMalformed = errors.New("malformed JSON")

// Walk calls emit for every item of body in document order. It is a
// convenience for a one-off Walker.
func Walk(body []byte, r Router, emit func(*Item) error) error {
	var w Walker
	return w.Walk(body, r, emit)
}

// Walker walks bodies; it keeps its buffers between walks, so reusing one
// (not concurrently) saves allocations.
//
// A walk is two passes, but only the first reads every byte: it records where
// the items are (a "tape" of offsets) while resolving duplicate keys (the
// last occurrence wins, as in encoding/json) and finding each metric's name,
// which may come after its data. The second pass emits from the tape. The
// tape is bounded (under 40 % of the body's size at worst, about 10 % for
// real bodies): whatever did not fit is rescanned in the second pass instead
// of recorded, which is slower but equally correct.
type Walker struct {
	b      []byte
	r      Router
	emit   func(*Item) error
	groups []group
	elems  []elem
	spans  []span

	maxSpans, maxElems int
	item               Item

	// tapeLimits, when set (by tests), replaces the budget computed from
	// the body's size, to exercise the rescan path on small bodies.
	tapeLimits *[2]int
}

// group is one data.<key> member that the Router cares about.
type group struct {
	key     string // decoded
	kind    string // ArrayKind(key); unused for metrics
	metrics bool
	shape   uint8
	vs, ve  int // the value
	// Arrays: elements recorded in elems (metrics) or spans (others), then
	// the rest, if any, rescanned from offset rescan (index n).
	first, n int
	rescan   int
}

// elem is one metrics[] element.
type elem struct {
	vs, ve    int
	object    bool
	hasType   bool
	typ       [2]int // value spans; [0] < 0 when absent
	name      [2]int
	units     [2]int
	dataShape uint8
	ds, de    int
	first, n  int
	rescan    int
}

// Shapes of a value where an array is expected.
const (
	shapeAbsent uint8 = iota // missing or null
	shapeArray
	shapeOther
)

// span is a recorded item. Offsets are uint32 to halve the tape; bodies of
// 2 GiB or more are simply not recorded (see maxSpans).
type span struct{ start, end uint32 }

const taggedBit = 1 << 31

// Walk calls emit for every item of body in document order. The *Item is
// reused: it is valid only during the call (Raw stays valid as long as body).
// emit's error stops the walk and is returned as is.
func (w *Walker) Walk(body []byte, r Router, emit func(*Item) error) error {
	w.b, w.r, w.emit = body, r, emit
	defer func() { w.b, w.r, w.emit, w.item = nil, nil, nil, Item{} }()
	w.resetTape()
	w.maxSpans, w.maxElems = 0, 0
	switch {
	case w.tapeLimits != nil:
		w.maxSpans, w.maxElems = w.tapeLimits[0], w.tapeLimits[1]
	case len(body) < taggedBit:
		w.maxSpans = len(body)/32 + 1024
		w.maxElems = len(body)/1024 + 64
	}

	dataFound, dataShape := false, ""
	pos := skipWS(body, 0)
	if pos >= len(body) || body[pos] != '{' {
		return fmt.Errorf("%w: the body is %s, not a JSON object", ErrNoData, describe(body, pos))
	}
	pos++
	for first := true; ; first = false {
		ks, ke, vs, st := objStep(body, pos, first)
		if st == stepErr {
			return malformed(vs)
		}
		if st == stepEnd {
			if end := skipWS(body, vs); end != len(body) {
				return malformed(end)
			}
			break
		}
		if !keyIs(body[ks:ke], "data") {
			if pos = skipValue(body, vs); pos < 0 {
				return malformed(vs)
			}
			continue
		}
		// A later "data" replaces everything an earlier one recorded.
		w.resetTape()
		dataFound = true
		if body[vs] == '{' {
			dataShape = ""
			if pos = w.scanData(vs); pos < 0 {
				return malformed(vs)
			}
			continue
		}
		dataShape = describe(body, vs)
		if pos = skipValue(body, vs); pos < 0 {
			return malformed(vs)
		}
	}
	switch {
	case !dataFound:
		return fmt.Errorf("%w: the top-level object has no \"data\" member", ErrNoData)
	case dataShape != "":
		return fmt.Errorf("%w: \"data\" is %s, not an object", ErrNoData, dataShape)
	}
	return w.emitAll()
}

func (w *Walker) resetTape() {
	w.groups, w.elems, w.spans = w.groups[:0], w.elems[:0], w.spans[:0]
}

func malformed(off int) error {
	return fmt.Errorf("%w near byte %d", ErrMalformed, off)
}

// describe names the JSON type of the value at b[i], for error messages.
func describe(b []byte, i int) string {
	if i >= len(b) {
		return "empty"
	}
	switch b[i] {
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 'n':
		return "null"
	case 't', 'f':
		return "a boolean"
	case '{':
		return "an object"
	}
	return "a number"
}

// scanData records the members of the data object at b[i] that the Router
// wants. Returns the index past the object, or -1.
func (w *Walker) scanData(i int) int {
	b := w.b
	pos := i + 1
	for first := true; ; first = false {
		ks, ke, vs, st := objStep(b, pos, first)
		switch st {
		case stepErr:
			return -1
		case stepEnd:
			return vs
		}
		g := group{vs: vs, rescan: -1}
		if keyIs(b[ks:ke], "metrics") {
			g.key, g.metrics = "metrics", true
		} else {
			key, ok := decodeString(b[ks:ke])
			if ok {
				g.key, g.kind = key, w.r.ArrayKind(key)
			}
			if g.kind == "" {
				if pos = skipValue(b, vs); pos < 0 {
					return -1
				}
				continue
			}
		}
		// The last occurrence of a key wins; groups stay in document order
		// of their last occurrence. Live groups are few (one per distinct
		// key the Router knows), so a linear search is enough.
		for k := range w.groups {
			if w.groups[k].key == g.key {
				w.groups = append(w.groups[:k], w.groups[k+1:]...)
				break
			}
		}
		switch b[vs] {
		case '[':
			g.shape = shapeArray
			if g.metrics {
				pos = w.scanMetrics(&g)
			} else {
				g.first = len(w.spans)
				pos = w.scanSpans(vs, g.key == "workouts", &g.n, &g.rescan)
			}
		case 'n':
			g.shape = shapeAbsent
			pos = skipValue(b, vs)
		default:
			g.shape = shapeOther
			pos = skipValue(b, vs)
		}
		if pos < 0 {
			return -1
		}
		g.ve = pos
		w.groups = append(w.groups, g)
	}
}

// scanSpans records the elements of the array at b[i] into w.spans while the
// budget lasts; *n counts them and *rescan is where the unrecorded rest
// begins (-1 when none). tagged asks whether each element is an object with
// "workout_type". Returns the index past the array, or -1.
func (w *Walker) scanSpans(i int, tagged bool, n *int, rescan *int) int {
	b := w.b
	pos := i + 1
	for first := true; ; first = false {
		p, st := arrayStep(b, pos, first)
		switch st {
		case stepErr:
			return -1
		case stepEnd:
			return p
		}
		if *rescan >= 0 {
			// Past the budget: only find the end.
			if pos = skipValue(b, p); pos < 0 {
				return -1
			}
			continue
		}
		var end int
		hasTag := false
		if tagged && b[p] == '{' {
			end, hasTag = scanHasKey(b, p, "workout_type")
		} else {
			end = skipValue(b, p)
		}
		if end < 0 {
			return -1
		}
		if len(w.spans) >= w.maxSpans {
			*rescan = pos
		} else {
			sp := span{uint32(p), uint32(end)}
			if hasTag {
				sp.end |= taggedBit
			}
			w.spans = append(w.spans, sp)
			*n++
		}
		pos = end
	}
}

// scanMetrics records the elements of the metrics array at g.vs.
func (w *Walker) scanMetrics(g *group) int {
	b := w.b
	g.first = len(w.elems)
	pos := g.vs + 1
	for first := true; ; first = false {
		p, st := arrayStep(b, pos, first)
		switch st {
		case stepErr:
			return -1
		case stepEnd:
			return p
		}
		if g.rescan < 0 && len(w.elems) >= w.maxElems {
			g.rescan = pos
		}
		if g.rescan >= 0 {
			if pos = skipValue(b, p); pos < 0 {
				return -1
			}
			continue
		}
		w.elems = append(w.elems, elem{})
		e := &w.elems[len(w.elems)-1]
		if pos = w.scanElem(p, e, true); pos < 0 {
			return -1
		}
		g.n++
	}
}

// scanElem reads the metrics[] element at b[i]: its type, name, units and
// data (the last of each wins). With record, data's items go to the tape.
func (w *Walker) scanElem(i int, e *elem, record bool) int {
	b := w.b
	*e = elem{vs: i, typ: [2]int{-1, -1}, name: [2]int{-1, -1}, units: [2]int{-1, -1}, rescan: -1}
	if b[i] != '{' {
		e.ve = skipValue(b, i)
		return e.ve
	}
	e.object = true
	e.first = len(w.spans)
	pos := i + 1
	for first := true; ; first = false {
		ks, ke, vs, st := objStep(b, pos, first)
		if st == stepErr {
			return -1
		}
		if st == stepEnd {
			e.ve = vs
			break
		}
		key := b[ks:ke]
		switch {
		case keyIs(key, "data"):
			// A later "data" replaces an earlier one's items, which are at
			// the tail of the tape.
			w.spans = w.spans[:e.first]
			e.n, e.rescan = 0, -1
			e.ds = vs
			switch {
			case b[vs] == '[' && record:
				e.dataShape = shapeArray
				pos = w.scanSpans(vs, false, &e.n, &e.rescan)
			case b[vs] == '[':
				e.dataShape = shapeArray
				e.rescan = vs + 1
				pos = skipValue(b, vs)
			case b[vs] == 'n':
				e.dataShape = shapeAbsent
				pos = skipValue(b, vs)
			default:
				e.dataShape = shapeOther
				pos = skipValue(b, vs)
			}
			e.de = pos
		default:
			pos = skipValue(b, vs)
			switch {
			case keyIs(key, "type"):
				e.hasType, e.typ = true, [2]int{vs, pos}
			case keyIs(key, "name"):
				e.name = [2]int{vs, pos}
			case keyIs(key, "units"):
				e.units = [2]int{vs, pos}
			}
		}
		if pos < 0 {
			return -1
		}
	}
	if e.hasType {
		// A tagged element is one item; whatever data it has is not walked.
		w.spans = w.spans[:e.first]
		e.n, e.rescan = 0, -1
	}
	return e.ve
}

// emitAll is the second pass: it emits what the tape recorded.
func (w *Walker) emitAll() error {
	for gi := range w.groups {
		g := &w.groups[gi]
		switch {
		case g.shape == shapeAbsent:
		case g.shape == shapeOther:
			kind := g.kind
			if g.metrics {
				kind = w.r.MetricKind("")
			}
			if err := w.send(Item{Kind: kind, Source: g.key, Array: "/data", Key: g.key}, g.vs, g.ve); err != nil {
				return err
			}
		case g.metrics:
			for k := 0; k < g.n; k++ {
				if err := w.emitElem(&w.elems[g.first+k], k); err != nil {
					return err
				}
			}
			if err := w.rescanMetrics(g); err != nil {
				return err
			}
		default:
			tmpl := Item{Kind: g.kind, Source: g.key, Array: "/data/" + string(appendPointerToken(nil, g.key))}
			if err := w.emitArray(&tmpl, g.first, g.n, g.rescan, g.key == "workouts"); err != nil {
				return err
			}
		}
	}
	return nil
}

// rescanMetrics emits the metrics[] elements that did not fit the tape.
func (w *Walker) rescanMetrics(g *group) error {
	if g.rescan < 0 {
		return nil
	}
	b := w.b
	pos, idx := g.rescan, g.n
	var e elem
	for first := idx == 0; ; first = false {
		p, st := arrayStep(b, pos, first)
		switch st {
		case stepErr:
			return malformed(p)
		case stepEnd:
			return nil
		}
		if pos = w.scanElem(p, &e, false); pos < 0 {
			return malformed(p)
		}
		if err := w.emitElem(&e, idx); err != nil {
			return err
		}
		idx++
	}
}

// emitElem emits the items of the metrics[] element at index idx.
func (w *Walker) emitElem(e *elem, idx int) error {
	const src, arr = "metrics", "/data/metrics"
	if !e.object {
		return w.send(Item{Kind: w.r.MetricKind(""), Source: src, Array: arr, Index: idx}, e.vs, e.ve)
	}
	if e.hasType {
		typ := ""
		if w.b[e.typ[0]] == '"' {
			typ, _ = decodeString(w.b[e.typ[0]:e.typ[1]])
		}
		return w.send(Item{Kind: w.r.TaggedKind(typ), Source: src, Tagged: true, Array: arr, Index: idx}, e.vs, e.ve)
	}
	if e.dataShape == shapeAbsent || (e.dataShape == shapeArray && e.n == 0 && e.rescan < 0) {
		return nil
	}
	tmpl := Item{Source: src}
	if e.name[0] >= 0 && w.b[e.name[0]] == '"' {
		tmpl.Name, tmpl.HasName = decodeString(w.b[e.name[0]:e.name[1]])
	}
	if e.units[0] >= 0 && w.b[e.units[0]] == '"' {
		tmpl.Units, _ = decodeString(w.b[e.units[0]:e.units[1]])
	}
	prefix := strconv.AppendInt([]byte(arr+"/"), int64(idx), 10)
	if e.dataShape == shapeOther {
		tmpl.Kind = w.r.MetricKind("")
		tmpl.Array, tmpl.Key = string(prefix), "data"
		return w.send(tmpl, e.ds, e.de)
	}
	tmpl.Kind = w.r.MetricKind(tmpl.Name)
	tmpl.Array = string(append(prefix, "/data"...))
	return w.emitArray(&tmpl, e.first, e.n, e.rescan, false)
}

// emitArray emits n recorded items from w.spans[first:], then rescans the
// rest from offset rescan, if any. Items take tmpl's fields plus their own.
func (w *Walker) emitArray(tmpl *Item, first, n, rescan int, tagged bool) error {
	it := &w.item
	for k, sp := range w.spans[first : first+n] {
		*it = *tmpl
		it.Index = k
		it.Tagged = sp.end&taggedBit != 0
		it.Raw = w.b[sp.start : sp.end&^taggedBit]
		if err := w.emit(it); err != nil {
			return err
		}
	}
	if rescan < 0 {
		return nil
	}
	b := w.b
	pos, idx := rescan, n
	for first := idx == 0; ; first = false {
		p, st := arrayStep(b, pos, first)
		switch st {
		case stepErr:
			return malformed(p)
		case stepEnd:
			return nil
		}
		hasTag := false
		if tagged && b[p] == '{' {
			pos, hasTag = scanHasKey(b, p, "workout_type")
		} else {
			pos = skipValue(b, p)
		}
		if pos < 0 {
			return malformed(p)
		}
		*it = *tmpl
		it.Index, it.Tagged, it.Raw = idx, hasTag, b[p:pos]
		if err := w.emit(it); err != nil {
			return err
		}
		idx++
	}
}

// send emits one item whose JSON is b[s:e].
func (w *Walker) send(it Item, s, e int) error {
	w.item = it
	w.item.Raw = w.b[s:e]
	return w.emit(&w.item)
}
