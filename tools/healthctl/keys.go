package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/healthexport/libs/apikey"
	"github.com/healthexport/libs/users"
)

type keysCmd struct {
	Create keysCreateCmd `cmd:"" help:"Create an API key and print it (it is shown only once)."`
	List   keysListCmd   `cmd:"" help:"List a user's keys (never their secrets)."`
	Revoke keysRevokeCmd `cmd:"" help:"Revoke a key; running edges are told over NATS at once."`
}

type keysCreateCmd struct {
	Email  string   `required:"" help:"The owner's email address."`
	Name   string   `help:"A name to recognise the key by (e.g. the phone)."`
	Scopes []string `help:"What the key may do: ingest (upload), read (read the data back and export it), or read,ingest. Default: ingest." placeholder:"SCOPE"`
}

func (c *keysCreateCmd) Run(e *env) error {
	pool, uid, err := e.owner(c.Email)
	if err != nil {
		return err
	}
	defer pool.Close()
	token, key, err := apikey.NewStore(pool, apikey.DefaultParams()).Create(e.Ctx, uid, c.Name, c.Scopes...)
	if err != nil {
		return err
	}
	e.Log.Info("key created", "key_id", key.ID, "user_id", uid.String(), "scopes", strings.Join(key.Scopes, ","))
	_, err = fmt.Fprintln(e.Stdout, token)
	return err
}

type keysListCmd struct {
	Email string `required:"" help:"The owner's email address."`
}

func (c *keysListCmd) Run(e *env) error {
	pool, uid, err := e.owner(c.Email)
	if err != nil {
		return err
	}
	defer pool.Close()
	keys, err := apikey.NewStore(pool, apikey.DefaultParams()).List(e.Ctx, uid)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(e.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tNAME\tSCOPES\tCREATED\tLAST USED\tREVOKED")
	for _, k := range keys {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, strings.Join(k.Scopes, ","), stamp(&k.CreatedAt), stamp(k.LastUsedAt), stamp(k.RevokedAt))
	}
	return w.Flush()
}

func stamp(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

type keysRevokeCmd struct {
	Email string `required:"" help:"The owner's email address."`
	ID    string `arg:"" help:"The key id (the part between hx_ and the second underscore)."`
}

func (c *keysRevokeCmd) Run(e *env) error {
	pool, uid, err := e.owner(c.Email)
	if err != nil {
		return err
	}
	defer pool.Close()
	ok, err := apikey.NewStore(pool, apikey.DefaultParams()).Revoke(e.Ctx, uid, c.ID)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%s has no key %s", c.Email, c.ID)
	}
	if err := e.announceRevocation(c.ID); err != nil {
		e.Log.Warn("revoked; the edges were not told and refuse the key when their cache expires (at most AUTH_CACHE_TTL)", "key_id", c.ID, "err", err)
		return nil
	}
	e.Log.Info("key revoked; running edges told", "key_id", c.ID)
	return nil
}

// announceRevocation tells every running edge over NATS.
func (e *env) announceRevocation(keyID string) error {
	return e.announceRevocations(e.cfg.Stream, []string{keyID})
}

// owner opens the database and finds a key owner by email.
func (e *env) owner(email string) (*pgxpool.Pool, uuid.UUID, error) {
	pool, err := e.pool()
	if err != nil {
		return nil, uuid.Nil, err
	}
	uid, err := users.NewStore(pool).ByEmail(e.Ctx, email)
	if err != nil {
		pool.Close()
		return nil, uuid.Nil, err
	}
	return pool, uid, nil
}
