package storage

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Alarm is one entry of the alarm index.
type Alarm struct {
	Namespace uint32
	ID        ObjectID
	Time      time.Time
	// Name is the name recorded with Txn.SetName by the turn that set the
	// alarm, or by an earlier one. It is "" when none was recorded.
	Name string
}

// Bounds of the alarm times that Unix nanoseconds in an int64 can hold.
var (
	minAlarmTime = time.Unix(0, math.MinInt64)
	maxAlarmTime = time.Unix(0, math.MaxInt64)
)

// checkAlarmTime returns an error wrapping ErrInvalidAlarm when t cannot be
// stored.
func checkAlarmTime(t time.Time) error {
	if t.Before(minAlarmTime) || t.After(maxAlarmTime) {
		return fmt.Errorf("%w: %s is outside %s to %s", ErrInvalidAlarm,
			t.UTC().Format(time.RFC3339), minAlarmTime.UTC().Format(time.RFC3339),
			maxAlarmTime.UTC().Format(time.RFC3339))
	}
	return nil
}

// Alarm returns the durable alarm of the object id of namespace ns, with
// the name stored with it, or false when none is set. It does not see the
// writes of a Txn that has not committed.
func (db *DB) Alarm(ns uint32, id ObjectID) (Alarm, bool, error) {
	if err := db.enter(); err != nil {
		return Alarm{}, false, err
	}
	defer db.leave()
	// Both reads see one snapshot, so a commit that moves the alarm in
	// between cannot pair the old time with a missing name.
	snap := db.pdb.NewSnapshot()
	defer snap.Close()
	v, ok, err := readKey(snap, alarmKey(ns, id))
	if err != nil || !ok {
		return Alarm{}, false, err
	}
	at, err := decodeAlarmRecord(v)
	if err != nil {
		return Alarm{}, false, err
	}
	name, _, err := readKey(snap, alarmIndexKey(at, ns, id))
	if err != nil {
		return Alarm{}, false, err
	}
	return Alarm{Namespace: ns, ID: id, Time: at, Name: string(name)}, true, nil
}

// alarm reads the durable alarm time of one object.
func (db *DB) alarm(ns uint32, id ObjectID) (time.Time, bool, error) {
	v, ok, err := db.get(alarmKey(ns, id))
	if err != nil || !ok {
		return time.Time{}, false, err
	}
	at, err := decodeAlarmRecord(v)
	return at, err == nil, err
}

// decodeAlarmRecord returns the time in an object's alarm record.
//
// The record holds the time alone, 8 bytes, as it did before alarms had
// names, so that an earlier build can still open the database. The name
// is the value of the index entry, whose value that build ignores.
func decodeAlarmRecord(v []byte) (time.Time, error) {
	if len(v) != 8 {
		return time.Time{}, fmt.Errorf("storage: corrupt alarm record of length %d", len(v))
	}
	return decodeTime(binary.BigEndian.Uint64(v)), nil
}

// alarmName reads the name stored with the alarm at of one object.
func (db *DB) alarmName(at time.Time, ns uint32, id ObjectID) (string, error) {
	v, _, err := db.get(alarmIndexKey(at, ns, id))
	return string(v), err
}

// writeAlarm adds to b the change of an object's alarm record and index
// entry, and stores name with a new alarm. An empty name keeps the stored
// one. The old index entry is found through the record, which no other
// writer of the object changes concurrently.
func (db *DB) writeAlarm(b *pebble.Batch, ns uint32, id ObjectID, aw *alarmWrite, name string) error {
	old, ok, err := db.alarm(ns, id)
	if err != nil {
		return err
	}
	if ok && !aw.deleted && name == "" {
		if name, err = db.alarmName(old, ns, id); err != nil {
			return err
		}
	}
	if ok {
		_ = b.Delete(alarmIndexKey(old, ns, id), nil)
	}
	if aw.deleted {
		if ok {
			_ = b.Delete(alarmKey(ns, id), nil)
		}
		return nil
	}
	var rec [8]byte
	binary.BigEndian.PutUint64(rec[:], encodeTime(aw.t))
	_ = b.Set(alarmKey(ns, id), rec[:], nil)
	_ = b.Set(alarmIndexKey(aw.t, ns, id), []byte(name), nil)
	return nil
}

