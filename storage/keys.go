package storage

import (
	"encoding/binary"
	"time"
)

// Key layout in the Pebble database. Every key starts with one tag byte:
//
//	'o' ns(4) id(16) userkey   object data; one object's keys are contiguous
//	'a' ns(4) id(16)           the object's alarm time, 8 bytes
//	'i' time(8) ns(4) id(16)   alarm index, ordered by time
//	'k' ns(4) userkey          KV key spaces
//	'm' name                   database metadata (namespace numbers, secrets)
//
// Numbers are big-endian so that byte order is numeric order. Alarm times
// are Unix nanoseconds with the sign bit flipped, so times before 1970 sort
// first as well.
const (
	tagObject    = 'o'
	tagAlarm     = 'a'
	tagAlarmIdx  = 'i'
	tagKeyspace  = 'k'
	tagMeta      = 'm'
	objectPrefix = 1 + 4 + IDSize
)

// IDSize is the size in bytes of an ObjectID.
const IDSize = 16

// ObjectID names one object inside a namespace.
type ObjectID [IDSize]byte

// objectKeyPrefix returns the prefix shared by every data key of one object.
func objectKeyPrefix(ns uint32, id ObjectID) []byte {
	b := make([]byte, objectPrefix, objectPrefix+32)
	putObjectKeyPrefix(b, ns, id)
	return b
}

// putObjectKeyPrefix writes the prefix of the object's data keys into b,
// which holds at least objectPrefix bytes.
func putObjectKeyPrefix(b []byte, ns uint32, id ObjectID) {
	b[0] = tagObject
	binary.BigEndian.PutUint32(b[1:], ns)
	copy(b[5:], id[:])
}

// appendUserKey returns prefix followed by key in a new slice.
func appendUserKey(prefix []byte, key string) []byte {
	b := make([]byte, 0, len(prefix)+len(key))
	b = append(b, prefix...)
	return append(b, key...)
}

// decodeObjectKey splits a data key made by appendUserKey into its
// namespace, object and user key.
func decodeObjectKey(k []byte) (ns uint32, id ObjectID, key string, ok bool) {
	if len(k) <= objectPrefix || k[0] != tagObject {
		return 0, ObjectID{}, "", false
	}
	ns = binary.BigEndian.Uint32(k[1:])
	copy(id[:], k[5:objectPrefix])
	return ns, id, string(k[objectPrefix:]), true
}

// successor returns the smallest key greater than every key with the given
// prefix, or nil when there is none.
func successor(prefix []byte) []byte {
	b := append([]byte(nil), prefix...)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] != 0xff {
			b[i]++
			return b[:i+1]
		}
	}
	return nil
}

func alarmKey(ns uint32, id ObjectID) []byte {
	b := make([]byte, objectPrefix)
	b[0] = tagAlarm
	binary.BigEndian.PutUint32(b[1:], ns)
	copy(b[5:], id[:])
	return b
}

func encodeTime(t time.Time) uint64 { return uint64(t.UnixNano()) ^ (1 << 63) }

func decodeTime(v uint64) time.Time { return time.Unix(0, int64(v^(1<<63))) }

func alarmIndexKey(t time.Time, ns uint32, id ObjectID) []byte {
	b := make([]byte, 1+8+4+IDSize)
	b[0] = tagAlarmIdx
	binary.BigEndian.PutUint64(b[1:], encodeTime(t))
	binary.BigEndian.PutUint32(b[9:], ns)
	copy(b[13:], id[:])
	return b
}

func decodeAlarmIndexKey(k []byte) (Alarm, bool) {
	if len(k) != 1+8+4+IDSize || k[0] != tagAlarmIdx {
		return Alarm{}, false
	}
	var a Alarm
	a.Time = decodeTime(binary.BigEndian.Uint64(k[1:]))
	a.Namespace = binary.BigEndian.Uint32(k[9:])
	copy(a.ID[:], k[13:])
	return a, true
}

func keyspacePrefix(ns uint32) []byte {
	b := make([]byte, 5)
	b[0] = tagKeyspace
	binary.BigEndian.PutUint32(b[1:], ns)
	return b
}

func metaKey(name string) []byte { return append([]byte{tagMeta}, name...) }
