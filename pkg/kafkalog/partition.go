package kafkalog

// PartitionFor returns the partition the Appender writes key to when the
// topic has the given number of partitions: murmur2 of the key, sign bit
// cleared, modulo partitions, exactly as the Java client and
// kafka.Murmur2Balancer compute it. A nil key maps to partition 0 here (the
// balancer would pick one at random, which no reader can predict).
func PartitionFor(key []byte, partitions int) int {
	if partitions <= 0 || key == nil {
		return 0
	}
	return int(murmur2(key)&0x7fffffff) % partitions
}

// murmur2 is the 32-bit MurmurHash2 with the seed the Java client uses.
func murmur2(data []byte) uint32 {
	const (
		seed uint32 = 0x9747b28c
		m    uint32 = 0x5bd1e995
		r           = 24
	)
	length := len(data)
	h := seed ^ uint32(length)
	n := length / 4
	for i := 0; i < n; i++ {
		k := uint32(data[i*4]) | uint32(data[i*4+1])<<8 | uint32(data[i*4+2])<<16 | uint32(data[i*4+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	tail := data[n*4:]
	switch len(tail) {
	case 3:
		h ^= uint32(tail[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(tail[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(tail[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}
