// Package stream defines the JetStream stream, its subjects, headers and
// consumers, and the helpers to publish to and consume from it.
package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	validation "github.com/go-ozzo/ozzo-validation/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthexport/libs/config"
)

// MaxMessageBytes is the stream's MaxMsgSize and the server's max_payload.
const MaxMessageBytes = 8 << 20

// Config names the stream and its limits. Stream name, subject prefix and
// durable prefix are settings so tests run beside a running stack.
type Config struct {
	URL             string        `env:"NATS_URL,required" mask:"url" help:"NATS with JetStream (nats://host:4222; a comma-separated list for a cluster)."`
	User            string        `env:"NATS_USER" zero:"no user" help:"NATS user name, with NATS_PASSWORD (or in NATS_URL: nats://user:password@host:4222)."`
	Password        string        `env:"NATS_PASSWORD" mask:"all" zero:"no password" help:"NATS password of NATS_USER."`
	Token           string        `env:"NATS_TOKEN" mask:"all" zero:"no token" help:"NATS authentication token (instead of a user)."`
	NKeySeedFile    string        `env:"NATS_NKEY_SEED_FILE" zero:"no nkey" help:"File holding the NATS nkey seed (SU...) this process signs in with (instead of a user or a token)."`
	Name            string        `env:"STREAM_NAME" envDefault:"HEALTH" help:"The JetStream stream."`
	SubjectPrefix   string        `env:"SUBJECT_PREFIX" envDefault:"health" help:"First token(s) of every subject: <prefix>.ingest.<kind>.<user_id>, <prefix>.manifest.<user_id>."`
	DurablePrefix   string        `env:"DURABLE_PREFIX" zero:"the consumers are raw-archiver and writer-<kind>" help:"Prefix of the durable consumers' names."`
	Replicas        int           `env:"STREAM_REPLICAS" envDefault:"1" help:"Stream replicas: 1 on one machine, 3 in a NATS cluster."`
	MaxAge          time.Duration `env:"STREAM_MAX_AGE" envDefault:"720h" help:"How long messages stay in the stream, for replays."`
	MaxBytes        int64         `env:"STREAM_MAX_BYTES" envDefault:"10737418240" help:"The stream's MaxBytes; a full stream answers uploads 503 (DiscardNew)."`
	DuplicateWindow time.Duration `env:"STREAM_DUPLICATE_WINDOW" envDefault:"24h" help:"Exact resends within this window are absorbed (at most STREAM_MAX_AGE)."`
}

// Validate checks the settings make a usable stream.
func (c Config) Validate() error {
	return validation.ValidateStruct(&c,
		validation.Field(&c.URL, validation.Required, validation.By(natsURLs)),
		// One way to sign in: the server takes one, and a second would
		// only hide which one it refused.
		validation.Field(&c.Password, config.Credential(), validation.When(c.User != "", validation.Required.Error("NATS_USER needs NATS_PASSWORD"))),
		validation.Field(&c.User, config.Credential(), validation.When(c.Password != "", validation.Required.Error("NATS_PASSWORD needs NATS_USER"))),
		validation.Field(&c.Token, config.Credential(), validation.When(c.User != "", validation.Empty.Error("set NATS_USER or NATS_TOKEN, not both"))),
		validation.Field(&c.NKeySeedFile, validation.When(c.User != "" || c.Token != "", validation.Empty.Error("set one of NATS_USER, NATS_TOKEN and NATS_NKEY_SEED_FILE")),
			config.ReadableFile()),
		validation.Field(&c.Name, validation.Required, validation.Match(streamName).Error("must be letters, digits, - and _")),
		validation.Field(&c.SubjectPrefix, validation.Required, validation.Match(subjectPrefix).Error("must be subject tokens (letters, digits, - and _) joined by dots")),
		validation.Field(&c.DurablePrefix, validation.Match(streamName).Error("must be letters, digits, - and _")),
		validation.Field(&c.Replicas, config.NonZero(), validation.Min(1), validation.Max(5)),
		validation.Field(&c.MaxAge, config.NonZero(), validation.Min(time.Minute)),
		validation.Field(&c.MaxBytes, config.NonZero(), validation.Min(int64(MaxMessageBytes))),
		// A duplicate window longer than MaxAge would promise dedupe of
		// messages the stream no longer holds.
		validation.Field(&c.DuplicateWindow, config.NonZero(), validation.Min(time.Second), validation.Max(c.MaxAge).Error("must not exceed STREAM_MAX_AGE")),
	)
}

