package drbd

const mib = 1 << 20

// internalMetaBytes is the metadata DRBD 8.4 keeps at the end of a backing
// device of b bytes with meta-disk internal: a 4 KiB superblock, the 32 KiB
// activity log and a bitmap of one bit per 4 KiB of the backing device,
// padded to 4 KiB. In 512-byte sectors that is the user's guide's
// ⌈Cs / 2^18⌉ × 8 + 72 for a backing device of Cs sectors; drbdmeta
// (re_initialize_md_offsets, flex-internal) and the kernel
// (drbd_md_set_sector_offsets) lay it out alike.
func internalMetaBytes(b int64) int64 {
	sectors := (b + 511) / 512
	return ((sectors+1<<18-1)>>18*8 + 72) * 512
}

// BackingSize is the size of a backing volume on which the DRBD device
// exposes at least dataBytes, rounded up to a MiB. LVM rounds it up
// further to its extents; the device then exposes a little more.
func BackingSize(dataBytes int64) int64 {
	b := (dataBytes + internalMetaBytes(dataBytes) + mib - 1) / mib * mib
	// The bitmap covers the metadata too, so the first guess can be a
	// few KiB short.
	for b-internalMetaBytes(b) < dataBytes {
		b += mib
	}
	return b
}

// MetaSizeBytes is what BackingSize adds to dataBytes for DRBD's internal
// metadata: 36 KiB plus 32 KiB per GiB of data, rounded up to a MiB (1 MiB
// for 10 GiB, 33 MiB for 1 TiB).
func MetaSizeBytes(dataBytes int64) int64 { return BackingSize(dataBytes) - dataBytes }
