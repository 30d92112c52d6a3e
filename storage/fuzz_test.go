package storage

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"
)

// inRange reports whether k is in [lo, hi); a nil hi means no upper bound.
func inRange(k, lo, hi []byte) bool {
	return bytes.Compare(k, lo) >= 0 && (hi == nil || bytes.Compare(k, hi) < 0)
}

// FuzzKeyEncoding checks the object key encoding. A key decodes to what
// was encoded, and two user keys of one object keep their byte order. No
// user key reaches another object's range, nor the alarm, alarm index, key
// space or metadata ranges.
func FuzzKeyEncoding(f *testing.F) {
	f.Add(uint32(1), []byte{1}, "a", "b", uint32(1), []byte{2})
	f.Add(uint32(0), []byte{}, "\x00", "\x00\x00", uint32(0), []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Add(uint32(7), bytes.Repeat([]byte{0xff}, 16), "\xff\xff\xff", "\xff", uint32(8), []byte{})
	f.Add(^uint32(0), bytes.Repeat([]byte{0xff}, 16), "\xff", "\xff\xff", uint32(0), []byte{})
	f.Add(uint32(1)<<24, []byte("0123456789abcdef"), "\xc3\x28", "a/b", uint32(1), []byte("0123456789abcdee"))
	f.Add(uint32(3), []byte{9}, "same", "same", uint32(3), []byte{9, 0xff})
	f.Add(uint32(2), []byte{}, "o\x00\x00\x00\x02", "i", uint32(2), []byte{})
	f.Fuzz(func(t *testing.T, ns uint32, idb []byte, k1, k2 string, ns2 uint32, id2b []byte) {
		if len(k1) == 0 || len(k2) == 0 {
			return // the key size limit rejects empty keys
		}
		var id, id2 ObjectID
		copy(id[:], idb)
		copy(id2[:], id2b)
		prefix := objectKeyPrefix(ns, id)
		upper := successor(prefix)
		e1 := appendUserKey(prefix, k1)
		e2 := appendUserKey(prefix, k2)

		gotNS, gotID, gotKey, ok := decodeObjectKey(e1)
		if !ok || gotNS != ns || gotID != id || gotKey != k1 {
			t.Fatalf("decode(%x) = %d, %x, %q, %v; want %d, %x, %q", e1, gotNS, gotID, gotKey, ok, ns, id, k1)
		}
		if got, want := bytes.Compare(e1, e2), bytes.Compare([]byte(k1), []byte(k2)); got != want {
			t.Fatalf("order of %q and %q: encoded %d, user keys %d", k1, k2, got, want)
		}
		for _, e := range [][]byte{e1, e2} {
			if !inRange(e, prefix, upper) {
				t.Fatalf("key %x outside its own object's range [%x, %x)", e, prefix, upper)
			}
			if ns2 != ns || id2 != id {
				p2 := objectKeyPrefix(ns2, id2)
				if inRange(e, p2, successor(p2)) {
					t.Fatalf("key %x of object %d/%x is inside object %d/%x", e, ns, id, ns2, id2)
				}
			}
			for _, tag := range []byte{tagAlarm, tagAlarmIdx, tagKeyspace, tagMeta} {
				if inRange(e, []byte{tag}, []byte{tag + 1}) {
					t.Fatalf("object key %x inside the %q range", e, tag)
				}
			}
		}

		// The object's range holds no alarm record or index entry.
		if inRange(alarmKey(ns, id), prefix, upper) {
			t.Fatalf("alarm key of %d/%x inside the object's data range", ns, id)
		}
		at := time.Unix(0, int64(binary.BigEndian.Uint64(append(idb, make([]byte, 8)...))))
		a, ok := decodeAlarmIndexKey(alarmIndexKey(at, ns, id))
		if !ok || a.Namespace != ns || a.ID != id || !a.Time.Equal(at) {
			t.Fatalf("alarm index round trip of %v %d %x = %+v, %v", at, ns, id, a, ok)
		}

		// Key spaces: the same containment and order.
		kp := keyspacePrefix(ns)
		ku := successor(kp)
		c1, c2 := append(bytes.Clone(kp), k1...), append(bytes.Clone(kp), k2...)
		if !inRange(c1, kp, ku) || !inRange(c2, kp, ku) {
			t.Fatalf("key space key outside its range")
		}
		if ns2 != ns && inRange(c1, keyspacePrefix(ns2), successor(keyspacePrefix(ns2))) {
			t.Fatalf("key space %d key %q inside key space %d", ns, k1, ns2)
		}
		if got, want := bytes.Compare(c1, c2), bytes.Compare([]byte(k1), []byte(k2)); got != want {
			t.Fatalf("key space order of %q and %q: encoded %d, user keys %d", k1, k2, got, want)
		}
	})
}

// TestAlarmTimeOrder checks that the encoded alarm times order like the
// times, across the sign change at 1970.
func TestAlarmTimeOrder(t *testing.T) {
	times := []time.Time{minAlarmTime, time.Unix(-1, 0), time.Unix(0, -1), time.Unix(0, 0), time.Unix(0, 1), time.Unix(1e9, 0), maxAlarmTime}
	for i := 1; i < len(times); i++ {
		a := alarmIndexKey(times[i-1], 5, ObjectID{9})
		b := alarmIndexKey(times[i], 1, ObjectID{1})
		if bytes.Compare(a, b) >= 0 {
			t.Errorf("index key of %v does not sort before that of %v", times[i-1], times[i])
		}
	}
}
