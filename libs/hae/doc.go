// Package hae holds the wire formats of Health Auto Export uploads: tolerant
// device timestamps (ParseTime), the payload walker that finds every item of
// a body in one pass without decoding it (Walk), and the cutting of items into
// self-contained parts for the stream (Cutter, DecodePart).
//
// Kinds are never named here: a Router, implemented by the kind registry,
// assigns them.
package hae