// Alarms returns, in time order, the alarms of every object due at or
// before until, at most limit of them (zero means no limit). An alarm index
// entry stays until the object's own turn deletes or replaces it.
func (db *DB) Alarms(until time.Time, limit int) ([]Alarm, error) {
	if err := db.enter(); err != nil {
		return nil, err
	}
	defer db.leave()
	if until.Before(minAlarmTime) {
		return nil, nil
	}
	// Every stored time is at most maxAlarmTime, so a later until means the
	// end of the index. Such a time must not reach alarmIndexKey, whose
	// nanoseconds would overflow.
	upper := []byte{tagAlarmIdx + 1}
	if until.Before(maxAlarmTime) {
		upper = alarmIndexKey(until.Add(time.Nanosecond), 0, ObjectID{})
	}
	it, err := db.pdb.NewIter(&pebble.IterOptions{LowerBound: []byte{tagAlarmIdx}, UpperBound: upper})
	if err != nil {
		return nil, fmt.Errorf("storage: scan alarms: %w", err)
	}
	defer it.Close()
	var out []Alarm
	for valid := it.First(); valid && (limit == 0 || len(out) < limit); valid = it.Next() {
		if a, ok := decodeAlarmIndexKey(it.Key()); ok {
			a.Name = string(it.Value())
			out = append(out, a)
		}
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("storage: scan alarms: %w", err)
	}
	return out, nil
}

// NextAlarm returns the earliest alarm of any object, or false when no
// alarm is set.
func (db *DB) NextAlarm() (Alarm, bool, error) {
	if err := db.enter(); err != nil {
		return Alarm{}, false, err
	}
	defer db.leave()
	it, err := db.pdb.NewIter(&pebble.IterOptions{LowerBound: []byte{tagAlarmIdx}, UpperBound: []byte{tagAlarmIdx + 1}})
	if err != nil {
		return Alarm{}, false, fmt.Errorf("storage: scan alarms: %w", err)
	}
	defer it.Close()
	for valid := it.First(); valid; valid = it.Next() {
		if a, ok := decodeAlarmIndexKey(it.Key()); ok {
			a.Name = string(it.Value())
			return a, true, nil
		}
	}
	if err := it.Error(); err != nil {
		return Alarm{}, false, fmt.Errorf("storage: scan alarms: %w", err)
	}
	return Alarm{}, false, nil
}

// ObjectIDs returns, in byte order, the IDs of the objects of namespace ns
// that hold at least one key, starting after the ID after (nil starts at
// the first), at most limit of them (zero means no limit).
func (db *DB) ObjectIDs(ns uint32, after *ObjectID, limit int) ([]ObjectID, error) {
	if err := db.enter(); err != nil {
		return nil, err
	}
	defer db.leave()
	lower := objectKeyPrefix(ns, ObjectID{})
	if after != nil {
		lower = successor(objectKeyPrefix(ns, *after))
	}
	upper := successor(objectKeyPrefix(ns, ObjectID{})[:5])
	if bytes.Compare(lower, upper) >= 0 {
		// after is the greatest ID, so nothing follows it.
		return nil, nil
	}
	it, err := db.pdb.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return nil, fmt.Errorf("storage: list objects: %w", err)
	}
	defer it.Close()
	var out []ObjectID
	for valid := it.First(); valid && (limit == 0 || len(out) < limit); {
		var id ObjectID
		copy(id[:], it.Key()[5:objectPrefix])
		out = append(out, id)
		next := successor(it.Key()[:objectPrefix])
		valid = it.SeekGE(next)
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("storage: list objects: %w", err)
	}
	return out, nil
}
