package actor

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"

	"github.com/durable-go/durable/storage"
)

// idKeySize is the size in bytes of the key that signs IDs.
const idKeySize = 32

// checkSize is the size in bytes of an ID's check value.
const checkSize = 16

// ID names one object of one namespace. The zero ID names no object.
//
// An ID is a 16-byte object ID followed by a 16-byte check value, an
// HMAC-SHA256 over the namespace name and the object ID keyed with a secret
// of the data directory. The check value lets IDFromString reject IDs
// minted by another namespace or data directory, and corrupted ones.
//
// Compare IDs with Equal, and key maps by String, because == also compares
// names, and two IDs of one object can differ in theirs.
type ID struct {
	obj   storage.ObjectID
	check [checkSize]byte
	name  string
	// tag identifies the namespace and data directory that minted the
	// ID, so that a call can reject an ID of another namespace without
	// computing its check value again. It is 0 only in the zero ID.
	tag uint64
}

// String returns the 64-hex-digit form that IDFromString parses.
func (id ID) String() string {
	var buf [2 * (storage.IDSize + checkSize)]byte
	hex.Encode(buf[:2*storage.IDSize], id.obj[:])
	hex.Encode(buf[2*storage.IDSize:], id.check[:])
	return string(buf[:])
}

// Equal reports whether id and other name the same object. Names are not
// compared: an ID parsed from a string equals the named ID it was printed
// from.
func (id ID) Equal(other ID) bool { return id.obj == other.obj && id.check == other.check }

// Name returns the name the ID was derived from by IDFromName, or "" for
// unique IDs and for IDs parsed from strings.
func (id ID) Name() string { return id.name }

// IsZero reports whether id is the zero ID.
func (id ID) IsZero() bool { return id.obj == storage.ObjectID{} && id.check == [checkSize]byte{} }

// ObjectID returns the 16-byte object ID under which the object's storage
// is kept.
func (id ID) ObjectID() storage.ObjectID { return id.obj }

// idMinter derives and checks the IDs of one namespace.
type idMinter struct {
	key []byte
	ns  string
	tag uint64 // the tag of every ID it mints, set by newIDMinter
}

// newIDMinter returns the minter of namespace ns under key.
func newIDMinter(key []byte, ns string) idMinter {
	m := idMinter{key: key, ns: ns}
	m.tag = binary.BigEndian.Uint64(m.mac("durable/id-tag", nil)) | 1 // never 0
	return m
}

// mac returns HMAC-SHA256(key, label || 0 || ns || 0 || data).
func (m idMinter) mac(label string, data []byte) []byte {
	h := hmac.New(sha256.New, m.key)
	h.Write([]byte(label))
	h.Write([]byte{0})
	h.Write([]byte(m.ns))
	h.Write([]byte{0})
	h.Write(data)
	return h.Sum(nil)
}

func (m idMinter) withCheck(obj storage.ObjectID, name string) ID {
	id := ID{obj: obj, name: name, tag: m.tag}
	copy(id.check[:], m.mac("durable/id-check", obj[:]))
	return id
}

func (m idMinter) fromName(name string) ID {
	var obj storage.ObjectID
	copy(obj[:], m.mac("durable/id-name", []byte(name)))
	return m.withCheck(obj, name)
}

// alarmID returns the ID of the object of al, named by the name stored
// with the alarm when that name derives the object's ID.
func (m idMinter) alarmID(al storage.Alarm) ID {
	if al.Name != "" {
		if id := m.fromName(al.Name); id.obj == al.ID {
			return id
		}
	}
	return m.withCheck(al.ID, "")
}

func (m idMinter) unique() ID {
	var obj storage.ObjectID
	copy(obj[:], randomBytes(storage.IDSize))
	return m.withCheck(obj, "")
}

func (m idMinter) parse(s string) (ID, error) {
	if len(s) != 2*(storage.IDSize+checkSize) {
		return ID{}, fmt.Errorf("%w; got %d bytes", ErrIDLength, len(s))
	}
	var raw [storage.IDSize + checkSize]byte
	if _, err := hex.Decode(raw[:], []byte(s)); err != nil {
		return ID{}, fmt.Errorf("%w: %q", ErrIDNotHex, s)
	}
	var obj storage.ObjectID
	copy(obj[:], raw[:storage.IDSize])
	id := m.withCheck(obj, "")
	if !hmac.Equal(id.check[:], raw[storage.IDSize:]) {
		return ID{}, fmt.Errorf("%w (namespace %q): %s", ErrIDNamespace, m.ns, s)
	}
	return id, nil
}

// randomBytes returns n bytes from crypto/rand, whose Read crashes the
// program rather than return an error if the system's random source
// fails.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}
