package stream

import (
	"time"

	validation "github.com/go-ozzo/ozzo-validation/v4"
)

// BatchConfig is how consumers cut and time their batches.
type BatchConfig struct {
	MaxRows      int           `env:"BATCH_MAX_ROWS" envDefault:"10000"`
	MaxMessages  int           `env:"BATCH_MAX_MESSAGES" envDefault:"500"`
	MaxBytes     int           `env:"BATCH_MAX_BYTES" envDefault:"16777216"`
	MaxAge       time.Duration `env:"BATCH_MAX_AGE" envDefault:"250ms"`
	FlushTimeout time.Duration `env:"BATCH_FLUSH_TIMEOUT" envDefault:"10s"`
}

// Validate checks the batch settings.
func (b BatchConfig) Validate() error {
	return validation.ValidateStruct(&b,
		validation.Field(&b.MaxRows, validation.Min(1)),
		validation.Field(&b.MaxMessages, validation.Min(1)),
		validation.Field(&b.MaxBytes, validation.Min(1)),
		validation.Field(&b.MaxAge, validation.Min(time.Millisecond)),
		validation.Field(&b.FlushTimeout, validation.Min(time.Second)),
	)
}

// Limits are the batch cut points.
func (b BatchConfig) Limits() Limits {
	return Limits{MaxMessages: b.MaxMessages, MaxRows: b.MaxRows, MaxBytes: b.MaxBytes, MaxAge: b.MaxAge}
}

// AckWait gives a message time for a full batch age plus the worst flush,
// twice over; longer flushes send InProgress (see KeepAlive).
func (b BatchConfig) AckWait() time.Duration { return 2 * (b.MaxAge + b.FlushTimeout) }

// MaxAckPending lets one batch be written while the next one fills.
func (b BatchConfig) MaxAckPending() int { return 2 * b.MaxMessages }
