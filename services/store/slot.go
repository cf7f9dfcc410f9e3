package store

import "strings"

// Slot is the Redis Cluster hash slot of a student's keys, which share it
// (Record groups a batch's writes by it).
func Slot(student string) uint16 { return KeySlot(ProfileKey(student)) }

// KeySlot is a key's Redis Cluster hash slot, as the Cluster specification
// defines it: CRC16 (XMODEM) modulo 16384 of the hash tag — the text
// between the first "{" and the first "}" after it, when not empty — or
// else of the whole key.
func KeySlot(key string) uint16 {
	if open := strings.IndexByte(key, '{'); open >= 0 {
		if end := strings.IndexByte(key[open+1:], '}'); end > 0 {
			key = key[open+1 : open+1+end]
		}
	}
	return crc16(key) % 16384
}

// crc16 is CRC-16/XMODEM (polynomial 0x1021, initial value 0).
func crc16(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}
