package pgstore

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
)

// Bisect writes items in tx under a savepoint. When the database refuses
// the data (class Data: SQLSTATE 22, 23 or 54) it splits the items in
// halves, each under its own savepoint, until every refused item stands
// alone: refuse gets each of them with the database's error, and the rest
// is written. One bad value never blocks its batch, and is found in about
// 2·log2(n) statements. Any other error ends the bisection and is returned
// (the transaction is then to be rolled back).
func Bisect[T any](ctx context.Context, tx pgx.Tx, items []T, write func([]T) error, refuse func(T, error)) error {
	if len(items) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, "SAVEPOINT bisect"); err != nil {
		return err
	}
	err := write(items)
	if err == nil {
		_, err = tx.Exec(ctx, "RELEASE SAVEPOINT bisect")
		return err
	}
	if _, rbErr := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT bisect; RELEASE SAVEPOINT bisect"); rbErr != nil {
		return errors.Join(err, rbErr)
	}
	if Classify(err) != Data {
		return err
	}
	if len(items) == 1 {
		refuse(items[0], err)
		return nil
	}
	half := len(items) / 2
	if err := Bisect(ctx, tx, items[:half], write, refuse); err != nil {
		return err
	}
	return Bisect(ctx, tx, items[half:], write, refuse)
}
