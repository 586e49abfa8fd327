package store

import "context"

// MigrateDownTo undoes wxfleet's migrations above version (tests of a
// migration start from the schema before it).
func (s *Store) MigrateDownTo(ctx context.Context, version int64) error {
	p, err := s.goose()
	if err != nil {
		return err
	}
	_, err = p.DownTo(ctx, version)
	return err
}

// Itoa is itoa, for the suite's checks of audit targets.
var Itoa = itoa

// MigrateOnly applies wxfleet's migrations up to version and then the one
// migration only, as a database migrated by a branch that had only it looks.
func (s *Store) MigrateOnly(ctx context.Context, upTo, only int64) error {
	p, err := s.goose()
	if err != nil {
		return err
	}
	if _, err := p.UpTo(ctx, upTo); err != nil {
		return err
	}
	_, err = p.ApplyVersion(ctx, only, true)
	return err
}
