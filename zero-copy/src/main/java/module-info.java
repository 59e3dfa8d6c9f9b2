/**
 * Zero-copy transport: shared memory mapped as {@link java.lang.foreign.MemorySegment}s, and pixel kernels
 * that write into such memory.
 */
module dev.panpipe.zerocopy {
    requires transitive dev.panpipe.core;

    exports dev.panpipe.zerocopy;
    exports dev.panpipe.zerocopy.kernel;
    exports dev.panpipe.zerocopy.ring;
}
