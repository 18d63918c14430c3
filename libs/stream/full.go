package stream

import (
	"errors"
	"slices"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrCodeStoreFailed is the JetStream API error code of a message the stream
// refused to store: the server's JSStreamStoreFailedF. nats.go names no
// constant for it (TestFullMatchesServer checks it against the server's
// table).
const ErrCodeStoreFailed jetstream.ErrorCode = 10077

// fullDescriptions are the store errors behind ErrCodeStoreFailed that mean
// the stream is at MaxBytes or MaxMsgs under DiscardNew: the server's
// ErrMaxBytes and ErrMaxMsgs, whose text becomes the description. Others
// (a message too large, a failing disk) are not "full".
var fullDescriptions = []string{"maximum bytes exceeded", "maximum messages exceeded"}

// IsFull reports whether err is the stream refusing a publish because it is
// full (DiscardNew): the edge answers 503 stream_full, which waiting does
// not cure, rather than "unavailable".
func IsFull(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == ErrCodeStoreFailed && slices.Contains(fullDescriptions, apiErr.Description)
}