// Names the server accepts for streams and consumers, and subject tokens,
// kept to what reads well in a subject or a consumer list.
var (
	streamName    = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	subjectPrefix = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`)
)

// natsURLs accepts what nats.Connect does: a comma-separated list of
// nats://, tls://, ws:// or wss:// URLs, or host:port.
func natsURLs(v any) error {
	for _, u := range strings.Split(v.(string), ",") {
		u = strings.TrimSpace(u)
		if !strings.Contains(u, "://") {
			if _, _, err := net.SplitHostPort(u); err != nil {
				return errors.New("must be nats://host:port (or a comma-separated list of them)")
			}
			continue
		}
		parsed, err := url.Parse(u)
		if err != nil || parsed.Host == "" || !slices.Contains([]string{"nats", "tls", "ws", "wss"}, parsed.Scheme) {
			return errors.New("must be nats://host:port (or a comma-separated list of them)")
		}
	}
	return nil
}

// authOptions are the credentials of the settings, if any.
func (c Config) authOptions() ([]nats.Option, error) {
	switch {
	case c.User != "":
		return []nats.Option{nats.UserInfo(c.User, c.Password)}, nil
	case c.Token != "":
		return []nats.Option{nats.Token(c.Token)}, nil
	case c.NKeySeedFile != "":
		opt, err := nats.NkeyOptionFromSeed(c.NKeySeedFile)
		if err != nil {
			return nil, fmt.Errorf("NATS_NKEY_SEED_FILE: %w", err)
		}
		return []nats.Option{opt}, nil
	}
	return nil, nil
}

// Dial connects to NATS with the settings' credentials (every process that
// talks to NATS goes through here); opts come after them.
func (c Config) Dial(opts ...nats.Option) (*nats.Conn, error) {
	auth, err := c.authOptions()
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(c.URL, append(auth, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("connect nats: %w", config.SafeError(err))
	}
	return nc, nil
}

// IngestSubjects matches every part; ManifestSubjects every manifest;
// ImportSubjects every received export waiting for its conversion.
func (c Config) IngestSubjects() string   { return c.SubjectPrefix + ".ingest.>" }
func (c Config) ManifestSubjects() string { return c.SubjectPrefix + ".manifest.>" }
func (c Config) ImportSubjects() string   { return c.SubjectPrefix + ".import.>" }

// ImportSubject is where the job of one received export goes: one subject
// per import, so its job can be looked up.
func (c Config) ImportSubject(userID, importID string) string {
	return c.SubjectPrefix + ".import." + userID + "." + importID
}

// ImportBucket is the object store holding received exports until they are
// converted.
func (c Config) ImportBucket() string { return c.Name + "_imports" }

// RevokeSubject carries key revocations to every edge (core NATS, not the
// stream: a revocation matters to the edges running now).
func (c Config) RevokeSubject() string { return c.SubjectPrefix + ".control.revoke" }

// ManifestSubject is where a user's upload manifests go.
func (c Config) ManifestSubject(userID string) string {
	return c.SubjectPrefix + ".manifest." + userID
}

// StreamConfig is the JetStream definition of the stream. Limits retention
// keeps acknowledged messages for replay (WorkQueue or Interest would delete
// them); DiscardNew makes a full stream refuse uploads (503) rather than
// silently drop the oldest data.
func (c Config) StreamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        c.Name,
		Description: "Health Export uploads: parts per kind, manifests, and jobs of received exports",
		Subjects:    []string{c.IngestSubjects(), c.ManifestSubjects(), c.ImportSubjects()},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardNew,
		MaxBytes:    c.MaxBytes,
		MaxAge:      c.MaxAge,
		MaxMsgSize:  MaxMessageBytes,
		Storage:     jetstream.FileStorage,
		Replicas:    c.Replicas,
		Duplicates:  c.DuplicateWindow,
		DenyDelete:  true,
		DenyPurge:   true,
	}
}

// Connect opens a NATS connection that reconnects forever and logs it.
func Connect(ctx context.Context, log *slog.Logger, c Config, name string) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := c.Dial(
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500*time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("nats reconnected", "url", nc.ConnectedUrlRedacted()) }),
	)
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(1024))
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("jetstream: %w", err)
	}
	return nc, js, nil
}

// FirstSeqFunc returns the sequence a new stream must start after: the
// highest stream_seq already stored, so sequence order lasts across a
// re-created stream.
type FirstSeqFunc func(ctx context.Context) (uint64, error)

// Ensure creates the stream, or updates it to the configured settings,
// idempotently: every service calls it at start.
func Ensure(ctx context.Context, js jetstream.JetStream, c Config, highestStored FirstSeqFunc) (jetstream.Stream, error) {
	want := c.StreamConfig()
	s, err := js.Stream(ctx, c.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		last, err := highestStored(ctx)
		if err != nil {
			return nil, fmt.Errorf("stream %s: highest stored sequence: %w", c.Name, err)
		}
		if last > 0 {
			want.FirstSeq = last + 1
		}
		s, err = js.CreateStream(ctx, want)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return js.Stream(ctx, c.Name) // another service created it first
		}
		if err != nil {
			return nil, fmt.Errorf("create stream %s: %w", c.Name, err)
		}
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", c.Name, err)
	}
	want.FirstSeq = s.CachedInfo().Config.FirstSeq
	if s, err = js.UpdateStream(ctx, want); err != nil {
		return nil, fmt.Errorf("update stream %s: %w", c.Name, err)
	}
	return s, nil
}

// ConsumerSpec describes a durable pull consumer.
type ConsumerSpec struct {
	Durable       string
	Filters       []string
	AckWait       time.Duration
	MaxAckPending int
}

// EnsureConsumer creates or updates a durable consumer: explicit acks and
// MaxDeliver -1. A MaxDeliver limit would make JetStream stop delivering a
// message with nothing but an advisory, also during a database outage;
// instead the consumers bound their own retries (WRITE_MAX_ATTEMPTS) and
// record what they give up (libs/settle).
func EnsureConsumer(ctx context.Context, js jetstream.JetStream, streamName string, spec ConsumerSpec) (jetstream.Consumer, error) {
	cfg := jetstream.ConsumerConfig{
		Durable:       spec.Durable,
		Description:   "Health Export " + spec.Durable,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       spec.AckWait,
		MaxDeliver:    -1,
		MaxAckPending: spec.MaxAckPending,
	}
	if len(spec.Filters) == 1 {
		cfg.FilterSubject = spec.Filters[0]
	} else {
		cfg.FilterSubjects = spec.Filters
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, streamName, cfg)
	if err != nil {
		return nil, fmt.Errorf("consumer %s: %w", spec.Durable, err)
	}
	return cons, nil
}

// DeleteStream removes the stream c names, with its store of received
// exports, signing in with c's credentials; one already gone is no error.
// For the tests and tools that make streams of their own.
func DeleteStream(ctx context.Context, c Config) error {
	nc, err := c.Dial(nats.Name("delete stream"))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	if err := js.DeleteStream(ctx, c.Name); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("delete stream %s: %w", c.Name, err)
	}
	bucket := c.ImportBucket()
	if err := js.DeleteObjectStore(ctx, bucket); err != nil && !errors.Is(err, jetstream.ErrBucketNotFound) && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("delete object store %s: %w", bucket, err)
	}
	return nil
}
