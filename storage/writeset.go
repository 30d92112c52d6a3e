package storage

import "iter"

// smallWrites is the most writes a writeSet keeps in its slice before it
// moves them to a map. Most turns write a few keys, and a short slice
// searched linearly costs less than a map.
const smallWrites = 8

// keyWrite is one entry of a writeSet's slice.
type keyWrite struct {
	key string
	w   write
}

// writeSet maps keys to pending writes. Its zero value is empty and ready
// to use.
type writeSet struct {
	small []keyWrite       // used while m is nil
	m     map[string]write // all writes, once there are more than smallWrites
}

func (s *writeSet) get(key string) (write, bool) {
	if s.m != nil {
		w, ok := s.m[key]
		return w, ok
	}
	for i := range s.small {
		if s.small[i].key == key {
			return s.small[i].w, true
		}
	}
	return write{}, false
}

func (s *writeSet) set(key string, w write) {
	if s.m != nil {
		s.m[key] = w
		return
	}
	for i := range s.small {
		if s.small[i].key == key {
			s.small[i].w = w
			return
		}
	}
	if len(s.small) < smallWrites {
		s.small = append(s.small, keyWrite{key, w})
		return
	}
	s.m = make(map[string]write, 2*smallWrites)
	for _, kw := range s.small {
		s.m[kw.key] = kw.w
	}
	s.m[key] = w
	s.small = s.small[:0]
}

func (s *writeSet) len() int {
	if s.m != nil {
		return len(s.m)
	}
	return len(s.small)
}

func (s *writeSet) clear() {
	clear(s.small)
	s.small = s.small[:0]
	s.m = nil
}

// all yields every key and write, in no particular order.
func (s *writeSet) all() iter.Seq2[string, write] {
	return func(yield func(string, write) bool) {
		if s.m != nil {
			for k, w := range s.m {
				if !yield(k, w) {
					return
				}
			}
			return
		}
		for _, kw := range s.small {
			if !yield(kw.key, kw.w) {
				return
			}
		}
	}
}
