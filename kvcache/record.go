package kvcache

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// The key space of a Namespace holds two kinds of keys:
//
//	'd' key                      -> record (value, expiration, metadata)
//	'x' expiration(8, BE) key    -> empty, one per key with an expiration
//
// The expiry index orders keys by expiration, so a sweep reads only the
// keys that are due.
const (
	dataTag   = 'd'
	expiryTag = 'x'
)

// recordVersion is the first byte of every stored record.
const recordVersion = 1

// record is the decoded form of a stored entry. Expiration is in Unix
// nanoseconds; zero means none.
type record struct {
	expiration int64
	metadata   []byte
	value      []byte
}

var errCorrupt = errors.New("kvcache: corrupt record")

func dataKey(key string) []byte {
	b := make([]byte, 0, 1+len(key))
	b = append(b, dataTag)
	return append(b, key...)
}

func expiryKey(expiration int64, key string) []byte {
	b := make([]byte, 0, 9+len(key))
	b = append(b, expiryTag)
	b = binary.BigEndian.AppendUint64(b, uint64(expiration))
	return append(b, key...)
}

// encodeRecord lays out version, expiration, metadata length, metadata and
// value.
func encodeRecord(r record) []byte {
	b := make([]byte, 0, 1+8+binary.MaxVarintLen32+len(r.metadata)+len(r.value))
	b = append(b, recordVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(r.expiration))
	b = binary.AppendUvarint(b, uint64(len(r.metadata)))
	b = append(b, r.metadata...)
	return append(b, r.value...)
}

// decodeRecord parses b. The returned slices alias b.
func decodeRecord(b []byte) (record, error) {
	if len(b) < 10 || b[0] != recordVersion {
		return record{}, errCorrupt
	}
	r := record{expiration: int64(binary.BigEndian.Uint64(b[1:9]))}
	n, w := binary.Uvarint(b[9:])
	if w <= 0 || uint64(len(b)-9-w) < n {
		return record{}, errCorrupt
	}
	rest := b[9+w:]
	if n > 0 {
		r.metadata = rest[:n]
	}
	r.value = rest[n:]
	return r, nil
}

// expiredAt reports whether r has expired at now (Unix nanoseconds). An
// entry with expiration e is live on [.., e) and expired from e on.
func (r record) expiredAt(now int64) bool {
	return r.expiration != 0 && now >= r.expiration
}

func (r record) expirationTime() time.Time {
	if r.expiration == 0 {
		return time.Time{}
	}
	return time.Unix(0, r.expiration)
}

func decodeErr(key string, err error) error {
	return fmt.Errorf("kvcache: decode %q: %w", truncateKey(key), err)
}
