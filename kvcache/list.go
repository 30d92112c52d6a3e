package kvcache

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"time"
)

// ListOptions selects the keys List returns.
type ListOptions struct {
	// Prefix keeps only the keys that start with it.
	Prefix string
	// Limit is the most keys one page returns. Zero means
	// Limits.MaxListLimit (1,000 by default), which is also the maximum.
	Limit int
	// Cursor continues a listing from the page that returned it. Pass the
	// same Prefix with it.
	Cursor string
}

// KeyInfo describes one key returned by List.
type KeyInfo struct {
	// Name is the key.
	Name string
	// Expiration is when the key expires; zero when it does not.
	Expiration time.Time
	// Metadata is the key's JSON metadata, or nil.
	Metadata json.RawMessage
}

// ListResult is one page of a listing.
type ListResult struct {
	// Keys are the live keys of the page in ascending byte order.
	Keys []KeyInfo
	// ListComplete reports whether the page is the last one.
	ListComplete bool
	// Cursor continues the listing when ListComplete is false; it is empty
	// otherwise.
	Cursor string
}

// List returns the live keys that start with opts.Prefix, in ascending
// byte order, one page of at most opts.Limit keys at a time, with each
// key's expiration and metadata but not its value. While ListComplete is
// false, call List again with the returned Cursor and the same Prefix. A
// cursor never leads outside the prefix it was made for, and one passed
// with a different prefix is rejected with ErrInvalidCursor.
//
// A key written or deleted while a listing is paged through may or may
// not appear in it. A key that exists throughout appears exactly once.
func (ns *Namespace) List(ctx context.Context, opts ListOptions) (ListResult, error) {
	if err := ns.check(ctx); err != nil {
		return ListResult{}, err
	}
	limit := opts.Limit
	if limit == 0 {
		limit = ns.limits.MaxListLimit
	}
	if limit < 0 || limit > ns.limits.MaxListLimit {
		return ListResult{}, &LimitError{Limit: "list limit", Size: limit, Min: 1, Max: ns.limits.MaxListLimit}
	}

	prefix := dataKey(opts.Prefix)
	lower := prefix
	if opts.Cursor != "" {
		after, err := decodeCursor(opts.Cursor, opts.Prefix)
		if err != nil {
			return ListResult{}, err
		}
		// Start just after the last key of the previous page.
		lower = append(dataKey(after), 0)
	}

	now := ns.clock.Now().UnixNano()
	var (
		res     ListResult
		scanErr error
		more    bool
	)
	err := ns.ks.Scan(lower, prefixEnd(prefix), func(k, v []byte) bool {
		if len(res.Keys) == limit {
			// A live key beyond the page exists; stop before it.
			more = true
			return false
		}
		r, err := decodeRecord(v)
		if err != nil {
			scanErr = decodeErr(string(k[1:]), err)
			return false
		}
		if r.expiredAt(now) {
			return true
		}
		res.Keys = append(res.Keys, KeyInfo{
			Name:       string(k[1:]),
			Expiration: r.expirationTime(),
			Metadata:   bytes.Clone(r.metadata),
		})
		return true
	})
	if err == nil {
		err = scanErr
	}
	if err != nil {
		return ListResult{}, fmt.Errorf("kvcache: list prefix %q: %w", truncateKey(opts.Prefix), err)
	}

	// The scan reads past the page until it finds one more live key or the
	// end of the prefix, so ListComplete is exact even when the page is
	// full.
	if more {
		res.Cursor = encodeCursor(opts.Prefix, res.Keys[len(res.Keys)-1].Name)
	} else {
		res.ListComplete = true
	}
	return res, nil
}

// prefixEnd returns the smallest key greater than every key that starts
// with p. p always starts with dataTag, so such a key exists.
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// cursorVersion is the first byte of every cursor.
const cursorVersion = 1

// encodeCursor returns a cursor that continues a listing of prefix after
// the key last. It carries the prefix, so that decodeCursor can reject it
// for another listing, and a checksum, to reject corrupted cursors.
func encodeCursor(prefix, last string) string {
	b := []byte{cursorVersion}
	b = binary.AppendUvarint(b, uint64(len(prefix)))
	b = append(b, prefix...)
	b = append(b, last...)
	b = binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor returns the last key of the page that made cursor, checking
// that the cursor belongs to a listing of prefix.
func decodeCursor(cursor, prefix string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || len(b) < 6 || b[0] != cursorVersion {
		return "", fmt.Errorf("%w: %q was not returned by List", ErrInvalidCursor, truncateKey(cursor))
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.ChecksumIEEE(body) != sum {
		return "", fmt.Errorf("%w: %q is corrupted", ErrInvalidCursor, truncateKey(cursor))
	}
	n, w := binary.Uvarint(body[1:])
	if w <= 0 || uint64(len(body)-1-w) < n {
		return "", fmt.Errorf("%w: %q is corrupted", ErrInvalidCursor, truncateKey(cursor))
	}
	cursorPrefix := string(body[1+w : 1+w+int(n)])
	last := string(body[1+w+int(n):])
	if cursorPrefix != prefix {
		return "", fmt.Errorf("%w: the cursor belongs to a listing with prefix %q, not %q; "+
			"pass the prefix the cursor was returned for",
			ErrInvalidCursor, truncateKey(cursorPrefix), truncateKey(prefix))
	}
	if len(last) < len(prefix) || last[:len(prefix)] != prefix {
		return "", fmt.Errorf("%w: %q is corrupted", ErrInvalidCursor, truncateKey(cursor))
	}
	return last, nil
}
