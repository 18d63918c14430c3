package stream

import "time"

// Manifest closes an upload: published after every part's PubAck, it lists
// the parts and counts so the archiver and the status endpoint know when
// an upload is complete.
type Manifest struct {
	IngestionID string            `json:"ingestion_id"`
	UserID      string            `json:"user_id"`
	KeyID       string            `json:"key_id"`
	ReceivedAt  time.Time         `json:"received_at"`
	BodyBytes   int64             `json:"body_bytes"`
	Encoding    string            `json:"content_encoding"`
	Parts       []ManifestPart    `json:"parts"`
	Accepted    map[string]int    `json:"accepted"`
	Rejected    int               `json:"rejected"`
	Headers     map[string]string `json:"headers"`
	// Origin is OriginImport for the Health app's export; absent for an
	// upload.
	Origin string `json:"origin,omitempty"`
}

// ManifestPart is one published part.
type ManifestPart struct {
	ID    string `json:"id"`
	Kind  string `json:"kind"`
	Items int    `json:"items"`
	Bytes int    `json:"bytes"`
	Seq   uint64 `json:"seq"`
}
