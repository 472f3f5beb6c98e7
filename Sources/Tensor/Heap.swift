// glibc's allocator serves blocks above its mmap threshold (128 KiB, raised only as far as the
// largest block freed so far) with a fresh mmap and returns them with munmap, and trims the heap's
// top once more than twice that is free. A forward pass allocates and frees activations of
// hundreds of KiB to tens of MiB in every layer, so each one was paid for again in page faults and
// zeroed pages: the end-to-end job spent 36 s of 180 CPU-seconds in the kernel, 4.5 % of all samples in
// clear_page alone. Keeping freed blocks in the heap makes the next layer reuse them.
import CMalloc
import Foundation

public enum Heap {
    /// Serve blocks up to 32 MiB (glibc's ceiling for this setting on 64-bit) from the heap and
    /// never trim it; a no-op where the user set GLIBC_TUNABLES's malloc keys themselves.
    /// Peak RSS is unchanged to within a few MiB (the blocks were live at the peak anyway).
    public static func keepFreedBlocks() {
        if let tunables = ProcessInfo.processInfo.environment["GLIBC_TUNABLES"], tunables.contains("glibc.malloc.") { return }
        _ = mallopt(M_MMAP_THRESHOLD, 32 << 20)
        _ = mallopt(M_TRIM_THRESHOLD, Int32.max)
    }
}
