package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/healthexport/libs/apikey"
	"github.com/healthexport/libs/termtext"
	"github.com/healthexport/libs/users"
)

type keysCmd struct {
	Create keysCreateCmd `cmd:"" help:"Create an API key and print it (it is shown only once)."`
	List   keysListCmd   `cmd:"" help:"List a user's keys (never their secrets)."`
	Revoke keysRevokeCmd `cmd:"" help:"Revoke a key; running edges are told over NATS at once."`
}

type keysCreateCmd struct {
	Email   string   `required:"" help:"The owner's email address."`
	Name    string   `help:"A name to recognise the key by (e.g. the phone): at most 100 bytes, no control characters."`
	Scopes  []string `help:"What the key may do: ingest (upload), read (read the data back and export it), keys (manage keys through the API), or several: read,ingest. Default: ingest." placeholder:"SCOPE"`
	Replace bool     `help:"First revoke the user's unrevoked keys of the same name (and the keys made from them): a device's new key replaces its old one."`
}

func (c *keysCreateCmd) Run(e *env) error {
	pool, uid, err := e.owner(c.Email)
	if err != nil {
		return err
	}
	defer pool.Close()
	store := apikey.NewStore(pool, apikey.StoreConfig{MaxKeysPerUser: e.cfg.Keys.MaxPerUser})
	if c.Replace {
		if err := e.replaceKeys(store, uid, strings.TrimSpace(c.Name)); err != nil {
			return err
		}
	}
	token, key, err := store.Create(e.Ctx, uid, apikey.NewKey{Name: c.Name, Scopes: c.Scopes})
	if err != nil {
		return err
	}
	e.Log.Info("key created", "key_id", key.ID, "user_id", uid.String(), "scopes", strings.Join(key.Scopes, ","))
	_, err = fmt.Fprintln(e.Stdout, token)
	return err
}

// replaceKeys revokes the user's unrevoked keys named name, and the keys
// made from them, and tells the edges.
func (e *env) replaceKeys(store *apikey.Store, uid uuid.UUID, name string) error {
	keys, err := store.List(e.Ctx, uid)
	if err != nil {
		return err
	}
	var revoked []string
	for _, k := range keys {
		if k.Name != name || k.RevokedAt != nil {
			continue
		}
		ids, err := store.Revoke(e.Ctx, uid, k.ID, true)
		if err != nil {
			return err
		}
		revoked = append(revoked, ids...)
	}
	if len(revoked) == 0 {
		return nil
	}
	if err := e.announceRevocations(e.cfg.Stream, revoked); err != nil {
		e.Log.Warn("replaced keys revoked; the edges were not told and refuse them when their cache expires (at most AUTH_CACHE_TTL)", "keys", revoked, "err", err)
		return nil
	}
	e.Log.Info("replaced keys revoked; running edges told", "keys", revoked)
	return nil
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
	keys, err := apikey.NewStore(pool, apikey.StoreConfig{}).List(e.Ctx, uid)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(e.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tNAME\tSCOPES\tCREATED\tLAST USED\tREVOKED\tMADE BY")
	for _, k := range keys {
		by := "-"
		if k.CreatedBy != nil {
			by = *k.CreatedBy
		}
		// Names come from API clients: escaped, so they cannot drive the
		// operator's terminal (or break the table).
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, termtext.Escape(k.Name), strings.Join(k.Scopes, ","),
			stamp(&k.CreatedAt), stamp(k.LastUsedAt), stamp(k.RevokedAt), by)
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
	Email   string `required:"" help:"The owner's email address."`
	ID      string `arg:"" help:"The key id (the part between hx_ and the second underscore)."`
	Cascade bool   `default:"true" negatable:"" help:"Also revoke the keys made from it through the API, and theirs (--no-cascade: this key only)."`
}

func (c *keysRevokeCmd) Run(e *env) error {
	pool, uid, err := e.owner(c.Email)
	if err != nil {
		return err
	}
	defer pool.Close()
	ids, err := apikey.NewStore(pool, apikey.StoreConfig{}).Revoke(e.Ctx, uid, c.ID, c.Cascade)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return fmt.Errorf("%s has no key %s", termtext.Escape(c.Email), termtext.Escape(c.ID))
	}
	if err := e.announceRevocations(e.cfg.Stream, ids); err != nil {
		e.Log.Warn("revoked; the edges were not told and refuse the keys when their cache expires (at most AUTH_CACHE_TTL)", "keys", ids, "err", err)
		return nil
	}
	e.Log.Info("keys revoked; running edges told", "keys", ids)
	return nil
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
